"""Through the functions' resolvers: api.md's precedence (401, 403, 404, 400/413, 409), strict input and the error
body of every refusal, with the domain left out (a refusal must come before any domain call)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from stratoflow import tasks, workflows
from stratoflow.tokens import Principal
from stratoflow_api import authentication, caller_routes, worker_routes
from stratoflow_api.guards import MAX_BODY_BYTES
from stratoflow_api.public_routes import build_resolver

from tests.unit.api.conftest import ApiCall, FakeContext, http_event

APP = build_resolver()


def invalid(field: str, problem: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": f"{field}: {problem}",
            "problems": [{"field": field, "problem": problem}],
        }
    }


@pytest.fixture(autouse=True)
def no_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal never reaches the domain: any call to it fails the test."""

    def reached(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the domain was called")

    for module, names in (
        (workflows, ["start_workflow", "poll_workflow", "cancel_workflow", "get_workflow"]),
        (tasks, ["create_task", "poll_task", "fail_task", "cancel_task"]),
    ):
        for name in names:
            monkeypatch.setattr(module, name, reached)


# ---------------------------------------------------------------- precedence


def test_no_token_is_401(api_call: ApiCall) -> None:
    status, body = api_call(APP, "GET", "/v1/workflows", scopes=None)
    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_a_missing_scope_outranks_a_missing_resource_and_a_bad_body(api_call: ApiCall) -> None:
    status, body = api_call(APP, "POST", "/v1/workflows/{id}/cancel", ids={"id": "gone"}, body="[", scopes="worker")
    assert (status, body) == (
        403,
        {"error": {"code": "PERMISSION_DENIED", "message": "this token lacks the 'client' scope"}},
    )


@pytest.mark.parametrize("body", ["[", "[1]", '{"cascade": "no"}', "x" * (MAX_BODY_BYTES + 1)])
def test_a_missing_resource_outranks_a_bad_or_oversize_body(api_call: ApiCall, body: str) -> None:
    status, answer = api_call(APP, "POST", "/v1/workflows/{id}/cancel", ids={"id": "gone"}, body=body)
    assert (status, answer) == (404, {"error": {"code": "NOT_FOUND", "message": "gone not found"}})


def test_an_oversize_body_on_an_existing_resource_is_413(api_call: ApiCall) -> None:
    status, body = api_call(APP, "POST", "/v1/worker/tasks/{taskExecutionId}/fail", body="x" * (MAX_BODY_BYTES + 1))
    assert (status, body) == (
        413,
        {
            "error": {
                "code": "PAYLOAD_TOO_LARGE",
                "message": f"the request body is over {MAX_BODY_BYTES} bytes",
                "limitBytes": MAX_BODY_BYTES,
            }
        },
    )


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    "text,kind", [('[{"kind": "k"}]', "an array"), ('"k"', "a string"), ("7", "a number"), ("null", "null")]
)
def test_a_body_that_is_not_an_object_is_400(api_call: ApiCall, text: str, kind: str) -> None:
    status, body = api_call(APP, "POST", "/v1/workflows", body=text)
    assert (status, body) == (
        400,
        {
            "error": {
                "code": "INVALID_ARGUMENT",
                "message": f"the request body must be a JSON object, not {kind}",
                "problems": [{"field": "body", "problem": f"expected an object, got {kind}"}],
            }
        },
    )


@pytest.mark.parametrize("body", [None, ""])
def test_a_missing_body_is_named_as_missing(api_call: ApiCall, body: str | None) -> None:
    status, answer = api_call(APP, "POST", "/v1/workflows", body=body)
    assert (status, answer) == (
        400,
        {
            "error": {
                "code": "INVALID_ARGUMENT",
                "message": "the request body is missing",
                "problems": [{"field": "body", "problem": "this route takes a JSON object body"}],
            }
        },
    )


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", ""]
)
def test_a_body_is_read_as_json_whatever_its_content_type(api_call: ApiCall, content_type: str) -> None:
    # A form parser would see no `queue` field; read as JSON, the body's own mistake is reported.
    status, body = api_call(
        APP, "POST", "/v1/worker/tasks/poll", body='{"queue": 5}', headers={"Content-Type": content_type}
    )
    assert (status, body) == (400, invalid("queue", "Input should be a valid string"))


# ---------------------------------------------------------------- strict types and required fields


STRICT = [
    ("/v1/worker/workflows/poll", {"queue": "q", "leaseMs": "60000"}, "leaseMs", "Input should be a valid integer"),
    ("/v1/worker/tasks/poll", {"queue": "q", "leaseMs": 6e4}, "leaseMs", "Input should be a valid integer"),
    ("/v1/worker/workflows/poll", {}, "queue", "Field required"),
    ("/v1/worker/tasks/poll", {"kinds": ["k"], "leaseMs": 60000}, "queue", "Field required"),
    ("/v1/tasks", {"kind": "k", "maxRetries": "3"}, "maxRetries", "Input should be a valid integer"),
    ("/v1/tasks", {"kind": "k", "timeoutMs": True}, "timeoutMs", "Input should be a valid integer"),
    ("/v1/workflows/{id}/cancel", {"cascade": "false"}, "cascade", "Input should be a valid boolean"),
    ("/v1/worker/tasks/{taskExecutionId}/fail", {"leaseId": "l", "retryable": 1}, "retryable",
     "Input should be a valid boolean"),
    (
        "/v1/worker/workflows/{id}/commands",
        {"leaseId": "l", "commands": [{"type": "START_TIMER", "timerId": "t", "durationMs": "1000"}]},
        "commands.0.START_TIMER.durationMs",
        "Input should be a valid integer",
    ),
]  # fmt: skip


