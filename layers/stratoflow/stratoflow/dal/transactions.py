"""One TransactWriteItems per state change, with the conditions that make it safe to race.

`Transaction` collects puts, updates, deletes and condition checks, each with a label, and commits them
atomically. When DynamoDB cancels it, `TransactionConflict` names the labels whose conditions failed, so the
domain can tell optimistic contention (re-read and retry) from a real refusal (a duplicate id, a terminal task).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from stratoflow.dal.items import BaseItem
from stratoflow.errors import ContentionExhausted, PayloadTooLarge

MAX_TRANSACTION_ITEMS = 100
# DynamoDB's limit is 4 MB per transaction; stay under it with room for attribute names and overhead.
MAX_TRANSACTION_BYTES = 3_900_000

T = TypeVar("T")


class TransactionConflict(Exception):
    """DynamoDB cancelled the transaction; `labels` are the operations whose condition failed."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(f"transaction cancelled by condition on {labels}")
        self.labels = labels


class Contention(Exception):
    """Someone changed what we read; re-read and try again."""


@dataclass
class _Op:
    kind: str  # check | delete | put | update (PynamoDB's order in the request)
    label: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    key: tuple[str, str] = ("", "")
    size: int = 0


_ORDER = {"check": 0, "delete": 1, "put": 2, "update": 3}


class Transaction:
    """The items of one atomic write. Nothing is sent until `commit`."""

    def __init__(self) -> None:
        self._ops: list[_Op] = []

    def __len__(self) -> int:
        return len(self._ops)

    @property
    def keys(self) -> set[tuple[str, str]]:
        return {op.key for op in self._ops}

    def put(self, item: BaseItem, condition: Condition | None = None, label: str = "put") -> None:
        self._add(_Op("put", label, (item,), {"condition": condition}, _key(item), _size(item)))

    def update(
        self,
        item: BaseItem,
        actions: list[Action],
        condition: Condition | None = None,
        label: str = "update",
    ) -> None:
        self._add(_Op("update", label, (item, actions), {"condition": condition}, _key(item), _size(item)))

    def delete(self, item: BaseItem, condition: Condition | None = None, label: str = "delete") -> None:
        self._add(_Op("delete", label, (item,), {"condition": condition}, _key(item), 0))

    def check(self, model: type[BaseItem], pk: str, sk: str, condition: Condition, label: str = "check") -> None:
        self._add(_Op("check", label, (model, pk, sk), {"condition": condition}, (pk, sk), 0))

    def _add(self, op: _Op) -> None:
        self._ops.append(op)

    def ensure_fits(self) -> None:
        """Refuse (413) what DynamoDB could not write atomically, before anything is sent."""
        if len(self._ops) > MAX_TRANSACTION_ITEMS:
            raise PayloadTooLarge(
                f"this change touches {len(self._ops)} items; one atomic write holds at most {MAX_TRANSACTION_ITEMS}",
                items=len(self._ops),
            )
        total = sum(op.size for op in self._ops)
        if total > MAX_TRANSACTION_BYTES:
            raise PayloadTooLarge(
                f"this change writes about {total} bytes; one atomic write holds at most 4 MB",
                sizeBytes=total,
            )

    def commit(self, connection: Connection | None = None, return_consumed_capacity: str | None = None) -> None:
        if not self._ops:
            return
        self.ensure_fits()
        if len(self._ops) == 1 and self._ops[0].kind != "check":
            # One item needs no transaction: a conditional write is as atomic and costs half the write units.
            self._commit_single(self._ops[0])
            return
        ordered = sorted(self._ops, key=lambda op: _ORDER[op.kind])
        conn = connection or BaseItem._get_connection().connection
        try:
            with TransactWrite(connection=conn, return_consumed_capacity=return_consumed_capacity) as tx:
                for op in ordered:
                    if op.kind == "put":
                        tx.save(op.args[0], condition=op.kwargs["condition"])
                    elif op.kind == "update":
                        tx.update(op.args[0], op.args[1], condition=op.kwargs["condition"])
                    elif op.kind == "delete":
                        tx.delete(op.args[0], condition=op.kwargs["condition"], add_version_condition=False)
                    else:
                        model, pk, sk = op.args
                        tx.condition_check(model, pk, sk, condition=op.kwargs["condition"])
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons if aws_error_code(exc) == "TransactionCanceledException" else []
            failed = [
                op.label
                for op, reason in zip(ordered, reasons, strict=False)
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


    @staticmethod
    def _commit_single(op: _Op) -> None:
        item = op.args[0]
        condition = op.kwargs["condition"]
        try:
            if op.kind == "put":
                item.save(condition=condition)
            elif op.kind == "update":
                item.update(op.args[1], condition=condition)
            else:
                item.delete(condition=condition, add_version_condition=False)
        except PynamoDBException as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                raise TransactionConflict([op.label]) from exc
            raise


def aws_error_code(error: Exception) -> str | None:
    """The AWS error code behind a PynamoDB error; None when no answer came (a network error, a timeout).

    PynamoDB's `cause_response_code` raises AttributeError when the cause is a botocore HTTP error (its `response` is
    None), which would hide the network error behind an AttributeError.
    """
    response = getattr(getattr(error, "cause", None), "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def _key(item: BaseItem) -> tuple[str, str]:
    return (item.pk, item.sk)


def _size(item: BaseItem) -> int:
    total = 0
    for name, value in item.attribute_values.items():
        total += len(name) + (len(value.encode("utf-8")) if isinstance(value, str) else 16)
    return total


def run_optimistic(attempt: Callable[[], T], max_attempts: int = 40) -> T:
    """Run a read-compute-commit attempt until it commits without contention (bounded, jittered)."""
    for number in range(max_attempts):
        try:
            return attempt()
        except Contention:
            time.sleep(random.uniform(0, min(0.002 * 2**number, 0.05)))
    raise ContentionExhausted("too much contention on this resource; nothing was written, retry the request")
