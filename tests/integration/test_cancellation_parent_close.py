"""Flow 7 through the HTTP API: when a workflow ends, its REQUEST_CANCEL children are asked to cancel, ABANDON
children are left alone, and its open tasks and timers are cancelled, with no event after its end."""

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
    }
    if policy is not None:
        command["parentClosePolicy"] = policy
    return command


def stored(client: Client, wid: str, sk: str) -> dict[str, Any]:
    return next(item for item in client.stored_items({wid: []}) if item["sk"] == sk)


@pytest.mark.parametrize(
    "ending",
    [
        {"type": "COMPLETE_WORKFLOW", "output": "shipped"},
        {"type": "FAIL_WORKFLOW", "error": {"code": "OUT_OF_STOCK"}},
        {"type": "CANCEL_WORKFLOW", "reason": "cancelled"},
    ],
)
def test_a_closing_parent_cancels_its_open_work(client: Client, ending: dict[str, Any]) -> None:
    pid = client.start("order")
    asked, abandoned = f"{pid}.notify", f"{pid}.audit"
    pending_task, running_task = f"{pid}.invoice", f"{pid}.pack"
    client.run(
        pid,
        "order",
        [
            child("notify", asked, "notify"),
            child("audit", abandoned, "audit", policy="ABANDON"),
            {"type": "SCHEDULE_TASK", "taskExecutionId": pending_task, "kind": "invoice"},
            {"type": "SCHEDULE_TASK", "taskExecutionId": running_task, "kind": "pack"},
            {"type": "START_TIMER", "timerId": "sla", "durationMs": 120_000},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 200},
        ],
    )
    lease = client.claim_task(running_task, "pack")
    client.wait_for_event(pid, "TIMER_FIRED")  # wakes the parent, which then ends
    if ending["type"] == "CANCEL_WORKFLOW":
        client.cancel(pid, "cancelled", cascade=False)
    client.run(pid, "order", [ending])
    history_at_end = client.history(pid)
    client.settle()

    assert client.history(pid) == history_at_end  # nothing follows the terminal event
    assert event_data(client.history(asked), "CANCELLATION_REQUESTED") == [
        {"reason": "parent closed", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
    ]
    assert client.status(asked) == "CANCELLING"
    assert client.types(abandoned) == ["WORKFLOW_STARTED"] and client.status(abandoned) == "PENDING"
    for task_id in (pending_task, running_task):
        task = client.task(task_id)
        assert (task["status"], task["cancelReason"]) == ("CANCELLED", "parent closed"), task_id
    assert client.heartbeat(running_task, lease, 200).json() == {"cancelRequested": True, "leaseExpiresAt": None}
    late = client.complete_task(running_task, lease, "packed", expect=409).json()
    assert late["error"]["currentStatus"] == "CANCELLED"
    assert client.poll_task("invoice") is None
    assert stored(client, pid, "TIMER#sla")["status"] == "CANCELLED"
    client.check(pid)


def test_the_asked_child_s_outcome_is_kept_on_the_link_of_the_ended_parent(client: Client) -> None:
    pid = client.start("order")
    child_id = f"{pid}.notify"
    client.run(pid, "order", [child("notify", child_id, "notify"), {"type": "COMPLETE_WORKFLOW"}])
    client.settle()
    claimed = client.claim(child_id, "notify")
    assert claimed["workflowExecution"]["status"] == "CANCELLING"
    client.submit(child_id, claimed["leaseId"], [{"type": "CANCEL_WORKFLOW", "reason": "parent closed"}])
    client.settle()
    assert client.types(pid)[-1] == "WORKFLOW_COMPLETED"
    link = stored(client, pid, "CHILD#notify")
    assert (link["status"], link["cancelState"]) == ("CANCELLED", "DELIVERED")
    client.check(pid)


def test_children_that_ended_or_are_already_cancelling_are_not_asked_again(client: Client) -> None:
    pid = client.start("order")
    finished, cancelling = f"{pid}.done", f"{pid}.busy"
    client.run(pid, "order", [child("done", finished, "done"), child("busy", cancelling, "busy")])
    client.run(finished, "done", [{"type": "COMPLETE_WORKFLOW", "output": 1}])
    client.cancel(cancelling, "on its own", cascade=False)
    client.run(pid, "order", [{"type": "COMPLETE_WORKFLOW"}])
    client.settle()
    assert client.types(finished) == ["WORKFLOW_STARTED", "WORKFLOW_COMPLETED"]
    assert event_data(client.history(cancelling), "CANCELLATION_REQUESTED") == [
        {"reason": "on its own", "requestedBy": "api", "cleanupDeadline": None}
    ]
    assert "CHILD_WORKFLOW_CANCELLATION_FAILED" not in client.types(pid)
    client.check(pid)
