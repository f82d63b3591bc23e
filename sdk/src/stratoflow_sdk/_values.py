"""JSON values, names and ids as api.md constrains them."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import timedelta
from typing import Any

#: api.md: any one JSON value over 256 KiB as compact UTF-8 JSON is refused with 413.
MAX_VALUE_BYTES = 256 * 1024
#: api.md: `kind`, `queue` and worker-chosen ids are 1-128 characters of this class.
NAME_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: api.md: a timer lasts 1 ms to 365 days.
MAX_TIMER_MS = 365 * 24 * 3600 * 1000


def compact_json(value: Any) -> str:
    """The compact UTF-8 JSON text api.md measures values by."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def json_value(value: Any, what: str) -> Any:
    """``value`` as the server will store it, after checking it is JSON and small enough.

    Round-tripping matters for determinism: a tuple becomes a list and an int key a string on the first run exactly
    as they will when replayed from the history.
    """
    try:
        text = compact_json(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serializable: {exc}") from exc
    size = len(text.encode("utf-8"))
    if size > MAX_VALUE_BYTES:
        raise ValueError(f"{what} is {size} bytes as compact JSON; the limit is {MAX_VALUE_BYTES}")
    return json.loads(text)


def check_name(value: str, what: str) -> str:
    """Check a kind, queue or id against api.md's `[A-Za-z0-9._:-]{1,128}`."""
    if not isinstance(value, str) or NAME_PATTERN.fullmatch(value) is None:
        raise ValueError(f"{what} must be 1-128 characters of [A-Za-z0-9._:-], got {value!r}")
    return value


def deterministic_id(execution_id: str, category: str, number: int) -> str:
    """The id of the ``number``-th ``category`` ("task", "timer", "child", "resume") of an execution.

    ``<executionId>:<category>:<n>`` when that is a legal id; otherwise the execution id is replaced by a hash of it,
    so the id stays legal, unique per execution and the same on every replay.
    """
    candidate = f"{execution_id}:{category}:{number}"
    if NAME_PATTERN.fullmatch(candidate):
        return candidate
    digest = hashlib.sha256(execution_id.encode("utf-8")).hexdigest()[:48]
    return f"h{digest}:{category}:{number}"


def duration_ms(seconds: float | timedelta, what: str) -> int:
    """A positive duration as whole milliseconds (rounded up, so a timer never fires early)."""
    value = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {seconds!r}")
    millis = max(1, math.ceil(round(value * 1000, 6)))
    if millis > MAX_TIMER_MS:
        raise ValueError(f"{what} must be at most 365 days, got {seconds!r}")
    return millis
