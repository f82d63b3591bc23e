"""What the domain services need from the outside world, passed in rather than reached for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stratoflow.clock import Clock, IdFactory, SystemClock, UuidFactory
from stratoflow.config import Settings
from stratoflow.dal.repository import Repository


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


class NoTimerScheduler:
    """For runtimes that never create schedules (tests of everything but the outbox's timer changes)."""

    def create(self, schedule: TimerSchedule) -> None:
        raise RuntimeError("this runtime has no timer scheduler")

    def delete(self, name: str, group: str) -> None:
        raise RuntimeError("this runtime has no timer scheduler")


@dataclass(frozen=True)
class Runtime:
    """Everything a domain entry point works with; `stratoflow.services` builds it once per cold start."""

    settings: Settings
    repo: Repository
    clock: Clock = field(default_factory=SystemClock)
    ids: IdFactory = field(default_factory=UuidFactory)
    scheduler: TimerScheduler = field(default_factory=NoTimerScheduler)

    def now_ms(self) -> int:
        return self.clock.now_ms()
