"""Who is calling: the tenant and scopes the authorizer resolved (never a tenant named in a path or body)."""

from __future__ import annotations

from typing import Any

from stratoflow.errors import PermissionDenied, Unauthenticated
from stratoflow.tokens import Principal


def principal_of(event: Any) -> Principal:
    """Read the authorizer's context from an API Gateway REST event."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    tenant = authorizer.get("tenant")
    if not tenant:
        raise Unauthenticated("missing or unknown token")
    scopes = frozenset(str(authorizer.get("scopes") or "").split())
    return Principal(tenant=str(tenant), scopes=scopes)


def require_scope(event: Any, *scopes: str) -> str:
    """The caller's tenant, once it is known to hold one of `scopes`."""
    principal = principal_of(event)
    if not principal.scopes.intersection(scopes):
        raise PermissionDenied(f"this token lacks the {' or '.join(repr(scope) for scope in scopes)} scope")
    return principal.tenant
