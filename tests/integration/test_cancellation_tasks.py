"""Flow 1 through the HTTP API: cancelling tasks (by the caller, and by workflow code), and its failure paths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.http import Client


@pytest.fixture
def client(api: Any, local_stack: Any) -> Client:
    return Client(api, local_stack)


def workflow_with_task(client: Client, kind: str = "order", task_kind: str = "charge") -> tuple[str, str]:
    """Given a WAITING workflow that scheduled task `<wid>.charge`; returns (workflow id, task id)."""
    wid = client.start(kind)
    task_id = f"{wid}.charge"
    client.run(wid, kind, [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": task_kind, "input": 1}])
    return wid, task_id


def test_cancelling_a_pending_task_appends_task_cancelled_and_wakes_the_workflow(client: Client) -> None:
    wid, task_id = workflow_with_task(client)
    answer = client.cancel_task(task_id, "customer changed their mind", expect=200)
    assert answer.json() == {"taskExecutionId": task_id, "status": "CANCELLED"}
    last = client.history(wid)[-1]
    assert (last["sequence"], last["type"], last["data"]) == (
        3,
        "TASK_CANCELLED",
        {"taskExecutionId": task_id, "taskType": "charge", "reason": "customer changed their mind"},
    )
    task = client.task(task_id)
    assert (task["status"], task["cancelReason"], task["workflowExecutionId"]) == (
        "CANCELLED",
        "customer changed their mind",
        wid,
    )
    assert client.poll_task("charge") is None  # a cancelled task is never handed out
    claimed = client.claim(wid, "order")  # woken
    assert [e["type"] for e in claimed["events"]][-1] == "TASK_CANCELLED"
    client.submit(wid, claimed["leaseId"], [{"type": "COMPLETE_WORKFLOW", "output": "without charging"}])
    client.check(wid)


def test_a_running_task_learns_of_its_cancellation_at_its_next_heartbeat_and_cannot_report(client: Client) -> None:
    wid, task_id = workflow_with_task(client)
    lease = client.claim_task(task_id, "charge")
    assert client.heartbeat(task_id, lease, 200).json()["cancelRequested"] is False
    client.cancel_task(task_id, "stop", expect=200)
    assert client.heartbeat(task_id, lease, 200).json() == {"cancelRequested": True, "leaseExpiresAt": None}
    for refused in (client.complete_task(task_id, lease, "late"), client.fail_task(task_id, lease, "late")):
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "FAILED_PRECONDITION"
        assert refused.json()["error"]["currentStatus"] == "CANCELLED"
    task = client.task(task_id)
    assert (task["status"], task["output"], task["error"]) == ("CANCELLED", None, None)
    assert client.types(wid).count("TASK_CANCELLED") == 1
    assert "TASK_COMPLETED" not in client.types(wid) and "TASK_FAILED" not in client.types(wid)
    client.check(wid)


def test_workflow_code_cancels_its_own_task(client: Client) -> None:
    wid, task_id = workflow_with_task(client)
    lease = client.claim_task(task_id, "charge")
    client.cancel(wid, "order cancelled")  # the workflow is told, and its code cancels the running task
    claimed = client.claim(wid, "order")
    assert claimed["workflowExecution"]["status"] == "CANCELLING"
    answer = client.submit(
        wid,
        claimed["leaseId"],
        [
            {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": task_id, "reason": "cleanup"},
            {"type": "CANCEL_WORKFLOW", "reason": "order cancelled"},
        ],
    ).json()
    assert [(e["type"], e["data"]) for e in answer["events"]] == [
        ("TASK_CANCELLED", {"taskExecutionId": task_id, "taskType": "charge", "reason": "cleanup"}),
        ("WORKFLOW_CANCELLED", {"reason": "order cancelled"}),
    ]
    assert answer["status"] == "CANCELLED"
    assert client.heartbeat(task_id, lease, 200).json() == {"cancelRequested": True, "leaseExpiresAt": None}
    assert client.complete_task(task_id, lease, "late").status_code == 409
    client.check(wid)


def test_a_task_that_finished_cannot_be_cancelled(client: Client) -> None:
    wid, task_id = workflow_with_task(client)
    lease = client.claim_task(task_id, "charge")
    client.complete_task(task_id, lease, {"receipt": 1}, expect=200)
    refused = client.cancel_task(task_id, "too late", expect=409)
    assert refused.json() == {
        "error": {"code": "FAILED_PRECONDITION", "message": "task is COMPLETED", "currentStatus": "COMPLETED"}
    }
    again = client.cancel_task(task_id, expect=409)
    assert again.json()["error"]["currentStatus"] == "COMPLETED"
    assert client.types(wid)[-1] == "TASK_COMPLETED"
    client.check(wid)


def test_a_second_cancel_is_refused(client: Client) -> None:
    wid, task_id = workflow_with_task(client)
    client.cancel_task(task_id, expect=200)
    assert client.cancel_task(task_id, expect=409).json()["error"]["currentStatus"] == "CANCELLED"
    assert client.types(wid).count("TASK_CANCELLED") == 1
    client.check(wid)


def test_cancelling_a_standalone_task(client: Client) -> None:
    created = client.post("/v1/tasks", {"kind": "resize", "queue": client.queue}, 201).json()
    task_id = created["taskExecutionId"]
    lease = client.claim_task(task_id, "resize")
    assert client.cancel_task(task_id, "r", expect=200).json() == {"taskExecutionId": task_id, "status": "CANCELLED"}
    assert client.heartbeat(task_id, lease, 200).json()["cancelRequested"] is True
    assert client.complete_task(task_id, lease, 1).status_code == 409


def test_task_cancel_refusals(client: Client, api: Any) -> None:
    wid, task_id = workflow_with_task(client)
    missing = client.cancel_task("no-such-task", expect=404).json()
    other_tenant = Client(api.as_token("tok-globex")).cancel_task(task_id, expect=404).json()
    assert missing["error"]["code"] == other_tenant["error"]["code"] == "NOT_FOUND"
    assert set(missing["error"]) == set(other_tenant["error"]) == {"code", "message"}
    assert Client(api.as_token("tok-acme-worker")).cancel_task(task_id, expect=403).json()["error"]["code"] == (
        "PERMISSION_DENIED"
    )
    assert Client(api.as_token(None)).cancel_task(task_id, expect=401).json()["error"]["code"] == "UNAUTHENTICATED"
    too_long = client.cancel_task(task_id, "r" * 1025, expect=400).json()
    assert too_long["error"]["code"] == "INVALID_ARGUMENT"
    assert Client(api.as_token("tok-acme-client")).cancel_task(task_id, expect=200).status_code == 200
    assert client.types(wid).count("TASK_CANCELLED") == 1
    client.check(wid)


def test_workflow_code_cannot_cancel_a_task_it_did_not_schedule(client: Client) -> None:
    _, theirs = workflow_with_task(client, kind="other-order")
    wid = client.start("order")
    claimed = client.claim(wid, "order")
    refused = client.submit(
        wid, claimed["leaseId"], [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": theirs}], expect=400
    ).json()
    assert refused["error"]["code"] == "INVALID_ARGUMENT"
    assert client.task(theirs)["status"] == "PENDING"
    assert client.types(wid) == ["WORKFLOW_STARTED"]
    client.check(wid)
