"""Three of moto's DynamoDB paths made cheap without changing an answer: `Query`, an index's projection and the
stream's `GetRecords`.

**Query.** A `Query` for moto's DynamoDB tables that reads only what it needs: one partition, or the items in any order.

moto 5.2.5's `Table.query` starts every query, a base-table query on one partition included, from
`Table.all_items()`, which sorts every item of the table by its primary key. A query therefore costs O(n log n) in
the table's size with Python-level comparisons: tens of milliseconds once a test's table holds a few thousand items,
paid by every history read, poll and listing. `partition_query` runs moto's own `query` unchanged, but with the items
it starts from narrowed for that one call:

- a base-table query starts from the items of its partition (`Table.items[hash_key]`): moto then keeps exactly the
  items whose hash key is that one, so nothing else could have been kept;
- an index query starts from every item unsorted: moto sorts the items an index query keeps by the index's keys and
  then the table's keys, a total order, so the order it started from never shows.

Results, their order, `LastEvaluatedKey` and `ScannedCount` are moto's (`tests/unit/test_moto_queries.py` compares
both on random tables). `moto_pin.check_moto` pins the source of `Table.query`, since this relies on `all_items` being
the only place it reads items from.

The call also skips the deep copy moto makes of the items it keeps (`copy.deepcopy(results)`, half of a history
read's time): moto copies them so that a caller may change them, but its `Query` handler only reads them to render
the answer, and under the endpoint's lock that happens before any other request can change the stored items.

The narrowing is an attribute set on the table, and the copy a module attribute of moto's table module, for the
duration of the call, so concurrent queries must be serialized, as the embedded endpoint serializes every request.

**Projection.** `direct_project` (below) projects an index query's items without moto's JSON round trip.

**GetRecords.** moto renders every answer through its generic, model-driven serializer, which walks each attribute of
each stream record's images: about 30 ms for a batch of a few records, on every poll of every stream mapping.
`json_get_records` renders the records (already in DynamoDB's wire format) with `json.dumps`, the two non-JSON
values as moto's serializer writes them (timestamps in epoch seconds truncated to the millisecond, binary values in
base64). The same test compares both answers on records of every attribute type; the pin covers the handler's source.

`install()` / `uninstall()` are reference-counted and swap the three methods for the whole process, like
`moto_transactions`.
"""

from __future__ import annotations

import base64
import copy
import datetime
import inspect
import json
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT
from moto.core.serialize import TimestampSerializer
from moto.dynamodb.models import table as moto_table
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import SecondaryIndex, Table
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

from stratoflow_local.moto_pin import Patch

_original_query: Callable[..., Any] = Table.query
_SIGNATURE = inspect.signature(_original_query)


def _every_item(table: Table) -> list[Any]:
    if table.range_key_attr:
        return [item for partition in table.items.values() for item in partition.values()]
    return list(table.items.values())


class _ResultsNotCopied:
    """Stands in for the `copy` module in moto's table module during a query: its `deepcopy` there copies the results;
    `copy` stays as it is."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(results: list[Any], memo: Any = None) -> list[Any]:
        return list(results)


def partition_query(self: Table, *args: Any, **kwargs: Any) -> Any:
    """moto's `Table.query`, starting from one partition (base table) or from the unsorted items (an index), without
    copying the items it answers with."""
    arguments = _SIGNATURE.bind(self, *args, **kwargs).arguments
    hash_key = arguments.get("hash_key")
    if arguments.get("index_name") or hash_key is None or not self.range_key_attr:
        candidates = _every_item(self)
    else:
        partition = self.items.get(hash_key)  # `get`: moto's defaultdict must not grow an empty partition
        candidates = list(partition.values()) if partition else []
    self.all_items = lambda: candidates  # type: ignore[method-assign]
    copy_module = moto_table.copy
    moto_table.copy = _ResultsNotCopied  # type: ignore[assignment]
    try:
        return _original_query(self, *args, **kwargs)
    finally:
        moto_table.copy = copy_module
        del self.all_items


_original_project: Callable[..., Any] = SecondaryIndex.project


def direct_project(self: SecondaryIndex, item: Item) -> Item:
    """moto's `SecondaryIndex.project`, picking the projected attributes off the item instead of a JSON round trip.

    moto projects with `Item.project`, which converts the whole item to plain JSON once per projected attribute and
    serializes the pick back: 40 % of an index query's time. Strings and numbers come out of that round trip as they
    went in, but for a number's text, which boto3's decimal context normalizes, as here. Any other type (and a
    projection other than KEYS_ONLY or INCLUDE) goes moto's way.
    """
    projection_type = (self.projection or {}).get("ProjectionType")
    if projection_type not in ("KEYS_ONLY", "INCLUDE"):
        return _original_project(self, item)
    names = self.table_key_attrs + [key["AttributeName"] for key in self.schema]
    if projection_type == "INCLUDE":
        names = names + self.projection.get("NonKeyAttributes", [])
    picked: dict[str, dict[str, str]] = {}
    for name in names:
        value = item.attrs.get(name)
        if value is None or name in picked:
            continue
        if value.type == "S":
            picked[name] = {"S": value.value}
        elif value.type == "N":
            picked[name] = {"N": str(DYNAMODB_CONTEXT.create_decimal(value.value))}
        else:
            return _original_project(self, item)
    return Item(hash_key=item.hash_key, range_key=item.range_key, attrs=picked)


_original_get_records: Callable[..., Any] = DynamoDBStreamsHandler.get_records


def _wire_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return TimestampSerializer._timestamp_unixtimestamp(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} in a stream record")


def json_get_records(self: DynamoDBStreamsHandler) -> str:
    """moto's `GetRecords` (same parameters, same backend call), its answer rendered straight to JSON."""
    limit = self._get_param("Limit")
    result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    return json.dumps(result, default=_wire_value)


def _apply() -> None:
    partition_query.__wrapped__ = _original_query  # type: ignore[attr-defined]  # for the pin check
    json_get_records.__wrapped__ = _original_get_records  # type: ignore[attr-defined]
    direct_project.__wrapped__ = _original_project  # type: ignore[attr-defined]
    Table.query = partition_query  # type: ignore[method-assign]
    SecondaryIndex.project = direct_project  # type: ignore[method-assign]
    DynamoDBStreamsHandler.get_records = json_get_records  # type: ignore[assignment]


def _restore() -> None:
    Table.query = _original_query  # type: ignore[method-assign]
    SecondaryIndex.project = _original_project  # type: ignore[method-assign]
    DynamoDBStreamsHandler.get_records = _original_get_records  # type: ignore[method-assign]


_patch = Patch("the query and stream fast path", _apply, _restore)
install = _patch.install
uninstall = _patch.uninstall


def is_installed() -> bool:
    return (
        Table.query is partition_query
        and SecondaryIndex.project is direct_project
        and DynamoDBStreamsHandler.get_records is json_get_records
    )
