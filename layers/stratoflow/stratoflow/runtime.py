"""What the domain services need from the outside world, passed in rather than reached for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from stratoflow.clock import Clock, IdFactory, SystemClock, UuidFactory
from stratoflow.config import Settings
from stratoflow.dal.repository import Repository


@dataclass(frozen=True)
class TimerSchedule:
    name: str
    group: str
    fire_at_ms: int
    payload: dict[str, Any]


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
class TimerMessage:
    """A timer on its last mile: delivered to fire-timer by the timer queue after `delay_s` (at most 900)."""

    body: dict[str, Any]
    delay_s: int


class TimerQueue(Protocol):
    """Sends a timer's delayed message (at least once: fire-timer's gate makes duplicates harmless)."""

    def send(self, message: TimerMessage) -> None: ...


class NoTimerQueue:
    """For runtimes that never send timers down the last mile."""

    def send(self, message: TimerMessage) -> None:
        raise RuntimeError("this runtime has no timer queue")


@dataclass(frozen=True)
class Runtime:
    """Everything a domain entry point works with; `stratoflow.services` builds it once per cold start."""

    settings: Settings
    repo: Repository
    clock: Clock = field(default_factory=SystemClock)
    ids: IdFactory = field(default_factory=UuidFactory)
    scheduler: TimerScheduler = field(default_factory=NoTimerScheduler)
    timer_queue: TimerQueue = field(default_factory=NoTimerQueue)

    def now_ms(self) -> int:
        return self.clock.now_ms()
