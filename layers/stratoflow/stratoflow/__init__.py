"""Stratoflow's domain: event histories, leases, tasks, timers, child workflows and their cancellation.

Nothing in this package knows about AWS event shapes; handlers translate events into calls of its services.
"""
