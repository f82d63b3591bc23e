"""Flow 6 through the HTTP API: cancelling a workflow execution, with and without its descendants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import Client, event_data


@pytest.fixture
def client(api: Any, local_stack: Any) -> Client:
    return Client(api, local_stack)


def child(name: str, child_id: str, kind: str) -> dict[str, Any]:
    return {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id,
        "workflowKind": kind,
    }


def tree(client: Client) -> dict[str, str]:
    """root → a (→ a1), b (→ b1), done (COMPLETED); every live one WAITING. Returns ids by name."""
    root = client.start("root")
    ids = {"root": root, **{name: f"{root}.{name}" for name in ("a", "b", "done", "a1", "b1")}}
    client.run(root, "root", [child("a", ids["a"], "a"), child("b", ids["b"], "b"), child("done", ids["done"], "done")])
    client.run(ids["a"], "a", [child("a1", ids["a1"], "a1")])
    client.run(ids["b"], "b", [child("b1", ids["b1"], "b1")])
    client.run(ids["done"], "done", [{"type": "COMPLETE_WORKFLOW", "output": "ok"}])
    client.run(root, "root", [])  # woken by the outcome; back to WAITING
    for name in ("a1", "b1"):
        client.run(ids[name], name, [])
    return ids


def test_a_cascading_cancel_reaches_children_and_grandchildren(client: Client) -> None:
    ids = tree(client)
    root = ids["root"]
    answer = client.cancel(root, "store closing")
    assert answer.json() == {"workflowExecutionId": root, "status": "CANCELLING"}
    assert event_data(client.history(root), "CANCELLATION_REQUESTED") == [
        {"reason": "store closing", "requestedBy": "api", "cleanupDeadline": None}
    ]
    client.settle()
    for name in ("a", "b", "a1", "b1"):
        assert event_data(client.history(ids[name]), "CANCELLATION_REQUESTED") == [
            {"reason": "store closing", "requestedBy": f"workflow:{root}", "cleanupDeadline": None}
        ], name
        view = client.workflow(ids[name])
        assert (view["status"], view["cancelReason"]) == ("CANCELLING", "store closing"), name
    assert client.types(ids["done"]) == ["WORKFLOW_STARTED", "WORKFLOW_COMPLETED"]
    client.check(root)


def test_a_non_cascading_cancel_leaves_descendants_until_the_parent_closes(client: Client) -> None:
    ids = tree(client)
    root = ids["root"]
    client.cancel(root, "only the root", cascade=False)
    client.settle()
    for name in ("a", "b", "a1", "b1"):
        assert client.status(ids[name]) == "WAITING", name
    # when the root ends, its REQUEST_CANCEL children are asked (flow 7), and they alone
    client.run(root, "root", [{"type": "CANCEL_WORKFLOW", "reason": "only the root"}])
    client.settle()
    for name in ("a", "b"):
        assert event_data(client.history(ids[name]), "CANCELLATION_REQUESTED") == [
            {"reason": "parent closed", "requestedBy": f"workflow:{root}", "cleanupDeadline": None}
        ], name
    for name in ("a1", "b1"):
        assert client.status(ids[name]) == "WAITING", name
    client.check(root)


def test_the_worker_holding_the_lease_keeps_it_and_sees_the_request_at_its_next_poll(client: Client) -> None:
    wid = client.start("job")
    claimed = client.claim(wid, "job")
    client.cancel(wid, "abort", cascade=False)
    assert client.poll("job") is None  # still leased
    answer = client.submit(
        wid, claimed["leaseId"], [{"type": "RECORD_OPERATION", "operationName": "step", "result": 1}]
    ).json()
    assert answer["status"] == "CANCELLING"
    again = client.claim(wid, "job")
    assert again["workflowExecution"]["status"] == "CANCELLING"
    assert [e["type"] for e in again["events"]] == ["WORKFLOW_STARTED", "CANCELLATION_REQUESTED", "OPERATION_COMPLETED"]
    done = client.submit(wid, again["leaseId"], [{"type": "CANCEL_WORKFLOW", "reason": "abort"}]).json()
    assert done["status"] == "CANCELLED"
    view = client.workflow(wid)
    assert (view["status"], view["cancelReason"]) == ("CANCELLED", "abort")
    client.check(wid)


def test_workflow_code_cleans_up_its_task_timer_and_child_before_it_ends(client: Client) -> None:
    wid = client.start("saga")
    child_id = f"{wid}.ship"
    client.run(
        wid,
        "saga",
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": f"{wid}.reserve", "kind": "reserve"},
            {"type": "START_TIMER", "timerId": "deadline", "durationMs": 120_000},
            child("ship", child_id, "ship"),
        ],
    )
    task_lease = client.claim_task(f"{wid}.reserve", "reserve")
    client.cancel(wid, "customer cancelled")
    client.settle()  # the cascade has reached the child
    claimed = client.claim(wid, "saga")
    assert claimed["workflowExecution"]["status"] == "CANCELLING"
    answer = client.submit(
        wid,
        claimed["leaseId"],
        [
            {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": f"{wid}.reserve", "reason": "cleanup"},
            {"type": "CANCEL_TIMER", "timerId": "deadline"},
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "ship",
                "childWorkflowExecutionId": child_id,
                "reason": "cleanup",
            },
            {"type": "CANCEL_WORKFLOW", "reason": "customer cancelled"},
        ],
    ).json()
    assert [e["type"] for e in answer["events"]] == [
        "TASK_CANCELLED",
        "TIMER_CANCELLED",
        "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
        "WORKFLOW_CANCELLED",
    ]
    client.settle()
    assert client.heartbeat(f"{wid}.reserve", task_lease, 200).json()["cancelRequested"] is True
    # the child was already CANCELLING (the cascade): the parent's own request adds nothing
    assert event_data(client.history(child_id), "CANCELLATION_REQUESTED") == [
        {"reason": "customer cancelled", "requestedBy": f"workflow:{wid}", "cleanupDeadline": None}
    ]
    client.check(wid)


def test_a_cancelling_workflow_may_still_complete(client: Client) -> None:
    wid = client.start("job")
    client.cancel(wid, "please stop", cascade=False)
    claimed = client.claim(wid, "job")
    done = client.submit(wid, claimed["leaseId"], [{"type": "COMPLETE_WORKFLOW", "output": "finished anyway"}]).json()
    assert done["status"] == "COMPLETED"
    view = client.workflow(wid)
    assert (view["status"], view["output"], view["cancelReason"]) == ("COMPLETED", "finished anyway", "please stop")
    client.check(wid)


def test_cancel_is_idempotent_and_refused_once_the_execution_ended(client: Client) -> None:
    wid = client.start("job")
    first = client.cancel(wid, "one").json()
    second = client.cancel(wid, "two").json()
    assert first == second == {"workflowExecutionId": wid, "status": "CANCELLING"}
    assert client.types(wid) == ["WORKFLOW_STARTED", "CANCELLATION_REQUESTED"]
    client.run(wid, "job", [{"type": "CANCEL_WORKFLOW"}])
    refused = client.cancel(wid, "three", expect=409).json()
    assert refused == {
        "error": {
            "code": "FAILED_PRECONDITION",
            "message": "workflow execution is CANCELLED",
            "currentStatus": "CANCELLED",
        }
    }
    client.check(wid)


def test_workflow_cancel_refusals(client: Client, api: Any) -> None:
    wid = client.start("job")
    assert client.cancel("no-such-workflow", expect=404).json()["error"]["code"] == "NOT_FOUND"
    other = Client(api.as_token("tok-globex")).cancel(wid, expect=404).json()
    assert other["error"]["code"] == "NOT_FOUND"
    assert client.cancel(wid, "r" * 1025, expect=400).json()["error"]["code"] == "INVALID_ARGUMENT"
    assert Client(api.as_token("tok-acme-worker")).cancel(wid, expect=403).json()["error"]["code"] == (
        "PERMISSION_DENIED"
    )
    assert client.types(wid) == ["WORKFLOW_STARTED"]
    assert client.status(wid) == "PENDING"
    client.check(wid)
