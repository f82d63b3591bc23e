"""Cleanup deadlines (operators.md): a CANCELLING execution still live at its deadline is terminated (I12).

A deadline rides on the durable-timer machinery, so it inherits its guarantees and its lateness bound: a timer item
with a reserved id (`$cleanup-deadline`, which no worker can name) is written in the transaction that makes the
execution CANCELLING; the outbox dispatcher creates its one-time schedule from the item's stream record; the
fire-timer function, or the sweeper once it is overdue, fires it with a write conditioned on the timer still being
STARTED, which is the gate: an execution that ended first had its timer cancelled by its close work (its schedule
deleted), and an execution that ended without it finds the firing turned into CANCELLED, never a terminate.
"""

from __future__ import annotations

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.repository import commit_or_retry
from stratoflow.dal.unit_of_work import UnitOfWork, run_optimistic, status_is
from stratoflow.executions import get_execution, is_live
from stratoflow.records import Execution, Timer
from stratoflow.runtime import Runtime
from stratoflow.states import TimerStatus
from stratoflow.terminate import CLEANUP_TIMEOUT_REASON, REQUESTED_BY_CLEANUP_TIMEOUT, stage_terminate
from stratoflow.timers import new_timer

DEADLINE_TIMER_ID = "$cleanup-deadline"
MIN_CLEANUP_TIMEOUT_MS = 1_000
MAX_CLEANUP_TIMEOUT_MS = 86_400_000
# A descendant given its deadline by a cascade keeps the same absolute deadline, but its own timer fires this much
# later: when the root is still live at the deadline, the root's terminate reaches the descendant first (with
# requestedBy "workflow:<root>"); the descendant's own timer only acts when the root had ended before.
CASCADE_TIMER_DELAY_MS = 1_000


def stage_deadline(rt: Runtime, uow: UnitOfWork, execution: Execution, deadline_ms: int, timer_at_ms: int) -> None:
    """Give the execution its cleanup deadline and the timer that enforces it (in the caller's transaction)."""
    now = rt.now_ms()
    execution.cleanup_deadline = deadline_ms
    execution.spawned = True  # its end has a timer to cancel
    timer_at_ms = max(timer_at_ms, now)
    timer = new_timer(execution, DEADLINE_TIMER_ID, timer_at_ms - now, now, rt.settings)
    uow.put(timer, label="deadline")


def is_deadline_timer(timer_id: str) -> bool:
    return timer_id == DEADLINE_TIMER_ID


def fire_deadline(rt: Runtime, tenant: str, workflow_id: str) -> str:
    """The deadline's timer is due: terminate the execution if it is still live ("terminated"), else "cancelled".

    "ignored" when the timer is not STARTED (fired or cancelled already) or not due yet.
    """

    def attempt() -> str:
        execution = get_execution(rt.repo, tenant, workflow_id)
        if execution is None:
            return "ignored"
        timer = rt.repo.get(Timer, execution.pk, keys.timer_sk(DEADLINE_TIMER_ID))
        if timer is None:
            return "ignored"
        now = rt.now_ms()
        if timer.status != TimerStatus.STARTED or now < int(timer.fire_at_ms):
            return "ignored"
        uow = UnitOfWork()
        timer.sweep_pk = None
        timer.sweep_at = None
        timer.updated_at = iso_ms(now)
        if is_live(execution):
            timer.status = TimerStatus.FIRED
            stage_terminate(
                rt,
                uow,
                execution,
                reason=CLEANUP_TIMEOUT_REASON,
                requested_by=REQUESTED_BY_CLEANUP_TIMEOUT,
                cascade_root=workflow_id,
            )
            outcome = "terminated"
        else:
            timer.status = TimerStatus.CANCELLED
            outcome = "cancelled"
        uow.put(timer, status_is(TimerStatus.STARTED), label="timer")
        commit_or_retry(rt.repo, uow)
        return outcome

    return run_optimistic(attempt)
