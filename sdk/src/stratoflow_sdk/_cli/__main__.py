"""`python -m stratoflow_sdk._cli`: the same as the `stratoflow` console script."""

from . import main

main()
