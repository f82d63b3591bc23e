"""One atomic write per state change, with what each written item requires, in the domain's terms.

The domain adds records to a `UnitOfWork` - each put, update, delete or check with a label and an optional
requirement ("must not exist", "only while status = STARTED", ...) - and the repository commits it atomically: one
conditional single-item write when one item changes, one TransactWriteItems when several do. A versioned record (one
with a `ver`) is saved under the version it was read at, whatever else it requires, except by an update that says
its requirement alone decides (`under_version=False`); every write of a versioned record increases its version.
When a requirement fails, the commit raises `TransactionConflict` naming the labels of the failed operations, so
the domain can tell optimistic contention (re-read and retry) from a real refusal (a duplicate id, a terminal task).

Nothing here knows how records are stored: the repositories (`dal.dynamodb`, `dal.memory`) translate requirements.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

from stratoflow.errors import ContentionExhausted, PayloadTooLarge
from stratoflow.records import Record

MAX_TRANSACTION_ITEMS = 100
# DynamoDB's limit is 4 MB per transaction; stay under it with room for attribute names and overhead.
MAX_TRANSACTION_BYTES = 3_900_000

T = TypeVar("T")
OpKind = Literal["check", "delete", "put", "update"]


# ---------------------------------------------------------------------- requirements


@dataclass(frozen=True)
class MustNotExist:
    """A new item: refused when an item with its key exists."""


@dataclass(frozen=True)
class MustExist:
    pass


@dataclass(frozen=True)
class FieldIs:
    """The stored item's `field` (a record field name) equals `value`."""

    field: str
    value: Any


@dataclass(frozen=True)
class FieldBelow:
    field: str
    value: Any


@dataclass(frozen=True)
class FieldIn:
    """The stored item's `field` is one of `values`."""

    field: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Requirement, ...]


@dataclass(frozen=True)
class AllOf:
    requirements: tuple[Requirement, ...]


Requirement = MustNotExist | MustExist | FieldIs | FieldBelow | FieldIn | AnyOf | AllOf

NEW = MustNotExist()
EXISTS = MustExist()


def satisfied(requires: Requirement, values: dict[str, Any] | None) -> bool:
    """Whether an item whose fields are `values` (None: no such item) meets `requires`, as DynamoDB decides it.

    For what DynamoDB cannot evaluate itself: a filter on attributes an index does not project, and the in-memory
    repository. A comparison with a field the item does not have is false, as in a condition expression.
    """
    if isinstance(requires, MustNotExist):
        return values is None
    if isinstance(requires, MustExist):
        return values is not None
    if isinstance(requires, AnyOf):
        return any(satisfied(option, values) for option in requires.options)
    if isinstance(requires, AllOf):
        return all(satisfied(part, values) for part in requires.requirements)
    if values is None or requires.field not in values:
        return False
    value = values[requires.field]
    if isinstance(requires, FieldIs):
        return bool(value == requires.value)
    if isinstance(requires, FieldIn):
        return value in requires.values
    return bool(value < requires.value)


def status_is(status: str) -> FieldIs:
    return FieldIs("status", status)


def version_is(version: int | None) -> FieldIs:
    """The stored item is still at the version it was read at (for a `check` of a record left unchanged)."""
    return FieldIs("ver", version)


# ---------------------------------------------------------------------- conflicts


