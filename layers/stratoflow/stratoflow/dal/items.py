"""PynamoDB models, one per item type of the single table (the key scheme is documented in template.yaml).

These classes only describe the items; `bind` makes a set of subclasses pointed at one table (and, for local
endpoints, a host), built by the composition root once per cold start. Nothing here is bound at import, and nothing
global is changed by binding: two repositories on two tables live side by side.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from stratoflow.records import (
    Batch,
    BatchOutcome,
    ChildLink,
    Event,
    Execution,
    IdempotencyRecord,
    OutboxEntry,
    ReceivedEvent,
    Record,
    StoredValue,
    Subscription,
    Task,
    TaskRef,
    Timer,
    Token,
)

M = TypeVar("M", bound="BaseItem")
R = TypeVar("R", bound=Record)


class BaseItem(Model):
    class Meta:
        table_name = "unbound"
        max_retry_attempts = 3

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class DispatchIndex(GlobalSecondaryIndex[Any]):
    """Ready executions and pending tasks of a queue (each model gets its own copy of the index)."""

    class Meta:
        index_name = "DispatchIndex"
        projection = IncludeProjection(["status", "kind", "timeoutMs"])

    dispatch_pk = UnicodeAttribute(hash_key=True, attr_name="dispatchPk")
    dispatch_at = NumberAttribute(range_key=True, attr_name="dispatchAt")


class ListIndex(GlobalSecondaryIndex[Any]):
    """Every execution (listPk T#<t>#WF) and every batch (T#<t>#BATCHES) of a tenant, by creation time.

    Keys only: an execution is written at every step, and a projected copy would be rewritten with it.
    """

    class Meta:
        index_name = "ListIndex"
        projection = KeysOnlyProjection()

    list_pk = UnicodeAttribute(hash_key=True, attr_name="listPk")
    list_sk = UnicodeAttribute(range_key=True, attr_name="listSk")


class SweepIndex(GlobalSecondaryIndex["SweepableItem"]):
    class Meta:
        index_name = "SweepIndex"
        projection = KeysOnlyProjection()

    sweep_pk = UnicodeAttribute(hash_key=True, attr_name="sweepPk")
    sweep_at = NumberAttribute(range_key=True, attr_name="sweepAt")


class InDispatchIndex:
    """The attributes that put an item in DispatchIndex while it is ready (executions and tasks)."""

    dispatch_pk = UnicodeAttribute(null=True, attr_name="dispatchPk")
    dispatch_at = NumberAttribute(null=True, attr_name="dispatchAt")

    dispatch_index: ClassVar[DispatchIndex] = DispatchIndex()


class InListIndex:
    """The attributes that put an item in ListIndex (executions and batches)."""

    list_pk = UnicodeAttribute(null=True, attr_name="listPk")
    list_sk = UnicodeAttribute(null=True, attr_name="listSk")

    list_index: ClassVar[ListIndex] = ListIndex()


class InSweepIndex:
    """The attributes that put an item in SweepIndex while the sweeper has to look at it."""

    sweep_pk = UnicodeAttribute(null=True, attr_name="sweepPk")
    sweep_at = NumberAttribute(null=True, attr_name="sweepAt")


class WorkItem(InDispatchIndex):
    """The attributes of what executions and tasks both are (records.Work)."""

    tenant = UnicodeAttribute()
    kind = UnicodeAttribute()
    queue = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    input = UnicodeAttribute(null=True)
    output = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    cancel_reason = UnicodeAttribute(null=True, attr_name="cancelReason")
    lease_id = UnicodeAttribute(null=True, attr_name="leaseId")
    lease_expires_at = NumberAttribute(null=True, attr_name="leaseExpiresAt")
    ver = VersionAttribute()


class ExecutionItem(WorkItem, InListIndex, BaseItem):
    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    parent_id = UnicodeAttribute(null=True, attr_name="parentWorkflowExecutionId")
    child_execution_name = UnicodeAttribute(null=True, attr_name="childExecutionName")
    parent_close_policy = UnicodeAttribute(null=True, attr_name="parentClosePolicy")
    last_seq = NumberAttribute(attr_name="lastSeq", default=0)
    seen_seq = NumberAttribute(attr_name="seenSeq", default=0)
    # Set once the execution scheduled a task, timer or child: only then has its end anything to clean up.
    spawned = BooleanAttribute(default=False)
    # Operator controls (operators.md): the cleanup deadline (epoch ms), the terminate reason, cancelOn (JSON).
    cleanup_deadline = NumberAttribute(null=True, attr_name="cleanupDeadline")
    terminated_reason = UnicodeAttribute(null=True, attr_name="terminatedReason")
    cancel_on = UnicodeAttribute(null=True, attr_name="cancelOn")
    open_tasks = UnicodeSetAttribute(null=True, attr_name="openTasks")
    task_refs = BooleanAttribute(null=True, attr_name="taskRefs")


class EventItem(BaseItem):
    seq = NumberAttribute()
    type = UnicodeAttribute()
    data = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")


class SweepableItem(InSweepIndex, BaseItem):
    """Any item in the sweep index (tasks, timers, outbox items): only keys are projected there."""

    sweep_index: ClassVar[SweepIndex] = SweepIndex()


class TaskItem(WorkItem, InSweepIndex, BaseItem):
    task_id = UnicodeAttribute(attr_name="taskExecutionId")
    workflow_id = UnicodeAttribute(null=True, attr_name="workflowExecutionId")
    attempt = NumberAttribute(default=0)
    max_retries = NumberAttribute(default=0, attr_name="maxRetries")
    timeout_ms = NumberAttribute(null=True, attr_name="timeoutMs")
    lease_ms = NumberAttribute(null=True, attr_name="leaseMs")
    attempt_deadline = NumberAttribute(null=True, attr_name="attemptDeadline")


class TimerItem(InSweepIndex, BaseItem):
    tenant = UnicodeAttribute()
    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    timer_id = UnicodeAttribute(attr_name="timerId")
    status = UnicodeAttribute()
    duration_ms = NumberAttribute(attr_name="durationMs")
    fire_at = UnicodeAttribute(attr_name="fireAt")
    fire_at_ms = NumberAttribute(attr_name="fireAtMs")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")


class ChildLinkItem(BaseItem):
    tenant = UnicodeAttribute()
    parent_id = UnicodeAttribute(attr_name="parentWorkflowExecutionId")
    child_execution_name = UnicodeAttribute(attr_name="childExecutionName")
    child_id = UnicodeAttribute(attr_name="childWorkflowExecutionId")
    child_kind = UnicodeAttribute(attr_name="childWorkflowKind")
    status = UnicodeAttribute()
    cancel_state = UnicodeAttribute(attr_name="cancelState", default="NONE")
    parent_close_policy = UnicodeAttribute(attr_name="parentClosePolicy")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")


class TaskRefItem(BaseItem):
    task_id = UnicodeAttribute(attr_name="taskExecutionId")


class OutboxItem(InSweepIndex, BaseItem):
    tenant = UnicodeAttribute()
    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    kind = UnicodeAttribute()
    payload = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")


class ValueItem(BaseItem):
    value = UnicodeAttribute()


class IdempotencyItem(BaseItem):
    request_hash = UnicodeAttribute(attr_name="requestHash")
    response = UnicodeAttribute()
    expires_at = NumberAttribute(attr_name="expiresAt")


class TokenItem(BaseItem):
    tenant = UnicodeAttribute()
    scopes = UnicodeSetAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")
    revoked = BooleanAttribute(default=False)


class SubscriptionItem(BaseItem):
    """One `cancelOn` entry of one execution, in the partition an event of its type and match would query."""

    tenant = UnicodeAttribute()
    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    event_type = UnicodeAttribute(attr_name="eventType")
    subscribed_at = NumberAttribute(attr_name="subscribedAt")
    # Epoch ms after which the subscription no longer matches; null: never times out.
    ends_at = NumberAttribute(null=True, attr_name="endsAt")
    # The table's TTL attribute (epoch seconds): a timed-out subscription is deleted by DynamoDB in time.
    expires_at = NumberAttribute(null=True, attr_name="expiresAt")


class EventRecordItem(BaseItem):
    """An event received by POST /v1/events or from the event bus: when it arrived, once (redeliveries read it)."""

    tenant = UnicodeAttribute()
    event_id = UnicodeAttribute(attr_name="eventId")
    event_type = UnicodeAttribute(attr_name="eventType")
    data = UnicodeAttribute()
    arrived_at = NumberAttribute(attr_name="arrivedAt")
    created_at = UnicodeAttribute(attr_name="createdAt")
    expires_at = NumberAttribute(attr_name="expiresAt")


class BatchItem(InListIndex, InSweepIndex, BaseItem):
    """A batch: its request, progress (cursor, pending ids, slice) and counts.

    Every write is conditioned on `status = RUNNING` (and the runner's on `slice = <its slice>`), never on a version:
    the execution transactions ADD to its counters while the runner holds a copy.
    """

    tenant = UnicodeAttribute()
    batch_id = UnicodeAttribute(attr_name="batchId")
    operation = UnicodeAttribute()
    filter_json = UnicodeAttribute(attr_name="filter")
    reason = UnicodeAttribute(null=True)
    cascade = BooleanAttribute(default=True)
    cleanup_timeout_ms = NumberAttribute(null=True, attr_name="cleanupTimeoutMs")
    max_per_second = NumberAttribute(attr_name="maxPerSecond")
    status = UnicodeAttribute()
    matched = NumberAttribute(null=True)
    found = NumberAttribute(default=0)
    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    snapshot_before = UnicodeAttribute(attr_name="snapshotBefore")
    cursor = UnicodeAttribute(null=True)
    pending = UnicodeAttribute(null=True)
    listed = BooleanAttribute(default=False)
    slice_number = NumberAttribute(default=1, attr_name="slice")
    not_before = NumberAttribute(default=0, attr_name="notBefore")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    completed_at = UnicodeAttribute(null=True, attr_name="completedAt")


class BatchOutcomeItem(BaseItem):
    """How a batch handled one execution; written with the execution's change, once (`attribute_not_exists`)."""

    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    outcome = UnicodeAttribute()
    error = UnicodeAttribute(null=True)
    at = UnicodeAttribute()


ALL_MODELS: tuple[type[BaseItem], ...] = (
    BaseItem,
    ExecutionItem,
    EventItem,
    SweepableItem,
    TaskItem,
    TimerItem,
    ChildLinkItem,
    TaskRefItem,
    OutboxItem,
    ValueItem,
    IdempotencyItem,
    TokenItem,
    SubscriptionItem,
    EventRecordItem,
    BatchItem,
    BatchOutcomeItem,
)

# The model of each record; a record's field names are its model's attribute names.
MODEL_OF: dict[type[Record], type[BaseItem]] = {
    Execution: ExecutionItem,
    Event: EventItem,
    Task: TaskItem,
    Timer: TimerItem,
    ChildLink: ChildLinkItem,
    TaskRef: TaskRefItem,
    OutboxEntry: OutboxItem,
    StoredValue: ValueItem,
    IdempotencyRecord: IdempotencyItem,
    Token: TokenItem,
    Subscription: SubscriptionItem,
    ReceivedEvent: EventRecordItem,
    Batch: BatchItem,
    BatchOutcome: BatchOutcomeItem,
}


class BoundModels:
    """Subclasses of every model, pointed at one table; each has its own connection, created on first use."""

    def __init__(self, table_name: str, region: str | None = None, host: str | None = None) -> None:
        meta_attributes = {"table_name": table_name, "region": region, "host": host, "max_retry_attempts": 3}
        self.table_name = table_name
        self._bound: dict[type[BaseItem], type[BaseItem]] = {}
        for model in ALL_MODELS:
            meta = type("Meta", (), dict(meta_attributes))
            self._bound[model] = type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})

    def __getitem__(self, model: type[M]) -> type[M]:
        return self._bound[model]  # type: ignore[return-value]  # the subclass of `model`

    def of(self, record_type: type[Record]) -> type[BaseItem]:
        return self._bound[MODEL_OF[record_type]]

    def all(self) -> list[type[BaseItem]]:
        return list(self._bound.values())


def to_model(models: BoundModels, record: Record) -> BaseItem:
    model = models.of(type(record))
    values = {spec.name: getattr(record, spec.name) for spec in fields(record) if spec.name not in ("pk", "sk")}
    return model(record.pk, record.sk, **{name: value for name, value in values.items() if value is not None})


def to_record(record_type: type[R], item: BaseItem) -> R:
    return record_type(**{spec.name: getattr(item, spec.name) for spec in fields(record_type)})
