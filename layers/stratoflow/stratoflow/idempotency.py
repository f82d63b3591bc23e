"""Idempotency-Key: a creation recorded with its key in the creation's own write, so a retry creates nothing twice."""

from __future__ import annotations

import hashlib
from typing import Any

from stratoflow.dal import keys
from stratoflow.dal.repository import Repository
from stratoflow.dal.unit_of_work import NEW, AnyOf, FieldBelow, TransactionConflict, UnitOfWork
from stratoflow.errors import Conflict
from stratoflow.records import IdempotencyRecord
from stratoflow.values import dumps, loads

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
LABEL = "idempotency"


def commit_once(
    repo: Repository,
    uow: UnitOfWork,
    tenant: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    response: dict[str, Any],
    now_ms: int,
) -> dict[str, Any]:
    """Commit a creation; with an Idempotency-Key, the same key and request within 24 h return the first response.

    The key is recorded in the creation's own write: a retry after a lost answer or a crash cannot create a second
    resource. The same key with another request is 409 CONFLICT. An expired record is replaced.
    """
    if idempotency_key is None:
        repo.commit(uow)
        return response
    request_hash = hashlib.sha256(dumps(request).encode()).hexdigest()
    key_pk = keys.idempotency_pk(tenant, hashlib.sha256(idempotency_key.encode()).hexdigest())
    now_s = now_ms // 1000
    record = IdempotencyRecord(
        key_pk,
        keys.IDEMPOTENCY_SK,
        request_hash=request_hash,
        response=dumps(response),
        expires_at=now_s + IDEMPOTENCY_TTL_SECONDS,
    )
    uow.put(record, AnyOf((NEW, FieldBelow("expires_at", now_s))), label=LABEL)
    try:
        repo.commit(uow)
        return response
    except TransactionConflict as conflict:
        if LABEL not in conflict.labels:
            raise
    existing = repo.get(IdempotencyRecord, key_pk, keys.IDEMPOTENCY_SK)
    assert existing is not None  # records expire by TTL long after they stop counting (expires_at < now)
    if existing.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used with a different request body") from None
    first_response: dict[str, Any] = loads(existing.response)
    return first_response
