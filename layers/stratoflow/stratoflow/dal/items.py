"""PynamoDB models, one per item type of the single table (the key scheme is documented in template.yaml).

These classes only describe the items; `bind` makes a set of subclasses pointed at one table (and, for local
endpoints, a host), built by the composition root once per cold start. Nothing here is bound at import, and nothing
global is changed by binding: two repositories on two tables live side by side.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, fields
from types import UnionType
from typing import Any, ClassVar, TypeVar, cast, get_args, get_origin, get_type_hints

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.connection import TableConnection
from pynamodb.connection.base import MetaTable
from pynamodb.constants import (
    ATTR_DEFINITIONS,
    ATTR_NAME,
    GLOBAL_SECONDARY_INDEXES,
    INDEX_NAME,
    KEY_SCHEMA,
    LOCAL_SECONDARY_INDEXES,
    TABLE_NAME,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import MetaProtocol, Model

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


# The stored name of each field is its name in camelCase, except these.
STORED_AS = {
    "workflow_id": "workflowExecutionId",
    "parent_id": "parentWorkflowExecutionId",
    "task_id": "taskExecutionId",
    "child_id": "childWorkflowExecutionId",
    "child_kind": "childWorkflowKind",
    "filter_json": "filter",
    "slice_number": "slice",
}
_ATTRIBUTE_OF_TYPE: dict[Any, type[Attribute[Any]]] = {
    str: UnicodeAttribute,
    int: NumberAttribute,
    bool: BooleanAttribute,
    set[str]: UnicodeSetAttribute,
}


def stored_name(field_name: str) -> str:
    head, *rest = field_name.split("_")
    return STORED_AS.get(field_name, head + "".join(part.title() for part in rest))


def _attribute(spec: Field[Any], hint: Any) -> Attribute[Any]:
    """The attribute that stores one record field: its type, its stored name, optional when it may be None, and
    the field's default. `ver`, the version every conditional write of a versioned record checks, is PynamoDB's."""
    if spec.name == "ver":
        return VersionAttribute()
    types = [member for member in get_args(hint) if member is not type(None)] if get_origin(hint) is UnionType else []
    optional = bool(types)
    kind = _ATTRIBUTE_OF_TYPE[types[0] if optional else hint]
    options: dict[str, Any] = {"attr_name": stored_name(spec.name)}
    if optional:
        options["null"] = True
    if spec.default not in (None, MISSING):
        options["default"] = spec.default
    return kind(**options)


def model_of(name: str, record_type: type[Record], *bases: type) -> type[BaseItem]:
    """The model of a record type: an attribute for each field its bases (the index mixins and BaseItem, which
    declare the keys) do not already declare. The record is the one place a stored field is described."""
    declared = {member for base in bases for member in dir(base)}
    hints = get_type_hints(record_type)
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name, "__doc__": record_type.__doc__}
    for spec in fields(record_type):
        if spec.name not in declared:
            namespace[spec.name] = _attribute(spec, hints[spec.name])
    return type(name, bases, namespace)


class SweepableItem(InSweepIndex, BaseItem):
    """Any item in the sweep index (tasks, timers, outbox items): only keys are projected there."""

    sweep_index: ClassVar[SweepIndex] = SweepIndex()


ExecutionItem = model_of("ExecutionItem", Execution, InDispatchIndex, InListIndex, BaseItem)
EventItem = model_of("EventItem", Event, BaseItem)
TaskItem = model_of("TaskItem", Task, InDispatchIndex, InSweepIndex, BaseItem)
TimerItem = model_of("TimerItem", Timer, InSweepIndex, BaseItem)
ChildLinkItem = model_of("ChildLinkItem", ChildLink, BaseItem)
TaskRefItem = model_of("TaskRefItem", TaskRef, BaseItem)
OutboxItem = model_of("OutboxItem", OutboxEntry, InSweepIndex, BaseItem)
ValueItem = model_of("ValueItem", StoredValue, BaseItem)
IdempotencyItem = model_of("IdempotencyItem", IdempotencyRecord, BaseItem)
TokenItem = model_of("TokenItem", Token, BaseItem)
SubscriptionItem = model_of("SubscriptionItem", Subscription, BaseItem)
EventRecordItem = model_of("EventRecordItem", ReceivedEvent, BaseItem)
BatchItem = model_of("BatchItem", Batch, InListIndex, InSweepIndex, BaseItem)
BatchOutcomeItem = model_of("BatchOutcomeItem", BatchOutcome, BaseItem)


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
    """Subclasses of every model, pointed at one table, sharing one connection (created here, its client on first
    use)."""

    def __init__(self, table_name: str, region: str | None = None, host: str | None = None) -> None:
        meta_attributes = {"table_name": table_name, "region": region, "host": host, "max_retry_attempts": 3}
        self.table_name = table_name
        self._bound: dict[type[BaseItem], type[BaseItem]] = {}
        for model in ALL_MODELS:
            meta = type("Meta", (), dict(meta_attributes))
            self._bound[model] = type(model.__name__, (model,), {"Meta": meta, "__module__": model.__module__})
        # PynamoDB gives each model class a connection of its own, and each connection its own botocore session and
        # client: 14 service-model loads and client builds (tens of milliseconds each) in every cold container, and a
        # connection pool per model. Every model here lives in the same table, so they can share one.
        shared = _table_connection(self.all())
        for bound in self._bound.values():
            bound._connection = shared

    def __getitem__(self, model: type[M]) -> type[M]:
        return self._bound[model]  # type: ignore[return-value]  # the subclass of `model`

    def of(self, record_type: type[Record]) -> type[BaseItem]:
        return self._bound[MODEL_OF[record_type]]

    def all(self) -> list[type[BaseItem]]:
        return list(self._bound.values())


def _table_connection(models: list[type[BaseItem]]) -> TableConnection:
    """One connection to the models' table that knows every index any of them declares (PynamoDB looks an index's
    keys up on the connection's table description)."""
    attributes: dict[str, Any] = {}
    indexes: dict[str, dict[str, Any]] = {}
    for model in models:
        schema = model._get_schema()
        attributes.update((a[ATTR_NAME], a) for a in schema["attribute_definitions"])
        for index in schema["global_secondary_indexes"]:
            indexes[index["index_name"]] = {INDEX_NAME: index["index_name"], KEY_SCHEMA: index["key_schema"]}
    meta = cast(MetaProtocol, models[0].Meta)  # filled in with PynamoDB's defaults when the class was made
    description = {
        TABLE_NAME: meta.table_name,
        KEY_SCHEMA: models[0]._get_schema()["key_schema"],
        ATTR_DEFINITIONS: list(attributes.values()),
        GLOBAL_SECONDARY_INDEXES: list(indexes.values()),
        LOCAL_SECONDARY_INDEXES: [],
    }
    settings = {name: getattr(meta, name) for name in _CONNECTION_SETTINGS}  # as the model would connect itself
    return TableConnection(meta.table_name, meta_table=MetaTable(description), **settings)


# The `Meta` attributes PynamoDB's `Model._get_connection` passes on to `TableConnection` (no credentials here).
_CONNECTION_SETTINGS = (
    "region",
    "host",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "max_retry_attempts",
    "max_pool_connections",
    "extra_headers",
)


def to_model(models: BoundModels, record: Record) -> BaseItem:
    model = models.of(type(record))
    values = {spec.name: getattr(record, spec.name) for spec in fields(record) if spec.name not in ("pk", "sk")}
    return model(record.pk, record.sk, **{name: value for name, value in values.items() if value is not None})


def to_record(record_type: type[R], item: BaseItem) -> R:
    return record_type(**{spec.name: getattr(item, spec.name) for spec in fields(record_type)})
