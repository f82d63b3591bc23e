"""The repository on DynamoDB, through PynamoDB: the only code that knows the models, conditions and AWS errors.

`DynamoRepository` is built by the composition root with the table's name (and region and endpoint); it binds its
own set of models to that table (`items.BoundModels`), so nothing global is bound and a cold process whose first
request is a read works like any other. It translates the unit of work's requirements into condition expressions
and DynamoDB's refusals back into `TransactionConflict`; network and throttling errors are raised as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from stratoflow.dal.items import (
    BaseItem,
    BoundModels,
    EventItem,
    SweepableItem,
    to_model,
    to_record,
)
from stratoflow.dal.repository import (
    Claim,
    ExecutionLease,
    IndexQuery,
    Page,
    PartitionQuery,
    TaskLease,
    decode_page_token,
    encode_page_token,
)
from stratoflow.dal.unit_of_work import (
    AllOf,
    AnyOf,
    Contention,
    FieldBelow,
    FieldIn,
    FieldIs,
    MustExist,
    MustNotExist,
    Operation,
    Requirement,
    TransactionConflict,
    UnitOfWork,
    is_versioned,
    satisfied,
    set_version,
    version_of,
)
from stratoflow.errors import PayloadTooLarge
from stratoflow.records import Candidate, Event, Execution, Record, Task

R = TypeVar("R", bound=Record)


class DynamoRepository:
    def __init__(self, table_name: str, region: str | None = None, host: str | None = None) -> None:
        self.models = BoundModels(table_name, region=region, host=host)
        self.table_name = table_name

    # ------------------------------------------------------------------ reads

    def get(self, record_type: type[R], pk: str, sk: str) -> R | None:
        model = self.models.of(record_type)
        try:
            return to_record(record_type, model.get(pk, sk, consistent_read=True))
        except model.DoesNotExist:
            return None

    def query(self, record_type: type[R], query: PartitionQuery) -> Iterator[R]:
        model = self.models.of(record_type)
        prefix, until = query.prefix, query.until
        results = model.query(
            query.pk,
            model.sk.startswith(prefix) if until is None else model.sk.between(prefix, until),
            filter_condition=self._condition(model, query.where),
            consistent_read=query.consistent,
        )
        for item in results:
            if until is None or item.sk.startswith(prefix):
                yield to_record(record_type, item)

    def page(
        self, record_type: type[R], pk: str, prefix: str, *, where: Requirement | None, limit: int, token: str | None
    ) -> Page[R]:
        model = self.models.of(record_type)
        results = model.query(
            pk,
            model.sk.startswith(prefix),
            filter_condition=self._condition(model, where),
            consistent_read=True,
            limit=limit,
            page_size=limit,
            last_evaluated_key=decode_page_token(pk, token, "pk") if token else None,
        )
        return self._one_page(record_type, model, results)

    @classmethod
    def _one_page(cls, record_type: type[R], model: type[BaseItem], results: Any) -> Page[R]:
        raw_items, token = cls._raw_page(results)
        return Page([to_record(record_type, model.from_raw_data(raw)) for raw in raw_items], token)

    @staticmethod
    def _raw_page(results: Any) -> tuple[list[dict[str, Any]], str | None]:
        """The items of a query's first page as DynamoDB sent them, and the token of the page after it."""
        try:
            page = next(results.page_iter)
        except StopIteration:
            page = {}
        last_key = results.page_iter.last_evaluated_key
        return page.get("Items", []), encode_page_token(last_key) if last_key else None

    def events(self, pk: str, first_sk: str, last_sk: str, limit: int) -> Iterator[Event]:
        model = self.models[EventItem]
        results = model.query(
            pk, model.sk.between(first_sk, last_sk), consistent_read=True, limit=limit, page_size=min(limit, 1000)
        )
        for item in results:
            yield to_record(Event, item)

    def ready(
        self, record_type: type[Execution] | type[Task], dispatch_pk: str, now: int, kinds: list[str] | None
    ) -> Iterator[Candidate]:
        """The dispatch index's ready items of a queue, oldest first (at most 10, reading pages of 25)."""
        model: Any = self.models.of(record_type)  # its attributes are made from the record (items.model_of)
        results = model.dispatch_index.query(
            dispatch_pk,
            model.dispatch_at <= now,
            filter_condition=model.kind.is_in(*kinds) if kinds else None,
            limit=10,
            page_size=25,
        )
        for item in results:
            timeout_ms = getattr(item, "timeout_ms", None)  # projected for tasks only
            yield Candidate(item.pk, item.sk, item.status, item.kind, None if timeout_ms is None else int(timeout_ms))

    def index_page(self, record_type: type[R], query: IndexQuery) -> Page[R]:
        model: Any = self.models.of(record_type)
        # ListIndex projects keys only, so that the many writes to a listed item leave the index alone: one page of
        # keys, then the items themselves (BatchGetItem), filtered here as the index would have filtered them.
        results = model.list_index.query(
            query.list_pk,
            model.list_sk.between(*query.between) if query.between is not None else None,
            scan_index_forward=query.ascending,
            limit=query.limit,
            page_size=query.limit,
            last_evaluated_key=decode_page_token(query.list_pk, query.token) if query.token else None,
        )
        listed, token = self._raw_page(results)
        keys = [(raw["pk"]["S"], raw["sk"]["S"]) for raw in listed]
        found = {(item.pk, item.sk): item for item in model.batch_get(keys)} if keys else {}
        # An item deleted since the index listed it is left out, as a page may be short.
        records = [to_record(record_type, found[key]) for key in keys if key in found]
        if query.where is not None:
            records = [record for record in records if satisfied(query.where, _stored_fields(record))]
        return Page(records, token)

    def due(self, sweep_pk: str, now: int, limit: int) -> Iterator[tuple[str, str]]:
        """Keys of the sweep index's items due by `now` in one shard."""
        model = self.models[SweepableItem]
        for item in model.sweep_index.query(sweep_pk, model.sweep_at <= now, limit=limit):
            yield (item.pk, item.sk)

    # ------------------------------------------------------------------ claims

    def claim_execution(self, candidate: Candidate, lease: ExecutionLease) -> Execution | None:
        return self._claim(Execution, candidate, lease.claim(candidate))

    def claim_task(self, candidate: Candidate, lease: TaskLease) -> Task | None:
        return self._claim(Task, candidate, lease.claim(candidate))

    def _claim(self, record_type: type[R], candidate: Candidate, claim: Claim) -> R | None:
        model = self.models.of(record_type)
        item = model(candidate.pk, candidate.sk)
        # A non-null version makes PynamoDB increment the stored one (ADD 1) instead of resetting it to 1, which would
        # let a writer holding a copy read at version 1 commit over this claim. No condition is put on it.
        item.ver = 0  # type: ignore[attr-defined]  # executions and tasks are versioned
        attributes = model.get_attributes()
        actions = self._set_actions(attributes, claim.changes, claim.increments)
        actions += [attributes[name].set(attributes[source]) for name, source in claim.copies.items()]
        try:
            item.update(actions=actions, condition=self._condition(model, claim.requires), add_version_condition=False)
        except UpdateError as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                return None  # another poller won it, or it changed since the index was read
            raise
        return to_record(record_type, item)

    # ------------------------------------------------------------------ writes

    def commit(self, uow: UnitOfWork, return_consumed_capacity: str | None = None) -> None:
        """One conditional write for one item, one TransactWriteItems for several; all or nothing."""
        if not uow.operations:
            return
        uow.ensure_fits()
        operations = uow.ordered()
        staged = [(op, to_model(self.models, op.record)) for op in operations]
        if len(staged) == 1 and operations[0].kind != "check":
            # One item needs no transaction: a conditional write is as atomic and costs half the write units.
            self._commit_single(*staged[0])
        else:
            self._commit_transaction(staged, return_consumed_capacity)
        for op, item in staged:
            if op.kind in ("put", "update") and is_versioned(op.record):
                set_version(op.record, version_of(item))  # type: ignore[arg-type]  # the model's own version

    def _commit_transaction(self, staged: list[tuple[Operation, BaseItem]], capacity: str | None) -> None:
        connection: Connection = self.models[BaseItem]._get_connection().connection
        try:
            with TransactWrite(connection=connection, return_consumed_capacity=capacity) as tx:
                for op, item in staged:
                    condition = self._condition(type(item), op.requires)
                    if op.kind == "put":
                        tx.save(item, condition=condition)
                    elif op.kind == "update":
                        tx.update(
                            item, self._actions(item, op), condition=condition, add_version_condition=op.under_version
                        )
                    elif op.kind == "delete":
                        tx.delete(item, condition=condition, add_version_condition=False)
                    else:
                        tx.condition_check(type(item), item.pk, item.sk, condition=condition)
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons if aws_error_code(exc) == "TransactionCanceledException" else []
            failed = [
                op.label
                for (op, _), reason in zip(staged, reasons, strict=False)
                if reason is not None and reason.code == "ConditionalCheckFailed"
            ]
            if failed:
                raise TransactionConflict(failed) from exc
            if any(reason is not None and reason.code == "TransactionConflict" for reason in reasons):
                # Another transaction was touching the same items at the same moment: plain contention.
                raise Contention() from exc
            if aws_error_code(exc) == "ValidationException" and "size" in str(exc).lower():
                # Our estimate said it fits, DynamoDB disagreed: still the client's payload, never a 5xx.
                raise PayloadTooLarge("this change is too large for one atomic write") from exc
            raise

    def _commit_single(self, op: Operation, item: BaseItem) -> None:
        condition = self._condition(type(item), op.requires)
        try:
            if op.kind == "put":
                item.save(condition=condition)
            elif op.kind == "update":
                item.update(self._actions(item, op), condition=condition, add_version_condition=op.under_version)
            else:
                item.delete(condition=condition, add_version_condition=False)
        except PynamoDBException as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                raise TransactionConflict([op.label]) from exc
            raise

    @classmethod
    def _actions(cls, item: BaseItem, op: Operation) -> list[Action]:
        changes = {name: getattr(item, name) for name in op.fields}
        return cls._set_actions(type(item).get_attributes(), changes, dict(op.increments))

    @staticmethod
    def _set_actions(attributes: dict[str, Any], changes: dict[str, Any], increments: dict[str, int]) -> list[Action]:
        """SET each changed attribute (REMOVE for None), ADD each increment."""
        actions: list[Action] = [
            attributes[name].remove() if value is None else attributes[name].set(value)
            for name, value in changes.items()
        ]
        return actions + [attributes[name].add(amount) for name, amount in increments.items()]

    @classmethod
    def _condition(cls, model: type[BaseItem], requires: Requirement | None) -> Condition | None:
        if requires is None:
            return None
        if isinstance(requires, MustNotExist):
            return model.pk.does_not_exist()
        if isinstance(requires, MustExist):
            return model.pk.exists()
        if isinstance(requires, AnyOf | AllOf):
            parts = requires.options if isinstance(requires, AnyOf) else requires.requirements
            conditions = [cls._condition(model, part) for part in parts]
            combined = conditions[0]
            for condition in conditions[1:]:
                either = isinstance(requires, AnyOf)
                combined = combined | condition if either else combined & condition  # type: ignore[operator]
            return combined
        attribute = model.get_attributes()[requires.field]
        if isinstance(requires, FieldIs):
            return attribute == requires.value
        if isinstance(requires, FieldIn):
            return attribute.is_in(*requires.values)
        assert isinstance(requires, FieldBelow)
        return attribute < requires.value

    # ------------------------------------------------------------------ for tests and tools

    def botocore_clients(self) -> list[Any]:
        """The botocore clients the bound models call through: one, which they share."""
        return [self.models[BaseItem]._get_connection().connection.client]


def _stored_fields(record: Record) -> dict[str, Any]:
    """A record's fields as a stored item has them: a None field is an attribute the item does not have."""
    values = {spec.name: getattr(record, spec.name) for spec in fields(record)}
    return {name: value for name, value in values.items() if value is not None}


def aws_error_code(error: Exception) -> str | None:
    """The AWS error code behind a PynamoDB error; None when no answer came (a network error, a timeout).

    PynamoDB's `cause_response_code` raises AttributeError when the cause is a botocore HTTP error (its `response` is
    None), which would hide the network error behind an AttributeError.
    """
    response = getattr(getattr(error, "cause", None), "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None
