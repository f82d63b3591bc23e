"""The timers' last mile on the local stack: a timer due within `TIMER_LAST_MILE_S` goes through the timer queue's
delayed message; a longer one through Scheduler's hand-over, then the queue. Either way it fires once, never early,
and a cancelled timer never fires, whatever arrives after the cancel.

The session's stack runs with `TIMER_LAST_MILE_S=1`, so a 1 s timer takes the queue straight away and a 4 s one
Scheduler's path (its hand-over is due at once, and more than a second before the timer, so it sends the message).
How late timers fire is measured by `make bench`, not asserted here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from stratoflow.clock import parse_iso_ms
from stratoflow.timers import schedule_name
from stratoflow_local.stack import LocalStack

from tests.support.http import Client, wait_until

pytestmark = pytest.mark.stack_environment(TIMER_LAST_MILE_S="1")

LAST_MILE = "FireTimerFunction.LastMile"


@pytest.fixture
def client(api: Any, local_stack: LocalStack) -> Client:
    return Client(api, local_stack)


def started(client: Client, kind: str, duration_ms: int) -> tuple[str, dict[str, Any]]:
    wid = client.start(kind)
    answer = client.run(wid, kind, [{"type": "START_TIMER", "timerId": "t", "durationMs": duration_ms}])
    (timer_started,) = [e for e in answer["events"] if e["type"] == "TIMER_STARTED"]
    return wid, timer_started


def queue_bodies(stack: LocalStack, wid: str) -> list[dict[str, Any]]:
    """The timer queue messages of this workflow that fire-timer handled (a redelivery counts again); the source
    records a batch once the function answered, so wait for one."""
    return wait_until(lambda: _queue_bodies(stack, wid), 30, f"a timer message of {wid} handled")


def _queue_bodies(stack: LocalStack, wid: str) -> list[dict[str, Any]]:
    assert stack.operator_sources is not None
    queues = stack.operator_sources.queues
    bodies = []
    for delivery in list(queues.deliveries):
        if delivery.mapping == LAST_MILE:
            decoded = [json.loads(body) for body in delivery.bodies]
            bodies.extend(body for body in decoded if body["workflowExecutionId"] == wid)
    return bodies


def schedule_runs(stack: LocalStack, wid: str) -> list[tuple[Any, str]]:
    assert stack.scheduler is not None
    name = schedule_name("acme", wid, "t")
    return [(run.payload, run.outcome) for run in list(stack.scheduler.invocations) if run.name == name]


def test_a_timer_within_the_last_mile_fires_from_its_queue_message_never_early(
    client: Client, local_stack: LocalStack
) -> None:
    wid, timer_started = started(client, "last-mile", 1000)
    fired = client.wait_for_event(wid, "TIMER_FIRED")
    assert parse_iso_ms(fired["createdAt"]) >= parse_iso_ms(timer_started["data"]["fireAt"])
    assert queue_bodies(local_stack, wid) == [
        {"tenant": "acme", "workflowExecutionId": wid, "timerId": "t", "fireAt": timer_started["data"]["fireAt"]}
    ]
    assert schedule_runs(local_stack, wid) == []  # no schedule at all
    assert client.types(wid).count("TIMER_FIRED") == 1
    client.check(wid, settled=False)


def test_a_longer_timer_is_handed_over_by_its_schedule_and_fires_from_the_queue_never_early(
    client: Client, local_stack: LocalStack
) -> None:
    wid, timer_started = started(client, "hand-over", 4000)
    fire_at = timer_started["data"]["fireAt"]
    fired = client.wait_for_event(wid, "TIMER_FIRED")
    assert parse_iso_ms(fired["createdAt"]) >= parse_iso_ms(fire_at)
    payload = {"tenant": "acme", "workflowExecutionId": wid, "timerId": "t", "fireAt": fire_at, "handOver": True}
    assert wait_until(lambda: schedule_runs(local_stack, wid), 30, "the hand-over's run") == [(payload, "ok")]
    assert queue_bodies(local_stack, wid) == [
        {"tenant": "acme", "workflowExecutionId": wid, "timerId": "t", "fireAt": fire_at}
    ]
    assert client.types(wid).count("TIMER_FIRED") == 1
    client.check(wid, settled=False)


def test_a_cancelled_timer_never_fires_when_its_message_arrives_later(client: Client, local_stack: LocalStack) -> None:
    wid, _ = started(client, "cancelled-last-mile", 1000)
    client.cancel(wid, "wake up", cascade=False)
    lease = client.claim(wid, "cancelled-last-mile")["leaseId"]
    answer = client.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}]).json()
    if [e["type"] for e in answer["events"]] == ["TIMER_CANCELLED"]:  # else the timer fired first: nothing to show
        queue_bodies(local_stack, wid)
        local_stack.wait_idle()
        assert [t for t in client.types(wid) if t.startswith("TIMER_")] == ["TIMER_STARTED", "TIMER_CANCELLED"]
    client.check(wid, settled=False)


def test_a_message_delivered_twice_and_a_hand_over_after_a_cancel_change_nothing(
    client: Client, local_stack: LocalStack
) -> None:
    wid, _ = started(client, "twice", 1000)
    client.wait_for_event(wid, "TIMER_FIRED")
    (body,) = queue_bodies(local_stack, wid)
    record = {"messageId": "again", "receiptHandle": "r", "body": json.dumps(body), "attributes": {}}
    assert local_stack.invoke("FireTimerFunction", {"Records": [record]}) == {"batchItemFailures": []}
    hand_over = {**body, "handOver": True}  # a schedule that was deleted too late, run after the timer ended
    assert local_stack.invoke("FireTimerFunction", hand_over) == {"outcome": "ignored"}
    assert client.types(wid).count("TIMER_FIRED") == 1
    client.check(wid, settled=False)
