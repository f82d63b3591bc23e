"""The periodic safety net: expired task attempts, overdue timers and outbox items the stream left behind."""

from __future__ import annotations

from collections import Counter

from stratoflow.batches import BatchQueue, redrive
from stratoflow.dal import keys
from stratoflow.dal.keys import BATCH_SK
from stratoflow.outbox import process_outbox_item
from stratoflow.runtime import Runtime
from stratoflow.tasks import expire_task_attempt
from stratoflow.timers import fire_timer

MAX_ITEMS_PER_SHARD = 500


class SweepIncomplete(Exception):
    """Some due items failed; every other due item was handled. The run fails so that its error is seen (alarm)."""

    def __init__(self, done: dict[str, int], failed: list[tuple[str, str]]) -> None:
        super().__init__(f"{len(failed)} due item(s) failed, first {failed[0]}; handled {done}")
        self.done = done
        self.failed = failed


def sweep(rt: Runtime, batch_queue: BatchQueue | None = None) -> dict[str, int]:
    """One pass over the sweep index: everything whose `sweepAt` has passed. Each step is idempotent.

    An item that fails (a poison outbox item, say) does not stop the items after it: they are handled, then the run
    raises `SweepIncomplete`, and the next run tries the failed item again.
    """
    now = rt.now_ms()
    done: Counter[str] = Counter()
    failed: list[tuple[str, str]] = []
    first_error: Exception | None = None
    for shard in range(keys.SWEEP_SHARDS):
        for pk, sk in rt.repo.due(f"SWEEP#{shard}", now, MAX_ITEMS_PER_SHARD):
            try:
                done[sweep_item(rt, pk, sk, batch_queue)] += 1
            except Exception as error:  # recorded, and raised below once the other items are handled
                failed.append((pk, sk))
                first_error = first_error or error
    if failed:
        raise SweepIncomplete(dict(done), failed) from first_error
    return dict(done)


def sweep_item(rt: Runtime, pk: str, sk: str, batch_queue: BatchQueue | None = None) -> str:
    _, tenant, kind, identifier = pk.split("#", 3)
    if kind == "BATCH" and sk == BATCH_SK and batch_queue is not None:
        return "batch:" + redrive(rt, batch_queue, tenant, identifier)
    if kind == "TASK" and sk == keys.TASK_SK:
        outcome = expire_task_attempt(rt, tenant, identifier)
        return f"task:{outcome or 'unchanged'}"
    if sk.startswith(keys.TIMER_PREFIX):
        return "timer:" + fire_timer(rt, tenant, identifier, sk.removeprefix(keys.TIMER_PREFIX))
    if sk.startswith(keys.OUTBOX_PREFIX):
        return "outbox:" + process_outbox_item(rt, pk, sk, batch_queue)
    return "unknown"
