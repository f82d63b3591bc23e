"""The periodic safety net: expired task attempts, overdue timers and outbox items the stream left behind."""

from __future__ import annotations

from collections import Counter

from stratoflow.dal import keys
from stratoflow.dal.items import SweepableItem
from stratoflow.outbox import process_outbox_item
from stratoflow.runtime import Runtime
from stratoflow.tasks import expire_task_attempt
from stratoflow.timers import fire_timer

MAX_ITEMS_PER_SHARD = 500


def sweep(rt: Runtime) -> dict[str, int]:
    """One pass over the sweep index: everything whose `sweepAt` has passed. Each step is idempotent."""
    now = rt.now_ms()
    done: Counter[str] = Counter()
    for shard in range(keys.SWEEP_SHARDS):
        due = SweepableItem.sweep_index.query(
            f"SWEEP#{shard}", SweepableItem.sweep_at <= now, limit=MAX_ITEMS_PER_SHARD
        )
        for item in due:
            done[sweep_item(rt, item.pk, item.sk)] += 1
    return dict(done)


def sweep_item(rt: Runtime, pk: str, sk: str) -> str:
    _, tenant, kind, identifier = pk.split("#", 3)
    if kind == "TASK" and sk == keys.TASK_SK:
        outcome = expire_task_attempt(rt, tenant, identifier)
        return f"task:{outcome or 'unchanged'}"
    if sk.startswith(keys.TIMER_PREFIX):
        return "timer:" + fire_timer(rt, tenant, identifier, sk.removeprefix(keys.TIMER_PREFIX))
    if sk.startswith(keys.OUTBOX_PREFIX):
        return "outbox:" + process_outbox_item(rt, pk, sk)
    return "unknown"
