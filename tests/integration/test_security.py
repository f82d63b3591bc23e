"""Security through the local stack: tokens, scopes, tenants and logs.

- Tokens are stored only as SHA-256 hashes (no clear token anywhere in the table) and checked with
  `hmac.compare_digest` when a function looks one up.
- Every route, with no token, a malformed header, an unknown token, a missing scope or another tenant's token,
  gets exactly the status and error code of api.md; the route list is the OpenAPI document's, so a new route
  cannot slip past.
- Ids of another tenant are 404 on every route that takes one, with the body of a missing id, even with that
  tenant's own lease ids; nothing of the other tenant changes.
- Logs of a whole flow (every handler, stream consumers, timers, errors) contain no token, no secret input value and
  no item image.

Tenants `sec-a` and `sec-b` belong to this module (their tokens are added to the session's stack), so that "nothing
of B changes" can be checked over all of B's items.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stratoflow.services import runtime
from stratoflow.tokens import put_token
from stratoflow_local.stack import LocalStack

from tests.integration.conftest import REPO, SESSION_TOKENS, Api
from tests.support.domain import scan_items
from tests.support.http import wait_until

TOKENS = {
    "a": "tok-sec-a-0c2f",
    "a-client": "tok-sec-a-client-77e1",
    "a-worker": "tok-sec-a-worker-5b90",
    "b": "tok-sec-b-41d8",
}
ALL_TOKENS = [spec.split(":")[1] for spec in SESSION_TOKENS.split(",")] + list(TOKENS.values())


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI template
    scopes: tuple[str, ...]  # any of them opens the route; none: public

    def url(self, ids: dict[str, str]) -> str:
        return (
            self.path.replace("{id}", ids.get("id", "x"))
            .replace("{taskExecutionId}", ids.get("taskExecutionId", "x"))
            .replace("{batchId}", ids.get("batchId", "x"))
        )

    @property
    def takes_id(self) -> bool:
        return "{" in self.path


ROUTES = [
    Route("GET", "/v1/health", ()),
    Route("GET", "/v1/openapi.json", ()),
    Route("GET", "/v1/workflows", ("client",)),
    Route("POST", "/v1/workflows", ("client",)),
    Route("GET", "/v1/workflows/{id}", ("client",)),
    Route("GET", "/v1/workflows/{id}/events", ("client", "worker")),  # workers read long histories there
    Route("POST", "/v1/workflows/{id}/cancel", ("client",)),
    Route("POST", "/v1/tasks", ("client",)),
    Route("GET", "/v1/tasks/{taskExecutionId}", ("client",)),
    Route("POST", "/v1/tasks/{taskExecutionId}/cancel", ("client",)),
    Route("POST", "/v1/worker/workflows/poll", ("worker",)),
    Route("POST", "/v1/worker/workflows/{id}/commands", ("worker",)),
    Route("POST", "/v1/worker/tasks/poll", ("worker",)),
    Route("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat", ("worker",)),
    Route("POST", "/v1/worker/tasks/{taskExecutionId}/complete", ("worker",)),
    Route("POST", "/v1/worker/tasks/{taskExecutionId}/fail", ("worker",)),
    Route("POST", "/v1/workflows/{id}/terminate", ("client",)),
    Route("POST", "/v1/events", ("client",)),
    Route("POST", "/v1/batches", ("client",)),
    Route("GET", "/v1/batches", ("client",)),
    Route("GET", "/v1/batches/{batchId}", ("client",)),
    Route("GET", "/v1/batches/{batchId}/items", ("client",)),
    Route("POST", "/v1/batches/{batchId}/stop", ("client",)),
]
MALFORMED = ["", "Bearer", "Bearer    ", "Basic dG9rLXNlYy1hLTBjMmY6", "tok-sec-a-0c2f", "Token tok-sec-a-0c2f"]


@dataclass
class TenantB:
    """B's resources: a workflow leased by B's worker, its task claimed by B, a standalone task."""

    queue: str
    workflow: str
    workflow_lease: str
    task: str
    task_lease: str
    standalone: str
    batch: str

    def ids(self, route: Route) -> dict[str, str]:
        task = self.task if "/worker/" in route.path or route.path.endswith("/cancel") else self.standalone
        return {"id": self.workflow, "taskExecutionId": task, "batchId": self.batch}

    def body(self, route: Route) -> Any:
        """A valid body for the route, with B's own lease ids where one is needed."""
        bodies: dict[str, Any] = {
            "/v1/workflows": {"kind": "sec-k", "queue": self.queue},
            "/v1/workflows/{id}/cancel": {"reason": "from a"},
            "/v1/tasks": {"kind": "sec-k", "queue": self.queue},
            "/v1/tasks/{taskExecutionId}/cancel": {"reason": "from a"},
            "/v1/worker/workflows/poll": {"queue": self.queue},
            "/v1/worker/tasks/poll": {"queue": self.queue},
            "/v1/worker/workflows/{id}/commands": {
                "leaseId": self.workflow_lease,
                "commands": [{"type": "COMPLETE_WORKFLOW", "output": "from a"}],
            },
            "/v1/worker/tasks/{taskExecutionId}/heartbeat": {"leaseId": self.task_lease},
            "/v1/worker/tasks/{taskExecutionId}/complete": {"leaseId": self.task_lease, "output": "from a"},
            "/v1/worker/tasks/{taskExecutionId}/fail": {"leaseId": self.task_lease, "error": "from a"},
            "/v1/workflows/{id}/terminate": {"reason": "from a"},
            "/v1/events": {"eventType": "sec-event", "data": {"queue": self.queue}},
            "/v1/batches": {"operation": "CANCEL", "filter": {"kind": "sec-none"}, "dryRun": True},
        }
        return bodies.get(route.path) if route.method == "POST" else None


