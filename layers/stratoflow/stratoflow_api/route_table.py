"""Every route of the API: the token scopes that open it, and its OpenAPI tag, summary and own refusals.

The functions' request guards check a request's token against it before a route runs (stratoflow_api.guards), and
the OpenAPI document marks the routes with no scopes as public and takes each operation's tag, summary and refusals
from here (stratoflow_api.operations). Paths are written as in template.yaml (`{id}`); a route missing here cannot be
registered. Requests for any other route reach the HTTP API's catch-all route (`$default`), which answers 404 with
or without a token.

A new route: add it here and to template.yaml (tests/unit/api/test_route_table.py compares them), then register it
with `route(...)` as stratoflow_api.operations shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLIENT = "client"
DEFAULT_ROUTE_KEY = "$default"
WORKER = "worker"

PUBLIC: frozenset[str] = frozenset()
CLIENTS = frozenset({CLIENT})
WORKERS = frozenset({WORKER})
CLIENTS_AND_WORKERS = frozenset({CLIENT, WORKER})


@dataclass(frozen=True)
class RouteAccess:
    method: str
    path: str  # API Gateway's resource path, e.g. /v1/workflows/{id}
    scopes: frozenset[str]  # any one of them opens the route; empty: public (no token)
    tag: str  # the OpenAPI document's group of the operation
    summary: str
    # The route's own refusals (400 for query parameters, 409, 503); operations.operation adds those of its kind.
    refusals: tuple[int, ...] = ()

    @property
    def public(self) -> bool:
        return not self.scopes

    @property
    def route_key(self) -> str:
        """The HTTP API's name of the route, e.g. `GET /v1/workflows/{id}`."""
        return f"{self.method} {self.path}"


def _route(method: str, path: str, scopes: frozenset[str], tag: str, summary: str, *refusals: int) -> RouteAccess:
    return RouteAccess(method, path, scopes, tag, summary, refusals)


# fmt: off
ROUTES: tuple[RouteAccess, ...] = (
    # method, path, scopes, tag, summary, refusals
    _route("GET", "/v1/health", PUBLIC, "public", "Health check"),
    _route("GET", "/v1/openapi.json", PUBLIC, "public", "This API's OpenAPI document"),
    _route("POST", "/v1/workflows", CLIENTS, "workflows", "Start a workflow", 409),
    _route("GET", "/v1/workflows", CLIENTS, "workflows", "List workflow executions, newest first", 400),
    _route("GET", "/v1/workflows/{id}", CLIENTS, "workflows", "Read a workflow execution"),
    # Workers read the rest of a long history here: a poll returns only its first page.
    _route("GET", "/v1/workflows/{id}/events", CLIENTS_AND_WORKERS, "workflows", "Read one page of history", 400),
    _route("POST", "/v1/workflows/{id}/cancel", CLIENTS, "workflows", "Cancel a workflow execution", 409, 503),
    _route("POST", "/v1/workflows/{id}/terminate", CLIENTS, "operators", "Terminate a workflow execution", 409, 503),
    _route("POST", "/v1/events", CLIENTS, "operators", "Send an event to cancel-on-event subscribers", 409),
    _route(
        "POST", "/v1/batches", CLIENTS, "operators", "Cancel or terminate many executions (dryRun: count them)", 409
    ),
    _route("GET", "/v1/batches", CLIENTS, "operators", "List batches, newest first", 400),
    _route("GET", "/v1/batches/{batchId}", CLIENTS, "operators", "Read a batch"),
    _route("GET", "/v1/batches/{batchId}/items", CLIENTS, "operators", "List how a batch handled each execution", 400),
    _route("POST", "/v1/batches/{batchId}/stop", CLIENTS, "operators", "Stop a running batch", 409, 503),
    _route("POST", "/v1/tasks", CLIENTS, "tasks", "Create a standalone task", 409),
    _route("GET", "/v1/tasks/{taskExecutionId}", CLIENTS, "tasks", "Read a task"),
    _route("POST", "/v1/tasks/{taskExecutionId}/cancel", CLIENTS, "tasks", "Cancel a task", 409, 503),
    _route("POST", "/v1/worker/workflows/poll", WORKERS, "worker", "Claim a ready workflow execution"),
    _route("POST", "/v1/worker/workflows/{id}/commands", WORKERS, "worker", "Submit workflow commands", 409, 503),
    _route("POST", "/v1/worker/tasks/poll", WORKERS, "worker", "Claim a pending task"),
    _route("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat", WORKERS, "worker", "Extend a task lease", 409, 503),
    _route("POST", "/v1/worker/tasks/{taskExecutionId}/complete", WORKERS, "worker", "Complete a task", 409, 503),
    _route("POST", "/v1/worker/tasks/{taskExecutionId}/fail", WORKERS, "worker", "Fail a task attempt", 409, 503),
)
# fmt: on

_BY_ROUTE = {(route.method, route.path): route for route in ROUTES}


def route_access(method: str, path: str) -> RouteAccess | None:
    """The table's entry for a route (`path` as API Gateway's resource path), or None for an unknown route."""
    return _BY_ROUTE.get((method.upper(), path))


def route_of(event: Mapping[str, Any]) -> RouteAccess | None:
    """The table's entry for the route an HTTP API event (payload v2) was routed by (its `routeKey`), or None."""
    method, _, path = str(event.get("routeKey") or "").partition(" ")
    return route_access(method, path)
