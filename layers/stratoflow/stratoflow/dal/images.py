"""Records from stream images: an item as the table's stream carries it (attribute names as stored, plain values).

A stream consumer that is handed the item it acts on need not read it again; the image is what the writer committed.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from decimal import Decimal
from typing import Any, TypeVar

from stratoflow.dal.items import MODEL_OF
from stratoflow.records import Record

R = TypeVar("R", bound=Record)


def record_from_image(record_type: type[R], image: dict[str, Any]) -> R | None:
    """The record an image holds, or None when it lacks a field every such item has (a keys-only image, say).

    Numbers come as `Decimal` from the stream's deserializer and go back to int.
    """
    names = {name: attribute.attr_name for name, attribute in MODEL_OF[record_type].get_attributes().items()}
    values: dict[str, Any] = {}
    for spec in fields(record_type):
        stored = names[spec.name]
        if stored in image:
            value = image[stored]
            values[spec.name] = int(value) if isinstance(value, Decimal) and value == value.to_integral() else value
        elif spec.default is MISSING and spec.default_factory is MISSING:
            return None
    return record_type(**values)
