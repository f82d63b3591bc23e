"""Combined calls through the resolvers, on the in-memory repository: a task's complete or fail, or a command
submission, with `pollNext` claims the next task or execution in the same request.

The write commits first and stands whatever the poll finds; the poll obeys the poll's own rules (the caller's tenant,
queue, kinds, lease); a bad `pollNext` is 400 and nothing changes; without `pollNext` the answers are unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from stratoflow import tasks
from stratoflow.config import Settings
from stratoflow.dal.memory import MemoryRepository
from stratoflow.runtime import Runtime
from stratoflow_api import guards, poll_next, submit_routes, worker_routes
from stratoflow_api.public_routes import openapi_document
from stratoflow_api.resolver import new_resolver
from stratoflow_api.submit_routes import register_submit_routes
from stratoflow_api.worker_routes import register_worker_routes

from tests.support.domain import Engine, FakeClock, SequentialIds
from tests.unit.api.conftest import ApiCall

REAL_PATH_RESOURCES = dict(guards.PATH_RESOURCES)  # before conftest's autouse fixture fakes them
COMPLETE = "/v1/worker/tasks/{taskExecutionId}/complete"
FAIL = "/v1/worker/tasks/{taskExecutionId}/fail"
SUBMIT = "/v1/worker/workflows/{id}/commands"
LEASE_EXPIRES = "2100-01-01T00:01:00.000Z"  # the fake clock's start plus the default 60 s lease


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Tenant acme's domain on an in-memory table, which the routes (and their 404 guards) use too."""
    settings = Settings(table_name="stratoflow-unit", timer_schedule_group="StratoflowTimers")
    rt = Runtime(settings, MemoryRepository("stratoflow-unit"), FakeClock(), SequentialIds())
    for module in (worker_routes, submit_routes, poll_next, guards):
        monkeypatch.setattr(module, "runtime", lambda: rt)
    monkeypatch.setattr(guards, "PATH_RESOURCES", REAL_PATH_RESOURCES)  # the 404 guards look on this table too
    return Engine(rt)


@pytest.fixture
def worker_api() -> APIGatewayHttpResolver:
    return new_resolver(register_worker_routes)


@pytest.fixture
def submit_api() -> APIGatewayHttpResolver:
    return new_resolver(register_submit_routes)


def running_task(engine: Engine, kind: str = "charge", queue: str = "default") -> tuple[str, str]:
    task_id = engine.create_task(kind, queue=queue)["taskExecutionId"]
    return task_id, engine.claim_task(task_id)


def close(api_call: ApiCall, app: APIGatewayHttpResolver, path: str, task_id: str, body: Any) -> tuple[int, Any]:
    return api_call(app, "POST", path, ids={"taskExecutionId": task_id}, body=json.dumps(body))


