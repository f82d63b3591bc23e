"""What the domain services need from the outside world, passed in rather than reached for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stratoflow.clock import Clock, IdFactory, SystemClock, UuidFactory
from stratoflow.config import Settings


@dataclass(frozen=True)
class TimerSchedule:
    name: str
    group: str
    fire_at_ms: int
    payload: dict[str, str]


class TimerScheduler(Protocol):
    """Creates and deletes the one-time schedule of a timer; both must be idempotent."""

    def create(self, schedule: TimerSchedule) -> None: ...

    def delete(self, name: str, group: str) -> None: ...


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    ids: IdFactory = field(default_factory=UuidFactory)

    def now_ms(self) -> int:
        return self.clock.now_ms()
