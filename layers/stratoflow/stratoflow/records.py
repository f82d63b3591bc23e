"""The domain's records: one dataclass per kind of stored item, in the domain's own terms.

The domain reads records from the repository, changes them and hands them to a unit of work; it never sees how they
are stored. Each record carries its key (`pk`, `sk`, built with `stratoflow.dal.keys`), because the stream and the
sweeper name the items they hand over by key. Records with a `ver` are versioned: the repository saves them under
the version they were read at (see `stratoflow.dal.unit_of_work`). Numbers are epoch milliseconds unless named
otherwise; JSON values are stored as compact JSON text (`stratoflow.values`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


@dataclass
class Keyed:
    """What every record starts with: its item's key."""

    pk: str
    sk: str


@dataclass(kw_only=True)
class Swept(Keyed):
    """A record the sweeper takes up once `sweep_at` has passed, in case what should have happened by then did not (a
    task's lease or deadline ran out, a timer's schedule or a follow-up was lost, a batch stalled): while `sweep_at`
    is set it is in the sweep index, in shard `sweep_pk`."""

    sweep_pk: str | None = None
    sweep_at: int | None = None


@dataclass(kw_only=True)
class Listed(Keyed):
    """A record that is listed (executions, batches): in the list index under `list_pk`, ordered by `list_sk` (when it
    was created, then its id)."""

    list_pk: str | None = None
    list_sk: str | None = None


@dataclass(kw_only=True)
class Work(Keyed):
    """What a workflow execution and a task both are: a kind of work on a queue, in a status, with its values (JSON
    text), a lease while a worker holds it and a place in the dispatch index while it is ready. Versioned."""

    tenant: str
    kind: str
    queue: str
    status: str
    created_at: str
    updated_at: str
    input: str | None = None
    output: str | None = None
    error: str | None = None
    cancel_reason: str | None = None
    lease_id: str | None = None
    lease_expires_at: int | None = None
    dispatch_pk: str | None = None
    dispatch_at: int | None = None
    ver: int | None = None


@dataclass(kw_only=True)
class Execution(Work, Listed):
    """A workflow execution; its events are `Event` records in the same partition."""

    workflow_id: str
    parent_id: str | None = None
    child_execution_name: str | None = None
    parent_close_policy: str | None = None
    last_seq: int = 0
    seen_seq: int = 0
    # Set once the execution scheduled a task, timer or child: only then has its end anything to clean up.
    spawned: bool = False
    # Operator controls (operators.md): the cleanup deadline, the terminate reason, `cancelOn` (JSON).
    cleanup_deadline: int | None = None
    terminated_reason: str | None = None
    cancel_on: str | None = None
    # The execution's open tasks, what its close cancels (stratoflow.tasks.note_open_task): their ids on the
    # execution while they are short, then TASKREF# items; `task_refs` says whether any such item was written
    # (None on executions written before the ids were kept here: they may have some).
    open_tasks: set[str] | None = None
    task_refs: bool | None = None


@dataclass
class Event(Keyed):
    seq: int
    type: str
    data: str
    created_at: str


@dataclass(kw_only=True)
class Task(Work, Swept):
    task_id: str
    workflow_id: str | None = None
    attempt: int = 0
    max_retries: int = 0
    timeout_ms: int | None = None
    lease_ms: int | None = None
    attempt_deadline: int | None = None


@dataclass
class Timer(Swept):
    tenant: str
    workflow_id: str
    timer_id: str
    status: str
    duration_ms: int
    fire_at: str
    fire_at_ms: int
    created_at: str
    updated_at: str


@dataclass
class ChildLink(Keyed):
    """A parent's record of one child, under the parent's partition, named by `childExecutionName`."""

    tenant: str
    parent_id: str
    child_execution_name: str
    child_id: str
    child_kind: str
    status: str
    parent_close_policy: str
    created_at: str
    updated_at: str
    cancel_state: str = "NONE"


@dataclass
class TaskRef(Keyed):
    """Which tasks an execution scheduled, so its end can find them (tasks live in partitions of their own)."""

    task_id: str


@dataclass
class OutboxEntry(Swept):
    """A follow-up recorded in a committing write; the stream carries it out, the sweeper re-drives it."""

    tenant: str
    workflow_id: str
    kind: str
    payload: str
    created_at: str


@dataclass
class StoredValue(Keyed):
    """A JSON value too large to sit inline on its owner."""

    value: str


@dataclass
class IdempotencyRecord(Keyed):
    request_hash: str
    response: str
    expires_at: int  # epoch seconds (the table's TTL attribute)


@dataclass
class Token(Keyed):
    tenant: str
    scopes: set[str]
    created_at: str
    revoked: bool = False


@dataclass
class Subscription(Keyed):
    """One `cancelOn` entry of one execution, in the partition an event of its type and match would query."""

    tenant: str
    workflow_id: str
    event_type: str
    subscribed_at: int
    ends_at: int | None = None  # after this the subscription no longer matches; None: never times out
    expires_at: int | None = None  # epoch seconds (the table's TTL attribute)


@dataclass
class ReceivedEvent(Keyed):
    """An event received by `POST /v1/events` or from the event bus: when it first arrived."""

    tenant: str
    event_id: str
    event_type: str
    data: str
    arrived_at: int
    created_at: str
    expires_at: int  # epoch seconds (the table's TTL attribute)


@dataclass
class Batch(Listed, Swept):
    """A batch: its request, progress (cursor, pending ids, slice) and counts.

    Not versioned: every write is conditioned on `status = RUNNING` (and the runner's on `slice_number`), because
    the executions' transactions add to its counters while the runner holds a copy.
    """

    tenant: str
    batch_id: str
    operation: str
    filter_json: str
    max_per_second: int
    status: str
    snapshot_before: str
    created_at: str
    updated_at: str
    reason: str | None = None
    cascade: bool = True
    cleanup_timeout_ms: int | None = None
    matched: int | None = None
    found: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cursor: str | None = None  # the list index's page token where listing goes on
    pending: str | None = None  # JSON list of the ids found but not handled yet
    listed: bool = False
    slice_number: int = 1
    not_before: int = 0
    completed_at: str | None = None


@dataclass
class BatchOutcome(Keyed):
    """How a batch handled one execution; written with the execution's change, once."""

    workflow_id: str
    outcome: str
    at: str
    error: str | None = None


@dataclass(frozen=True)
class Candidate:
    """What a dispatch index holds of a ready execution or a pending task: enough to try a claim."""

    pk: str
    sk: str
    status: str
    kind: str
    timeout_ms: int | None = None


class Record(Protocol):
    """Any record: a dataclass with its item's key."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    pk: str
    sk: str
