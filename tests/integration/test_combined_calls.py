"""Combined calls through the local stack: complete or fail a task, or submit commands, with `pollNext` — the write
commits first and stands, the poll part claims as that poll would (the caller's tenant only), a bad `pollNext` is
400 and changes nothing, and without `pollNext` every answer is as before.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from stratoflow_local.stack import LocalStack

from tests.integration.conftest import Api
from tests.support.domain import scan_items


def queue_name() -> str:
    return f"combined-{uuid.uuid4().hex[:8]}"


def ok(api: Api, path: str, body: Any, status: int = 200) -> Any:
    response = api.post(path, json=body)
    assert response.status_code == status, (path, response.status_code, response.text)
    return response.json() if response.text else None


def running_task(api: Api, queue: str) -> tuple[str, str]:
    task_id = ok(api, "/v1/tasks", {"kind": "combined-t", "queue": queue}, 201)["taskExecutionId"]
    claim = ok(api, "/v1/worker/tasks/poll", {"queue": queue, "leaseMs": 300_000})
    assert claim["task"]["taskExecutionId"] == task_id
    return task_id, claim["leaseId"]


def task_status(api: Api, task_id: str) -> str:
    return str(api.get(f"/v1/tasks/{task_id}").json()["status"])


def acme_items(stack: LocalStack) -> list[dict[str, Any]]:
    stack.wait_idle()
    items = scan_items(stack.client("dynamodb"), os.environ["TABLE_NAME"])
    return [item for item in items if str(item["pk"]).startswith("T#acme#")]


def test_complete_commits_even_when_nothing_is_ready(api: Api) -> None:
    queue = queue_name()
    task_id, lease = running_task(api, queue)

    body = {"leaseId": lease, "output": {"n": 1}, "pollNext": {"queue": queue, "workerId": "w-1"}}
    assert ok(api, f"/v1/worker/tasks/{task_id}/complete", body) == {"status": "COMPLETED", "next": None}

    task = api.get(f"/v1/tasks/{task_id}").json()
    assert (task["status"], task["output"]) == ("COMPLETED", {"n": 1})


def test_complete_claims_the_next_task_and_without_poll_next_answers_as_before(api: Api) -> None:
    queue = queue_name()
    task_id, lease = running_task(api, queue)
    waiting = ok(api, "/v1/tasks", {"kind": "combined-t", "queue": queue, "input": 2}, 201)["taskExecutionId"]

    answer = ok(api, f"/v1/worker/tasks/{task_id}/complete", {"leaseId": lease, "pollNext": {"queue": queue}})

    assert answer["status"] == "COMPLETED"
    claimed = answer["next"]
    assert sorted(claimed) == ["leaseExpiresAt", "leaseId", "task"]
    assert claimed["task"] == api.get(f"/v1/tasks/{waiting}").json()
    assert (claimed["task"]["status"], claimed["task"]["attempt"], claimed["task"]["input"]) == ("RUNNING", 1, 2)
    plain = ok(api, f"/v1/worker/tasks/{waiting}/complete", {"leaseId": claimed["leaseId"], "output": 3})
    assert plain == {"status": "COMPLETED"}


def test_fail_with_poll_next_hands_the_retried_task_back(api: Api) -> None:
    queue = queue_name()
    task_id = ok(api, "/v1/tasks", {"kind": "combined-t", "queue": queue, "maxRetries": 1}, 201)["taskExecutionId"]
    lease = ok(api, "/v1/worker/tasks/poll", {"queue": queue})["leaseId"]

    body = {"leaseId": lease, "error": {"message": "once"}, "pollNext": {"queue": queue, "kinds": ["combined-t"]}}
    answer = ok(api, f"/v1/worker/tasks/{task_id}/fail", body)

    assert answer["status"] == "PENDING"
    assert (answer["next"]["task"]["taskExecutionId"], answer["next"]["task"]["attempt"]) == (task_id, 2)


@pytest.mark.parametrize(
    "poll",
    [{"queue": "not a queue"}, {"kinds": ["combined-t"]}, {"queue": "q", "leaseMs": 999}, ["q"], "q"],
    ids=["bad queue", "no queue", "short lease", "array", "string"],
)
def test_a_bad_poll_next_is_400_and_nothing_changes(api: Api, local_stack: LocalStack, poll: Any) -> None:
    queue = queue_name()
    task_id, lease = running_task(api, queue)
    ok(api, "/v1/tasks", {"kind": "combined-t", "queue": queue}, 201)
    workflow_id = ok(api, "/v1/workflows", {"kind": "combined-w", "queue": queue}, 201)["workflowExecutionId"]
    workflow_lease = ok(api, "/v1/worker/workflows/poll", {"queue": queue, "leaseMs": 300_000})["leaseId"]
    before = acme_items(local_stack)

    requests = [
        (f"/v1/worker/tasks/{task_id}/complete", {"leaseId": lease, "output": 1, "pollNext": poll}),
        (f"/v1/worker/tasks/{task_id}/fail", {"leaseId": lease, "error": "e", "pollNext": poll}),
        (
            f"/v1/worker/workflows/{workflow_id}/commands",
            {"leaseId": workflow_lease, "commands": [{"type": "COMPLETE_WORKFLOW", "output": 1}], "pollNext": poll},
        ),
    ]
    for path, body in requests:
        response = api.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "INVALID_ARGUMENT"
        assert response.json()["error"]["problems"][0]["field"].startswith("pollNext")
    assert acme_items(local_stack) == before
    assert task_status(api, task_id) == "RUNNING"


def test_another_tenants_work_is_never_returned(api: Api) -> None:
    globex = api.as_token("tok-globex")
    queue = queue_name()
    theirs = ok(globex, "/v1/tasks", {"kind": "combined-t", "queue": queue}, 201)["taskExecutionId"]
    their_workflow = ok(globex, "/v1/workflows", {"kind": "combined-w", "queue": queue}, 201)["workflowExecutionId"]
    task_id, lease = running_task(api, queue)
    workflow_id = ok(api, "/v1/workflows", {"kind": "combined-w", "queue": queue}, 201)["workflowExecutionId"]
    claim = ok(api, "/v1/worker/workflows/poll", {"queue": queue})
    assert claim["workflowExecution"]["workflowExecutionId"] == workflow_id

    completed = ok(api, f"/v1/worker/tasks/{task_id}/complete", {"leaseId": lease, "pollNext": {"queue": queue}})
    body = {"leaseId": claim["leaseId"], "commands": [], "pollNext": {"queue": queue}}
    submitted = ok(api, f"/v1/worker/workflows/{workflow_id}/commands", body)

    assert completed == {"status": "COMPLETED", "next": None}
    assert submitted == {"status": "WAITING", "events": [], "next": None}
    assert globex.get(f"/v1/tasks/{theirs}").json()["status"] == "PENDING"
    assert globex.get(f"/v1/workflows/{their_workflow}").json()["status"] == "PENDING"


def test_submit_claims_the_next_ready_execution(api: Api) -> None:
    queue = queue_name()
    first = ok(api, "/v1/workflows", {"kind": "combined-w", "queue": queue, "input": 1}, 201)["workflowExecutionId"]
    claim = ok(api, "/v1/worker/workflows/poll", {"queue": queue})
    assert claim["workflowExecution"]["workflowExecutionId"] == first
    second = ok(api, "/v1/workflows", {"kind": "combined-w", "queue": queue, "input": 2}, 201)["workflowExecutionId"]

    command = {"type": "COMPLETE_WORKFLOW", "output": "one"}
    body = {"leaseId": claim["leaseId"], "commands": [command], "pollNext": {"queue": queue, "leaseMs": 300_000}}
    answer = ok(api, f"/v1/worker/workflows/{first}/commands", body)

    assert answer["status"] == "COMPLETED"
    assert [event["type"] for event in answer["events"]] == ["WORKFLOW_COMPLETED"]
    claimed = answer["next"]
    assert claimed["workflowExecution"] == api.get(f"/v1/workflows/{second}").json()
    assert claimed["workflowExecution"]["status"] == "RUNNING"
    assert [event["type"] for event in claimed["events"]] == ["WORKFLOW_STARTED"]
    assert claimed["nextAfterSequence"] is None
    assert api.get(f"/v1/workflows/{first}").json()["status"] == "COMPLETED"

    plain = ok(api, f"/v1/worker/workflows/{second}/commands", {"leaseId": claimed["leaseId"], "commands": []})
    assert plain == {"status": "WAITING", "events": []}
