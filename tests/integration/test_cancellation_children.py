"""Flows 4 and 5 through the HTTP API: a parent asks its child to cancel; a child's outcome reaches its parent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import Client, event_data


@pytest.fixture
def client(api: Any, local_stack: Any) -> Client:
    return Client(api, local_stack)


def child(name: str, child_id: str, kind: str, policy: str | None = None) -> dict[str, Any]:
    command = {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id,
        "workflowKind": kind,
        "input": {"for": name},
    }
    if policy is not None:
        command["parentClosePolicy"] = policy
    return command


def cancel_request(name: str, child_id: str, reason: str) -> dict[str, Any]:
    return {
        "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id,
        "reason": reason,
    }


def parent_with_child(client: Client, tick_ms: int = 200) -> tuple[str, str]:
    """A WAITING parent with a child `<pid>.pay` (kind "payment") and a short timer that wakes it again."""
    pid = client.start("checkout")
    child_id = f"{pid}.pay"
    client.run(
        pid,
        "checkout",
        [child("pay", child_id, "payment"), {"type": "START_TIMER", "timerId": "tick", "durationMs": tick_ms}],
    )
    return pid, child_id


def test_a_cancel_request_reaches_the_live_child_which_cancels_and_reports_back(client: Client) -> None:
    pid, child_id = parent_with_child(client)
    client.wait_for_event(pid, "TIMER_FIRED")
    answer = client.run(pid, "checkout", [cancel_request("pay", child_id, "customer left")])
    assert [(e["type"], e["data"]) for e in answer["events"]] == [
        (
            "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
            {"childExecutionName": "pay", "childWorkflowExecutionId": child_id, "reason": "customer left"},
        )
    ]
    client.settle()
    assert event_data(client.history(child_id), "CANCELLATION_REQUESTED") == [
        {"reason": "customer left", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
    ]
    view = client.workflow(child_id)
    assert (view["status"], view["cancelReason"]) == ("CANCELLING", "customer left")
    claimed = client.claim(child_id, "payment")
    assert claimed["workflowExecution"]["status"] == "CANCELLING"
    client.submit(child_id, claimed["leaseId"], [{"type": "CANCEL_WORKFLOW", "reason": "customer left"}])
    reported = client.wait_for_event(pid, "CHILD_WORKFLOW_FAILED")
    assert reported["data"] == {
        "childExecutionName": "pay",
        "childWorkflowExecutionId": child_id,
        "error": {"code": "CANCELLED", "message": "customer left"},
        "cancelled": True,
        "terminated": False,
    }
    assert client.status(pid) == "PENDING"
    client.check(pid)


def test_a_request_to_a_child_already_cancelling_changes_nothing(client: Client) -> None:
    pid, child_id = parent_with_child(client)
    client.cancel(child_id, "asked directly", cascade=False)
    client.wait_for_event(pid, "TIMER_FIRED")
    client.run(pid, "checkout", [cancel_request("pay", child_id, "from the parent")])
    client.settle()
    assert event_data(client.history(child_id), "CANCELLATION_REQUESTED") == [
        {"reason": "asked directly", "requestedBy": "api", "cleanupDeadline": None}
    ]
    assert "CHILD_WORKFLOW_CANCELLATION_FAILED" not in client.types(pid)
    client.check(pid)


def test_a_request_to_a_finished_child_fails_back_to_the_parent(client: Client) -> None:
    pid, child_id = parent_with_child(client, tick_ms=60_000)
    client.run(child_id, "payment", [{"type": "COMPLETE_WORKFLOW", "output": {"paid": 10}}])
    completed = client.wait_for_event(pid, "CHILD_WORKFLOW_COMPLETED")
    assert completed["data"] == {
        "childExecutionName": "pay",
        "childWorkflowExecutionId": child_id,
        "output": {"paid": 10},
    }
    client.run(pid, "checkout", [cancel_request("pay", child_id, "too late")])
    failed = client.wait_for_event(pid, "CHILD_WORKFLOW_CANCELLATION_FAILED")
    assert failed["data"] == {
        "childExecutionName": "pay",
        "childWorkflowExecutionId": child_id,
        "error": {
            "code": "FAILED_PRECONDITION",
            "message": "child workflow execution is COMPLETED",
            "currentStatus": "COMPLETED",
        },
    }
    assert client.status(pid) == "PENDING"  # woken
    assert client.types(child_id) == ["WORKFLOW_STARTED", "WORKFLOW_COMPLETED"]
    assert client.types(pid).count("CHILD_WORKFLOW_COMPLETED") == 1
    client.check(pid)


def test_a_request_for_a_child_that_is_not_ours_fails_with_not_found(client: Client) -> None:
    pid, child_id = parent_with_child(client)
    stranger = client.start("stranger")
    client.wait_for_event(pid, "TIMER_FIRED")
    client.run(
        pid,
        "checkout",
        [cancel_request("pay", stranger, "wrong id"), cancel_request("nobody", "nobody", "no such child")],
    )
    client.settle()
    failures = event_data(client.history(pid), "CHILD_WORKFLOW_CANCELLATION_FAILED")
    assert sorted(f["childWorkflowExecutionId"] for f in failures) == sorted([stranger, "nobody"])
    assert {f["error"]["code"] for f in failures} == {"NOT_FOUND"}
    assert client.status(stranger) == "PENDING" and client.types(stranger) == ["WORKFLOW_STARTED"]
    assert client.types(child_id) == ["WORKFLOW_STARTED"]
    client.check(pid)


@pytest.mark.parametrize(
    ("command", "reported", "data"),
    [
        ({"type": "COMPLETE_WORKFLOW", "output": 42}, "CHILD_WORKFLOW_COMPLETED", {"output": 42}),
        (
            {"type": "FAIL_WORKFLOW", "error": {"code": "DECLINED"}},
            "CHILD_WORKFLOW_FAILED",
            {"error": {"code": "DECLINED"}, "cancelled": False, "terminated": False},
        ),
    ],
)
def test_a_child_s_outcome_reaches_its_parent_exactly_once(
    client: Client, command: dict[str, Any], reported: str, data: dict[str, Any]
) -> None:
    pid, child_id = parent_with_child(client, tick_ms=60_000)
    client.run(child_id, "payment", [command])
    event = client.wait_for_event(pid, reported)
    assert event["data"] == {"childExecutionName": "pay", "childWorkflowExecutionId": child_id, **data}
    client.settle()
    assert [t for t in client.types(pid) if t.startswith("CHILD_WORKFLOW_")] == ["CHILD_WORKFLOW_INITIATED", reported]
    client.check(pid)


def test_child_command_refusals(client: Client) -> None:
    pid = client.start("checkout")
    existing = client.start("other")
    lease = client.claim(pid, "checkout")["leaseId"]
    same_name = client.submit(pid, lease, [child("c", f"{pid}.a", "k"), child("c", f"{pid}.b", "k")], expect=400)
    assert same_name.json()["error"]["code"] == "INVALID_ARGUMENT"
    same_id = client.submit(pid, lease, [child("a", f"{pid}.a", "k"), child("b", f"{pid}.a", "k")], expect=409)
    assert same_id.json()["error"]["code"] == "CONFLICT"
    taken = client.submit(pid, lease, [child("a", existing, "k")], expect=409).json()
    assert taken["error"]["code"] == "CONFLICT"
    itself = client.submit(pid, lease, [child("a", pid, "k")], expect=409).json()
    assert itself["error"]["code"] == "CONFLICT"
    assert client.types(pid) == ["WORKFLOW_STARTED"]
    answer = client.submit(pid, lease, [cancel_request("ghost", "ghost", "always accepted")]).json()
    assert [e["type"] for e in answer["events"]] == ["CHILD_WORKFLOW_CANCELLATION_REQUESTED"]
    client.check(pid)
