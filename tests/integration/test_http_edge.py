"""The HTTP edge through the local stack: strict input, api.md's error body on every refusal (the front door's own
included), its precedence, and a refused request changes nothing.

- A body must be a JSON object (an array, a string, a number, null → 400), read as JSON whatever its Content-Type
  (`curl -d` sends a form type); a POST without a body where one is needed is told the body is missing.
- Numbers and booleans are JSON numbers and booleans (`"leaseMs": "60000"` → 400); both polls need `queue`.
- A method without a route on a known path is 404 with the error body, at the front door (TRACE, PROPFIND …) and
  with or without a token; so is the front door's own refusal of a malformed request.
- Precedence: 403 before 404 before 400/413 before 409.

Tenant `edge` belongs to this module, so "nothing changed" is checked over all of its items.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from stratoflow.services import runtime
from stratoflow.tokens import put_token
from stratoflow_local.stack import LocalStack

from tests.integration.conftest import Api
from tests.support.domain import scan_items

TENANT = "edge"
TOKEN = "tok-edge-5d1e"
CLIENT_ONLY = "tok-edge-client-8a2c"
WORKER_ONLY = "tok-edge-worker-17f4"
NO_ROUTE = {"error": {"code": "NOT_FOUND", "message": "no such route"}}


def invalid(field: str, problem: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": f"{field}: {problem}",
            "problems": [{"field": field, "problem": problem}],
        }
    }


def not_an_object(kind: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": f"the request body must be a JSON object, not {kind}",
            "problems": [{"field": "body", "problem": f"expected an object, got {kind}"}],
        }
    }


class Edge:
    """Tenant `edge`'s client, with what a test needs to prove that a refusal changed nothing."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = Api(stack.url, TOKEN)

    def send(self, method: str, path: str, body: str | bytes | None = None, **headers: str) -> requests.Response:
        return self.api.request(method, path, data=body, headers=headers)

    def ok(self, path: str, body: Any, status: int = 200) -> Any:
        response = self.api.post(path, json=body)
        assert response.status_code == status, (path, response.status_code, response.text)
        return response.json() if response.text else None

    def items(self) -> list[dict[str, Any]]:
        self.stack.wait_idle()
        items = scan_items(self.stack.client("dynamodb"), os.environ["TABLE_NAME"])
        return [item for item in items if str(item["pk"]).startswith(f"T#{TENANT}#")]

    def workflow(self, queue: str | None = None) -> str:
        body = {"kind": "edge-k", "queue": queue or f"edge-{uuid.uuid4().hex[:8]}"}
        return str(self.ok("/v1/workflows", body, 201)["workflowExecutionId"])

    def claimed_task(self) -> tuple[str, str]:
        queue = f"edge-t-{uuid.uuid4().hex[:8]}"
        task = self.ok("/v1/tasks", {"kind": "edge-t", "queue": queue}, 201)["taskExecutionId"]
        # A lease longer than this module's run: the sweeper must not change the task while refusals are checked.
        claim = self.ok("/v1/worker/tasks/poll", {"queue": queue, "leaseMs": 300_000})
        assert claim["task"]["taskExecutionId"] == task
        return task, claim["leaseId"]

    def refused_changes_nothing(self, request: Callable[[], requests.Response]) -> tuple[int, Any]:
        before = self.items()
        response = request()
        assert self.items() == before
        assert response.headers["Content-Type"].startswith("application/json")
        return response.status_code, response.json()


@pytest.fixture(scope="module")
def edge(local_stack: LocalStack) -> Edge:
    put_token(runtime(), TENANT, TOKEN, frozenset({"client", "worker"}))
    put_token(runtime(), TENANT, CLIENT_ONLY, frozenset({"client"}))
    put_token(runtime(), TENANT, WORKER_ONLY, frozenset({"worker"}))
    return Edge(local_stack)


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "body,kind",
    [('[{"kind": "edge-array"}]', "an array"), ('"edge-array"', "a string"), ("42", "a number"), ("null", "null")],
    ids=["array", "string", "number", "null"],
)
def test_a_body_that_is_not_a_json_object_is_400_and_starts_nothing(edge: Edge, body: str, kind: str) -> None:
    """Bug: an array body started a workflow (its first element was read as the body)."""
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", "/v1/workflows", body))
    assert answer == (400, not_an_object(kind))


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "application/octet-stream", None],
    ids=["form (curl -d)", "text", "octet-stream", "none"],
)
def test_a_body_is_json_whatever_its_content_type(edge: Edge, content_type: str | None) -> None:
    """Bug: `curl -d` (a form type) got 400 "kind: Field required" with `kind` in the body, and text/plain got 415
    with Powertools' own body. A body is read as JSON in every case (docs/api-notes.md)."""
    headers = {"Content-Type": content_type} if content_type else {}
    queue = f"edge-ct-{uuid.uuid4().hex[:8]}"
    started = edge.send("POST", "/v1/workflows", json.dumps({"kind": "edge-ct", "queue": queue}), **headers)
    assert started.status_code == 201, started.text
    assert (started.json()["kind"], started.json()["queue"], started.json()["status"]) == ("edge-ct", queue, "PENDING")

    answer = edge.refused_changes_nothing(lambda: edge.send("POST", "/v1/workflows", '{"kind": 5}', **headers))
    assert answer == (400, invalid("kind", "Input should be a valid string"))


