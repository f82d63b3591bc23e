"""The HTTP API emulation without sockets: routing, the catch-all route, payload 2.0 events and answers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from stratoflow_local.gateway import MAX_BODY_BYTES, ApiGateway, RouteTable
from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import Route, load_template

REPO = Path(__file__).resolve().parents[2]


def _route(method: str, path: str) -> Route:
    return Route(api="Api", method=method, path=path, function=f"{method} {path}")


def test_route_table_prefers_literals_and_exact_methods() -> None:
    table = RouteTable(
        [
            _route("POST", "/v1/worker/tasks/poll"),
            _route("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat"),
            _route("GET", "/v1/workflows/{id}"),
            _route("ANY", "/v1/workflows/{id}"),
            _route("GET", "/files/{proxy+}"),
        ]
    )

    def match(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        found = table.match(method, path)
        return None if found is None else (found[0].path, found[1])

    assert match("POST", "/v1/worker/tasks/poll") == ("/v1/worker/tasks/poll", {})
    assert match("POST", "/v1/worker/tasks/poll/heartbeat") == (
        "/v1/worker/tasks/{taskExecutionId}/heartbeat",
        {"taskExecutionId": "poll"},
    )
    found = table.match("GET", "/v1/workflows/abc")
    assert found is not None and found[0].method == "GET"
    found = table.match("DELETE", "/v1/workflows/abc")
    assert found is not None and found[0].method == "ANY"
    assert match("GET", "/files/a/b/c") == ("/files/{proxy+}", {"proxy": "a/b/c"})
    assert match("GET", "/files") is None
    assert match("GET", "/v1/workflows") is None
    assert match("GET", "/v1/workflows/") is None
    assert match("GET", "/v1/workflows/abc/extra") is None


class _Functions:
    """Stands in for the Lambda runtime: every function echoes the event it got, or fails when asked to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, function: str, event: Any) -> Any:
        self.calls.append((function, event))
        headers = event.get("headers") or {}
        if headers.get("x-fail"):
            raise FunctionError(function, "ValueError", "bug")
        if headers.get("x-bare"):
            return {"event": event}  # no statusCode: payload 2.0 reads it as a 200 JSON body
        return {
            "statusCode": 201,
            "headers": {"X-Echo": "1"},
            "cookies": ["a=1", "b=2"],
            "body": json.dumps({"event": event}),
        }


@pytest.fixture
def gateway() -> tuple[ApiGateway, _Functions]:
    functions = _Functions()
    return ApiGateway(load_template(REPO / "template.yaml"), functions), functions


def _body(result: Any) -> Any:
    return json.loads(result.body)


def test_unknown_routes_and_methods_go_to_the_catch_all_route(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, functions = gateway
    for method, path in (("GET", "/v1/nope"), ("DELETE", "/v1/workflows"), ("GET", "/"), ("TRACE", "/v1/health")):
        result = api.handle(method, path, [], None)
        assert result.status == 201, (method, path)
        event = _body(result)["event"]
        assert (event["routeKey"], event["requestContext"]["routeKey"]) == ("$default", "$default")
        assert event["requestContext"]["http"]["method"] == method
        assert "pathParameters" not in event
    assert {function for function, _ in functions.calls} == {"CallerApiFunction"}


def test_an_api_without_a_catch_all_route_answers_the_http_apis_own_404() -> None:
    template = load_template(REPO / "template.yaml")
    routes = tuple(route for route in template.routes if route.path != "$default")
    apis = {name: replace(api, routes=routes) for name, api in template.apis.items()}
    api = ApiGateway(replace(template, apis=apis), _Functions())
    result = api.handle("GET", "/v1/nope", [], None)
    assert (result.status, _body(result)) == (404, {"message": "Not Found"})


def test_a_body_over_10_mb_is_413_before_routing(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, functions = gateway
    result = api.handle("POST", "/v1/workflows", [], None, body_length=MAX_BODY_BYTES + 1)
    assert (result.status, _body(result)) == (
        413,
        {"error": {"code": "PAYLOAD_TOO_LARGE", "message": "request body too large"}},
    )
    assert functions.calls == []


def test_payload_2_event_and_answer(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, functions = gateway
    result = api.handle(
        "POST",
        "/v1/workflows/wf%2D1/cancel?x=1&x=2&y=",
        [
            ("Authorization", "Bearer good"),
            ("Content-Type", "application/json"),
            ("X-Twice", "a"),
            ("x-twice", "b"),
            ("Cookie", "c=1; d=2"),
        ],
        b'{"reason": "r"}',
        source_ip="10.0.0.1",
    )
    assert result.status == 201
    assert ("X-Echo", "1") in result.headers
    assert [value for name, value in result.headers if name == "Set-Cookie"] == ["a=1", "b=2"]
    assert functions.calls[-1][0] == "CallerApiFunction"
    event = _body(result)["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/workflows/{id}/cancel"
    assert event["rawPath"] == "/dev/v1/workflows/wf-1/cancel"  # the stage in front, percent-decoded as AWS sends it
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"id": "wf-1"}
    assert event["headers"] == {
        "authorization": "Bearer good",
        "content-type": "application/json",
        "x-twice": "a,b",
    }
    assert event["cookies"] == ["c=1", "d=2"]
    assert event["body"] == '{"reason": "r"}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/dev/v1/workflows/wf-1/cancel",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.0.0.1",
        "userAgent": "",
    }
    assert context["stage"] == "dev"
    assert "authorizer" not in context


def test_binary_body_is_base64(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, _ = gateway
    result = api.handle("POST", "/v1/workflows", [], b"\xff\xfe")
    event = _body(result)["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "//4="


def test_an_answer_without_a_status_code_is_a_200_json_body(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, _ = gateway
    result = api.handle("GET", "/v1/health", [("X-Bare", "1")], None)
    assert result.status == 200
    assert ("Content-Type", "application/json") in result.headers
    assert _body(result)["event"]["routeKey"] == "GET /v1/health"


def test_handler_error_is_502_with_the_error_body(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, _ = gateway
    result = api.handle("GET", "/v1/health", [("X-Fail", "1")], None)
    assert result.status == 502
    assert _body(result) == {"error": {"code": "INTERNAL", "message": "Internal server error"}}
