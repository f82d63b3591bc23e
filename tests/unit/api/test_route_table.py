"""One table of routes and scopes: the template's API, the registered routes and the functions' guards agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from stratoflow.errors import NotFound, PermissionDenied, Unauthenticated
from stratoflow_api.guards import guard_request
from stratoflow_api.operations import operation
from stratoflow_api.public_routes import openapi_document
from stratoflow_api.response_models import Health
from stratoflow_api.route_table import ROUTES, route_access, route_of
from stratoflow_local.template import load_template

from tests.unit.api.conftest import http_event

REPO = Path(__file__).resolve().parents[3]


def test_the_table_is_the_templates_api() -> None:
    template = load_template(REPO / "template.yaml")
    declared = {(route.method, route.path, route.function) for route in template.routes}
    api = {(method, path) for method, path, _ in declared if path.startswith("/v1/")}
    assert api == {(route.method, route.path) for route in ROUTES}
    # Besides the JSON API: the web console's page and its files (no token: the page asks for one), and the
    # catch-all route, which answers every other method and path 404.
    assert {route for route in declared if not route[1].startswith("/v1/")} == {
        ("GET", "/console", "ConsoleFunction"),
        ("GET", "/console/{asset}", "ConsoleFunction"),
        ("ANY", "$default", "CallerApiFunction"),
    }


def test_every_registered_route_is_in_the_table_and_in_the_document() -> None:
    document = json.loads(openapi_document())
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(route.method, route.path) for route in ROUTES}


def test_a_route_missing_from_the_table_cannot_be_registered() -> None:
    with pytest.raises(LookupError, match=re.escape("DELETE /v1/workflows/{id} is not in stratoflow_api.route_table")):
        operation("DELETE", "/v1/workflows/{id}", ok=204, answer=Health)


def test_route_access_reads_the_http_apis_route_keys() -> None:
    events = route_access("get", "/v1/workflows/{id}/events")
    assert events is not None and events.scopes == frozenset({"client", "worker"})
    assert route_access("GET", "/v1/workflows/abc") is None
    assert route_access("DELETE", "/v1/workflows/{id}") is None
    assert route_of({"routeKey": "GET /v1/workflows/{id}/events"}) == events
    assert route_of({"routeKey": "$default"}) is None


@pytest.mark.parametrize("scopes", ["client", "worker", "client worker"])
def test_the_guards_open_exactly_the_routes_of_the_tokens_scopes(scopes: str) -> None:
    for route in ROUTES:
        event = http_event(route.method, route.path, scopes=scopes)
        if route.public or route.scopes & set(scopes.split()):
            guard_request(event)
        else:
            with pytest.raises(PermissionDenied):
                guard_request(event)


def test_protected_routes_need_a_token_and_the_catch_all_route_is_404_with_or_without_one() -> None:
    for route in ROUTES:
        event = http_event(route.method, route.path, scopes=None)
        if route.public:
            guard_request(event)
        else:
            with pytest.raises(Unauthenticated):
                guard_request(event)
    for scopes in (None, "client worker"):
        unknown = {**http_event("DELETE", "/v1/workflows", scopes=scopes), "routeKey": "$default"}
        with pytest.raises(NotFound, match="no such route"):
            guard_request(unknown)
