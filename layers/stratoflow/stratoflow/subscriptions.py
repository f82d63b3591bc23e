"""Cancel-on-event subscriptions (operators.md): where each `cancelOn` entry is stored, and how events find them.

Each entry of an execution's `cancelOn` is one item, written in the transaction that creates the execution, in the
partition that an event of its type will query: one partition per (tenant, event type, match key, canonical match
value), and one per (tenant, event type) for empty matches. An event therefore costs one Query per top-level key of
its data plus one, and reads only the subscriptions that match it, never every subscriber of its type. The sort key
starts with the subscription time, so "subscribed before the event arrived" is a key condition. The entries are
deleted by the execution's close follow-up once it ends (an execution with `cancelOn` always gets one), and the
table's TTL removes timed-out ones.

What a `cancelOn` entry may be is `stratoflow.cancel_on` (a pydantic model): only the functions that accept one
validate it, while every function that delivers an event or closes an execution imports this module.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from stratoflow.clock import parse_iso_ms
from stratoflow.dal.keys import subscription_pk, subscription_sk
from stratoflow.dal.unit_of_work import UnitOfWork
from stratoflow.executions import get_execution
from stratoflow.records import Execution, Subscription
from stratoflow.runtime import Runtime
from stratoflow.values import dumps, loads

if TYPE_CHECKING:
    from stratoflow.cancel_on import CancelOnEntry


def is_match_value(value: Any) -> bool:
    return isinstance(value, bool | int | float | str)


def canonical(value: Any) -> str:
    """Equal JSON values, and only those, have equal canonical forms: 5 = 5.0, 7 ≠ "7", true ≠ 1."""
    if isinstance(value, bool):
        return "b:true" if value else "b:false"
    if isinstance(value, int | float):
        with localcontext() as context:
            context.prec = 5000  # exact for any int JSON can carry here; floats have at most 17 digits
            number = (Decimal(value) if isinstance(value, int) else Decimal(repr(value))).normalize()
        return "n:0" if number == 0 else f"n:{number}"
    return f"s:{value}"


def partition(event_type: str, key: str | None = None, value: Any = None) -> str:
    """The subscription partition of an event type (empty match) or of one (key, value) match; hashed, so any
    legal key and value fit DynamoDB's key limits."""
    material = dumps([event_type]) if key is None else dumps([event_type, key, canonical(value)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


def event_partitions(event_type: str, data: dict[str, Any]) -> list[str]:
    """The partitions an event must query: the empty matches, and one per top-level scalar field of its data."""
    partitions = [partition(event_type)]
    for key, value in data.items():
        if 1 <= len(key) <= 128 and is_match_value(value):
            partitions.append(partition(event_type, key, value))
    return partitions


def _entry_partition(entry: dict[str, Any]) -> str:
    match = entry.get("match") or {}
    if not match:
        return partition(entry["eventType"])
    ((key, value),) = match.items()
    return partition(entry["eventType"], key, value)


def stage_subscriptions(uow: UnitOfWork, execution: Execution, entries: list[CancelOnEntry], now_ms: int) -> None:
    """Record the new execution's `cancelOn` on it and subscribe each entry (in the creating transaction)."""
    views = [entry.view() for entry in entries]
    execution.cancel_on = dumps(views)
    if not views:
        return
    for index, view in enumerate(views):
        ends_at = None if view["timeoutMs"] is None else now_ms + int(view["timeoutMs"])
        uow.put(
            Subscription(
                subscription_pk(execution.tenant, _entry_partition(view)),
                subscription_sk(now_ms, execution.workflow_id, index),
                tenant=execution.tenant,
                workflow_id=execution.workflow_id,
                event_type=view["eventType"],
                subscribed_at=now_ms,
                ends_at=ends_at,
                expires_at=None if ends_at is None else ends_at // 1000 + 1,
            ),
            label="subscription",
        )


def cancel_on_view(execution: Execution) -> list[dict[str, Any]]:
    """The execution's `cancelOn` as the API shows it (`[]` when none)."""
    entries: list[dict[str, Any]] = loads(execution.cancel_on) or [] if execution.cancel_on else []
    return entries


def delete_subscriptions(rt: Runtime, tenant: str, workflow_id: str) -> int:
    """An ended execution's subscriptions go (idempotent: deleting a deleted item is a no-op)."""
    execution = get_execution(rt.repo, tenant, workflow_id)
    if execution is None or not execution.cancel_on:
        return 0
    entries = cancel_on_view(execution)
    subscribed_at = parse_iso_ms(execution.created_at)
    for index, entry in enumerate(entries):
        uow = UnitOfWork()
        key = (subscription_pk(tenant, _entry_partition(entry)), subscription_sk(subscribed_at, workflow_id, index))
        uow.delete(_subscription_key(*key), label="subscription")
        rt.repo.commit(uow)
    return len(entries)


def _subscription_key(pk: str, sk: str) -> Subscription:
    """A subscription named by its key only (what a delete needs)."""
    return Subscription(pk, sk, tenant="", workflow_id="", event_type="", subscribed_at=0)