def test_a_post_without_its_body_is_told_the_body_is_missing(edge: Edge) -> None:
    """Bug: the message was "Field required" with an empty `field`."""
    missing = {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "the request body is missing",
            "problems": [{"field": "body", "problem": "this route takes a JSON object body"}],
        }
    }
    assert edge.refused_changes_nothing(lambda: edge.send("POST", "/v1/workflows")) == (400, missing)
    assert edge.refused_changes_nothing(lambda: edge.send("POST", "/v1/worker/tasks/poll")) == (400, missing)
    # A cancel's body is optional: none at all is the defaults.
    workflow = edge.workflow()
    cancelled = edge.send("POST", f"/v1/workflows/{workflow}/cancel")
    assert (cancelled.status_code, cancelled.json()) == (202, {"workflowExecutionId": workflow, "status": "CANCELLING"})


# ---------------------------------------------------------------- strict types, required fields


def test_numbers_must_be_json_numbers(edge: Edge) -> None:
    """Bug: `"leaseMs": "60000"` was accepted (and claimed the workflow)."""
    queue = f"edge-n-{uuid.uuid4().hex[:8]}"
    edge.workflow(queue)
    poll = json.dumps({"queue": queue, "leaseMs": "60000"})
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", "/v1/worker/workflows/poll", poll))
    assert answer == (400, invalid("leaseMs", "Input should be a valid integer"))

    task = json.dumps({"kind": "edge-t", "queue": queue, "maxRetries": "3"})
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", "/v1/tasks", task))
    assert answer == (400, invalid("maxRetries", "Input should be a valid integer"))


def test_booleans_must_be_json_booleans(edge: Edge) -> None:
    workflow = edge.workflow()
    cancel = json.dumps({"cascade": "false"})
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", f"/v1/workflows/{workflow}/cancel", cancel))
    assert answer == (400, invalid("cascade", "Input should be a valid boolean"))

    task, lease = edge.claimed_task()
    fail = json.dumps({"leaseId": lease, "error": "e", "retryable": "true"})
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", f"/v1/worker/tasks/{task}/fail", fail))
    assert answer == (400, invalid("retryable", "Input should be a valid boolean"))


def test_a_command_duration_must_be_a_json_number(edge: Edge) -> None:
    queue = f"edge-c-{uuid.uuid4().hex[:8]}"
    workflow = edge.workflow(queue)
    lease = edge.ok("/v1/worker/workflows/poll", {"queue": queue, "leaseMs": 300_000})["leaseId"]
    body = json.dumps({"leaseId": lease, "commands": [{"type": "START_TIMER", "timerId": "t1", "durationMs": "5"}]})
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", f"/v1/worker/workflows/{workflow}/commands", body))
    assert answer == (400, invalid("commands.0.START_TIMER.durationMs", "Input should be a valid integer"))


@pytest.mark.parametrize("poll", ["/v1/worker/workflows/poll", "/v1/worker/tasks/poll"])
def test_both_polls_require_a_queue(edge: Edge, poll: str) -> None:
    """Bug: `{}` polled the `default` queue."""
    edge.workflow("default")
    edge.ok("/v1/tasks", {"kind": "edge-t"}, 201)  # queue "default"
    for body in ("{}", json.dumps({"kinds": ["edge-k", "edge-t"], "leaseMs": 60000, "workerId": "w"})):
        answer = edge.refused_changes_nothing(lambda text=body: edge.send("POST", poll, text))  # type: ignore[misc]
        assert answer == (400, invalid("queue", "Field required"))


# ---------------------------------------------------------------- precedence


