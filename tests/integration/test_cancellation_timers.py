"""Flows 2 and 3 through the HTTP API: timers fire through their schedules, cancelled timers never fire."""

from __future__ import annotations

import os
from typing import Any

import pytest
from stratoflow.timers import schedule_name

from tests.support.http import Client, wait_until

# Scheduler's path: every timer here gets a schedule that fires it (the last mile has tests of its own).
pytestmark = pytest.mark.stack_environment(TIMER_LAST_MILE_S="0")


@pytest.fixture
def client(api: Any, local_stack: Any) -> Client:
    return Client(api, local_stack)


def schedules(local_stack: Any, wid: str, timer_id: str) -> list[str]:
    """The names of the timer's schedules that exist (0 or 1)."""
    group = os.environ["TIMER_SCHEDULE_GROUP"]
    name = schedule_name("acme", wid, timer_id)
    listed = local_stack.client("scheduler").list_schedules(GroupName=group, NamePrefix=name)["Schedules"]
    return [schedule["Name"] for schedule in listed]


def fire_payload(wid: str, timer_id: str) -> dict[str, str]:
    return {"tenant": "acme", "workflowExecutionId": wid, "timerId": timer_id}


def stored_timer(client: Client, wid: str, timer_id: str) -> dict[str, Any]:
    items = client.stored_items({wid: []})
    return next(item for item in items if item["sk"] == f"TIMER#{timer_id}")


def test_a_timer_fires_through_its_schedule_and_wakes_the_workflow(client: Client, local_stack: Any) -> None:
    wid = client.start("sleeper")
    answer = client.run(wid, "sleeper", [{"type": "START_TIMER", "timerId": "nap", "durationMs": 300}])
    assert answer["status"] == "WAITING"
    fired = client.wait_for_event(wid, "TIMER_FIRED")
    assert fired["data"] == {"timerId": "nap"}
    assert client.status(wid) == "PENDING"
    client.settle()
    assert schedules(local_stack, wid, "nap") == []
    assert stored_timer(client, wid, "nap")["status"] == "FIRED"
    client.check(wid)


def test_a_cancelled_timer_never_fires_even_when_its_schedule_arrives_late(client: Client, local_stack: Any) -> None:
    wid = client.start("sleeper")
    client.run(
        wid,
        "sleeper",
        [
            {"type": "START_TIMER", "timerId": "deadline", "durationMs": 120_000},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 200},
        ],
    )
    client.settle()
    assert len(schedules(local_stack, wid, "deadline")) == 1
    client.wait_for_event(wid, "TIMER_FIRED")  # the tick wakes the workflow
    answer = client.run(wid, "sleeper", [{"type": "CANCEL_TIMER", "timerId": "deadline"}])
    assert [(e["type"], e["data"]) for e in answer["events"]] == [("TIMER_CANCELLED", {"timerId": "deadline"})]
    client.settle()
    assert schedules(local_stack, wid, "deadline") == []  # deleted by the outbox dispatcher
    # a schedule invocation that still arrives (deleted late, delivered twice) changes nothing
    before = client.history(wid)
    assert local_stack.invoke("FireTimerFunction", fire_payload(wid, "deadline")) == {"outcome": "ignored"}
    assert client.history(wid) == before
    assert stored_timer(client, wid, "deadline")["status"] == "CANCELLED"
    client.check(wid)


def test_a_schedule_that_fires_twice_appends_one_event(client: Client, local_stack: Any) -> None:
    wid = client.start("sleeper")
    client.run(wid, "sleeper", [{"type": "START_TIMER", "timerId": "long", "durationMs": 120_000}])
    outcomes = [local_stack.invoke("FireTimerFunction", fire_payload(wid, "long"))["outcome"] for _ in range(2)]
    assert outcomes == ["fired", "ignored"]
    assert client.types(wid).count("TIMER_FIRED") == 1
    client.settle()
    assert schedules(local_stack, wid, "long") == []
    client.check(wid)


def test_cancelling_a_timer_that_already_fired_appends_nothing(client: Client) -> None:
    wid = client.start("sleeper")
    client.run(wid, "sleeper", [{"type": "START_TIMER", "timerId": "nap", "durationMs": 200}])
    client.wait_for_event(wid, "TIMER_FIRED")
    answer = client.run(wid, "sleeper", [{"type": "CANCEL_TIMER", "timerId": "nap"}])
    assert answer == {"status": "WAITING", "events": []}
    assert [t for t in client.types(wid) if t.startswith("TIMER_")] == ["TIMER_STARTED", "TIMER_FIRED"]
    client.check(wid)


def test_timer_command_refusals(client: Client) -> None:
    wid = client.start("sleeper")
    claimed = client.claim(wid, "sleeper")
    lease = claimed["leaseId"]
    unknown = client.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "never-started"}], expect=400).json()
    assert unknown["error"]["code"] == "INVALID_ARGUMENT"
    zero = client.submit(wid, lease, [{"type": "START_TIMER", "timerId": "t", "durationMs": 0}], expect=400).json()
    assert zero["error"]["code"] == "INVALID_ARGUMENT"
    twice = [{"type": "START_TIMER", "timerId": "t", "durationMs": 50}] * 2
    assert client.submit(wid, lease, twice, expect=400).json()["error"]["code"] == "INVALID_ARGUMENT"
    client.submit(wid, lease, twice[:1])
    client.wait_for_event(wid, "TIMER_FIRED")
    lease = client.claim(wid, "sleeper")["leaseId"]
    reused = client.submit(wid, lease, twice[:1], expect=400).json()
    assert reused["error"] == {"code": "INVALID_ARGUMENT", "message": "timer id t was already used in this execution"}
    assert client.types(wid) == ["WORKFLOW_STARTED", "TIMER_STARTED", "TIMER_FIRED"]
    client.check(wid)


def test_a_timer_still_open_when_its_workflow_ends_is_cancelled_without_an_event(
    client: Client, local_stack: Any
) -> None:
    wid = client.start("sleeper")
    client.run(
        wid,
        "sleeper",
        [
            {"type": "START_TIMER", "timerId": "reminder", "durationMs": 120_000},
            {"type": "COMPLETE_WORKFLOW", "output": "done early"},
        ],
    )
    client.settle()
    assert client.types(wid)[-1] == "WORKFLOW_COMPLETED"
    assert stored_timer(client, wid, "reminder")["status"] == "CANCELLED"
    wait_until(lambda: schedules(local_stack, wid, "reminder") == [], 10, "the schedule to be deleted")
    assert local_stack.invoke("FireTimerFunction", fire_payload(wid, "reminder")) == {"outcome": "ignored"}
    assert client.types(wid)[-1] == "WORKFLOW_COMPLETED"
    client.check(wid)
