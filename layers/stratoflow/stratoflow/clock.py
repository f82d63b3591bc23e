"""Time and identity as ports, so the domain is deterministic under test."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class IdFactory(Protocol):
    def new_id(self) -> str: ...


class UuidFactory:
    def new_id(self) -> str:
        return str(uuid.uuid4())


def iso_ms(epoch_ms: int) -> str:
    """ISO-8601 UTC with milliseconds, as the API writes every timestamp: 2026-11-24T06:00:00.123Z."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_iso_ms(value: str) -> int:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return round(dt.timestamp() * 1000)
