"""The repository in memory: the same records, requirements, failure labels and item shapes as on DynamoDB.

A fake for the domain's unit tests, which then need no moto. It keeps each item as DynamoDB would store it
(attribute names as stored, `workflowExecutionId`, `lastSeq`, ...), so `items()` dumps exactly what a Scan of the
real table returns, and it follows DynamoDB's (and moto's) rules where the domain depends on them: versioned records
are saved under their version, conditions on a missing attribute fail, a transaction is all or nothing and names
every failed operation in the order it was sent, the indexes are sparse and project what the template projects, a
page ends where moto's does. `tests/unit/dal/test_repository_contract.py` runs the same cases on both, so this fake
cannot drift. Thread-safe: every call holds one lock, as if the table served one request at a time.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from dataclasses import fields
from typing import Any, TypeVar

# The interface this fake implements, and the requirements and version rules it applies itself.
from stratoflow.dal import repository, unit_of_work
from stratoflow.dal.items import MODEL_OF
from stratoflow.dal.unit_of_work import Requirement
from stratoflow.records import Candidate, Event, Execution, Record, Task

R = TypeVar("R", bound=Record)
Item = dict[str, Any]

_ATTRIBUTE_NAMES: dict[type[Record], dict[str, str]] = {
    record_type: {name: attribute.attr_name for name, attribute in model.get_attributes().items()}
    for record_type, model in MODEL_OF.items()
}
# What the dispatch index projects besides its keys and the table's (template.yaml: DispatchIndex).
_DISPATCH_PROJECTION = ("status", "kind", "timeoutMs")


class TransactionValidationError(Exception):
    """What DynamoDB refuses before evaluating any condition (e.g. two operations on one item)."""


class MemoryRepository:
    def __init__(self, table_name: str = "memory") -> None:
        self.table_name = table_name
        self._items: dict[tuple[str, str], Item] = {}
        # The order partitions were first written in: moto returns index entries with equal sort keys in this order.
        self._partitions: dict[str, int] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ records and items

    @staticmethod
    def _to_item(record: Record) -> Item:
        names = _ATTRIBUTE_NAMES[type(record)]
        item: Item = {}
        for spec in fields(record):
            value = getattr(record, spec.name)
            if isinstance(value, str):
                value = str(value)  # a StrEnum is stored as its text
            if value is not None:
                item[names[spec.name]] = set(value) if isinstance(value, set) else value
        return item

    @staticmethod
    def _to_record(record_type: type[R], item: Item) -> R:
        names = _ATTRIBUTE_NAMES[record_type]
        values: dict[str, Any] = {}
        for spec in fields(record_type):
            stored = names[spec.name]
            if stored in item:
                value = item[stored]
                values[spec.name] = set(value) if isinstance(value, set) else value
        return record_type(**values)

    def items(self) -> list[Item]:
        """Every stored item, sorted by key, as a Scan returns it (sets as sorted lists)."""
        with self._lock:
            snapshot = [self._items[key] for key in sorted(self._items)]
            return [{k: sorted(v) if isinstance(v, set) else v for k, v in item.items()} for item in snapshot]

    def partition(self, pk: str) -> list[Item]:
        """The stored items of one partition, as a Query returns them."""
        return [item for item in self.items() if item["pk"] == pk]

    # ------------------------------------------------------------------ reads

    def get(self, record_type: type[R], pk: str, sk: str) -> R | None:
        with self._lock:
            item = self._items.get((pk, sk))
            return None if item is None else self._to_record(record_type, copy.deepcopy(item))

    def query(self, record_type: type[R], query: repository.PartitionQuery) -> Iterator[R]:
        for item in self._partition_items(query.pk, query.prefix, query.until):
            if query.where is None or self._holds(record_type, item, query.where):
                yield self._to_record(record_type, item)

    def _partition_items(self, pk: str, prefix: str, until: str | None = None) -> list[Item]:
        with self._lock:
            return [
                copy.deepcopy(item)
                for key, item in sorted(self._items.items())
                if key[0] == pk and key[1].startswith(prefix) and (until is None or key[1] <= until)
            ]

    def page(
        self, record_type: type[R], pk: str, prefix: str, *, where: Requirement | None, limit: int, token: str | None
    ) -> repository.Page[R]:
        found = self._partition_items(pk, prefix)
        if token:
            start = repository.decode_page_token(pk, token, "pk")
            found = [item for item in found if item["sk"] > start["sk"]["S"]]
        return self._one_page(record_type, found, where, limit, ("pk", "sk"))

    def events(self, pk: str, first_sk: str, last_sk: str, limit: int) -> Iterator[Event]:
        with self._lock:
            found = [
                copy.deepcopy(item)
                for key, item in sorted(self._items.items())
                if key[0] == pk and first_sk <= key[1] <= last_sk
            ]
        for item in found[:limit]:
            yield self._to_record(Event, item)

    def ready(
        self, record_type: type[Execution] | type[Task], dispatch_pk: str, now: int, kinds: list[str] | None
    ) -> Iterator[Candidate]:
        with self._lock:
            indexed = [
                {name: item[name] for name in ("pk", "sk", *_DISPATCH_PROJECTION) if name in item}
                | {"dispatchAt": item["dispatchAt"]}
                for item in self._items.values()
                if item.get("dispatchPk") == dispatch_pk and "dispatchAt" in item and item["dispatchAt"] <= now
            ]
        indexed.sort(key=lambda item: (item["dispatchAt"], self._partitions[item["pk"]], item["sk"]))
        matching = [item for item in indexed if not kinds or item.get("kind") in kinds]
        for item in matching[:10]:
            yield Candidate(item["pk"], item["sk"], item["status"], item["kind"], item.get("timeoutMs"))

    def index_page(self, record_type: type[R], query: repository.IndexQuery) -> repository.Page[R]:
        list_pk, token, ascending, between = query.list_pk, query.token, query.ascending, query.between
        with self._lock:
            indexed = [
                copy.deepcopy(item)
                for item in self._items.values()
                if item.get("listPk") == list_pk
                and "listSk" in item
                and (between is None or between[0] <= item["listSk"] <= between[1])
            ]
        indexed.sort(key=lambda item: (item["listSk"], item["pk"], item["sk"]), reverse=not ascending)
        if token:
            start = repository.decode_page_token(list_pk, token)
            after = (start["listSk"]["S"], start["pk"]["S"], start["sk"]["S"])
            indexed = [
                item
                for item in indexed
                if (
                    (item["listSk"], item["pk"], item["sk"]) > after
                    if ascending
                    else (item["listSk"], item["pk"], item["sk"]) < after
                )
            ]
        return self._one_page(record_type, indexed, query.where, query.limit, ("listPk", "listSk", "pk", "sk"))

    def _one_page(
        self, record_type: type[R], found: list[Item], where: Requirement | None, limit: int, key_names: tuple[str, ...]
    ) -> repository.Page[R]:
        """The first `limit` of `found` (in order, from the token on), then filtered: one page, cut as moto cuts it."""
        evaluated = found[:limit]
        next_token = None
        if len(found) > limit:  # as moto: a page that reaches its limit with more left names its last item
            last = evaluated[-1]
            next_token = repository.encode_page_token({name: {"S": last[name]} for name in key_names})
        matching = [item for item in evaluated if where is None or self._holds(record_type, item, where)]
        return repository.Page([self._to_record(record_type, item) for item in matching], next_token)

    def due(self, sweep_pk: str, now: int, limit: int) -> Iterator[tuple[str, str]]:
        with self._lock:
            indexed = [
                (item["sweepAt"], self._partitions[item["pk"]], item["sk"], item["pk"])
                for item in self._items.values()
                if item.get("sweepPk") == sweep_pk and "sweepAt" in item and item["sweepAt"] <= now
            ]
        for _, _, sk, pk in sorted(indexed)[:limit]:
            yield (pk, sk)

    # ------------------------------------------------------------------ claims

    def claim_execution(self, candidate: Candidate, lease: repository.ExecutionLease) -> Execution | None:
        return self._claim(Execution, candidate, lease.claim(candidate))

    def claim_task(self, candidate: Candidate, lease: repository.TaskLease) -> Task | None:
        return self._claim(Task, candidate, lease.claim(candidate))

    def _claim(self, record_type: type[R], candidate: Candidate, claim: repository.Claim) -> R | None:
        with self._lock:
            item = self._items.get((candidate.pk, candidate.sk))
            if item is None or not self._holds(record_type, item, claim.requires):
                return None
            names = _ATTRIBUTE_NAMES[record_type]
            copied = {name: item.get(names[source]) for name, source in claim.copies.items()}
            self._set_fields(item, names, claim.changes | copied, claim.increments)
            item["ver"] = item.get("ver", 0) + 1
            return self._to_record(record_type, copy.deepcopy(item))

    # ------------------------------------------------------------------ writes

    def commit(self, uow: unit_of_work.UnitOfWork) -> None:
        if not uow.operations:
            return
        uow.ensure_fits()
        operations = uow.ordered()
        with self._lock:
            if len(operations) > 1 or operations[0].kind == "check":
                keys = [op.key for op in operations]
                if len(set(keys)) != len(keys):
                    raise TransactionValidationError("a transaction cannot hold several operations on one item")
            failed = [op.label for op in operations if not self._allowed(op)]
            if failed:
                raise unit_of_work.TransactionConflict(failed)
            for op in operations:
                self._apply(op)

    def _allowed(self, op: unit_of_work.Operation) -> bool:
        item = self._items.get(op.key)
        record_type = type(op.record)
        if op.kind in ("put", "update") and unit_of_work.is_versioned(op.record) and op.under_version:
            version = unit_of_work.version_of(op.record)
            if version is None and item is not None and "ver" in item:
                return False
            if version is not None and (item is None or item.get("ver") != version):
                return False
        return op.requires is None or self._holds(record_type, item, op.requires)

    @staticmethod
    def _holds(record_type: type[Record], item: Item | None, requires: Requirement) -> bool:
        if item is None:
            return unit_of_work.satisfied(requires, None)
        stored = {field: item[name] for field, name in _ATTRIBUTE_NAMES[record_type].items() if name in item}
        return unit_of_work.satisfied(requires, stored)

    def _apply(self, op: unit_of_work.Operation) -> None:
        key = op.key
        if op.kind == "check":
            return
        if op.kind == "delete":
            self._items.pop(key, None)
            return
        versioned = unit_of_work.is_versioned(op.record)
        if op.kind == "put":
            item = self._to_item(op.record)
            if versioned:
                item["ver"] = (unit_of_work.version_of(op.record) or 0) + 1
        else:
            item = copy.deepcopy(self._items.get(key, {"pk": key[0], "sk": key[1]}))
            changes = {name: getattr(op.record, name) for name in op.fields}
            self._set_fields(item, _ATTRIBUTE_NAMES[type(op.record)], changes, dict(op.increments))
            if versioned:
                item["ver"] = item.get("ver", 0) + 1
        self._items[key] = item
        self._partitions.setdefault(key[0], len(self._partitions))
        if versioned:
            unit_of_work.set_version(op.record, (unit_of_work.version_of(op.record) or 0) + 1)

    @staticmethod
    def _set_fields(item: Item, names: dict[str, str], changes: dict[str, Any], increments: dict[str, int]) -> None:
        """SET each changed field (REMOVE for None) and ADD each increment, as an UpdateItem does."""
        for name, value in changes.items():
            if value is None:
                item.pop(names[name], None)
            else:
                item[names[name]] = str(value) if isinstance(value, str) else value
        for name, amount in increments.items():
            item[names[name]] = item.get(names[name], 0) + amount  # ADD: a missing number counts as 0
