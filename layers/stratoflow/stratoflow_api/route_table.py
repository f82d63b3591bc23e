"""Every route of the API and the token scopes that open it: the one table the authorizer and the functions share.

The authorizer turns it into the IAM policy of a token (API Gateway answers 403 for a route the policy leaves out);
the functions' request guards check it again before a route runs, and the OpenAPI document marks the routes with
no scopes as public. Paths are written as in template.yaml (`{id}`); a route missing here cannot be registered.

A new route: add it here and to template.yaml (tests/unit/api/test_route_table.py compares them), then register it
with `operation(...)` as stratoflow_api.operations shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CLIENT = "client"
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
    def policy_resource(self) -> str:
        """The path as an IAM resource pattern of the authorizer's policy (`{id}` → `*`)."""
        return re.sub(r"\{[^}]+\}", "*", self.path)


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


def policy_routes(scopes: frozenset[str]) -> list[tuple[str, str]]:
    """(method, IAM resource pattern) of every protected route that one of `scopes` opens, for the authorizer."""
    return [(route.method, route.policy_resource) for route in ROUTES if not route.public and route.scopes & scopes]
