"""Durable timers: STARTED → FIRED | CANCELLED, each exactly once (I2), whoever races.

The outbox dispatcher reads a started timer's stream record and sets it on its way. EventBridge Scheduler runs a
one-time schedule up to 60 s after its time, so the way ends with a last mile through the timer queue, whose
per-message delay is exact to the second: a timer due within `TIMER_LAST_MILE_S` (≤ 900 s) is sent down it at once;
a longer one gets a schedule at `fireAt - 60 s - margin`, whose invocation hands it to the queue. The message is
delayed by the whole seconds left and fire-timer waits out the rest, so a timer never fires early.

Firing is conditioned on `status = STARTED`, so whatever still arrives after a cancel (a schedule deleted late, a
message sent twice or re-delivered) changes nothing; the sweeper fires timers whose schedule or message was lost.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from stratoflow.clock import iso_ms
from stratoflow.config import Settings
from stratoflow.dal import keys
from stratoflow.dal.repository import commit_or_retry
from stratoflow.dal.unit_of_work import TransactionConflict, UnitOfWork, run_optimistic, status_is
from stratoflow.executions import HistoryWriter, get_execution, is_live, wake
from stratoflow.records import Execution, Timer
from stratoflow.runtime import Runtime, TimerMessage, TimerSchedule
from stratoflow.states import TimerStatus

# EventBridge Scheduler runs an `at()` schedule within the minute after its time ("60 second precision").
SCHEDULER_WINDOW_MS = 60_000
# Room after that window for Scheduler's retries and the hand-over's own invocation.
HANDOVER_MARGIN_MS = 30_000
MAX_QUEUE_DELAY_S = 900  # SQS's limit on DelaySeconds
# A message that arrives at most this early is waited out in fire-timer; an earlier one is delayed again.
MAX_WAIT_MS = 1000
Wait = Callable[[float], None]  # waits that many seconds (time.sleep in fire-timer)


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


def timer_schedule(
    settings: Settings, tenant: str, workflow_id: str, timer_id: str, fire_at_ms: int, *, run_at_ms: int | None = None
) -> TimerSchedule:
    """The timer's schedule: at `fireAt` (it fires the timer), or at `run_at_ms` to hand it over to the last mile."""
    payload: dict[str, Any] = {
        "tenant": tenant,
        "workflowExecutionId": workflow_id,
        "timerId": timer_id,
        "fireAt": iso_ms(fire_at_ms),
    }
    if run_at_ms is not None:
        payload["handOver"] = True
    return TimerSchedule(
        name=schedule_name(tenant, workflow_id, timer_id),
        group=settings.timer_schedule_group,
        fire_at_ms=fire_at_ms if run_at_ms is None else run_at_ms,
        payload=payload,
    )


def takes_last_mile_only(settings: Settings, duration_ms: int) -> bool:
    """Whether a timer goes straight down the last mile (no schedule); decided by its duration, so every delivery
    of its stream records decides the same."""
    return settings.timer_last_mile_s > 0 and duration_ms <= settings.timer_last_mile_s * 1000


def handover_at_ms(fire_at_ms: int, now_ms: int) -> int:
    """When a long timer's schedule is set: early enough that Scheduler's window cannot make it late, never past."""
    return max(now_ms, fire_at_ms - SCHEDULER_WINDOW_MS - HANDOVER_MARGIN_MS)


