"""One table of routes and scopes: the template's API, the registered routes and the authorizer's policy agree."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from stratoflow.tokens import Principal
from stratoflow_api.operations import operation
from stratoflow_api.public_routes import openapi_document
from stratoflow_api.response_models import Health
from stratoflow_api.route_table import ROUTES, route_access
from stratoflow_local.gateway import policy_allows
from stratoflow_local.template import load_template

REPO = Path(__file__).resolve().parents[3]
ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev"


class _Context:
    function_name = "authorizer"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:authorizer"
    aws_request_id = "request"


def test_the_table_is_the_templates_api_and_public_routes_have_no_authorizer() -> None:
    template = load_template(REPO / "template.yaml")
    declared = {(route.method, route.path, route.authorizer is None) for route in template.routes}
    api = {route for route in declared if route[1].startswith("/v1/")}
    assert api == {(route.method, route.path, route.public) for route in ROUTES}
    # Besides the JSON API, only the web console's page and its files, which need no token (the page asks for one).
    assert declared - api == {("GET", "/console", True), ("GET", "/console/{asset}", True)}


def test_every_registered_route_is_in_the_table_and_in_the_document() -> None:
    document = json.loads(openapi_document())
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(route.method, route.path) for route in ROUTES}


def test_a_route_missing_from_the_table_cannot_be_registered() -> None:
    with pytest.raises(LookupError, match=re.escape("DELETE /v1/workflows/{id} is not in stratoflow_api.route_table")):
        operation("DELETE", "/v1/workflows/{id}", ok=204, answer=Health, summary="no", tags=[])


def test_route_access_reads_api_gateways_resource_paths() -> None:
    events = route_access("get", "/v1/workflows/{id}/events")
    assert events is not None and events.scopes == frozenset({"client", "worker"})
    assert route_access("GET", "/v1/workflows/abc") is None
    assert route_access("DELETE", "/v1/workflows/{id}") is None


def _authorizer() -> Any:
    spec = importlib.util.spec_from_file_location("authorizer_app", REPO / "functions" / "authorizer" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _concrete(path: str) -> str:
    return path.replace("{id}", "wf-1").replace("{taskExecutionId}", "task-1")


@pytest.mark.parametrize("scopes", [{"client"}, {"worker"}, {"client", "worker"}, set()], ids=repr)
def test_the_authorizers_policy_opens_exactly_the_routes_of_the_tokens_scopes(
    scopes: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a token of tenant acme with these scopes
    authorizer = _authorizer()
    monkeypatch.setattr(authorizer, "resolve_token", lambda rt, token: Principal("acme", frozenset(scopes)))
    event = json.loads((REPO / "events" / "authorizer_valid_token.json").read_text())

    # When the authorizer answers
    answer = authorizer.lambda_handler(event, _Context())

    # Then its policy allows each protected route exactly when a scope of the token opens it, and nothing else
    assert answer["context"] == {"tenant": "acme", "scopes": " ".join(sorted(scopes))}
    for route in ROUTES:
        if route.public:
            continue
        allowed = policy_allows(answer["policyDocument"], f"{ARN}/{route.method}{_concrete(route.path)}")
        assert allowed == bool(route.scopes & scopes), (route, scopes)
    for method, path in (("DELETE", "/v1/workflows/wf-1"), ("PUT", "/v1/tasks"), ("GET", "/v1/worker/tasks/poll")):
        assert not policy_allows(answer["policyDocument"], f"{ARN}/{method}{path}")
