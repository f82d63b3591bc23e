"""`make bench`: request counts, capacity, latency, cold starts, scaling and cost of Stratoflow (see __main__)."""
