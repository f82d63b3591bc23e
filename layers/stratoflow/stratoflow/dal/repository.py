"""The repository interface the domain works against, whatever stores the records (DynamoDB, or memory in tests).

Reads return records (`stratoflow.records`); every write is a `UnitOfWork` committed atomically, except the two
claims, which are single conditional updates that also compute on the stored item (attempt + 1, seenSeq = lastSeq).
Adding an item type needs a record, a model in `dal.items` (with its `MODEL_OF` entry), and nothing here: `get`,
`query`, `exists` and the unit of work take any record type.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from stratoflow.dal.unit_of_work import (
    AllOf,
    FieldBelow,
    FieldIs,
    Requirement,
    TransactionConflict,
    UnitOfWork,
    raise_for_conflict,
)
from stratoflow.records import Candidate, Event, Execution, Record, Task

R = TypeVar("R", bound=Record)
T = TypeVar("T")


class BadPageToken(ValueError):
    """A list page token that this repository did not hand out (or not for this list)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


@dataclass(frozen=True)
class PartitionQuery:
    """The items of one partition whose sort key starts with `prefix` (and, with `until`, is at most `until`), in key
    order, optionally filtered by `where`."""

    pk: str
    prefix: str
    _: KW_ONLY
    where: Requirement | None = None
    until: str | None = None
    consistent: bool = True


@dataclass(frozen=True)
class IndexQuery:
    """Exactly one page of the list index under `list_pk` (executions under `T#<t>#WF`, batches under `T#<t>#BATCHES`),
    `listSk` optionally between two values (inclusive), newest first unless `ascending`. `limit` entries are read,
    then filtered by `where`, so a page may be short; `token` is the previous page's `next_token`."""

    list_pk: str
    _: KW_ONLY
    where: Requirement | None
    limit: int
    token: str | None
    ascending: bool = False
    between: tuple[str, str] | None = None


@dataclass(frozen=True)
class Claim:
    """What a claim writes on the stored item, in one conditional update, only while `requires` holds: `changes`
    (record field → value; None: removed), `increments` added to stored counters, and `copies` (field → the stored
    field whose value it takes). The stored version goes up by one, whatever it was."""

    requires: Requirement
    changes: dict[str, Any]
    increments: dict[str, int] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)


def _ready_by(now: int) -> FieldBelow:
    return FieldBelow("dispatch_at", now + 1)  # dispatchAt <= now (epoch ms are whole numbers)


@dataclass(frozen=True)
class ExecutionLease:
    """A claim of a ready execution: its new status, the lease and when it ends (also its next ready time)."""

    status: str
    lease_id: str
    expires: int
    now: int
    updated_at: str

    def claim(self, candidate: Candidate) -> Claim:
        """Only while it is still ready and in the status the index showed; its events up to now count as seen."""
        changes = {"status": self.status, "lease_id": self.lease_id, "lease_expires_at": self.expires}
        changes |= {"dispatch_at": self.expires, "updated_at": self.updated_at}
        ready = AllOf((_ready_by(self.now), FieldIs("status", candidate.status)))
        return Claim(ready, changes, copies={"seen_seq": "last_seq"})


@dataclass(frozen=True)
class TaskLease:
    """A claim of a pending task: the lease, the attempt's deadline (timeoutMs) and when the sweeper looks again."""

    lease_id: str
    lease_ms: int
    expires: int
    deadline: int | None
    sweep_pk: str
    sweep_at: int
    now: int
    updated_at: str

    def claim(self, candidate: Candidate) -> Claim:
        """Only while it is still PENDING and ready: it leaves the dispatch index for the sweep index (attempt + 1)."""
        changes: dict[str, Any] = {"status": "RUNNING", "lease_id": self.lease_id, "lease_ms": self.lease_ms}
        changes |= {"lease_expires_at": self.expires, "dispatch_pk": None, "dispatch_at": None}
        changes |= {"sweep_pk": self.sweep_pk, "sweep_at": self.sweep_at, "updated_at": self.updated_at}
        if self.deadline is not None:
            changes["attempt_deadline"] = self.deadline
        pending = AllOf((FieldIs("status", "PENDING"), _ready_by(self.now)))
        return Claim(pending, changes, increments={"attempt": 1})


def commit_or_retry(repo: Repository, uow: UnitOfWork, refusals: dict[str, Exception] | None = None) -> None:
    """Commit; a refused write raises the refusal registered for its label, or Contention (re-read and retry)."""
    try:
        repo.commit(uow)
    except TransactionConflict as conflict:
        raise_for_conflict(conflict, refusals)


class Repository(Protocol):
    table_name: str

    def get(self, record_type: type[R], pk: str, sk: str) -> R | None:
        """A strongly consistent read of one item."""

    def query(self, record_type: type[R], query: PartitionQuery) -> Iterator[R]:
        """The records `query` selects."""

    def page(
        self, record_type: type[R], pk: str, prefix: str, *, where: Requirement | None, limit: int, token: str | None
    ) -> Page[R]:
        """Exactly one page (`limit` items read, then filtered: it may be short) of `query`, consistent, in key
        order; raises BadPageToken for a token it did not hand out for this partition."""

    def events(self, pk: str, first_sk: str, last_sk: str, limit: int) -> Iterator[Event]:
        """At most `limit` events of one history between two sort keys (inclusive), in order."""

    def ready(
        self, record_type: type[Execution] | type[Task], dispatch_pk: str, now: int, kinds: list[str] | None
    ) -> Iterator[Candidate]:
        """Ready items of one dispatch queue (`dispatchAt <= now`), oldest first, at most 10."""

    def index_page(self, record_type: type[R], query: IndexQuery) -> Page[R]:
        """The page `query` asks for; raises BadPageToken for a token it did not hand out for this list."""

    def due(self, sweep_pk: str, now: int, limit: int) -> Iterator[tuple[str, str]]:
        """Keys of one sweep shard's items whose `sweepAt <= now`."""

    def claim_execution(self, candidate: Candidate, lease: ExecutionLease) -> Execution | None:
        """Lease the execution while it is ready and still `candidate.status`; None when someone else won."""

    def claim_task(self, candidate: Candidate, lease: TaskLease) -> Task | None:
        """Lease the task while it is PENDING and ready (attempt + 1); None when someone else won."""

    def commit(self, uow: UnitOfWork) -> None:
        """Write the unit of work atomically; raises TransactionConflict naming the failed operations."""


def encode_page_token(last_key: dict[str, Any]) -> str:
    """A list page's continuation, handed to the client as it is: the index's last evaluated key."""
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode()


def decode_page_token(list_pk: str, token: str, attribute: str = "listPk") -> dict[str, Any]:
    """The last evaluated key a token carries, only if it is one of this list (`attribute` = `list_pk`)."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(decoded, dict) or decoded.get(attribute) != {"S": list_pk}:
            raise ValueError("not a page token of this list")
        return decoded
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadPageToken(str(exc)) from exc


def list_filter(*, status: str | None, kind: str | None) -> Requirement | None:
    """The filter of `GET /v1/workflows` (status and kind, each optional) as one requirement."""
    parts = [FieldIs(name, value) for name, value in (("status", status), ("kind", kind)) if value is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))
