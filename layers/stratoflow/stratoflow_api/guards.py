"""Request guards: what api.md's precedence (401, 403, 404, 400/413, 409) decides before a body is validated.

`guard_request` runs when a request reaches its function, before Powertools validates parameters and body: the
caller's scope for the route (route_table; 401/403 — API Gateway checks the same policy first), then the body's size
(413, after the path's resources). The resources a path names (404: another tenant's id is a missing one) are looked
up only when a refusal would otherwise be given first — an oversize or invalid body — since a valid request reads
them anyway in the route. So a body is answered 400 only for a caller allowed on an existing resource, and the
domain's 409s come last, from the route itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stratoflow.errors import NotFound, PayloadTooLarge, PermissionDenied, Unauthenticated
from stratoflow.lookup import Named, find
from stratoflow.records import Batch, Execution, Task
from stratoflow.services import runtime
from stratoflow.tokens import Principal

from stratoflow_api.route_table import route_access

MAX_BODY_BYTES = 5 * 1024 * 1024


def principal_of(event: Mapping[str, Any]) -> Principal:
    """The tenant and scopes the authorizer resolved (never a tenant named in a path or body)."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    tenant = authorizer.get("tenant")
    if not tenant:
        raise Unauthenticated("missing, malformed or unknown bearer token")
    scopes = frozenset(str(authorizer.get("scopes") or "").split())
    return Principal(tenant=str(tenant), scopes=scopes)


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


def guard_request(event: Mapping[str, Any]) -> None:
    """Raise the refusal a request gets before its body is read; routes unknown to the table pass (Powertools 404s)."""
    access = route_access(str(event.get("httpMethod") or ""), str(event.get("resource") or ""))
    if access is None or access.public:
        return
    principal = principal_of(event)
    if not principal.scopes & access.scopes:
        needed = " or ".join(repr(scope) for scope in sorted(access.scopes))
        raise PermissionDenied(f"this token lacks the {needed} scope")
    body = event.get("body") or ""
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        require_path_resources(event)
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes", limitBytes=MAX_BODY_BYTES)


def require_path_resources(event: Mapping[str, Any]) -> None:
    """404 unless every resource the path names belongs to the caller's tenant."""
    tenant = principal_of(event).tenant
    for name, value in (event.get("pathParameters") or {}).items():
        exists = PATH_RESOURCES.get(name)
        if exists is not None and not exists(tenant, value):
            raise NotFound(f"{value} not found")
