"""Polling a dispatch queue: its ready items, oldest first, each leased by a conditional write that another poller
may win first (I7), so a poll goes on to the next one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from stratoflow.records import Candidate, Execution, Task
from stratoflow.runtime import Runtime

Claimed = TypeVar("Claimed", Execution, Task)
# (runtime, candidate, lease ms, now) -> the leased record, or None when someone else won it.
Claim = Callable[[Runtime, Candidate, int, int], Claimed | None]


def claim_first(
    rt: Runtime, record_type: type[Claimed], dispatch_pk: str, kinds: list[str] | None, lease_ms: int, claim: Claim
) -> Claimed | None:
    """The first ready item of the queue this caller leases, or None when it wins none."""
    now = rt.now_ms()
    for candidate in rt.repo.ready(record_type, dispatch_pk, now, kinds):
        claimed = claim(rt, candidate, lease_ms, now)
        if claimed is not None:
            return claimed
    return None
