"""DynamoDB's published capacity rules, applied to item images in the wire format (`{"S": ...}`, `{"N": ...}`).

moto does not report real consumed capacity (see `Meter`), so the benchmark computes it from the items each request
reads and writes, with the rules of the on-demand pricing page and the developer guide:

- item size: attribute name bytes + value bytes (strings UTF-8, numbers about 1 byte per 2 significant digits + 1,
  booleans and nulls 1, lists and maps 3 bytes + 1 per element);
- reads: 1 read unit per 4 KB (rounded up, minimum 1) strongly consistent, half that eventually consistent; a Query
  sums the sizes of everything it read before rounding; index queries are eventually consistent;
- writes: 1 write unit per 1 KB of the larger of the old and new item (rounded up, minimum 1), also when the
  condition fails; inside TransactWriteItems every action costs twice (prepare and commit), a ConditionCheck as a
  transactional write of the item it checks;
- global secondary indexes: an item change that adds, removes or changes an index entry costs one index write per
  1 KB of the entry (two when the index key changes: delete and put), at the standard rate also inside a
  transaction (AWS's pages do not say; measurements against DynamoDB published by emulator projects agree on this
  and on the ConditionCheck rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Image = Mapping[str, Mapping[str, Any]]

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index as the template declares it."""

    name: str
    key_attributes: tuple[str, ...]
    projection: str  # ALL | INCLUDE | KEYS_ONLY
    non_key_attributes: tuple[str, ...] = ()


def number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(str(content).encode("utf-8"))
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else math.ceil(len(str(content)) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(item).encode("utf-8")) for item in content)
    if kind == "NS":
        return sum(number_size(str(item)) for item in content)
    if kind == "BS":
        return sum(value_size({"B": item}) for item in content)
    if kind == "L":
        return 3 + sum(1 + value_size(item) for item in content)
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + 1 + value_size(item) for name, item in content.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Image | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def index_entry(item: Image | None, index: IndexSpec, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The item's entry in a sparse index, or None when it lacks one of the index's key attributes."""
    if not item or any(name not in item for name in index.key_attributes):
        return None
    if index.projection == "ALL":
        return dict(item)
    names = set(table_keys) | set(index.key_attributes)
    if index.projection == "INCLUDE":
        names |= set(index.non_key_attributes)
    return {name: value for name, value in item.items() if name in names}


def index_write_units(
    old: Image | None, new: Image | None, indexes: tuple[IndexSpec, ...], table_keys: tuple[str, ...]
) -> int:
    """Write units the indexes consume for one item going from `old` to `new`."""
    total = 0
    for index in indexes:
        before = index_entry(old, index, table_keys)
        after = index_entry(new, index, table_keys)
        if before is None and after is None:
            continue
        if before is None:
            total += write_units(item_size(after))
        elif after is None:
            total += write_units(item_size(before))
        elif any(before.get(name) != after.get(name) for name in index.key_attributes):
            total += write_units(item_size(before)) + write_units(item_size(after))
        elif before != after:
            total += write_units(item_size(after))
    return total
