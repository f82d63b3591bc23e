"""The API Gateway emulation without sockets: routing, policy evaluation, gateway responses, proxy events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stratoflow_local.gateway import MAX_BODY_BYTES, ApiGateway, RouteTable, policy_allows, render_gateway_response
from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import ApiSpec, GatewayResponseSpec, Route, load_template

REPO = Path(__file__).resolve().parents[2]
ARN = "arn:aws:execute-api:us-east-1:123456789012:local/dev"


def _route(method: str, path: str) -> Route:
    return Route(api="Api", method=method, path=path, function=f"{method} {path}", authorizer=None)


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


def test_policy_evaluation() -> None:
    allow_workflows = {
        "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [f"{ARN}/*/v1/workflows*"]}]
    }
    assert policy_allows(allow_workflows, f"{ARN}/GET/v1/workflows")
    assert policy_allows(allow_workflows, f"{ARN}/POST/v1/workflows/x/cancel")
    assert not policy_allows(allow_workflows, f"{ARN}/POST/v1/worker/tasks/poll")
    with_deny = {
        "Statement": [
            *allow_workflows["Statement"],
            {"Effect": "Deny", "Action": "execute-api:*", "Resource": f"{ARN}/POST/*"},
        ]
    }
    assert policy_allows(with_deny, f"{ARN}/GET/v1/workflows")
    assert not policy_allows(with_deny, f"{ARN}/POST/v1/workflows")
    other_action = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    assert not policy_allows(other_action, f"{ARN}/GET/v1/workflows")
    single_char = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": f"{ARN}/GE?/v1/workflows"}]}
    assert policy_allows(single_char, f"{ARN}/GET/v1/workflows")
    assert not policy_allows({}, f"{ARN}/GET/v1/workflows")


class _Functions:
    """Stands in for the Lambda runtime: an authorizer with two tokens and an echoing API handler."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, function: str, event: Any) -> Any:
        self.calls.append((function, event))
        if function == "AuthorizerFunction":
            token = event["headers"].get("Authorization", "").removeprefix("Bearer ")
            if token == "boom":
                raise FunctionError(function, "RuntimeError", "down")
            if token != "good":
                raise FunctionError(function, "Exception", "Unauthorized")
            return {
                "principalId": "acme",
                "policyDocument": {
                    "Statement": [
                        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{ARN}/*/v1/workflows*"}
                    ]
                },
                "context": {"tenant": "acme", "scopes": "client"},
            }
        if (event.get("headers") or {}).get("X-Fail"):
            raise FunctionError(function, "ValueError", "bug")
        return {"statusCode": 201, "headers": {"X-Echo": "1"}, "body": json.dumps({"event": event})}


@pytest.fixture
def gateway() -> tuple[ApiGateway, _Functions]:
    functions = _Functions()
    return ApiGateway(load_template(REPO / "template.yaml"), functions), functions


def _body(result: Any) -> Any:
    return json.loads(result.body)


def test_gateway_order_of_checks(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, functions = gateway
    good = [("Authorization", "Bearer good")]
    assert api.handle("GET", "/v1/nope", good, None).status == 404
    assert api.handle("GET", "/v1/nope", [], None).status == 404
    assert api.handle("POST", "/v1/workflows", good, None, body_length=MAX_BODY_BYTES + 1).status == 413
    missing = api.handle("GET", "/v1/workflows", [], None)
    assert (missing.status, _body(missing)["error"]["code"]) == (401, "UNAUTHENTICATED")
    assert functions.calls == []  # no identity source: the authorizer is not even invoked
    assert api.handle("GET", "/v1/workflows", [("Authorization", "Bearer bad")], None).status == 401
    broken = api.handle("GET", "/v1/workflows", [("Authorization", "Bearer boom")], None)
    assert (broken.status, _body(broken)["error"]["code"]) == (500, "INTERNAL")
    denied = api.handle("POST", "/v1/worker/tasks/poll", good, b"{}")
    assert (denied.status, _body(denied)["error"]["code"]) == (403, "PERMISSION_DENIED")
    failed = api.handle("POST", "/v1/workflows/x/cancel", good, b"{}")
    assert failed.status == 201  # CallerApiFunction echoes
    cancel = api.handle("POST", "/v1/tasks/t-1/cancel", [("Authorization", "Bearer good")], b"{}")
    assert cancel.status == 403  # the policy covers /v1/workflows* only


def test_proxy_event_and_response(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, _ = gateway
    result = api.handle(
        "POST",
        "/v1/workflows?x=1&x=2",
        [("Authorization", "Bearer good"), ("Content-Type", "application/json")],
        b'{"kind": "k"}',
        source_ip="10.0.0.1",
    )
    assert result.status == 201
    assert ("X-Echo", "1") in result.headers
    event = _body(result)["event"]
    assert event["resource"] == "/v1/workflows"
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["pathParameters"] is None
    assert event["body"] == '{"kind": "k"}'
    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.1"
    assert event["requestContext"]["authorizer"]["tenant"] == "acme"
    assert event["requestContext"]["authorizer"]["principalId"] == "acme"


def test_binary_body_is_base64(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, _ = gateway
    result = api.handle("POST", "/v1/workflows", [("Authorization", "Bearer good")], b"\xff\xfe")
    event = _body(result)["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == "//4="


def test_handler_error_is_502_with_the_template_body(gateway: tuple[ApiGateway, _Functions]) -> None:
    api, _ = gateway
    result = api.handle("GET", "/v1/health", [("X-Fail", "1")], None)
    assert result.status == 502
    assert _body(result) == {"error": {"code": "INTERNAL", "message": "Internal server error"}}


def test_gateway_responses_fall_back_to_the_default_types_and_api_gateway_defaults() -> None:
    api = ApiSpec(
        logical_id="Api",
        stage="dev",
        authorizers={},
        routes=(),
        gateway_responses={
            "DEFAULT_4XX": GatewayResponseSpec(
                None, {"X-Kind": "4xx"}, {"application/json": '{"m": $context.error.messageString}'}
            ),
            "UNAUTHORIZED": GatewayResponseSpec(
                401, {}, {"application/json": '{"t": "$context.error.responseType", "id": "$context.requestId"}'}
            ),
        },
    )
    throttled = render_gateway_response(api, "THROTTLED", 'Too "many"', "r-1")
    assert (throttled.status, json.loads(throttled.body)) == (429, {"m": 'Too "many"'})
    assert ("X-Kind", "4xx") in throttled.headers
    unauthorized = render_gateway_response(api, "UNAUTHORIZED", "Unauthorized", "r-2")
    assert (unauthorized.status, json.loads(unauthorized.body)) == (401, {"t": "UNAUTHORIZED", "id": "r-2"})
    server_side = render_gateway_response(api, "INTEGRATION_TIMEOUT", "Endpoint request timed out", "r-3")
    assert (server_side.status, json.loads(server_side.body)) == (504, {"message": "Endpoint request timed out"})
    assert render_gateway_response(None, "MISSING_AUTHENTICATION_TOKEN", "Missing", "r-4").status == 403
