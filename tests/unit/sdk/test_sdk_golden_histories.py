"""Golden histories: replaying each recorded history must reproduce, step by step, the commands that were submitted.

The fixtures under histories/ were recorded by sdk_make_histories.py and reviewed by hand. If a change to the SDK
makes one of these tests fail, the SDK would no longer replay workflows started by the previous version: that is a
determinism break, not a fixture to regenerate lightly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sdk_workflows
from sdk_workflows import ALL_WORKFLOWS
from stratoflow_sdk import replay_history
from stratoflow_sdk._definitions import registry, workflow_definition
from stratoflow_sdk._history import EVENT_KEYS
from stratoflow_sdk._submission import plan_submission

HISTORIES = Path(__file__).parent / "histories"
FIXTURES = sorted(p.stem for p in HISTORIES.glob("*.json"))
WORKFLOWS = registry(ALL_WORKFLOWS, workflow_definition)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def load(name: str) -> dict[str, Any]:
    return json.loads((HISTORIES / f"{name}.json").read_text())


def replay(fixture: dict[str, Any], length: int | None = None) -> Any:
    events = fixture["events"] if length is None else fixture["events"][:length]
    return replay_history(WORKFLOWS[fixture["workflow"]], events, execution_id=fixture["workflowExecutionId"],
                          queue=fixture["queue"])


def test_every_scenario_has_a_fixture() -> None:
    assert set(FIXTURES) == {
        "join_all", "select_task_loser", "select_winner_by_sequence", "select_timer_loser", "select_child_loser",
        "timeout_fires", "timeout_does_not_fire", "cancel_with_shielded_cleanup", "cancel_then_complete",
        "cancel_before_first_activation", "operations_and_state", "fan_out_chunked",
    }


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_events_match_the_api_event_catalogue(name: str) -> None:
    """Every event has exactly api.md's data keys, gapless sequences and an api.md timestamp."""
    events = load(name)["events"]
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "WORKFLOW_STARTED"
    for event in events:
        assert set(event) == {"sequence", "type", "data", "createdAt"}
        assert set(event["data"]) == EVENT_KEYS[event["type"]], event
        assert TIMESTAMP.fullmatch(event["createdAt"])


class RecordedRandom:
    """Stands in for the random side effect of operations that are new in a prefix: it returns what was recorded."""

    def __init__(self, values: list[Any]) -> None:
        self._values = iter(values)

    def randint(self, low: int, high: int) -> Any:
        return next(self._values)

    def random(self) -> Any:
        return next(self._values)


