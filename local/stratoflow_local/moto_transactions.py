"""A journaled `TransactWriteItems` for moto's DynamoDB backend.

moto 5.2.5 makes a transaction undoable by deep-copying every table it touches and, if any action fails, putting the
copies back in place of the tables. That costs O(table size) per transaction, crashes when another request changes
the table during the copy, erases writes made by other requests between the copy and the restore, and swaps in a
new stream shard, so a stream reader holding an iterator keeps reading the discarded shard: it sees the records of
the failed transaction and none written afterwards.

`journaled_transact_write_items` keeps moto's semantics (validation, order of actions, `CancellationReasons`, the
`Item` returned with `ReturnValuesOnConditionCheckFailure=ALL_OLD`) but journals, before each write action, the
prior version of the one item it touches (or its absence) and the length of the table's stream. On failure it puts
back exactly those items and truncates exactly the stream records the transaction appended. The cost is
proportional to the transaction, never to the table.

Differences from moto on purpose: an exception that escapes the loop (for instance an action holding two
operations, which moto raises without rolling back) also rolls back, so a transaction is all or nothing.

Not handled: moto's own Lambda event source mappings, which hand stream records to moto's Lambda and empty the
shard as they are appended (the local stack polls the stream itself and never creates them).

The journal makes a failed transaction undo only its own writes; it does not make a transaction atomic with respect
to concurrent requests. `EmbeddedAwsEndpoint` provides that by serving every request under one lock.

`install()` / `uninstall()` swap the method on `DynamoDBBackend` for the whole process (moto's backends are
process-global) and are reference-counted, so nested endpoints share one installation and the last `uninstall()`
puts moto's method back.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

from stratoflow_local.moto_pin import check_moto

_WRITE_ACTIONS = frozenset({"Put", "Delete", "Update"})


@dataclass(frozen=True)
class JournalEntry:
    """The state of one item before the transaction wrote it."""

    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None
    prior: Item | None  # a deep copy: moto's update mutates the stored item in place

    def restore(self) -> None:
        items: dict[Any, Any] = self.table.items
        if self.range_key is None:
            if self.prior is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = self.prior
            return
        if self.prior is not None:
            items.setdefault(self.hash_key, {})[self.range_key] = self.prior
            return
        partition = items.get(self.hash_key)
        if partition is not None:
            partition.pop(self.range_key, None)
            # An empty partition holds nothing (moto's reads create them too); drop the one the write created.
            if not partition:
                del items[self.hash_key]


@dataclass
class TransactionJournal:
    """Prior versions of the items one transaction writes, and where each touched stream stood before it."""

    backend: DynamoDBBackend
    entries: list[JournalEntry] = field(default_factory=list)
    stream_marks: dict[int, tuple[list[Any], int]] = field(default_factory=dict)

    def remember(self, table_name: str, key: dict[str, Any]) -> None:
        # get_table and get_keys_value raise what moto's get_item would raise for the same action, in the same order.
        table = self.backend.get_table(table_name)
        hash_key, range_key = self.backend.get_keys_value(table, key)
        shard = table.stream_shard
        if shard is not None and id(table) not in self.stream_marks:
            self.stream_marks[id(table)] = (shard.items, len(shard.items))
        # .get: indexing moto's defaultdict would create the partition
        items: dict[Any, Any] = table.items
        prior: Item | None = items.get(hash_key) if range_key is None else items.get(hash_key, {}).get(range_key)
        self.entries.append(
            JournalEntry(table, hash_key, range_key, copy.deepcopy(prior) if prior is not None else None)
        )

    def rollback(self) -> None:
        for entry in reversed(self.entries):
            entry.restore()
        for records, length in self.stream_marks.values():
            del records[length:]


def journaled_transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's `DynamoDBBackend.transact_write_items` with a journal in place of deep copies of the tables."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    journal = TransactionJournal(self)
    try:
        errors = _apply(self, transact_items, journal)
    except BaseException:
        journal.rollback()
        raise
    if any(code is not None for code, _, _ in errors):
        journal.rollback()
        raise TransactionCanceledException(errors)


def _apply(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]], journal: TransactionJournal
) -> list[tuple[str | None, str | None, dict[str, Any] | None]]:
    """moto's action loop, line for line, plus `journal.remember` before each write action."""
    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = backend.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)
            if op_type in _WRITE_ACTIONS:
                journal.remember(table_name, key)

            current = backend.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression, expression_attribute_names, expression_attribute_values
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type == "Put":
                backend.put_item(
                    table_name,
                    op["Item"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                backend.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Update":
                backend.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), original_item))
        except Exception as error:
            # moto reports any other failure of an action as a cancellation reason named after the exception.
            errors.append((type(error).__name__, str(error), original_item))
    return errors


class _Installation:
    """Reference count of `install()` calls and moto's method while ours stands in for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.original: Callable[..., Any] | None = None


_installation = _Installation()


def install() -> None:
    """Put the journaled transaction in place of moto's (checks the moto pin first). Reference-counted."""
    with _installation.lock:
        if _installation.count == 0:
            check_moto()
            original = DynamoDBBackend.transact_write_items
            # Lets the pin check find (and verify) moto's method while ours stands in for it.
            journaled_transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]
            DynamoDBBackend.transact_write_items = journaled_transact_write_items  # type: ignore[method-assign]
            _installation.original = original
        _installation.count += 1


def uninstall() -> None:
    """Undo one `install()`; the last one puts moto's method back."""
    with _installation.lock:
        if _installation.count == 0:
            raise RuntimeError("the journaled transaction is not installed")
        _installation.count -= 1
        if _installation.count == 0 and _installation.original is not None:
            DynamoDBBackend.transact_write_items = _installation.original  # type: ignore[method-assign]
            _installation.original = None


def is_installed() -> bool:
    return DynamoDBBackend.transact_write_items is journaled_transact_write_items
