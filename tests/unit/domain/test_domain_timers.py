"""Timers (flows 2 and 3, I2): fire, cancel, redelivery, the sweeper's safety net, the schedules and the last mile."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest
from stratoflow.clock import iso_ms
from stratoflow.outbox import handle_timer_change
from stratoflow.runtime import Runtime, TimerMessage, TimerSchedule
from stratoflow.scheduler import EventBridgeTimerScheduler
from stratoflow.timer_queue import SqsTimerQueue
from stratoflow.timers import (
    at_expression,
    deliver_last_mile,
    hand_over_timer,
    last_mile_message,
    schedule_name,
)

from tests.support.domain import Engine

T0_MS = 4_102_444_800_000


class FakeScheduler:
    """The TimerScheduler port in memory: create and delete are idempotent, as the port requires."""

    def __init__(self) -> None:
        self.schedules: dict[tuple[str, str], TimerSchedule] = {}
        self.calls: list[tuple[str, str]] = []

    def create(self, schedule: TimerSchedule) -> None:
        self.calls.append(("create", schedule.name))
        self.schedules.setdefault((schedule.group, schedule.name), schedule)

    def delete(self, name: str, group: str) -> None:
        self.calls.append(("delete", name))
        self.schedules.pop((group, name), None)


class FakeTimerQueue:
    """The TimerQueue port in memory: every message sent, in order."""

    def __init__(self) -> None:
        self.sent: list[TimerMessage] = []

    def send(self, message: TimerMessage) -> None:
        self.sent.append(message)


def waiting_with_timer(engine: Engine, timer_id: str = "t", duration_ms: int = 1000) -> str:
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "START_TIMER", "timerId": timer_id, "durationMs": duration_ms}])
    return wid


def timer(engine: Engine, wid: str, timer_id: str = "t") -> dict[str, Any]:
    item = engine.item(f"T#acme#WF#{wid}", f"TIMER#{timer_id}")
    assert item is not None
    return item


def test_a_due_timer_fires_once_and_wakes_the_workflow(engine: Engine) -> None:
    wid = waiting_with_timer(engine)
    engine.clock.advance(1000)
    assert engine.fire(wid, "t") == "fired"
    assert engine.history(wid)[-1] == {
        "sequence": 3,
        "type": "TIMER_FIRED",
        "data": {"timerId": "t"},
        "createdAt": "2100-01-01T00:00:01.000Z",
    }
    assert engine.status(wid) == "PENDING"
    stored = timer(engine, wid)
    assert stored["status"] == "FIRED" and not {"sweepPk", "sweepAt"} & stored.keys()
    before = engine.items()
    assert engine.fire(wid, "t") == "ignored"  # the scheduler invokes twice
    assert engine.items() == before
    engine.check()


def test_a_cancelled_timer_never_fires(engine: Engine) -> None:
    wid = waiting_with_timer(engine)
    engine.cancel(wid, "stop", cascade=False)
    engine.run(wid, [{"type": "CANCEL_TIMER", "timerId": "t"}])
    before = engine.items()
    assert engine.fire(wid, "t") == "ignored"  # the schedule was deleted late
    engine.clock.advance(10 * 60_000)
    assert engine.sweep() == {}  # a cancelled timer left the sweep index
    assert engine.items() == before
    assert engine.types(wid).count("TIMER_CANCELLED") == 1 and "TIMER_FIRED" not in engine.types(wid)
    engine.check()


def test_regression_cancel_timer_of_a_fired_timer_appends_nothing_instead_of_failing(engine: Engine) -> None:
    """Bug: CANCEL_TIMER of a timer that had fired re-put the timer under `status = STARTED`; the condition failed on
    every retry and the submission ended in 503 (contention exhausted) instead of appending nothing."""
    wid = waiting_with_timer(engine)
    engine.fire(wid, "t")
    assert engine.run(wid, [{"type": "CANCEL_TIMER", "timerId": "t"}]) == {"status": "WAITING", "events": []}
    assert timer(engine, wid)["status"] == "FIRED"
    engine.check()


def test_cancel_timer_twice_appends_one_timer_cancelled(engine: Engine) -> None:
    wid = waiting_with_timer(engine)
    engine.cancel(wid, cascade=False)  # something new, so the worker runs again
    lease = engine.claim(wid)
    first = engine.submit(
        wid,
        lease,
        [{"type": "CANCEL_TIMER", "timerId": "t"}, {"type": "START_TIMER", "timerId": "tick", "durationMs": 1}],
    )
    assert [e["type"] for e in first["events"]] == ["TIMER_CANCELLED", "TIMER_STARTED"]
    engine.fire(wid, "tick")
    assert engine.run(wid, [{"type": "CANCEL_TIMER", "timerId": "t"}]) == {"status": "CANCELLING", "events": []}
    assert engine.types(wid).count("TIMER_CANCELLED") == 1
    engine.check()


def test_a_timer_of_an_ended_workflow_is_cancelled_without_an_event(engine: Engine) -> None:
    wid = waiting_with_timer(engine)
    engine.cancel(wid)
    engine.run(wid, [{"type": "CANCEL_WORKFLOW"}])
    assert engine.fire(wid, "t") == "cancelled"
    assert timer(engine, wid)["status"] == "CANCELLED"
    assert engine.types(wid)[-1] == "WORKFLOW_CANCELLED"
    engine.drain_outbox()
    engine.check()


def test_unknown_timers_and_workflows_are_ignored(engine: Engine) -> None:
    wid = waiting_with_timer(engine)
    before = engine.items()
    assert engine.fire(wid, "other") == "ignored"
    assert engine.fire("no-such-workflow", "t") == "ignored"
    assert engine.fire(wid, "t", tenant="globex") == "ignored"
    assert engine.items() == before


def test_the_sweeper_fires_a_timer_whose_schedule_was_lost_after_a_grace_period(engine: Engine) -> None:
    wid = waiting_with_timer(engine, duration_ms=1000)
    grace = engine.settings.timer_sweep_grace_seconds * 1000
    assert timer(engine, wid)["sweepAt"] == T0_MS + 1000 + grace
    engine.clock.advance(1000 + grace - 1)
    assert engine.sweep() == {}
    engine.clock.advance(1)
    assert engine.sweep() == {"timer:fired": 1}
    assert engine.sweep() == {}
    assert engine.types(wid)[-1] == "TIMER_FIRED"
    engine.check()


# ---------------------------------------------------------------------- schedules (outbox dispatcher, flow 2)


def timer_image(status: str | None, **extra: Any) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "tenant": "acme",
        "workflowExecutionId": "wf-1",
        "timerId": "t",
        "fireAtMs": T0_MS + 1500,
        "durationMs": 1500,
        "status": status,
        **extra,
    }


def last_mile_off(rt: Runtime) -> Runtime:
    return replace(rt, settings=replace(rt.settings, timer_last_mile_s=0))


def test_without_the_last_mile_a_started_timer_gets_one_schedule_and_loses_it_when_it_leaves_started(
    rt: Runtime,
) -> None:
    scheduler = FakeScheduler()
    rt = replace(last_mile_off(rt), scheduler=scheduler)
    name = schedule_name("acme", "wf-1", "t")
    assert handle_timer_change(rt, None, timer_image("STARTED")) == "scheduled"
    assert handle_timer_change(rt, None, timer_image("STARTED")) == "scheduled"  # delivered twice
    assert list(scheduler.schedules.values()) == [
        TimerSchedule(
            name=name,
            group="StratoflowTimers",
            fire_at_ms=T0_MS + 1500,
            payload={
                "tenant": "acme",
                "workflowExecutionId": "wf-1",
                "timerId": "t",
                "fireAt": "2100-01-01T00:00:01.500Z",
            },
        )
    ]
    assert handle_timer_change(rt, timer_image("STARTED"), timer_image("CANCELLED")) == "unscheduled"
    assert handle_timer_change(rt, timer_image("STARTED"), timer_image("FIRED")) == "unscheduled"
    assert handle_timer_change(rt, timer_image("FIRED"), timer_image("FIRED", updatedAt="x")) == "ignored"
    assert scheduler.schedules == {}


def test_schedule_names_are_deterministic_and_valid() -> None:
    name = schedule_name("acme", "wf-1", "t")
    assert name == schedule_name("acme", "wf-1", "t") != schedule_name("globex", "wf-1", "t")
    assert len(name) <= 64 and name.startswith("t-") and name[2:].isalnum()


def test_at_expressions_round_up_so_a_timer_never_fires_early() -> None:
    assert at_expression(T0_MS) == "at(2100-01-01T00:00:00)"
    assert at_expression(T0_MS + 1) == "at(2100-01-01T00:00:01)"
    assert at_expression(T0_MS + 1000) == "at(2100-01-01T00:00:01)"


def test_the_eventbridge_adapter_is_idempotent(aws: Any) -> None:
    client = boto3.client("scheduler", region_name="us-east-1")
    client.create_schedule_group(Name="StratoflowTimers")
    adapter = EventBridgeTimerScheduler(
        client,
        target_arn="arn:aws:lambda:us-east-1:123456789012:function:fire",
        role_arn="arn:aws:iam::123456789012:role/r",
        dlq_arn="arn:aws:sqs:us-east-1:123456789012:dlq",
    )
    schedule = TimerSchedule(
        name="t-abc",
        group="StratoflowTimers",
        fire_at_ms=T0_MS + 1500,
        payload={"tenant": "acme", "workflowExecutionId": "wf", "timerId": "t"},
    )
    adapter.create(schedule)
    adapter.create(schedule)
    stored = client.get_schedule(Name="t-abc", GroupName="StratoflowTimers")
    assert stored["ScheduleExpression"] == "at(2100-01-01T00:00:02)"
    assert stored["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert stored["ActionAfterCompletion"] == "DELETE"
    assert stored["Target"]["DeadLetterConfig"] == {"Arn": "arn:aws:sqs:us-east-1:123456789012:dlq"}
    adapter.delete("t-abc", "StratoflowTimers")
    adapter.delete("t-abc", "StratoflowTimers")
    assert client.list_schedules(GroupName="StratoflowTimers")["Schedules"] == []
    client.delete_schedule_group(Name="StratoflowTimers")


@pytest.mark.parametrize("first", ["fire", "cancel"])
def test_cancel_and_fire_in_either_order_end_with_exactly_one_of_them(engine: Engine, first: str) -> None:
    wid = waiting_with_timer(engine)
    engine.cancel(wid, "x", cascade=False)  # makes it ready, so the worker may cancel its timer
    lease = engine.claim(wid)
    if first == "fire":
        assert engine.fire(wid, "t") == "fired"
        assert engine.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}])["events"] == []
    else:
        assert len(engine.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}])["events"]) == 1
        assert engine.fire(wid, "t") == "ignored"
    ends = [t for t in engine.types(wid) if t in ("TIMER_FIRED", "TIMER_CANCELLED")]
    assert ends == (["TIMER_FIRED"] if first == "fire" else ["TIMER_CANCELLED"])
    engine.check(settled=False)


# ---------------------------------------------------------------------- the last mile (timer queue)


def with_queue(rt: Runtime, last_mile_s: int = 900) -> tuple[Runtime, FakeScheduler, FakeTimerQueue]:
    scheduler, queue = FakeScheduler(), FakeTimerQueue()
    settings = replace(rt.settings, timer_last_mile_s=last_mile_s)
    return replace(rt, settings=settings, scheduler=scheduler, timer_queue=queue), scheduler, queue


def test_a_timer_due_within_the_last_mile_is_sent_delayed_by_its_whole_seconds_and_has_no_schedule(
    rt: Runtime, clock: Any
) -> None:
    rt, scheduler, queue = with_queue(rt)
    clock.set(T0_MS)
    assert handle_timer_change(rt, None, timer_image("STARTED")) == "queued"
    body = {"tenant": "acme", "workflowExecutionId": "wf-1", "timerId": "t", "fireAt": "2100-01-01T00:00:01.500Z"}
    assert queue.sent == [TimerMessage(body=body, delay_s=1)]  # 1.5 s: one whole second, the rest waited out
    assert handle_timer_change(rt, timer_image("STARTED"), timer_image("CANCELLED")) == "ignored"
    assert scheduler.calls == []


def test_the_last_mile_delay_is_whole_seconds_never_negative_and_at_most_900() -> None:
    assert last_mile_message("a", "w", "t", T0_MS + 2999, T0_MS).delay_s == 2
    assert last_mile_message("a", "w", "t", T0_MS - 5000, T0_MS).delay_s == 0
    assert last_mile_message("a", "w", "t", T0_MS + 2_000_000, T0_MS).delay_s == 900


def test_a_longer_timer_gets_a_hand_over_schedule_set_early_enough_for_schedulers_minute(
    rt: Runtime, clock: Any
) -> None:
    rt, scheduler, queue = with_queue(rt, last_mile_s=60)
    clock.set(T0_MS)
    image = timer_image("STARTED", fireAtMs=T0_MS + 3_600_000, durationMs=3_600_000)
    assert handle_timer_change(rt, None, image) == "scheduled"
    (schedule,) = scheduler.schedules.values()
    assert schedule.fire_at_ms == T0_MS + 3_600_000 - 90_000  # due - Scheduler's 60 s - a 30 s margin
    assert schedule.payload == {
        "tenant": "acme",
        "workflowExecutionId": "wf-1",
        "timerId": "t",
        "fireAt": iso_ms(T0_MS + 3_600_000),
        "handOver": True,
    }
    # shorter than the window and the margin, but over the threshold: the hand-over is set for now, never the past
    short = timer_image("STARTED", timerId="u", fireAtMs=T0_MS + 70_000, durationMs=70_000)
    assert handle_timer_change(rt, None, short) == "scheduled"
    assert scheduler.schedules[("StratoflowTimers", schedule_name("acme", "wf-1", "u"))].fire_at_ms == T0_MS
    assert handle_timer_change(rt, image, timer_image("FIRED", durationMs=3_600_000)) == "unscheduled"
    assert queue.sent == []


def waiting_on_the_last_mile(engine: Engine, duration_ms: int) -> tuple[str, int]:
    wid = waiting_with_timer(engine, duration_ms=duration_ms)
    return wid, int(timer(engine, wid)["fireAtMs"])


def test_a_hand_over_sends_the_timer_down_the_last_mile_with_the_seconds_left(engine: Engine) -> None:
    rt, _, queue = with_queue(engine.rt, last_mile_s=60)
    wid, fire_at = waiting_on_the_last_mile(engine, 3_600_000)
    engine.clock.set(fire_at - 45_300)  # Scheduler ran the hand-over 44.7 s after its time
    assert hand_over_timer(rt, "acme", wid, "t", fire_at, _no_wait) == "handed-over"
    assert [m.delay_s for m in queue.sent] == [45]
    assert timer(engine, wid)["status"] == "STARTED"


def test_a_hand_over_that_arrives_after_a_cancel_sends_nothing_and_fires_nothing(engine: Engine) -> None:
    rt, _, queue = with_queue(engine.rt, last_mile_s=60)
    wid, fire_at = waiting_on_the_last_mile(engine, 3_600_000)
    engine.cancel(wid, "x", cascade=False)
    lease = engine.claim(wid)
    engine.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}])
    engine.clock.set(fire_at - 60_000)
    assert hand_over_timer(rt, "acme", wid, "t", fire_at, _no_wait) == "ignored"
    assert queue.sent == []
    assert timer(engine, wid)["status"] == "CANCELLED"
    assert "TIMER_FIRED" not in engine.types(wid)


def test_a_hand_over_after_the_timer_is_due_fires_it(engine: Engine) -> None:
    rt, _, queue = with_queue(engine.rt, last_mile_s=60)
    wid, fire_at = waiting_on_the_last_mile(engine, 3_600_000)
    engine.clock.set(fire_at + 5_000)  # Scheduler retried for a while
    assert hand_over_timer(rt, "acme", wid, "t", fire_at, _no_wait) == "fired"
    assert queue.sent == []


def _no_wait(seconds: float) -> None:
    raise AssertionError(f"nothing to wait for, asked to wait {seconds} s")


def test_a_message_that_arrives_early_waits_out_the_rest_and_never_fires_early(engine: Engine) -> None:
    rt, _, queue = with_queue(engine.rt)
    wid, fire_at = waiting_on_the_last_mile(engine, 10_000)
    engine.clock.set(fire_at - 700)
    waits: list[tuple[float, str]] = []

    def wait(seconds: float) -> None:
        waits.append((seconds, timer(engine, wid)["status"]))  # still STARTED while it waits
        # woken early the first time (it must wait again), on time the second
        engine.clock.advance(round(seconds * 1000) // (2 if len(waits) == 1 else 1))

    assert deliver_last_mile(rt, "acme", wid, "t", fire_at, wait) == "fired"
    assert engine.rt.now_ms() >= fire_at
    assert waits == [(0.7, "STARTED"), (0.35, "STARTED")]
    assert queue.sent == []
    assert engine.types(wid).count("TIMER_FIRED") == 1


def test_a_message_more_than_a_second_early_is_delayed_again(engine: Engine) -> None:
    rt, _, queue = with_queue(engine.rt)
    wid, fire_at = waiting_on_the_last_mile(engine, 10_000)
    engine.clock.set(fire_at - 4_200)
    assert deliver_last_mile(rt, "acme", wid, "t", fire_at, _no_wait) == "redelayed"
    assert [m.delay_s for m in queue.sent] == [4]
    assert timer(engine, wid)["status"] == "STARTED"


def test_a_message_delivered_twice_fires_the_timer_once(engine: Engine) -> None:
    rt, _, _ = with_queue(engine.rt)
    wid, fire_at = waiting_on_the_last_mile(engine, 10_000)
    engine.clock.set(fire_at)
    assert deliver_last_mile(rt, "acme", wid, "t", fire_at, _no_wait) == "fired"
    assert deliver_last_mile(rt, "acme", wid, "t", fire_at, _no_wait) == "ignored"
    assert engine.types(wid).count("TIMER_FIRED") == 1


def test_a_message_that_arrives_after_a_cancel_fires_nothing(engine: Engine) -> None:
    rt, _, _ = with_queue(engine.rt)
    wid, fire_at = waiting_on_the_last_mile(engine, 10_000)
    engine.cancel(wid, "x", cascade=False)
    engine.submit(wid, engine.claim(wid), [{"type": "CANCEL_TIMER", "timerId": "t"}])
    engine.clock.set(fire_at + 1)
    assert deliver_last_mile(rt, "acme", wid, "t", fire_at, _no_wait) == "ignored"
    assert [t for t in engine.types(wid) if t.startswith("TIMER_")] == ["TIMER_STARTED", "TIMER_CANCELLED"]


def test_the_sqs_adapter_sends_the_body_with_its_delay(aws: Any) -> None:
    client = boto3.client("sqs", region_name="us-east-1")
    url = client.create_queue(QueueName="timers")["QueueUrl"]
    SqsTimerQueue(client, url).send(TimerMessage(body={"timerId": "t"}, delay_s=0))
    SqsTimerQueue(client, url).send(TimerMessage(body={"timerId": "u"}, delay_s=900))
    (message,) = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert message["Body"] == '{"timerId": "t"}'  # the other one is still delayed
    client.delete_queue(QueueUrl=url)
