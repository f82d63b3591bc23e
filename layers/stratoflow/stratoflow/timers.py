"""Durable timers: STARTED → FIRED | CANCELLED, each exactly once (I2), whoever races.

A timer's EventBridge schedule is created and deleted after the commit, by the outbox dispatcher reading the
timer item's stream record. Firing is conditioned on `status = STARTED`, so a schedule that still arrives after a
cancel (deleted late, delivered twice) changes nothing; the sweeper fires timers whose schedule was lost.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from stratoflow.clock import iso_ms
from stratoflow.config import Settings
from stratoflow.dal import keys
from stratoflow.dal.repository import commit_or_retry
from stratoflow.dal.unit_of_work import TransactionConflict, UnitOfWork, run_optimistic, status_is
from stratoflow.executions import HistoryWriter, get_execution, is_live, wake
from stratoflow.records import Execution, Timer
from stratoflow.runtime import Runtime, TimerSchedule
from stratoflow.states import TimerStatus


def new_timer(execution: Execution, timer_id: str, duration_ms: int, now_ms: int, settings: Settings) -> Timer:
    fire_at_ms = now_ms + duration_ms
    return Timer(
        execution.pk,
        keys.timer_sk(timer_id),
        tenant=execution.tenant,
        workflow_id=execution.workflow_id,
        timer_id=timer_id,
        status=TimerStatus.STARTED,
        duration_ms=duration_ms,
        fire_at=iso_ms(fire_at_ms),
        fire_at_ms=fire_at_ms,
        sweep_pk=keys.sweep_pk(execution.pk),
        sweep_at=fire_at_ms + settings.timer_sweep_grace_seconds * 1000,
        created_at=iso_ms(now_ms),
        updated_at=iso_ms(now_ms),
    )


def schedule_name(tenant: str, workflow_id: str, timer_id: str) -> str:
    """Deterministic, so creating twice conflicts and deleting needs no lookup (≤ 64 chars of [0-9a-zA-Z-_.])."""
    digest = hashlib.sha256(f"{tenant}/{workflow_id}/{timer_id}".encode()).hexdigest()
    return f"t-{digest[:40]}"


def timer_schedule(settings: Settings, tenant: str, workflow_id: str, timer_id: str, fire_at_ms: int) -> TimerSchedule:
    return TimerSchedule(
        name=schedule_name(tenant, workflow_id, timer_id),
        group=settings.timer_schedule_group,
        fire_at_ms=fire_at_ms,
        payload={
            "tenant": tenant,
            "workflowExecutionId": workflow_id,
            "timerId": timer_id,
            "fireAt": iso_ms(fire_at_ms),
        },
    )


def at_expression(fire_at_ms: int) -> str:
    """Scheduler's `at()` takes whole seconds: round up, so a timer never fires early."""
    seconds = math.ceil(fire_at_ms / 1000)
    return "at(" + iso_ms(seconds * 1000)[:19] + ")"


def on_timer_started(rt: Runtime, timer: dict[str, Any]) -> None:
    """Outbox: a STARTED timer gets its one-time schedule (idempotent)."""
    rt.scheduler.create(
        timer_schedule(rt.settings, timer["tenant"], timer["workflowExecutionId"], timer["timerId"], timer["fireAtMs"])
    )


def on_timer_closed(rt: Runtime, timer: dict[str, Any]) -> None:
    """Outbox: a timer that left STARTED no longer needs its schedule (idempotent)."""
    rt.scheduler.delete(
        schedule_name(timer["tenant"], timer["workflowExecutionId"], timer["timerId"]), rt.settings.timer_schedule_group
    )


def fire_timer(rt: Runtime, tenant: str, workflow_id: str, timer_id: str) -> str:
    """Flow 3: STARTED → FIRED with TIMER_FIRED, waking the workflow; anything else is left as it is.

    Returns what happened: "fired", "cancelled" (its workflow had ended) or "ignored".
    """
    from stratoflow.deadlines import fire_deadline, is_deadline_timer  # noqa: PLC0415 - deadlines builds on timers

    if is_deadline_timer(timer_id):  # a cleanup deadline rides on the timer machinery (stratoflow.deadlines)
        return fire_deadline(rt, tenant, workflow_id)

    def attempt() -> str:
        execution = get_execution(rt.repo, tenant, workflow_id)
        if execution is None:
            return "ignored"
        timer = rt.repo.get(Timer, execution.pk, keys.timer_sk(timer_id))
        if timer is None or timer.status != TimerStatus.STARTED:
            return "ignored"
        now = rt.now_ms()
        uow = UnitOfWork()
        if is_live(execution):
            end_timer(timer, TimerStatus.FIRED, now)
            history = HistoryWriter(execution, now)
            history.append("TIMER_FIRED", {"timerId": timer_id})
            wake(execution, now)
            history.stage(uow)
            outcome = "fired"
        else:
            end_timer(timer, TimerStatus.CANCELLED, now)  # after the end: no event follows a terminal one
            outcome = "cancelled"
        stage_ended_timer(uow, timer)
        commit_or_retry(rt.repo, uow)
        return outcome

    return run_optimistic(attempt)


def end_timer(timer: Timer, status: TimerStatus, now: int) -> None:
    """STARTED → FIRED or CANCELLED: the timer leaves the sweep index."""
    timer.status = status
    timer.sweep_pk = None
    timer.sweep_at = None
    timer.updated_at = iso_ms(now)


def stage_ended_timer(uow: UnitOfWork, timer: Timer) -> None:
    """A timer ends only while it is STARTED: whoever races (fire, cancel, close), it ends once (I2)."""
    uow.put(timer, status_is(TimerStatus.STARTED), label="timer")


def cancel_started_timer(rt: Runtime, tenant: str, workflow_id: str, timer_id: str) -> bool:
    """Parent close: a STARTED timer of an ended workflow → CANCELLED, with no event."""
    timer = rt.repo.get(Timer, keys.workflow_pk(tenant, workflow_id), keys.timer_sk(timer_id))
    if timer is None or timer.status != TimerStatus.STARTED:
        return False
    end_timer(timer, TimerStatus.CANCELLED, rt.now_ms())
    uow = UnitOfWork()
    stage_ended_timer(uow, timer)
    try:
        rt.repo.commit(uow)
    except TransactionConflict:
        return False  # it fired or was cancelled meanwhile: either way it is no longer STARTED
    return True
