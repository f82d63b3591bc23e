"""The invariant checker itself: quiet on good histories, and precise about bad ones (I1-I4)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.invariants import InvariantViolation, check_invariants, find_violations

T0 = "2026-01-01T00:00:00.000Z"


def history(*entries: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"sequence": index, "type": kind, "data": data, "createdAt": T0}
        for index, (kind, data) in enumerate(entries, start=1)
    ]


def codes(violations: list[Any]) -> list[str]:
    return [violation.invariant for violation in violations]


STARTED = ("WORKFLOW_STARTED", {"input": None})


def child_started(name: str = "c", child_id: str = "child-1") -> tuple[str, dict[str, Any]]:
    return (
        "CHILD_WORKFLOW_INITIATED",
        {"childExecutionName": name, "childWorkflowKind": "k", "childWorkflowExecutionId": child_id},
    )


def names(name: str = "c", child_id: str = "child-1") -> dict[str, Any]:
    return {"childExecutionName": name, "childWorkflowExecutionId": child_id}


# ---------------------------------------------------------------------- generated good histories


@st.composite
def good_histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid single-execution history: timers started and ended once, tasks with at most one outcome."""
    entries: list[tuple[str, dict[str, Any]]] = [STARTED]
    open_timers: list[str] = []
    open_tasks: list[str] = []
    for counter in range(1, draw(st.integers(min_value=0, max_value=25)) + 1):
        step = draw(st.sampled_from(["timer", "end-timer", "task", "end-task", "op"]))
        if step == "timer":
            open_timers.append(f"t{counter}")
            entries.append(("TIMER_STARTED", {"timerId": f"t{counter}", "durationMs": 5, "fireAt": T0}))
        elif step == "end-timer" and open_timers:
            timer = open_timers.pop(draw(st.integers(min_value=0, max_value=len(open_timers) - 1)))
            entries.append((draw(st.sampled_from(["TIMER_FIRED", "TIMER_CANCELLED"])), {"timerId": timer}))
        elif step == "task":
            open_tasks.append(f"k{counter}")
            entries.append(("TASK_SCHEDULED", {"taskExecutionId": f"k{counter}", "kind": "x", "input": None}))
        elif step == "end-task" and open_tasks:
            task = open_tasks.pop(draw(st.integers(min_value=0, max_value=len(open_tasks) - 1)))
            entries.append(
                (draw(st.sampled_from(["TASK_COMPLETED", "TASK_FAILED", "TASK_CANCELLED"])), {"taskExecutionId": task})
            )
        else:
            entries.append(("OPERATION_COMPLETED", {"operationName": f"o{counter}", "result": counter}))
    if draw(st.booleans()):
        entries.append((draw(st.sampled_from(["WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED"])), {}))
    return history(*entries)


@settings(max_examples=150, deadline=None)
@given(good_histories())
def test_a_valid_history_has_no_violation(events: list[dict[str, Any]]) -> None:
    assert find_violations({"wf": events}) == []


@settings(max_examples=150, deadline=None)
@given(good_histories(), st.data())
def test_dropping_any_event_but_the_last_is_a_gap(events: list[dict[str, Any]], data: st.DataObject) -> None:
    if len(events) < 3:
        return
    index = data.draw(st.integers(min_value=1, max_value=len(events) - 2))
    broken = events[:index] + events[index + 1 :]
    found = find_violations({"wf": broken})
    assert "I1" in codes(found)
    assert any("expected" in violation.message for violation in found if violation.invariant == "I1")


@settings(max_examples=150, deadline=None)
@given(good_histories(), st.data())
def test_a_repeated_sequence_is_reported(events: list[dict[str, Any]], data: st.DataObject) -> None:
    if len(events) < 2:
        return
    index = data.draw(st.integers(min_value=1, max_value=len(events) - 1))
    broken = copy.deepcopy(events)
    broken[index]["sequence"] = broken[index - 1]["sequence"]
    found = [v for v in find_violations({"wf": broken}) if v.invariant == "I1"]
    assert found and "duplicated" in found[0].message


@settings(max_examples=100, deadline=None)
@given(good_histories(), st.sampled_from(["OPERATION_COMPLETED", "TIMER_STARTED", "WORKFLOW_COMPLETED"]))
def test_anything_after_a_terminal_event_is_reported(events: list[dict[str, Any]], extra: str) -> None:
    entries = [(e["type"], e["data"]) for e in events]
    if entries[-1][0] not in ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED"):
        entries.append(("WORKFLOW_CANCELLED", {"reason": None}))
    entries.append((extra, {"timerId": "late", "durationMs": 1, "fireAt": T0}))
    found = find_violations({"wf": history(*entries)})
    assert "I1" in codes(found)
    assert any("terminal" in v.message for v in found)


