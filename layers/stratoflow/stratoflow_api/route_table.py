"""Every route of the API and the token scopes that open it: the one table of who may call what.

The functions' request guards check a request's token against it before a route runs (stratoflow_api.guards), and
the OpenAPI document marks the routes with no scopes as public. Paths are written as in template.yaml (`{id}`); a
route missing here cannot be registered. Requests for any other route reach the HTTP API's catch-all route
(`$default`), which answers 404 with or without a token.

A new route: add it here and to template.yaml (tests/unit/api/test_route_table.py compares them), then register it
with `operation(...)` as stratoflow_api.operations shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLIENT = "client"
DEFAULT_ROUTE_KEY = "$default"
WORKER = "worker"


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str  # API Gateway's resource path, e.g. /v1/workflows/{id}
    scopes: frozenset[str]  # any one of them opens the route; empty: public (no token)

    @property
    def public(self) -> bool:
        return not self.scopes

    @property
    def route_key(self) -> str:
        """The HTTP API's name of the route, e.g. `GET /v1/workflows/{id}`."""
        return f"{self.method} {self.path}"


def _route(method: str, path: str, *scopes: str) -> RouteAccess:
    return RouteAccess(method, path, frozenset(scopes))


ROUTES: tuple[RouteAccess, ...] = (
    _route("GET", "/v1/health"),
    _route("GET", "/v1/openapi.json"),
    _route("POST", "/v1/workflows", CLIENT),
    _route("GET", "/v1/workflows", CLIENT),
    _route("GET", "/v1/workflows/{id}", CLIENT),
    # Workers read the rest of a long history here: a poll returns only its first page.
    _route("GET", "/v1/workflows/{id}/events", CLIENT, WORKER),
    _route("POST", "/v1/workflows/{id}/cancel", CLIENT),
    _route("POST", "/v1/workflows/{id}/terminate", CLIENT),
    _route("POST", "/v1/events", CLIENT),
    _route("POST", "/v1/batches", CLIENT),
    _route("GET", "/v1/batches", CLIENT),
    _route("GET", "/v1/batches/{batchId}", CLIENT),
    _route("GET", "/v1/batches/{batchId}/items", CLIENT),
    _route("POST", "/v1/batches/{batchId}/stop", CLIENT),
    _route("POST", "/v1/tasks", CLIENT),
    _route("GET", "/v1/tasks/{taskExecutionId}", CLIENT),
    _route("POST", "/v1/tasks/{taskExecutionId}/cancel", CLIENT),
    _route("POST", "/v1/worker/workflows/poll", WORKER),
    _route("POST", "/v1/worker/workflows/{id}/commands", WORKER),
    _route("POST", "/v1/worker/tasks/poll", WORKER),
    _route("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat", WORKER),
    _route("POST", "/v1/worker/tasks/{taskExecutionId}/complete", WORKER),
    _route("POST", "/v1/worker/tasks/{taskExecutionId}/fail", WORKER),
)

_BY_ROUTE = {(route.method, route.path): route for route in ROUTES}


def route_access(method: str, path: str) -> RouteAccess | None:
    """The table's entry for a route (`path` as API Gateway's resource path), or None for an unknown route."""
    return _BY_ROUTE.get((method.upper(), path))


def route_of(event: Mapping[str, Any]) -> RouteAccess | None:
    """The table's entry for the route an HTTP API event (payload v2) was routed by (its `routeKey`), or None."""
    method, _, path = str(event.get("routeKey") or "").partition(" ")
    return route_access(method, path)
