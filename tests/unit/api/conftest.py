"""Unit tests of the HTTP edge: resolvers called with API Gateway HTTP API events (payload 2.0), no sockets, no table.

`api_call(app, method, route_path, ...)` builds the event the HTTP API sends for that route, with a bearer token of
tenant `acme` and the given scopes (None: no token), and returns (status, JSON body). Tokens are resolved by a fake
lookup (`Bearer acme+client+worker` is tenant acme with both scopes); the resources a path names are faked: ids
starting with `known-` exist, any other is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from stratoflow.tokens import Principal
from stratoflow_api import authentication, guards

ApiCall = Callable[..., tuple[int, Any]]


class FakeContext:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "request"


def bearer(scopes: str) -> str:
    return "Bearer acme+" + "+".join(scopes.split())


def http_event(
    method: str,
    route_path: str,
    *,
    ids: dict[str, str] | None = None,
    body: str | None = None,
    scopes: str | None = "client worker",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    parameters = ids or {name: "known-1" for name in re.findall(r"\{([^}]+)\}", route_path)}
    path = route_path
    for name, value in parameters.items():
        path = path.replace("{" + name + "}", value)
    all_headers = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    if scopes is not None:
        all_headers["authorization"] = bearer(scopes)
    route_key = f"{method} {route_path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": f"/dev{path}",
        "rawQueryString": "&".join(f"{name}={value}" for name, value in (query or {}).items()),
        "headers": all_headers,
        "requestContext": {
            "http": {"method": method, "path": f"/dev{path}", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": route_key,
            "stage": "dev",
            "requestId": "r-1",
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        event["body"] = body
    return event


@pytest.fixture(autouse=True)
def fake_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(token: str) -> Principal | None:
        tenant, _, scopes = token.partition("+")
        return Principal(tenant, frozenset(scopes.split("+"))) if tenant == "acme" else None

    monkeypatch.setattr(authentication, "TOKENS", authentication.TokenCache(resolve))


@pytest.fixture(autouse=True)
def fake_path_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    def exists(tenant: str, resource_id: str) -> bool:
        return tenant == "acme" and resource_id.startswith("known-")

    monkeypatch.setattr(guards, "PATH_RESOURCES", {"id": exists, "taskExecutionId": exists})


@pytest.fixture
def api_call() -> ApiCall:
    def call(app: APIGatewayHttpResolver, method: str, route_path: str, **kwargs: Any) -> tuple[int, Any]:
        answer = app.resolve(http_event(method, route_path, **kwargs), FakeContext())  # type: ignore[arg-type]
        body = answer.get("body")
        return answer["statusCode"], json.loads(body) if body else None

    return call


@pytest.fixture(autouse=True)
def function_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the template gives every function: a resolver builds the process's collaborators from them
    before any route runs (nothing here reaches the table: the resources a path names are faked)."""
    monkeypatch.setenv("TABLE_NAME", "unit-test-table")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