@settings(max_examples=100, deadline=None)
@given(good_histories(), st.sampled_from(["TIMER_FIRED", "TIMER_CANCELLED"]))
def test_a_second_end_of_a_timer_is_reported(events: list[dict[str, Any]], second: str) -> None:
    entries = [
        (e["type"], e["data"])
        for e in events
        if e["type"] not in ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED")
    ]
    ended = [data["timerId"] for kind, data in entries if kind in ("TIMER_FIRED", "TIMER_CANCELLED")]
    if not ended:
        entries += [
            ("TIMER_STARTED", {"timerId": "z", "durationMs": 1, "fireAt": T0}),
            ("TIMER_CANCELLED", {"timerId": "z"}),
        ]
        ended = ["z"]
    entries.append((second, {"timerId": ended[0]}))
    found = find_violations({"wf": history(*entries)})
    assert codes(found) == ["I2"]
    assert "exactly one of TIMER_FIRED / TIMER_CANCELLED" in found[0].message


@settings(max_examples=100, deadline=None)
@given(good_histories(), st.sampled_from(["TASK_COMPLETED", "TASK_FAILED", "TASK_CANCELLED"]))
def test_anything_after_task_cancelled_is_reported(events: list[dict[str, Any]], late: str) -> None:
    entries = [
        (e["type"], e["data"])
        for e in events
        if e["type"] not in ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED")
    ]
    entries += [
        ("TASK_SCHEDULED", {"taskExecutionId": "q", "kind": "x", "input": None}),
        ("TASK_CANCELLED", {"taskExecutionId": "q", "taskType": "x", "reason": None}),
        (late, {"taskExecutionId": "q"}),
    ]
    found = find_violations({"wf": history(*entries)})
    assert codes(found) == ["I3"]
    assert "nothing may follow TASK_CANCELLED" in found[0].message


# ---------------------------------------------------------------------- hand-made bad histories


def test_the_error_lists_every_violation_with_the_events_involved() -> None:
    bad = history(
        STARTED,
        ("TIMER_STARTED", {"timerId": "t", "durationMs": 1, "fireAt": T0}),
        ("TIMER_CANCELLED", {"timerId": "t"}),
        ("TIMER_FIRED", {"timerId": "t"}),
    )
    with pytest.raises(InvariantViolation) as raised:
        check_invariants({"wf-1": bad})
    assert str(raised.value) == (
        "1 invariant violation(s):\n"
        "  - I2 in wf-1: timer 't': TIMER_FIRED@4 after TIMER_CANCELLED@3; "
        "a timer ends with exactly one of TIMER_FIRED / TIMER_CANCELLED"
    )


def test_a_history_must_start_with_workflow_started_and_start_once() -> None:
    found = find_violations([{"sequence": 1, "type": "TIMER_FIRED", "data": {"timerId": "x"}, "createdAt": T0}])
    assert [v.message for v in found if v.invariant == "I1"] == [
        "the history starts with TIMER_FIRED@1, not WORKFLOW_STARTED"
    ]
    twice = find_violations({"wf": history(STARTED, STARTED)})
    assert [v.message for v in twice] == [
        "WORKFLOW_STARTED appears 2 times: ['WORKFLOW_STARTED@1', 'WORKFLOW_STARTED@2']"
    ]


def test_a_timer_ended_before_it_started_or_started_twice_is_reported() -> None:
    found = find_violations(
        {
            "wf": history(
                STARTED,
                ("TIMER_FIRED", {"timerId": "t"}),
                ("TIMER_STARTED", {"timerId": "t", "durationMs": 1, "fireAt": T0}),
                ("TIMER_STARTED", {"timerId": "t", "durationMs": 1, "fireAt": T0}),
            )
        }
    )
    assert [v.message for v in found] == [
        "TIMER_FIRED@2 for timer 't', which was not started before",
        "timer 't' started twice (TIMER_STARTED@3, TIMER_STARTED@4)",
    ]


def test_two_outcomes_of_one_task_are_reported() -> None:
    found = find_violations(
        {
            "wf": history(
                STARTED,
                ("TASK_SCHEDULED", {"taskExecutionId": "k", "kind": "x", "input": None}),
                ("TASK_COMPLETED", {"taskExecutionId": "k", "result": 1}),
                ("TASK_FAILED", {"taskExecutionId": "k", "error": None}),
            )
        }
    )
    assert [v.message for v in found] == [
        "task 'k': TASK_FAILED@4 after TASK_COMPLETED@3; a task reaches exactly one terminal state"
    ]


