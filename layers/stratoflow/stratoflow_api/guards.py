"""Request guards: what api.md's precedence (401, 403, 404, 400/413, 409) decides before a body is validated.

`guard_request` runs when a request reaches its function, before Powertools validates parameters and body: the
HTTP API's catch-all route (404: no such route, with or without a token), the caller's token and its scope for the
route (stratoflow_api.authentication, route_table; 401/403), then the body's size (413, after the path's
resources). The resources a path names (404: another tenant's id is a missing one) are looked up only when a refusal
would otherwise be given first — an oversize or invalid body — since a valid request reads them anyway in the route.
So a body is answered 400 only for a caller allowed on an existing resource, and the domain's 409s come last, from
the route itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from stratoflow.errors import NotFound, PayloadTooLarge, PermissionDenied
from stratoflow.lookup import Named, find
from stratoflow.records import Batch, Execution, Task
from stratoflow.services import runtime
from stratoflow.tokens import Principal

from stratoflow_api.authentication import authenticate
from stratoflow_api.route_table import DEFAULT_ROUTE_KEY, route_of

MAX_BODY_BYTES = 5 * 1024 * 1024


# Where guard_request leaves the principal it resolved, so that a request's token is looked up once. API Gateway
# never sends a key with a dot in it.
PRINCIPAL_KEY = "stratoflow.principal"


def principal_of(event: Mapping[str, Any]) -> Principal:
    """The tenant and scopes of the request's bearer token (never a tenant named in a path or body)."""
    known = event.get(PRINCIPAL_KEY)
    return known if isinstance(known, Principal) else authenticate(event.get("headers"))


def _exists(record_type: type[Named]) -> Callable[[str, str], bool]:
    def exists(tenant: str, resource_id: str) -> bool:
        return find(runtime().repo, record_type, tenant, resource_id) is not None

    return exists


# Path parameters name resources; a request naming a missing one is 404 before its body is judged.
PATH_RESOURCES: dict[str, Callable[[str, str], bool]] = {
    "id": _exists(Execution),
    "taskExecutionId": _exists(Task),
    "batchId": _exists(Batch),
}


def guard_request(event: MutableMapping[str, Any]) -> None:
    """Raise the refusal a request gets before its body is read; routes unknown to the table pass (Powertools 404s).

    The caller's principal is left in the event (PRINCIPAL_KEY) for the route."""
    if event.get("routeKey") == DEFAULT_ROUTE_KEY:
        raise NotFound("no such route")
    access = route_of(event)
    if access is None or access.public:
        return
    principal = event[PRINCIPAL_KEY] = principal_of(event)
    if not principal.scopes & access.scopes:
        needed = " or ".join(repr(scope) for scope in sorted(access.scopes))
        raise PermissionDenied(f"this token lacks the {needed} scope")
    if _body_bytes(event) > MAX_BODY_BYTES:
        require_path_resources(event)
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes", limitBytes=MAX_BODY_BYTES)


def _body_bytes(event: Mapping[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4  # the decoded size, give or take the padding
    return len(body.encode("utf-8"))


def require_path_resources(event: Mapping[str, Any]) -> None:
    """404 unless every resource the path names belongs to the caller's tenant."""
    tenant = principal_of(event).tenant
    for name, value in (event.get("pathParameters") or {}).items():
        exists = PATH_RESOURCES.get(name)
        if exists is not None and not exists(tenant, value):
            raise NotFound(f"{value} not found")