def test_without_poll_next_the_answer_is_what_it_always_was(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    task_id, lease = running_task(engine)
    engine.create_task("charge")  # ready, but not asked for

    assert close(api_call, worker_api, COMPLETE, task_id, {"leaseId": lease, "output": 1}) == (
        200,
        {"status": "COMPLETED"},
    )
    assert close(api_call, worker_api, COMPLETE, task_id, {"leaseId": lease, "pollNext": None})[0] == 409


def test_complete_with_poll_next_claims_the_next_task(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    task_id, lease = running_task(engine)
    next_id = engine.create_task("charge", {"n": 2})["taskExecutionId"]

    status, body = close(
        api_call, worker_api, COMPLETE, task_id, {"leaseId": lease, "output": 1, "pollNext": {"queue": "default"}}
    )

    assert status == 200
    assert body == {
        "status": "COMPLETED",
        "next": {"task": engine.task(next_id), "leaseId": body["next"]["leaseId"], "leaseExpiresAt": LEASE_EXPIRES},
    }
    assert body["next"]["task"]["status"] == "RUNNING" and body["next"]["task"]["attempt"] == 1
    assert engine.task_item_of(next_id)["leaseId"] == body["next"]["leaseId"]
    assert engine.task(task_id)["status"] == "COMPLETED"


def test_the_complete_stands_when_nothing_is_ready(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    task_id, lease = running_task(engine)

    body = {"leaseId": lease, "output": "done", "pollNext": {"queue": "default", "workerId": "w-1"}}
    assert close(api_call, worker_api, COMPLETE, task_id, body) == (200, {"status": "COMPLETED", "next": None})
    assert engine.task(task_id)["status"] == "COMPLETED"
    assert engine.task(task_id)["output"] == "done"


def test_the_poll_part_keeps_the_polls_rules(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    task_id, lease = running_task(engine)
    engine.create_task("charge", tenant="globex")  # another tenant's, on the same queue name
    engine.create_task("charge", queue="other")  # another queue
    engine.create_task("refund")  # a kind not asked for
    wanted = engine.create_task("ship")["taskExecutionId"]

    body = {"leaseId": lease, "pollNext": {"queue": "default", "kinds": ["ship", "charge"], "leaseMs": 5000}}
    status, answer = close(api_call, worker_api, COMPLETE, task_id, body)

    assert status == 200
    assert answer["next"]["task"]["taskExecutionId"] == wanted
    assert answer["next"]["leaseExpiresAt"] == "2100-01-01T00:00:05.000Z"
    second_id, second_lease = running_task(engine, "refund")
    body = {"leaseId": second_lease, "pollNext": {"queue": "default", "kinds": ["charge"]}}
    assert close(api_call, worker_api, COMPLETE, second_id, body) == (200, {"status": "COMPLETED", "next": None})


@pytest.mark.parametrize(
    ("poll", "field", "problem"),
    [
        ({"queue": "no spaces"}, "pollNext.queue", "String should match pattern '^[A-Za-z0-9._:-]{1,128}$'"),
        ({}, "pollNext.queue", "Field required"),
        ({"queue": "default", "leaseMs": 10}, "pollNext.leaseMs", "Input should be greater than or equal to 1000"),
        ({"queue": "default", "leaseMs": "60000"}, "pollNext.leaseMs", "Input should be a valid integer"),
        (
            {"queue": "default", "kinds": []},
            "pollNext.kinds",
            "List should have at least 1 item after validation, not 0",
        ),
        ("default", "pollNext", "Input should be a valid dictionary or object to extract fields from"),
    ],
)
def test_a_bad_poll_next_is_400_and_the_task_is_not_completed(
    engine: Engine,
    worker_api: APIGatewayHttpResolver,
    api_call: ApiCall,
    poll: Any,
    field: str,
    problem: str,
) -> None:
    task_id, lease = running_task(engine)
    engine.create_task("charge")
    before = engine.items()

    for path in (COMPLETE, FAIL):
        status, body = close(api_call, worker_api, path, task_id, {"leaseId": lease, "pollNext": poll})
        assert status == 400
        assert body["error"]["code"] == "INVALID_ARGUMENT"
        assert {"field": field, "problem": problem} in body["error"]["problems"]
    assert engine.items() == before


def test_fail_with_poll_next_retries_the_task_and_claims_it_again(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    task_id = engine.create_task("charge", max_retries=1)["taskExecutionId"]
    lease = engine.claim_task(task_id)

    body = {"leaseId": lease, "error": {"message": "boom"}, "pollNext": {"queue": "default"}}
    status, answer = close(api_call, worker_api, FAIL, task_id, body)

    assert status == 200 and answer["status"] == "PENDING"
    assert answer["next"]["task"]["taskExecutionId"] == task_id
    assert answer["next"]["task"]["attempt"] == 2
    assert answer["next"]["leaseId"] != lease


def test_a_refused_complete_polls_nothing(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    task_id, _ = running_task(engine)
    ready = engine.create_task("charge")["taskExecutionId"]

    status, body = close(
        api_call, worker_api, COMPLETE, task_id, {"leaseId": "stale", "pollNext": {"queue": "default"}}
    )

    assert (status, body["error"]["code"]) == (409, "LEASE_LOST")
    assert engine.task(ready)["status"] == "PENDING"


def test_a_failing_poll_part_answers_next_null_and_the_complete_stands(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id, lease = running_task(engine)

    def broken(*_: Any, **__: Any) -> None:
        raise ConnectionError("the table is unreachable")

    monkeypatch.setattr(tasks, "poll_task", broken)
    body = {"leaseId": lease, "output": 1, "pollNext": {"queue": "default"}}
    assert close(api_call, worker_api, COMPLETE, task_id, body) == (200, {"status": "COMPLETED", "next": None})
    assert engine.task(task_id)["status"] == "COMPLETED"


def test_submit_with_poll_next_claims_the_next_ready_execution(
    engine: Engine, submit_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    first = engine.start("order-saga")["workflowExecutionId"]
    second = engine.start("order-saga", {"n": 2})["workflowExecutionId"]
    engine.start("order-saga", queue="other")
    engine.start("order-saga", tenant="globex")
    lease = engine.claim(first)

    body = {"leaseId": lease, "commands": [], "pollNext": {"queue": "default", "workerId": "w-2"}}
    status, answer = api_call(submit_api, "POST", SUBMIT, ids={"id": first}, body=json.dumps(body))

    assert status == 200
    assert answer == {
        "status": "WAITING",
        "events": [],
        "next": {
            "workflowExecution": engine.get(second),
            "events": engine.history(second),
            "nextAfterSequence": None,
            "leaseId": answer["next"]["leaseId"],
            "leaseExpiresAt": LEASE_EXPIRES,
        },
    }
    assert engine.get(second)["status"] == "RUNNING"

    lease = answer["next"]["leaseId"]
    body = {
        "leaseId": lease,
        "commands": [{"type": "COMPLETE_WORKFLOW", "output": 2}],
        "pollNext": {"queue": "default"},
    }
    status, answer = api_call(submit_api, "POST", SUBMIT, ids={"id": second}, body=json.dumps(body))
    assert (status, answer["status"], answer["next"]) == (200, "COMPLETED", None)


def test_submit_without_poll_next_and_with_a_bad_one(
    engine: Engine, submit_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    workflow_id = engine.start("order-saga")["workflowExecutionId"]
    engine.start("order-saga")
    lease = engine.claim(workflow_id)
    before = engine.items()
    command = {"type": "START_TIMER", "timerId": "t-1", "durationMs": 1000}

    bad = {"leaseId": lease, "commands": [command], "pollNext": {"queue": "default", "kinds": "order-saga"}}
    status, body = api_call(submit_api, "POST", SUBMIT, ids={"id": workflow_id}, body=json.dumps(bad))
    assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT")
    assert engine.items() == before

    plain = {"leaseId": lease, "commands": [command]}
    status, body = api_call(submit_api, "POST", SUBMIT, ids={"id": workflow_id}, body=json.dumps(plain))
    assert status == 200
    assert sorted(body) == ["events", "status"]


def test_the_openapi_document_describes_poll_next_and_next() -> None:
    document = json.loads(openapi_document())
    schemas = document["components"]["schemas"]
    for body in ("CompleteTaskBody", "FailTaskBody", "SubmitCommandsBody"):
        assert schemas[body]["properties"]["pollNext"]["anyOf"] == [
            {"$ref": "#/components/schemas/PollNext"},
            {"type": "null"},
        ]
        assert "pollNext" not in schemas[body].get("required", [])
    assert schemas["PollNext"]["required"] == ["queue"]
    assert schemas["TaskAttemptClosed"]["properties"]["next"]["anyOf"][0] == {"$ref": "#/components/schemas/TaskClaim"}
    assert schemas["CommandsSubmitted"]["properties"]["next"]["anyOf"][0] == {
        "$ref": "#/components/schemas/WorkflowClaim"
    }
    assert "next" not in schemas["TaskAttemptClosed"]["required"]


def test_an_unknown_task_is_404_before_a_bad_poll_next_is_400(
    engine: Engine, worker_api: APIGatewayHttpResolver, api_call: ApiCall
) -> None:
    engine.create_task("charge", tenant="globex")
    theirs = engine.create_task("charge", tenant="globex")["taskExecutionId"]

    for task_id in ("no-such-task", theirs):
        status, body = close(api_call, worker_api, COMPLETE, task_id, {"leaseId": "l", "pollNext": {"queue": 5}})
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