def call(api: Api, route: Route, b: TenantB, ids: dict[str, str] | None = None, **kwargs: Any) -> Any:
    body = b.body(route)
    if body is not None:
        kwargs["json"] = body
    return api.request(route.method, route.url(ids if ids is not None else b.ids(route)), **kwargs)


def error_of(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"].get("message"), str), body
    return response.status_code, body["error"]["code"]


def items_of(stack: LocalStack, tenant: str) -> list[dict[str, Any]]:
    items = scan_items(stack.client("dynamodb"), os.environ["TABLE_NAME"])
    return [item for item in items if str(item["pk"]).startswith(f"T#{tenant}#")]


@pytest.fixture(scope="module")
def tenant_b(local_stack: LocalStack) -> TenantB:
    put_token(runtime(), "sec-a", TOKENS["a"], frozenset({"client", "worker"}))
    put_token(runtime(), "sec-a", TOKENS["a-client"], frozenset({"client"}))
    put_token(runtime(), "sec-a", TOKENS["a-worker"], frozenset({"worker"}))
    put_token(runtime(), "sec-b", TOKENS["b"], frozenset({"client", "worker"}))
    b = Api(local_stack.url, TOKENS["b"])

    def ok(path: str, body: Any, status: int = 200) -> Any:
        response = b.post(path, json=body)
        assert response.status_code == status, (path, response.status_code, response.text)
        return response.json()

    queue = f"sec-q-{uuid.uuid4().hex[:8]}"
    task, waker = f"sec-t1-{uuid.uuid4().hex[:8]}", f"sec-t2-{uuid.uuid4().hex[:8]}"
    workflow = ok("/v1/workflows", {"kind": "sec-k", "queue": queue}, 201)["workflowExecutionId"]
    lease = ok("/v1/worker/workflows/poll", {"queue": queue})["leaseId"]
    commands = [
        {"type": "SCHEDULE_TASK", "taskExecutionId": task, "kind": "sec-t", "queue": queue},
        {"type": "SCHEDULE_TASK", "taskExecutionId": waker, "kind": "sec-t", "queue": f"{queue}-waker"},
    ]
    ok(f"/v1/worker/workflows/{workflow}/commands", {"leaseId": lease, "commands": commands})
    task_lease = ok("/v1/worker/tasks/poll", {"queue": queue, "leaseMs": 300_000})["leaseId"]
    # The second task's completion makes the workflow ready, so that B holds a live lease of it again.
    waker_lease = ok("/v1/worker/tasks/poll", {"queue": f"{queue}-waker"})["leaseId"]
    ok(f"/v1/worker/tasks/{waker}/complete", {"leaseId": waker_lease, "output": None})
    claimed = ok("/v1/worker/workflows/poll", {"queue": queue, "leaseMs": 300_000})
    assert claimed["workflowExecution"]["workflowExecutionId"] == workflow
    standalone = ok("/v1/tasks", {"kind": "sec-s", "queue": f"{queue}-standalone"}, 201)["taskExecutionId"]
    ok("/v1/workflows", {"kind": "sec-k", "queue": f"{queue}-other"}, 201)  # B's list has more than one page
    batch = ok("/v1/batches", {"operation": "CANCEL", "filter": {"kind": "sec-none"}, "reason": "b's own"}, 202)
    deadline = time.monotonic() + 30
    while b.get(f"/v1/batches/{batch['batchId']}").json()["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)  # B's batch finishes (it matches nothing) before the tests compare B's items
    local_stack.wait_idle()
    return TenantB(queue, workflow, claimed["leaseId"], task, task_lease, standalone, batch["batchId"])


# ---------------------------------------------------------------- tokens at rest and in comparison


def test_tokens_are_stored_only_as_hashes(local_stack: LocalStack, tenant_b: TenantB) -> None:
    items = scan_items(local_stack.client("dynamodb"), os.environ["TABLE_NAME"])
    text = json.dumps(items, default=str)
    for token in ALL_TOKENS:
        assert token not in text, f"{token} is stored in clear"
        digest = hashlib.sha256(token.encode()).hexdigest()
        stored = [item for item in items if item["pk"] == f"TOKEN#{digest}"]
        assert len(stored) == 1 and stored[0]["sk"] == "TOKEN", token
    token_items = [item for item in items if str(item["pk"]).startswith("TOKEN#")]
    assert {key for item in token_items for key in item} <= {"pk", "sk", "tenant", "scopes", "createdAt", "revoked"}


def handler_in_process(folder: str) -> Any:
    """The handler of functions/<folder>/app.py imported into this process, for the tests that must watch the code
    inside an invocation (a spy on a library call, a pause inside a route): the stack runs it in containers."""
    spec = importlib.util.spec_from_file_location(f"in_process_{folder}", REPO / "functions" / folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


class _Context:
    function_name = "in-process"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:in-process"
    memory_limit_in_mb = 512
    aws_request_id = "in-process"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def test_the_functions_compare_token_hashes_in_constant_time(
    local_stack: LocalStack, tenant_b: TenantB, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Imported here: the shared package builds Powertools' Logger and Metrics from the environment the stack sets.
    from stratoflow_api import authentication  # noqa: PLC0415

    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    authentication.TOKENS.clear()  # a token this process resolved before would not be looked up again
    caller_api = handler_in_process("caller_api")  # the spy must see inside the invocation
    event = json.loads((REPO / "events" / "caller_api_list_workflows.json").read_text(encoding="utf-8"))
    event["headers"]["authorization"] = f"Bearer {TOKENS['a']}"
    answer = caller_api(event, _Context())
    assert answer["statusCode"] == 200, answer
    expected = f"TOKEN#{hashlib.sha256(TOKENS['a'].encode()).hexdigest()}"
    assert (expected, expected) in calls, calls


# ---------------------------------------------------------------- who may call what


def test_the_route_list_is_the_openapi_documents(api: Api) -> None:
    document = api.as_token(None).get("/v1/openapi.json").json()
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(route.method, route.path) for route in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: f"{route.method} {route.path}")
def test_every_route_answers_each_kind_of_caller_exactly(
    local_stack: LocalStack, tenant_b: TenantB, route: Route
) -> None:
    api = Api(local_stack.url, None)
    if not route.scopes:
        assert call(api, route, tenant_b).status_code == 200
        assert call(api.as_token("unknown-token-123"), route, tenant_b).status_code == 200
        return
    assert error_of(call(api, route, tenant_b)) == (401, "UNAUTHENTICATED")
    for header in MALFORMED:
        response = call(api, route, tenant_b, headers={"Authorization": header})
        assert error_of(response) == (401, "UNAUTHENTICATED"), header
    assert error_of(call(api.as_token("tok-nobody-9a8b7c"), route, tenant_b)) == (401, "UNAUTHENTICATED")
    for scope, token in (("client", TOKENS["a-client"]), ("worker", TOKENS["a-worker"])):
        response = call(api.as_token(token), route, tenant_b)
        if scope in route.scopes:
            assert response.status_code not in (401, 403), (scope, response.status_code, response.text)
        else:
            assert error_of(response) == (403, "PERMISSION_DENIED"), scope


# ---------------------------------------------------------------- tenants


@pytest.mark.parametrize("route", [route for route in ROUTES if route.takes_id], ids=lambda r: f"{r.method} {r.path}")
def test_another_tenants_ids_are_not_found_like_missing_ones(
    local_stack: LocalStack, tenant_b: TenantB, route: Route
) -> None:
    a = Api(local_stack.url, TOKENS["a"])
    before = items_of(local_stack, "sec-b")

    theirs = call(a, route, tenant_b)
    missing_ids = {"id": str(uuid.uuid4()), "taskExecutionId": str(uuid.uuid4()), "batchId": str(uuid.uuid4())}
    missing = call(a, route, tenant_b, ids=missing_ids)

    assert error_of(theirs) == (404, "NOT_FOUND")
    assert error_of(missing) == (404, "NOT_FOUND")
    anonymized = theirs.text
    for name, value in tenant_b.ids(route).items():
        anonymized = anonymized.replace(value, missing_ids[name])
    assert anonymized == missing.text
    local_stack.wait_idle()
    assert items_of(local_stack, "sec-b") == before


def test_routes_without_ids_never_reach_another_tenant(local_stack: LocalStack, tenant_b: TenantB) -> None:
    a = Api(local_stack.url, TOKENS["a"])
    before = items_of(local_stack, "sec-b")
    listed = a.get("/v1/workflows?limit=100").json()["workflows"]
    assert tenant_b.workflow not in {workflow["workflowExecutionId"] for workflow in listed}
    for path in ("/v1/worker/workflows/poll", "/v1/worker/tasks/poll"):
        for queue in (tenant_b.queue, f"{tenant_b.queue}-standalone"):
            response = a.post(path, json={"queue": queue})
            assert response.status_code == 204, (path, queue, response.text)
    page = a.get(f"/v1/workflows?limit=1&nextToken={_their_page_token(local_stack, tenant_b)}")
    assert error_of(page) == (400, "INVALID_ARGUMENT")
    assert tenant_b.batch not in {batch["batchId"] for batch in a.get("/v1/batches?limit=100").json()["batches"]}
    theirs_only = {"operation": "CANCEL", "filter": {"queue": f"{tenant_b.queue}-other"}, "dryRun": True}
    assert a.post("/v1/batches", json=theirs_only).json() == {"matched": 0}  # B has one there
    assert items_of(local_stack, "sec-b") == before


def _their_page_token(local_stack: LocalStack, tenant_b: TenantB) -> str:
    page = Api(local_stack.url, TOKENS["b"]).get("/v1/workflows?limit=1").json()
    assert page["nextToken"] is not None, page
    return str(page["nextToken"])


# ---------------------------------------------------------------- logs


class _Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        if formatter is not None:
            self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is still evidence
            self.lines.append(f"{record.getMessage()} {record.__dict__}")


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Every log record of the process while the block runs, formatted as its own handlers format it."""
    handlers: list[tuple[logging.Logger, _Capture]] = [(logging.getLogger(), _Capture(logging.Formatter()))]
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger) and logger.handlers and not logger.propagate:
            handlers.append((logger, _Capture(logger.handlers[0].formatter)))
    for logger, handler in handlers:
        logger.addHandler(handler)
    lines: list[str] = []
    try:
        yield lines
    finally:
        for logger, handler in handlers:
            logger.removeHandler(handler)
            lines.extend(handler.lines)


def test_logs_of_a_whole_flow_hold_no_token_no_secret_and_no_item_image(
    local_stack: LocalStack, tenant_b: TenantB, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = f"SECRET-{uuid.uuid4().hex}"
    a = Api(local_stack.url, TOKENS["a"])
    queue = f"sec-logs-{uuid.uuid4().hex[:8]}"

    def post(path: str, body: Any, status: int = 200, **kwargs: Any) -> Any:
        response = a.post(path, json=body, **kwargs)
        assert response.status_code == status, (path, response.status_code, response.text)
        return response.json() if response.text else None

    container_log = Path(str(local_stack.container_log))  # the functions' own logs, from their containers
    offset = container_log.stat().st_size if container_log.exists() else 0
    with captured_logs() as lines:
        workflow = post("/v1/workflows", {"kind": "k", "queue": queue, "input": {"s": secret}}, 201)
        wid = workflow["workflowExecutionId"]
        lease = post("/v1/worker/workflows/poll", {"queue": queue})["leaseId"]
        child = f"{wid}-child"
        commands = [
            {"type": "SCHEDULE_TASK", "taskExecutionId": f"{wid}-t", "kind": "t", "input": {"s": secret}},
            {"type": "SET_STATE", "key": "k", "value": {"s": secret}},
            {"type": "RECORD_OPERATION", "operationName": "op", "result": {"s": secret}},
            {"type": "START_TIMER", "timerId": "tm", "durationMs": 1},
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": child,
                "workflowKind": "k",
                "queue": f"{queue}-children",
                "input": {"s": secret},
            },
            {"type": "REQUEST_CANCEL_CHILD_WORKFLOW", "childExecutionName": "c", "childWorkflowExecutionId": child},
        ]
        post(f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": commands})
        task = post("/v1/worker/tasks/poll", {"queue": queue})
        task_path = f"/v1/worker/tasks/{wid}-t"
        post(f"{task_path}/heartbeat", {"leaseId": task["leaseId"], "details": {"s": secret}})
        post(f"{task_path}/complete", {"leaseId": task["leaseId"], "output": {"s": secret}})
        standalone = post("/v1/tasks", {"kind": "s", "queue": queue, "input": {"s": secret}}, 201)
        claimed = post("/v1/worker/tasks/poll", {"queue": queue})
        assert claimed["task"]["taskExecutionId"] == standalone["taskExecutionId"]
        post(
            f"/v1/worker/tasks/{standalone['taskExecutionId']}/fail",
            {"leaseId": claimed["leaseId"], "error": {"s": secret}, "retryable": False},
        )
        # Refused requests carrying the secret: a bad sibling field, an oversize value, a stale lease.
        post("/v1/workflows", {"kind": "bad kind!", "input": {"s": secret}}, 400)
        post("/v1/workflows", {"kind": "k", "input": secret + "x" * 262_144}, 413)
        stale = {"leaseId": lease, "commands": [{"type": "COMPLETE_WORKFLOW", "output": {"s": secret}}]}
        post(f"/v1/worker/workflows/{wid}/commands", stale, 409)
        wait_until(lambda: "TIMER_FIRED" in _types(a, wid), 10, "the timer to fire")
        lease = wait_until(lambda: _poll(a, queue), 10, "the workflow to be ready")["leaseId"]
        failing = [{"type": "FAIL_WORKFLOW", "error": {"s": secret}}]
        post(f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": failing})
        local_stack.wait_idle()
        local_stack.wait_idle()
    lines.extend(container_log.read_bytes()[offset:].decode("utf-8", errors="replace").splitlines())
    printed = capsys.readouterr()
    everything = "\n".join([*lines, printed.out, printed.err])

    assert any("workflow claimed" in line for line in lines), "the capture saw no handler log"
    assert any("outbox record" in line or "child cancel request" in line for line in lines), lines[-20:]
    for token in ALL_TOKENS:
        assert token not in everything, f"token {token} in the logs"
    assert secret not in everything, [line for line in everything.splitlines() if secret in line][:3]
    for image_marker in ("NewImage", "OldImage", '{"S":', "'S':"):
        assert image_marker not in everything, [line for line in everything.splitlines() if image_marker in line][:3]


def _poll(api: Api, queue: str) -> Any:
    response = api.post("/v1/worker/workflows/poll", json={"queue": queue})
    return response.json() if response.status_code == 200 else None


def _types(api: Api, wid: str) -> list[str]:
    return [event["type"] for event in api.get(f"/v1/workflows/{wid}/events?limit=1000").json()["events"]]


def test_regression_concurrent_requests_each_run_with_their_own_identity(
    local_stack: LocalStack, tenant_b: TenantB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bug: Powertools keeps the request it resolves on its BaseRouter class, shared by every resolver of a process.
    Lambda runs one invocation per process; the local stack runs many at once, so a request could go on with another
    request's event: another tenant's identity and body (the soak saw workers handed the other tenant's workflows).
    Here tenant A's read waits, inside its route, until tenant B's request has been resolved; it must still be A's."""
    # Imported here: the shared package builds Powertools' Logger and Metrics from the environment the stack sets.
    from stratoflow_api import operations  # noqa: PLC0415

    a = Api(local_stack.url, TOKENS["a"])
    queue = f"sec-iso-{uuid.uuid4().hex[:8]}"
    mine = a.post("/v1/workflows", json={"kind": "iso", "queue": queue}).json()["workflowExecutionId"]
    path = f"/v1/workflows/{mine}"
    original = operations.tenant_of  # what every route is given as its `tenant`
    waiting, go = threading.Event(), threading.Event()

    def tenant_of_later(app: Any) -> str:
        if app.current_event.path == path and not waiting.is_set():
            waiting.set()
            assert go.wait(30)
        return original(app)

    # The stack runs one invocation per container, as Lambda does; the race needs two requests in one process, so
    # the caller API's handler runs here in two containers' worth of modules (each its own resolver, as two
    # containers have), at once, with the events the front door would give them.
    monkeypatch.setattr(operations, "tenant_of", tenant_of_later)
    handler_a, handler_b = handler_in_process("caller_api"), handler_in_process("caller_api")

    def event(sample: str, token: str) -> dict[str, Any]:
        request = json.loads((REPO / "events" / sample).read_text(encoding="utf-8"))
        request["headers"]["authorization"] = f"Bearer {token}"
        return request

    answers: list[Any] = []
    mine_event = event("caller_api_get_workflow.json", TOKENS["a"])
    mine_event["rawPath"] = mine_event["requestContext"]["http"]["path"] = f"/dev{path}"
    mine_event["pathParameters"] = {"id": mine}
    reader = threading.Thread(target=lambda: answers.append(handler_a(mine_event, _Context())))
    reader.start()
    assert waiting.wait(30)
    theirs = handler_b(event("caller_api_list_workflows.json", TOKENS["b"]), _Context())  # resolved while A's waits
    go.set()
    reader.join(30)

    assert theirs["statusCode"] == 200
    assert answers[0]["statusCode"] == 200, (mine, answers[0])
    assert json.loads(answers[0]["body"])["workflowExecutionId"] == mine