def test_stored_state_must_agree_with_the_events() -> None:
    events = history(
        STARTED,
        ("TASK_SCHEDULED", {"taskExecutionId": "k", "kind": "x", "input": None}),
        ("TASK_CANCELLED", {"taskExecutionId": "k", "taskType": "x", "reason": None}),
        ("TIMER_STARTED", {"timerId": "t", "durationMs": 1, "fireAt": T0}),
        ("WORKFLOW_COMPLETED", {"output": 1}),
    )
    stored = [
        {"pk": "T#a#WF#wf", "sk": "WF", "workflowExecutionId": "wf", "status": "WAITING", "lastSeq": 4},
        {"pk": "T#a#TASK#k", "sk": "TASK", "taskExecutionId": "k", "workflowExecutionId": "wf", "status": "COMPLETED"},
        {"pk": "T#a#WF#wf", "sk": "TIMER#t", "timerId": "t", "workflowExecutionId": "wf", "status": "STARTED"},
        {"pk": "T#a#WF#wf", "sk": "OUTBOX#CLOSE#close", "workflowExecutionId": "wf"},
    ]
    found = find_violations({"wf": events}, stored_items=stored, settled=True)
    assert [str(v) for v in found] == [
        "I2 in wf: timer 't' is still STARTED after its workflow ended",
        "I3 in wf: task 'k' is stored COMPLETED but has TASK_CANCELLED@3",
        "I1 in wf: stored lastSeq is 4 but the history has 5",
        "I1 in wf: stored status WAITING but the history ends with WORKFLOW_COMPLETED@5",
        "I3 in wf: outbox item OUTBOX#CLOSE#close is still pending after settling: a follow-up was lost",
    ]


def test_open_work_of_an_ended_workflow_is_fine_until_settled() -> None:
    events = history(
        STARTED, ("TIMER_STARTED", {"timerId": "t", "durationMs": 1, "fireAt": T0}), ("WORKFLOW_CANCELLED", {})
    )
    stored = [{"pk": "T#a#WF#wf", "sk": "TIMER#t", "timerId": "t", "workflowExecutionId": "wf", "status": "STARTED"}]
    assert find_violations({"wf": events}, stored_items=stored, settled=False) == []
    stored[0]["status"] = "CANCELLED"  # cancelled by the parent-close follow-up: no event after the end
    assert find_violations({"wf": events}, stored_items=stored, settled=True) == []


def test_a_child_outcome_reported_twice_is_reported() -> None:
    parent = history(
        STARTED,
        child_started(),
        ("CHILD_WORKFLOW_COMPLETED", {**names(), "output": 1}),
        ("CHILD_WORKFLOW_COMPLETED", {**names(), "output": 1}),
    )
    child = history(STARTED, ("WORKFLOW_COMPLETED", {"output": 1}))
    found = find_violations({"p": parent, "child-1": child})
    assert [v.message for v in found] == [
        "child 'c' has 2 outcome events ['CHILD_WORKFLOW_COMPLETED@3', 'CHILD_WORKFLOW_COMPLETED@4']; "
        "a child's outcome is reported once"
    ]


def test_a_child_outcome_lost_by_a_live_parent_is_reported() -> None:
    parent = history(STARTED, child_started())
    child = history(STARTED, ("WORKFLOW_FAILED", {"error": "x"}))
    found = find_violations({"p": parent, "child-1": child})
    assert [v.message for v in found] == [
        "child 'c' ended with WORKFLOW_FAILED@2 but its live parent has no outcome event"
    ]
    ended_parent = history(STARTED, child_started(), ("WORKFLOW_COMPLETED", {"output": None}))
    assert find_violations({"p": ended_parent, "child-1": child}) == []


def test_an_outcome_that_does_not_match_how_the_child_ended_is_reported() -> None:
    parent = history(
        STARTED,
        child_started(),
        ("CHILD_WORKFLOW_FAILED", {**names(), "error": {"code": "X"}, "cancelled": False, "terminated": False}),
    )
    child = history(STARTED, ("WORKFLOW_CANCELLED", {"reason": "r"}))
    found = find_violations({"p": parent, "child-1": child})
    assert codes(found) == ["I4"] and "does not match how child 'c' ended (WORKFLOW_CANCELLED@2)" in found[0].message