@pytest.mark.parametrize("resource,body,field,problem", STRICT, ids=[f"{r} {f}" for r, _, f, _ in STRICT])
def test_numbers_booleans_and_required_fields_are_strict(
    api_call: ApiCall, resource: str, body: Any, field: str, problem: str
) -> None:
    status, answer = api_call(APP, "POST", resource, body=json.dumps(body))
    assert (status, answer) == (400, invalid(field, problem))


# ---------------------------------------------------------------- routes and answers


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "TRACE", "OPTIONS"])
def test_an_unsupported_method_on_a_known_path_is_404_in_the_function(api_call: ApiCall, method: str) -> None:
    status, body = api_call(APP, method, "/v1/workflows/{id}")
    assert (status, body) == (404, {"error": {"code": "NOT_FOUND", "message": "no such route"}})


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/workflows"), ("DELETE", "/v1/workflows"), ("GET", "/nope")])
@pytest.mark.parametrize("scopes", [None, "client worker", "worker"])
def test_the_catch_all_route_is_404_with_or_without_a_token(method: str, path: str, scopes: str | None) -> None:
    # The HTTP API routes here whatever no other route takes, even a path a resolver could match.
    event = {**http_event(method, path, scopes=scopes), "routeKey": "$default"}
    event["requestContext"]["routeKey"] = "$default"
    answer = APP.resolve(event, FakeContext())  # type: ignore[arg-type]
    assert (answer["statusCode"], json.loads(answer["body"])) == (
        404,
        {"error": {"code": "NOT_FOUND", "message": "no such route"}},
    )


def test_a_bad_query_parameter_is_400(api_call: ApiCall) -> None:
    status, body = api_call(APP, "GET", "/v1/workflows", query={"limit": "0"})
    assert (status, body) == (400, invalid("query.limit", "Input should be greater than or equal to 1"))


VIEW = {
    "workflowExecutionId": "known-1",
    "kind": "k",
    "queue": "q",
    "status": "PENDING",
    "input": {"a": [1]},
    "output": None,
    "error": None,
    "cancelReason": None,
    "parentWorkflowExecutionId": None,
    "childExecutionName": None,
    "createdAt": "2026-11-24T06:00:00.123Z",
    "updatedAt": "2026-11-24T06:00:00.123Z",
}


def test_an_answer_is_sent_as_its_model_checks_it(api_call: ApiCall, monkeypatch: pytest.MonkeyPatch) -> None:
    view = {**VIEW, "cleanupDeadline": None, "terminatedReason": None, "cancelOn": [], "notListedYet": 1}
    monkeypatch.setattr(caller_routes.workflows, "get_workflow", lambda rt, tenant, id: view)
    status, body = api_call(APP, "GET", "/v1/workflows/{id}")
    assert (status, body) == (200, view)  # with a field the model does not list yet


def test_an_answer_that_breaks_its_model_is_a_server_error(monkeypatch: pytest.MonkeyPatch, api_call: ApiCall) -> None:
    monkeypatch.setattr(caller_routes.workflows, "get_workflow", lambda rt, tenant, id: {**VIEW, "status": "NAPPING"})
    with pytest.raises(ValidationError):
        api_call(APP, "GET", "/v1/workflows/{id}")


def test_nothing_ready_is_204_without_a_body(api_call: ApiCall, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_routes, "runtime", lambda: None)
    monkeypatch.setattr(worker_routes.tasks, "poll_task", lambda *args, **kwargs: None)
    assert api_call(APP, "POST", "/v1/worker/tasks/poll", body='{"queue": "q"}') == (204, None)


@pytest.mark.parametrize(
    ("method", "route_path", "body", "status"),
    [
        ("POST", "/v1/worker/tasks/poll", '{"queue": "q"}', 204),  # the guards, then the route's tenant_of
        ("POST", "/v1/worker/tasks/{taskExecutionId}/fail", "x" * (MAX_BODY_BYTES + 1), 413),  # and the path's ids
    ],
)
def test_a_request_looks_its_token_up_once(
    api_call: ApiCall, monkeypatch: pytest.MonkeyPatch, method: str, route_path: str, body: str, status: int
) -> None:
    lookups: list[str] = []

    def resolve(token: str) -> Principal:
        lookups.append(token)
        return Principal("acme", frozenset({"worker"}))

    monkeypatch.setattr(authentication, "TOKENS", authentication.TokenCache(resolve, ttl_seconds=0))
    monkeypatch.setattr(worker_routes, "runtime", lambda: None)
    monkeypatch.setattr(worker_routes.tasks, "poll_task", lambda *args, **kwargs: None)
    assert api_call(APP, method, route_path, body=body, scopes="worker")[0] == status
    assert len(lookups) == 1