def test_refusals_come_in_api_mds_order(edge: Edge) -> None:
    workflow = edge.workflow()
    edge.ok(f"/v1/workflows/{workflow}/cancel", {}, 202)
    worker = Api(edge.stack.url, WORKER_ONLY)
    oversize = "x" * (5 * 1024 * 1024 + 1)

    def refused(api: Api, path: str, body: str) -> tuple[int, Any]:
        return edge.refused_changes_nothing(lambda: api.request("POST", path, data=body))

    # 403 before 404 and 400: a worker token on a caller route, an unknown id, a bad body
    status, body = refused(worker, "/v1/workflows/nope/cancel", "[")
    assert (status, body["error"]["code"]) == (403, "PERMISSION_DENIED")
    # 404 before 400 and 413
    for bad in ("[", '{"cascade": "yes"}', oversize):
        assert refused(edge.api, "/v1/workflows/nope/cancel", bad) == (
            404,
            {"error": {"code": "NOT_FOUND", "message": "nope not found"}},
        )
    # 413 and 400 on an existing execution
    status, body = refused(edge.api, f"/v1/workflows/{workflow}/cancel", oversize)
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert refused(edge.api, f"/v1/workflows/{workflow}/cancel", '{"cascade": 1}') == (
        400,
        invalid("cascade", "Input should be a valid boolean"),
    )


def test_a_bad_body_outranks_the_409_of_a_terminal_resource(edge: Edge) -> None:
    task = edge.ok("/v1/tasks", {"kind": "edge-t", "queue": f"edge-{uuid.uuid4().hex[:6]}"}, 201)["taskExecutionId"]
    edge.ok(f"/v1/tasks/{task}/cancel", {}, 200)
    answer = edge.refused_changes_nothing(lambda: edge.send("POST", f"/v1/tasks/{task}/cancel", '{"reason": 7}'))
    assert answer == (400, invalid("reason", "Input should be a valid string"))
    status, body = edge.refused_changes_nothing(lambda: edge.send("POST", f"/v1/tasks/{task}/cancel", "{}"))
    assert (status, body["error"]["code"], body["error"]["currentStatus"]) == (409, "FAILED_PRECONDITION", "CANCELLED")


# ---------------------------------------------------------------- methods and the front door's own answers


def _documented(edge: Edge) -> dict[str, set[str]]:
    document = edge.api.as_token(None).get("/v1/openapi.json").json()
    return {path: {method.upper() for method in operations} for path, operations in document["paths"].items()}


@pytest.mark.parametrize("token", [TOKEN, None], ids=["token", "no token"])
def test_an_unsupported_method_on_a_known_path_is_404_with_the_error_body(edge: Edge, token: str | None) -> None:
    """Bug: the front door answered TRACE (and any method http.server has no handler for) 501 with an HTML page."""
    api = Api(edge.stack.url, token)
    before = edge.items()
    for path, methods in _documented(edge).items():
        concrete = path.replace("{id}", "x").replace("{taskExecutionId}", "x")
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"} - methods):
            response = api.request(method, concrete, data="{}")
            assert (response.status_code, response.headers["Content-Type"]) == (404, "application/json"), method
            assert response.json() == NO_ROUTE, (method, path)
        head = api.request("HEAD", concrete)
        assert (head.status_code, head.text) == (404, "")
    assert edge.items() == before


def _raw(edge: Edge, request: bytes) -> tuple[str, dict[str, str], bytes]:
    host, port = edge.stack.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
    return status_line, headers, body


@pytest.mark.parametrize(
    "request_line",
    [b"GARBAGE\r\n\r\n", b"GET /v1/health HTTP/9.9\r\n\r\n", b"GET /v1/" + b"x" * 70_000 + b" HTTP/1.1\r\n\r\n"],
    ids=["no method", "bad version", "request line too long"],
)
def test_the_front_doors_own_refusals_carry_the_error_body(edge: Edge, request_line: bytes) -> None:
    status_line, headers, body = _raw(edge, request_line)
    status = int(status_line.split()[1])
    assert 400 <= status < 500, status_line
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["message"], error


def test_the_openapi_document_is_public_and_lists_no_422(edge: Edge) -> None:
    response = Api(edge.stack.url, None).get("/v1/openapi.json")
    assert response.status_code == 200
    statuses = {status for operations in response.json()["paths"].values() for spec in operations.values()
                for status in spec["responses"]}  # fmt: skip
    assert "422" not in statuses and {"400", "401", "403", "404", "409", "413"} <= statuses
