"""API tokens: stored only as SHA-256 hashes, each belonging to one tenant with scopes `client` and/or `worker`."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.unit_of_work import UnitOfWork
from stratoflow.errors import InvalidArgument
from stratoflow.records import Token
from stratoflow.runtime import Runtime

SCOPES = frozenset({"client", "worker"})
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    tenant: str
    scopes: frozenset[str]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def put_token(rt: Runtime, tenant: str, token: str, scopes: frozenset[str]) -> None:
    """Create (or replace) a token for a tenant. Only its hash is stored."""
    if not TENANT_PATTERN.match(tenant):
        raise InvalidArgument("a tenant is 1-64 chars of [A-Za-z0-9._:-]")
    if not scopes or not scopes <= SCOPES:
        raise InvalidArgument(f"scopes must be a non-empty subset of {sorted(SCOPES)}")
    if not token or len(token) > 4096 or any(ch.isspace() for ch in token):
        raise InvalidArgument("a token is 1-4096 characters without white space")
    digest = token_hash(token)
    uow = UnitOfWork()
    uow.put(
        Token(
            keys.token_pk(digest),
            keys.TOKEN_SK,
            tenant=tenant,
            scopes=set(scopes),
            created_at=iso_ms(rt.now_ms()),
        )
    )
    rt.repo.commit(uow)


def revoke_token(rt: Runtime, token: str) -> bool:
    item = rt.repo.get(Token, keys.token_pk(token_hash(token)), keys.TOKEN_SK)
    if item is None:
        return False
    uow = UnitOfWork()
    uow.delete(item)
    rt.repo.commit(uow)
    return True


def resolve_token(rt: Runtime, token: str) -> Principal | None:
    """The principal of a presented token, or None. The lookup is by hash; the comparison is constant-time."""
    digest = token_hash(token)
    item = rt.repo.get(Token, keys.token_pk(digest), keys.TOKEN_SK)
    if item is None:
        return None
    if item.revoked or not hmac.compare_digest(item.pk, keys.token_pk(digest)):
        return None
    return Principal(tenant=item.tenant, scopes=frozenset(item.scopes or ()))


def parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