def test_a_cancel_request_both_delivered_and_failed_is_reported() -> None:
    request = ("CHILD_WORKFLOW_CANCELLATION_REQUESTED", {**names(), "reason": "stop"})
    failed = ("CHILD_WORKFLOW_CANCELLATION_FAILED", {**names(), "error": {"code": "FAILED_PRECONDITION"}})
    parent = history(STARTED, child_started(), request, failed)
    child = history(STARTED, ("CANCELLATION_REQUESTED", {"reason": "stop", "requestedBy": "workflow:p"}))
    found = find_violations({"p": parent, "child-1": child})
    assert codes(found) == ["I4"]
    assert (
        "a request was delivered (CANCELLATION_REQUESTED@2 in the child) and every one of 1 request(s)"
        in found[0].message
    )


def test_a_lost_cancel_request_is_reported_once_settled() -> None:
    parent = history(STARTED, child_started(), ("CHILD_WORKFLOW_CANCELLATION_REQUESTED", {**names(), "reason": "stop"}))
    child = history(STARTED)
    assert find_violations({"p": parent, "child-1": child}) == []  # may still be on its way
    found = find_violations({"p": parent, "child-1": child}, settled=True)
    assert [v.message for v in found] == [
        "child 'c'/'child-1': 1 request(s), no CANCELLATION_REQUESTED in the child and 0 "
        "CHILD_WORKFLOW_CANCELLATION_FAILED: a request was lost"
    ]


def test_each_outcome_of_a_request_is_accepted() -> None:
    request = ("CHILD_WORKFLOW_CANCELLATION_REQUESTED", {**names(), "reason": "stop"})
    delivered = (
        {"p": history(STARTED, child_started(), request)},
        {"child-1": history(STARTED, ("CANCELLATION_REQUESTED", {"reason": "stop", "requestedBy": "workflow:p"}))},
    )
    failed = (
        {
            "p": history(
                STARTED,
                child_started(),
                ("CHILD_WORKFLOW_COMPLETED", {**names(), "output": 1}),
                request,
                ("CHILD_WORKFLOW_CANCELLATION_FAILED", {**names(), "error": {}}),
            )
        },
        {"child-1": history(STARTED, ("WORKFLOW_COMPLETED", {"output": 1}))},
    )
    already = (
        {"p": history(STARTED, child_started(), request)},
        {"child-1": history(STARTED, ("CANCELLATION_REQUESTED", {"reason": "other", "requestedBy": "api"}))},
    )
    for parent, child in (delivered, failed, already):
        assert find_violations({**parent, **child}, settled=True) == []


def test_a_failure_answering_no_request_and_a_request_for_a_stranger_are_reported() -> None:
    parent = history(
        STARTED,
        ("CHILD_WORKFLOW_CANCELLATION_FAILED", {**names("x", "nobody"), "error": {}}),
        ("CHILD_WORKFLOW_CANCELLATION_REQUESTED", {**names("y", "stranger"), "reason": None}),
    )
    found = find_violations({"p": parent}, settled=True)
    assert [v.message for v in found] == [
        "child 'y'/'stranger' is not a child of this execution: each of 1 request(s) must yield "
        "CHILD_WORKFLOW_CANCELLATION_FAILED, got 0",
        "['CHILD_WORKFLOW_CANCELLATION_FAILED@2'] for 'x'/'nobody' answer no CHILD_WORKFLOW_CANCELLATION_REQUESTED",
    ]


def test_an_execution_asked_to_cancel_twice_is_reported() -> None:
    events = history(
        STARTED,
        ("CANCELLATION_REQUESTED", {"reason": "a", "requestedBy": "api"}),
        ("CANCELLATION_REQUESTED", {"reason": "b", "requestedBy": "someone"}),
    )
    assert [v.message for v in find_violations({"wf": events})] == [
        "CANCELLATION_REQUESTED appears 2 times (['CANCELLATION_REQUESTED@2', 'CANCELLATION_REQUESTED@3']): "
        "a CANCELLING execution is never asked again",
        "CANCELLATION_REQUESTED@3 has requestedBy 'someone', not 'api', 'workflow:', 'event:' or 'batch:'",
    ]


def test_a_request_still_on_its_way_is_reported_once_settled() -> None:
    parent = history(STARTED, child_started(), ("CHILD_WORKFLOW_CANCELLATION_REQUESTED", {**names(), "reason": "r"}))
    child = history(STARTED, ("CANCELLATION_REQUESTED", {"reason": "r", "requestedBy": "workflow:p"}))
    link = {
        "pk": "T#a#WF#p",
        "sk": "CHILD#c",
        "parentWorkflowExecutionId": "p",
        "childExecutionName": "c",
        "status": "INITIATED",
        "cancelState": "REQUESTED",
    }
    found = find_violations({"p": parent, "child-1": child}, stored_items=[link], settled=True)
    assert [v.message for v in found] == ["the cancel request for child 'c' is still on its way after settling"]
