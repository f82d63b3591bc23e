"""moto's DynamoDB `Item` built in time linear in its attributes, with the same size check.

moto checks the 400 KB item limit in `LimitedSizeDict.__setitem__` by summing the size of every attribute already
in the dict, so building an item of n attributes (every put, every transaction's put, every update of a new item)
costs n²/2 attribute sizes: about a fifth of a `TransactWriteItems` on the local stack's items of 15-20 attributes.

`linear_init` stands in for `Item.__init__`: it adds the attributes in the same order and raises `ItemSizeTooLarge`
at the same attribute, keeping the running total the sum would give (the dict is new and nothing else changes it
while it is built). Later writes to `item.attrs` (updates) still go through moto's check. `moto_pin.check_moto`
pins the source of `Item` and `LimitedSizeDict`; `tests/unit/test_moto_items.py` compares items and the error.

`install()` / `uninstall()` are reference-counted and swap the method for the whole process, like the other adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.utilities import bytesize

from stratoflow_local.moto_pin import Patch

# moto's limit (`LimitedSizeDict.__setitem__`): between the 409 KB and 410 KB measured on DynamoDB.
ITEM_SIZE_LIMIT = 405000

_original_init: Callable[..., Any] = Item.__init__


def _size(value: Any) -> int:
    return value.size() if type(value) is DynamoType else bytesize(str(value))


def linear_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
    """moto's `Item.__init__`, the size of the attributes added so far kept instead of summed again for each one."""
    self.hash_key = hash_key
    self.range_key = range_key
    self.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        attribute = DynamoType(value)
        added = bytesize(key) + _size(attribute)
        if total + added > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(self.attrs, key, attribute)
        total += added


def _apply() -> None:
    Item.__init__ = linear_init  # type: ignore[method-assign]


def _restore() -> None:
    Item.__init__ = _original_init  # type: ignore[method-assign]


_patch = Patch("the linear item construction", _apply, _restore)
install = _patch.install
uninstall = _patch.uninstall


def is_installed() -> bool:
    return Item.__init__ is linear_init
