"""Shared test support: the invariant checker, the fake clock and ids, the table from the template, fault injection."""
