"""Unit tests of the HTTP edge: resolvers called with API Gateway REST events, no sockets and no table.

`rest_call(app, method, resource, ...)` builds the event API Gateway would send after its authorizer allowed the
request (tenant `acme`, the given scopes) and returns (status, JSON body). The resources a path names are faked:
ids starting with `known-` exist, any other is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from stratoflow_api import guards

RestCall = Callable[..., tuple[int, Any]]


class _Context:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "request"


def rest_event(
    method: str,
    resource: str,
    *,
    ids: dict[str, str] | None = None,
    body: str | None = None,
    scopes: str | None = "client worker",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    parameters = ids or {name: "known-1" for name in re.findall(r"\{([^}]+)\}", resource)}
    path = resource
    for name, value in parameters.items():
        path = path.replace("{" + name + "}", value)
    context: dict[str, Any] = {"resourcePath": resource, "httpMethod": method, "stage": "v1", "requestId": "r-1"}
    if scopes is not None:
        context["authorizer"] = {"tenant": "acme", "scopes": scopes, "principalId": "acme"}
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "httpMethod": method,
        "path": path,
        "resource": resource,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} if query else None,
        "pathParameters": parameters or None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": context,
    }


@pytest.fixture(autouse=True)
def fake_path_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    def exists(tenant: str, resource_id: str) -> bool:
        return tenant == "acme" and resource_id.startswith("known-")

    monkeypatch.setattr(guards, "PATH_RESOURCES", {"id": exists, "taskExecutionId": exists})


@pytest.fixture
def rest_call() -> RestCall:
    def call(app: APIGatewayRestResolver, method: str, resource: str, **kwargs: Any) -> tuple[int, Any]:
        answer = app.resolve(rest_event(method, resource, **kwargs), _Context())  # type: ignore[arg-type]
        body = answer.get("body")
        return answer["statusCode"], json.loads(body) if body else None

    return call


@pytest.fixture(autouse=True)
def function_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the template gives every function: a resolver builds the process's collaborators from them
    before any route runs (nothing here reaches the table: the resources a path names are faked)."""
    monkeypatch.setenv("TABLE_NAME", "unit-test-table")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