@pytest.mark.parametrize("name", FIXTURES)
def test_replaying_each_prefix_reproduces_the_submitted_commands(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = load(name)
    assert fixture["activations"], "a fixture records at least one submission"
    for activation in fixture["activations"]:
        # Given the history as the worker had it at that poll
        length = activation["historyLength"]
        later_results = [e["data"]["result"] for e in fixture["events"][length:] if e["type"] == "OPERATION_COMPLETED"]
        monkeypatch.setattr(sdk_workflows.random, "SystemRandom", lambda values=later_results: RecordedRandom(values))
        result = replay(fixture, length)
        # When the new commands are planned into a submission
        planned = plan_submission(result.commands, execution_id=fixture["workflowExecutionId"],
                                  resume_timers=result.resume_timers)
        # Then they are exactly what was submitted
        assert planned == activation["commands"], f"activation at history length {activation['historyLength']}"


@pytest.mark.parametrize("name", FIXTURES)
def test_replaying_the_whole_history_adds_nothing_once_finished(name: str) -> None:
    fixture = load(name)
    result = replay(fixture)
    if fixture["finalStatus"] in ("COMPLETED", "FAILED", "CANCELLED"):
        assert result.commands == []
        assert result.finished is True
    else:
        assert result.finished is False


def commands_at(fixture: dict[str, Any], index: int) -> list[dict[str, Any]]:
    return fixture["activations"][index]["commands"]


def test_join_all_returns_results_in_argument_order_after_the_last_completion() -> None:
    fixture = load("join_all")
    run = fixture["workflowExecutionId"]
    assert [c["taskExecutionId"] for c in commands_at(fixture, 0)] == [f"{run}:task:{n}" for n in (1, 2, 3)]
    assert commands_at(fixture, 1) == []  # two of three done: nothing to do, the lease is just released
    assert commands_at(fixture, 2) == [{"type": "COMPLETE_WORKFLOW", "output": 12}]


def test_select_cancels_a_losing_task() -> None:
    fixture = load("select_task_loser")
    run = fixture["workflowExecutionId"]
    assert commands_at(fixture, 1) == [
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": f"{run}:task:1"},
        {"type": "COMPLETE_WORKFLOW", "output": {"index": 1, "value": "from-b"}},
    ]


def test_select_winner_is_decided_by_event_sequence_not_argument_position() -> None:
    """Regression guard: both branches are done when the code looks; the earlier event wins, here argument 1."""
    fixture = load("select_winner_by_sequence")
    assert [e["data"].get("result") for e in fixture["events"][3:5]] == ["from-b", "from-a"]
    assert commands_at(fixture, 1) == [{"type": "COMPLETE_WORKFLOW", "output": {"index": 1, "value": "from-b"}}]


def test_select_cancels_a_losing_timer() -> None:
    fixture = load("select_timer_loser")
    run = fixture["workflowExecutionId"]
    assert commands_at(fixture, 1) == [
        {"type": "CANCEL_TIMER", "timerId": f"{run}:timer:1"},
        {"type": "COMPLETE_WORKFLOW", "output": {"index": 0, "value": 42}},
    ]


def test_select_cancels_a_losing_child() -> None:
    fixture = load("select_child_loser")
    run = fixture["workflowExecutionId"]
    assert commands_at(fixture, 1) == [
        {"type": "REQUEST_CANCEL_CHILD_WORKFLOW", "childExecutionName": "leaf-1",
         "childWorkflowExecutionId": f"{run}:child:1", "reason": "cancelled by the parent workflow"},
        {"type": "COMPLETE_WORKFLOW", "output": {"index": 1, "value": None}},
    ]


def test_with_timeout_fires_and_cancels_the_task() -> None:
    fixture = load("timeout_fires")
    run = fixture["workflowExecutionId"]
    assert commands_at(fixture, 0)[1] == {"type": "START_TIMER", "timerId": f"{run}:timer:1", "durationMs": 10_000}
    assert commands_at(fixture, 1) == [
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": f"{run}:task:1"},
        {"type": "COMPLETE_WORKFLOW", "output": {"timedOut": True}},
    ]


def test_with_timeout_does_not_fire_and_cancels_its_timer() -> None:
    fixture = load("timeout_does_not_fire")
    run = fixture["workflowExecutionId"]
    assert commands_at(fixture, 1) == [
        {"type": "CANCEL_TIMER", "timerId": f"{run}:timer:1"},
        {"type": "COMPLETE_WORKFLOW", "output": {"timedOut": False, "value": "in-time"}},
    ]


def test_workflow_cancellation_runs_shielded_cleanup_then_cancels() -> None:
    fixture = load("cancel_with_shielded_cleanup")
    run = fixture["workflowExecutionId"]
    reason = "customer changed their mind"
    assert [e["type"] for e in fixture["events"]][4] == "CANCELLATION_REQUESTED"
    assert commands_at(fixture, 2) == [
        {"type": "CANCEL_TIMER", "timerId": f"{run}:timer:1"},
        {"type": "SCHEDULE_TASK", "taskExecutionId": f"{run}:task:2", "kind": "release", "input": {"sku": "B-1"}},
    ]
    assert commands_at(fixture, 3) == [{"type": "START_TIMER", "timerId": f"{run}:timer:2", "durationMs": 5000}]
    assert commands_at(fixture, 4) == [{"type": "CANCEL_WORKFLOW", "reason": reason}]


def test_a_workflow_that_swallows_its_cancellation_completes() -> None:
    fixture = load("cancel_then_complete")
    assert commands_at(fixture, -1) == [{"type": "COMPLETE_WORKFLOW", "output": "released"}]


def test_cancellation_before_the_first_activation_cancels_the_first_task_in_the_same_submission() -> None:
    fixture = load("cancel_before_first_activation")
    run = fixture["workflowExecutionId"]
    assert commands_at(fixture, 0) == [
        {"type": "SCHEDULE_TASK", "taskExecutionId": f"{run}:task:1", "kind": "reserve", "input": {"sku": "B-3"}},
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": f"{run}:task:1", "reason": "too late"},
        {"type": "SCHEDULE_TASK", "taskExecutionId": f"{run}:task:2", "kind": "release", "input": {"sku": "B-3"}},
    ]


def test_operations_are_replayed_from_history_without_running_them_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = load("operations_and_state")
    token = fixture["events"][1]["data"]["result"]

    def forbidden() -> None:
        raise AssertionError("an operation recorded in the history must not run again")

    monkeypatch.setattr(sdk_workflows.random, "SystemRandom", forbidden)
    result = replay(fixture, 6)
    assert result.commands == [
        {"type": "CLEAR_STATE", "key": "phase"},
        {"type": "COMPLETE_WORKFLOW", "output": {
            "token": token, "phase": "started", "after": None,
            "uuid": fixture["activations"][1]["commands"][1]["output"]["uuid"],
            "now": "2026-11-24T06:00:00.006000+00:00",  # createdAt of TIMER_FIRED, the event being delivered
        }},
    ]
    assert fixture["activations"][0]["commands"][:3] == [
        {"type": "RECORD_OPERATION", "operationName": "token", "result": token},
        {"type": "SET_STATE", "key": "phase", "value": "started"},
        {"type": "SET_STATE", "key": "token", "value": token},
    ]


def test_more_than_25_commands_go_out_as_a_first_chunk_and_a_resume_timer() -> None:
    fixture = load("fan_out_chunked")
    run = fixture["workflowExecutionId"]
    first, second, last = (a["commands"] for a in fixture["activations"])
    assert len(first) == 25
    assert [c["taskExecutionId"] for c in first[:24]] == [f"{run}:task:{n}" for n in range(1, 25)]
    assert first[24] == {"type": "START_TIMER", "timerId": f"{run}:resume:1", "durationMs": 1}
    assert [c["taskExecutionId"] for c in second] == [f"{run}:task:{n}" for n in range(25, 31)]
    assert last == [{"type": "COMPLETE_WORKFLOW", "output": 870}]
