"""JSON values as the API carries them: compact UTF-8 JSON, at most 256 KiB each."""

from __future__ import annotations

import json
from typing import Any

from stratoflow.errors import PayloadTooLarge

MAX_VALUE_BYTES = 256 * 1024
# Values above this are stored in their own item, so an execution or task holding an input and an output
# of 256 KiB each still fits DynamoDB's 400 KB item limit.
INLINE_VALUE_BYTES = 64 * 1024


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def encoded_size(text: str) -> int:
    return len(text.encode("utf-8"))


def encode_value(field: str, value: Any) -> str:
    """Encode one API value, refusing it with 413 when it is over the limit."""
    text = dumps(value)
    size = encoded_size(text)
    if size > MAX_VALUE_BYTES:
        raise PayloadTooLarge(
            f"{field} is {size} bytes as compact JSON; the limit is {MAX_VALUE_BYTES}",
            field=field,
            sizeBytes=size,
            limitBytes=MAX_VALUE_BYTES,
        )
    return text
