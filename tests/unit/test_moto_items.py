"""Items built by the linear construction are moto's items, and the 400 KB limit stops them at the same attribute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.dynamodb.exceptions import ItemSizeTooLarge
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from stratoflow_local import moto_items

values = st.recursive(
    st.builds(lambda text: {"S": text}, st.text(max_size=20))
    | st.builds(lambda number: {"N": str(number)}, st.integers())
    | st.builds(lambda blob: {"B": blob}, st.binary(max_size=8))
    | st.builds(lambda flag: {"BOOL": flag}, st.booleans())
    | st.builds(lambda texts: {"SS": sorted(texts)}, st.sets(st.text(max_size=4), min_size=1, max_size=3)),
    lambda children: (
        st.builds(lambda items: {"L": items}, st.lists(children, max_size=3))
        | st.builds(lambda fields: {"M": fields}, st.dictionaries(st.text(max_size=4), children, max_size=3))
    ),
    max_leaves=6,
)


@pytest.fixture
def linear() -> Iterator[None]:
    moto_items.install()
    try:
        yield
    finally:
        moto_items.uninstall()


def _build(attrs: dict[str, Any]) -> Any:
    try:
        item = Item(DynamoType({"S": "h"}), None, attrs)
    except ItemSizeTooLarge as error:
        return type(error), str(error)
    return item.attrs, type(item.attrs), item.size()


def _built_by_moto_and_linearly(attrs: dict[str, Any]) -> tuple[Any, Any]:
    expected = _build(attrs)
    moto_items.install()
    try:
        return expected, _build(attrs)
    finally:
        moto_items.uninstall()


@settings(max_examples=20, deadline=None)
@given(attrs=st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=8))
def test_an_item_is_moto_s_item(attrs: dict[str, Any]) -> None:
    expected, actual = _built_by_moto_and_linearly(attrs)

    assert actual == expected


@pytest.mark.parametrize("last", [1000, 6000])
def test_the_size_limit_stops_the_same_item(last: int) -> None:
    # 100 attributes of 4,003 bytes with their names, then one more: moto's limit (405,000) falls between the two.
    attrs = {f"a{index:02d}": {"S": "x" * 4000} for index in range(100)}
    attrs["zz"] = {"S": "y" * last}
    expected, actual = _built_by_moto_and_linearly(attrs)

    assert actual == expected
    assert (expected[0] is ItemSizeTooLarge) == (last == 6000)


def test_updates_still_check_the_size(linear: None) -> None:
    item = Item(DynamoType({"S": "h"}), None, {"a": {"S": "x" * 400_000}})

    with pytest.raises(ItemSizeTooLarge):
        item.attrs["b"] = DynamoType({"S": "y" * 6000})
