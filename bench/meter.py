"""Every AWS call the code under test makes, counted through botocore's event system.

PynamoDB builds one botocore session per connection and thread (`pynamodb.connection.base.Connection.session` calls
`botocore.session.get_session()`) and creates its DynamoDB client from it; a client copies its session's event
emitter when it is created. `Meter.install()` therefore hands PynamoDB sessions that already carry the meter's
handlers, and registers the same handlers on boto3's default session (used for the EventBridge Scheduler client).

For each call the meter records the operation, the items it touched (their kinds, from the sort key), the time from
`before-parameter-build` to `after-call`, and the capacity it consumed. It asks for `ReturnConsumedCapacity: TOTAL`
and keeps what the endpoint answers, but moto answers constants (or nothing, for transactions), so the capacity used
in reports is computed with `bench.capacity` from the item images: the meter reads the old image of every item a
write touches before the request and the new image after it, straight from the embedded endpoint's backend (under
its lock). Those reads are not AWS calls; the time they take is kept in `overhead_seconds` and subtracted from
latencies. The old and new images are also what DynamoDB Streams would carry, so they feed the stream emulation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pynamodb.connection.base
from stratoflow_local.moto_responses import FAST_OPERATIONS as ITEM_OPERATIONS

from bench.capacity import (
    IndexSpec,
    index_write_units,
    item_size,
    read_units,
    write_units,
)

Key = dict[str, dict[str, Any]]
Snapshot = Callable[[str, Key], dict[str, Any] | None]

# Every item read and write takes ReturnConsumedCapacity: the operations the embedded endpoint answers itself.
_SUPPORTS_CONSUMED_CAPACITY = ITEM_OPERATIONS
_SORT_KEY_PREFIXES = ("EV#", "CHILD#", "TASKREF#", "TIMER#", "OUTBOX#", "VALUE#")


def kind_of(sk: str) -> str:
    """The item type of a key of the single table, from its sort key."""
    if sk in ("WF", "TASK", "TOKEN", "IDEMPOTENCY"):
        return sk
    if sk.startswith("OUTBOX#"):
        return "OUTBOX:" + sk.split("#")[1]
    for prefix in _SORT_KEY_PREFIXES:
        if sk.startswith(prefix):
            return prefix.rstrip("#")
    return "OTHER"


def _key_kind(key: Mapping[str, Mapping[str, Any]] | None) -> str:
    if not key or "sk" not in key:
        return "OTHER"
    return kind_of(str(key["sk"].get("S", "")))


def _query_kind(params: Mapping[str, Any]) -> str:
    if params.get("IndexName"):
        return str(params["IndexName"])
    for value in (params.get("ExpressionAttributeValues") or {}).values():
        text = value.get("S") if isinstance(value, dict) else None
        if isinstance(text, str):
            for prefix in _SORT_KEY_PREFIXES:
                if text.startswith(prefix):
                    return prefix.rstrip("#")
    return "PARTITION"


@dataclass
class ItemCost:
    kind: str
    action: str
    rru: float = 0.0
    wru: float = 0.0
    gsi_wru: float = 0.0
    transactional: bool = False


@dataclass
class Change:
    """One item's change, as a DynamoDB stream record with NEW_AND_OLD_IMAGES would carry it."""

    table: str
    keys: Key
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass
class Call:
    service: str
    operation: str
    label: str
    seconds: float
    error: str | None = None
    items: list[ItemCost] = field(default_factory=list)
    reported_units: float | None = None
    changes: list[Change] = field(default_factory=list)

    @property
    def rru(self) -> float:
        return sum(item.rru for item in self.items)

    @property
    def wru(self) -> float:
        return sum(item.wru for item in self.items)

    @property
    def gsi_wru(self) -> float:
        return sum(item.gsi_wru for item in self.items)


@dataclass
class _Pending:
    service: str
    operation: str
    params: dict[str, Any]
    started: float
    writes: list[tuple[str, str, Key, dict[str, Any] | None]]  # (table, action, key, old image)