class TransactionConflict(Exception):
    """The write was refused; `labels` are the operations whose requirement failed."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(f"transaction cancelled by condition on {labels}")
        self.labels = labels


class Contention(Exception):
    """Someone changed what we read; re-read and try again."""


def raise_for_conflict(conflict: TransactionConflict, refusals: dict[str, Exception] | None = None) -> None:
    """Turn a refused write into the domain refusal registered for its label, or into contention to retry."""
    for label in conflict.labels:
        if refusals and label in refusals:
            raise refusals[label] from conflict
    raise Contention() from conflict


def run_optimistic(attempt: Callable[[], T], max_attempts: int = 40) -> T:
    """Run a read-compute-commit attempt until it commits without contention (bounded, jittered)."""
    for number in range(max_attempts):
        try:
            return attempt()
        except Contention:
            time.sleep(random.uniform(0, min(0.002 * 2**number, 0.05)))
    raise ContentionExhausted("too much contention on this resource; nothing was written, retry the request")


# ---------------------------------------------------------------------- the unit of work


@dataclass
class Operation:
    kind: OpKind
    label: str
    record: Record
    requires: Requirement | None = None
    fields: tuple[str, ...] = ()  # an update's fields, set to the record's values
    # An update's counters, each increased by its amount on the stored item (whatever copy the writer holds).
    increments: tuple[tuple[str, int], ...] = ()
    # False: a versioned record's update is decided by `requires` alone, not by the version it was read at.
    under_version: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.record.pk, self.record.sk)


# The order in which a transaction's operations are sent (and its cancellation reasons come back).
OP_ORDER: dict[str, int] = {"check": 0, "delete": 1, "put": 2, "update": 3}


class UnitOfWork:
    """The items of one atomic write. Nothing is written until the repository commits it."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def put(self, record: Record, requires: Requirement | None = None, label: str = "put") -> None:
        """Write the whole record (a versioned record: under the version it was read at)."""
        self.operations.append(Operation("put", label, record, requires))

    def update(
        self,
        record: Record,
        fields: tuple[str, ...],
        requires: Requirement | None = None,
        label: str = "update",
        increments: dict[str, int] | None = None,
        *,
        under_version: bool = True,
    ) -> None:
        """Set these fields of the stored item to the record's values (None: removed), leaving the others as they
        are, and add `increments` to the stored counters (for counters several writers add to concurrently).

        `under_version=False` lets `requires` alone guard a versioned record: the write commits over changes made
        since the read that `requires` does not care about (a task's lease extended by a heartbeat while it is being
        cancelled). The stored version still increases, so a writer holding an older copy is refused; the record's
        own version afterwards is the one it was read at plus one, possibly behind the stored one, so writing it
        again under its version may be refused and retried, never lost.
        """
        self.operations.append(
            Operation("update", label, record, requires, fields, tuple((increments or {}).items()), under_version)
        )

    def update_key(
        self,
        record_type: type[Record],
        key: tuple[str, str],
        changes: dict[str, Any],
        requires: Requirement | None = None,
        label: str = "update",
    ) -> None:
        """Set `changes` (record field name → value; None: removed) on the item with this (pk, sk) without reading it
        first, leaving its other fields as they are. Only for records without a version: there is none to hold."""
        record = object.__new__(record_type)
        record.__dict__.update(dict.fromkeys(spec.name for spec in fields(record_type)))
        record.__dict__.update(changes, pk=key[0], sk=key[1])
        self.update(record, tuple(changes), requires, label)

    def delete(self, record: Record, requires: Requirement | None = None, label: str = "delete") -> None:
        self.operations.append(Operation("delete", label, record, requires))

    def check(self, record: Record, requires: Requirement, label: str = "check") -> None:
        """Write nothing, but only commit while the stored item meets `requires`."""
        self.operations.append(Operation("check", label, record, requires))

    def ordered(self) -> list[Operation]:
        return sorted(self.operations, key=lambda op: OP_ORDER[op.kind])

    def ensure_fits(self) -> None:
        """Refuse (413) what DynamoDB could not write atomically, before anything is sent."""
        if len(self.operations) > MAX_TRANSACTION_ITEMS:
            raise PayloadTooLarge(
                f"this change touches {len(self.operations)} items; one atomic write holds at most "
                f"{MAX_TRANSACTION_ITEMS}",
                items=len(self.operations),
            )
        total = sum(record_size(op.record) for op in self.operations if op.kind in ("put", "update"))
        if total > MAX_TRANSACTION_BYTES:
            raise PayloadTooLarge(
                f"this change writes about {total} bytes; one atomic write holds at most 4 MB",
                sizeBytes=total,
            )


VERSION_FIELD = "ver"


def version_of(record: Record) -> int | None:
    """The version a versioned record was read at (None: new, or not versioned)."""
    version: int | None = getattr(record, VERSION_FIELD, None)
    return version


def is_versioned(record: Record) -> bool:
    return hasattr(record, VERSION_FIELD)


def set_version(record: Record, version: int | None) -> None:
    """Tell a committed record the version now stored, so it can be written again under it."""
    setattr(record, VERSION_FIELD, version)


def record_size(record: Record) -> int:
    """About the bytes a record takes as an item: names and values, numbers and flags counted as 16."""
    total = 0
    for spec in fields(record):
        value = getattr(record, spec.name)
        if value is not None:
            total += len(spec.name) + (len(value.encode("utf-8")) if isinstance(value, str) else 16)
    return total