def last_mile_message(tenant: str, workflow_id: str, timer_id: str, fire_at_ms: int, now_ms: int) -> TimerMessage:
    """Delayed by the whole seconds left (the queue counts whole seconds): it arrives less than a second early,
    which fire-timer waits out, rather than up to a second late."""
    delay_s = min(MAX_QUEUE_DELAY_S, max(0, (fire_at_ms - now_ms) // 1000))
    body = {"tenant": tenant, "workflowExecutionId": workflow_id, "timerId": timer_id, "fireAt": iso_ms(fire_at_ms)}
    return TimerMessage(body=body, delay_s=delay_s)


def at_expression(fire_at_ms: int) -> str:
    """Scheduler's `at()` takes whole seconds: round up, so a timer never fires early."""
    seconds = math.ceil(fire_at_ms / 1000)
    return "at(" + iso_ms(seconds * 1000)[:19] + ")"


def on_timer_started(rt: Runtime, timer: dict[str, Any]) -> str:
    """Outbox: a STARTED timer goes down the last mile ("queued") or gets its one-time schedule ("scheduled").

    A redelivered record creates no second schedule; it may send a second message, which the gate makes harmless.
    """
    tenant, workflow_id, timer_id, fire_at_ms = (
        timer["tenant"],
        timer["workflowExecutionId"],
        timer["timerId"],
        timer["fireAtMs"],
    )
    settings, now = rt.settings, rt.now_ms()
    if takes_last_mile_only(settings, timer["durationMs"]):
        rt.timer_queue.send(last_mile_message(tenant, workflow_id, timer_id, fire_at_ms, now))
        return "queued"
    run_at = handover_at_ms(fire_at_ms, now) if settings.timer_last_mile_s > 0 else None
    rt.scheduler.create(timer_schedule(settings, tenant, workflow_id, timer_id, fire_at_ms, run_at_ms=run_at))
    return "scheduled"


def on_timer_closed(rt: Runtime, timer: dict[str, Any]) -> str:
    """Outbox: a timer that left STARTED no longer needs its schedule (idempotent); a queued message cannot be
    taken back, and the gate drops it when it arrives."""
    if takes_last_mile_only(rt.settings, timer["durationMs"]):
        return "ignored"
    rt.scheduler.delete(
        schedule_name(timer["tenant"], timer["workflowExecutionId"], timer["timerId"]), rt.settings.timer_schedule_group
    )
    return "unscheduled"


def hand_over_timer(rt: Runtime, tenant: str, workflow_id: str, timer_id: str, fire_at_ms: int, wait: Wait) -> str:
    """A long timer's schedule ran (up to a minute after its time, still before the timer is due): send the timer
    down the last mile. No state changes, so nothing is committed before the send; if the send fails, Scheduler
    retries the invocation. Returns "handed-over", "ignored" (no longer STARTED) or what firing it did.
    """
    timer = rt.repo.get(Timer, keys.workflow_pk(tenant, workflow_id), keys.timer_sk(timer_id))
    if timer is None or timer.status != TimerStatus.STARTED:
        return "ignored"  # cancelled, fired or closed meanwhile (a schedule deleted too late to stop it)
    return deliver_last_mile(rt, tenant, workflow_id, timer_id, fire_at_ms, wait, handing_over=True)


def deliver_last_mile(
    rt: Runtime,
    tenant: str,
    workflow_id: str,
    timer_id: str,
    fire_at_ms: int,
    wait: Wait,
    *,
    handing_over: bool = False,
) -> str:
    """A timer's message arrived: fire it, never early. Less than `MAX_WAIT_MS` early, `wait` (seconds) waits it out;
    earlier than that (a hand-over, or a queue that delivered early), it is delayed again. Returns "redelayed",
    "handed-over" or `fire_timer`'s outcome.
    """
    early_ms = fire_at_ms - rt.now_ms()
    if early_ms > MAX_WAIT_MS:
        rt.timer_queue.send(last_mile_message(tenant, workflow_id, timer_id, fire_at_ms, rt.now_ms()))
        return "handed-over" if handing_over else "redelayed"
    while early_ms > 0:
        wait(early_ms / 1000)
        early_ms = fire_at_ms - rt.now_ms()
    return fire_timer(rt, tenant, workflow_id, timer_id)


class _NotStarted(Exception):
    """The timer is no longer (or never was) STARTED."""


TIMER_LABEL = "timer"


def fire_timer(rt: Runtime, tenant: str, workflow_id: str, timer_id: str) -> str:
    """Flow 3: STARTED → FIRED with TIMER_FIRED, waking the workflow; anything else is left as it is.

    The timer is not read: its key is known, TIMER_FIRED needs only its id, and the transaction changes it only while
    it is STARTED, so a late or duplicate invocation is refused by that condition and changes nothing.
    Returns what happened: "fired", "cancelled" (its workflow had ended) or "ignored".
    """
    from stratoflow.deadlines import fire_deadline, is_deadline_timer  # noqa: PLC0415 - deadlines builds on timers

    if is_deadline_timer(timer_id):  # a cleanup deadline rides on the timer machinery (stratoflow.deadlines)
        return fire_deadline(rt, tenant, workflow_id)

    def attempt() -> str:
        execution = get_execution(rt.repo, tenant, workflow_id)
        if execution is None:
            return "ignored"
        now = rt.now_ms()
        uow = UnitOfWork()
        if is_live(execution):
            history = HistoryWriter(execution, now)
            history.append("TIMER_FIRED", {"timerId": timer_id})
            wake(execution, now)
            history.stage(uow)
            status, outcome = TimerStatus.FIRED, "fired"
        else:
            status, outcome = TimerStatus.CANCELLED, "cancelled"  # after the end: no event follows a terminal one
        _stage_timer_end(uow, execution.pk, timer_id, status, now)
        try:
            commit_or_retry(rt.repo, uow, {TIMER_LABEL: _NotStarted()})
        except _NotStarted:
            return "ignored"  # fired, cancelled or closed already (or never started)
        return outcome

    return run_optimistic(attempt)


def _stage_timer_end(uow: UnitOfWork, pk: str, timer_id: str, status: TimerStatus, now: int) -> None:
    """STARTED → `status` without reading the timer: only the fields that change are written."""
    key = (pk, keys.timer_sk(timer_id))
    uow.update_key(Timer, key, ended_timer_fields(status, now), status_is(TimerStatus.STARTED), TIMER_LABEL)


def ended_timer_fields(status: TimerStatus, now: int) -> dict[str, Any]:
    """STARTED → FIRED or CANCELLED: the timer leaves the sweep index."""
    return {"status": status, "sweep_pk": None, "sweep_at": None, "updated_at": iso_ms(now)}


def end_timer(timer: Timer, status: TimerStatus, now: int) -> None:
    for name, value in ended_timer_fields(status, now).items():
        setattr(timer, name, value)


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
