"""The Docker-free local stack of Stratoflow."""