class Meter:
    def __init__(self, snapshot: Snapshot, indexes: tuple[IndexSpec, ...], table_keys: tuple[str, ...]) -> None:
        self._snapshot = snapshot
        self._indexes = indexes
        self._table_keys = table_keys
        self.calls: list[Call] = []
        self.overhead_seconds = 0.0
        self._paused = threading.local()
        self._original_get_session: Callable[[], botocore.session.Session] | None = None

    # ------------------------------------------------------------ wiring

    def install(self) -> None:
        """Count every call of PynamoDB's clients and of clients built from boto3's default session."""
        original = pynamodb.connection.base.get_session
        self._original_get_session = original

        def metered_session() -> botocore.session.Session:
            session = original()
            self.attach(session)
            return session

        pynamodb.connection.base.get_session = metered_session
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        self.attach(boto3.DEFAULT_SESSION._session)

    def uninstall(self) -> None:
        if self._original_get_session is not None:
            pynamodb.connection.base.get_session = self._original_get_session
            self._original_get_session = None

    def attach(self, session: botocore.session.Session) -> None:
        for service in ("dynamodb", "scheduler"):
            session.register(f"before-parameter-build.{service}", self._before)
            session.register(f"after-call.{service}", self._after)
            session.register(f"after-call-error.{service}", self._after_error)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Calls made inside are neither counted nor snapshotted (fixtures)."""
        previous = getattr(self._paused, "value", False)
        self._paused.value = True
        try:
            yield
        finally:
            self._paused.value = previous

    # ------------------------------------------------------------ handlers

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if getattr(self._paused, "value", False):
            return
        began = time.perf_counter()
        service = model.service_model.endpoint_prefix
        operation = model.name
        writes: list[tuple[str, str, Key, dict[str, Any] | None]] = []
        if service == "dynamodb":
            if operation in _SUPPORTS_CONSUMED_CAPACITY:
                params.setdefault("ReturnConsumedCapacity", "TOTAL")
            for table, action, key in self._written_keys(operation, params):
                writes.append((table, action, key, self._snapshot(table, key)))
        started = time.perf_counter()
        self.overhead_seconds += started - began
        context["bench_pending"] = _Pending(service, operation, params, started, writes)

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        pending: _Pending | None = context.pop("bench_pending", None)
        if pending is None:
            return
        ended = time.perf_counter()
        error = (parsed.get("Error") or {}).get("Code") if isinstance(parsed, dict) else None
        call = Call(pending.service, pending.operation, pending.operation, ended - pending.started, error=error)
        if pending.service == "dynamodb":
            self._cost(call, pending, parsed)
        self.overhead_seconds += time.perf_counter() - ended
        self.calls.append(call)

    def _after_error(self, exception: Exception, context: dict[str, Any], **_: Any) -> None:
        pending: _Pending | None = context.pop("bench_pending", None)
        if pending is None:
            return
        seconds = time.perf_counter() - pending.started
        self.calls.append(Call(pending.service, pending.operation, pending.operation, seconds, error=repr(exception)))

    # ------------------------------------------------------------ capacity

    @staticmethod
    def _written_keys(operation: str, params: Mapping[str, Any]) -> list[tuple[str, str, Key]]:
        def key_of(item: Mapping[str, Any]) -> Key:
            return {name: dict(item[name]) for name in ("pk", "sk") if name in item}

        if operation == "PutItem":
            return [(params["TableName"], "Put", key_of(params["Item"]))]
        if operation == "UpdateItem":
            return [(params["TableName"], "Update", key_of(params["Key"]))]
        if operation == "DeleteItem":
            return [(params["TableName"], "Delete", key_of(params["Key"]))]
        if operation == "TransactWriteItems":
            keys = []
            for action in params["TransactItems"]:
                ((name, body),) = action.items()
                key = body["Item"] if name == "Put" else body["Key"]
                keys.append((body["TableName"], name, key_of(key)))
            return keys
        return []

    def _cost(self, call: Call, pending: _Pending, parsed: dict[str, Any]) -> None:
        params = pending.params
        operation = pending.operation
        reported = parsed.get("ConsumedCapacity")
        if isinstance(reported, dict):
            call.reported_units = float(reported.get("CapacityUnits", 0.0))
        elif isinstance(reported, list):
            call.reported_units = float(sum(entry.get("CapacityUnits", 0.0) for entry in reported))
        if operation == "GetItem":
            kind = _key_kind(params.get("Key"))
            size = item_size(parsed.get("Item"))
            call.items.append(ItemCost(kind, "Get", rru=read_units(size, bool(params.get("ConsistentRead")))))
            call.label = f"GetItem {kind}"
            return
        if operation == "Query":
            kind = _query_kind(params)
            items = parsed.get("Items") or []
            size = sum(item_size(item) for item in items)
            scanned, returned = int(parsed.get("ScannedCount", len(items))), len(items)
            if scanned > returned and returned:
                size += (scanned - returned) * size // returned  # filtered-out items were read too
            consistent = bool(params.get("ConsistentRead")) and not params.get("IndexName")
            call.items.append(ItemCost(kind, "Query", rru=read_units(size, consistent)))
            call.label = f"Query {kind}"
            return
        if not pending.writes:
            call.label = f"{operation} (not costed)"
            return
        transactional = operation == "TransactWriteItems"
        factor = 2 if transactional else 1
        failed = call.error is not None
        kinds = []
        for table, action, key, old in pending.writes:
            new = old if failed else self._snapshot(table, key)
            kind = _key_kind(key)
            kinds.append(kind)
            if action == "ConditionCheck":  # billed as a transactional write of the item it checks
                call.items.append(ItemCost(kind, action, wru=2 * write_units(item_size(old)), transactional=True))
                continue
            size = item_size(old) if failed else max(item_size(old), item_size(new))
            gsi = 0 if failed else index_write_units(old, new, self._indexes, self._table_keys)
            call.items.append(
                ItemCost(kind, action, wru=factor * write_units(size), gsi_wru=gsi, transactional=transactional)
            )
            if new != old:
                call.changes.append(Change(table, key, old, new))
        call.label = f"{operation}[{','.join(sorted(kinds))}]" if transactional else f"{operation} {kinds[0]}"
