"""The states of the API's resources (semantics.md)."""

from __future__ import annotations

from enum import StrEnum


class WorkflowStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    CANCELLING = "CANCELLING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TERMINATED = "TERMINATED"


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class TimerStatus(StrEnum):
    STARTED = "STARTED"
    FIRED = "FIRED"
    CANCELLED = "CANCELLED"


class ChildStatus(StrEnum):
    INITIATED = "INITIATED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TERMINATED = "TERMINATED"


class ChildCancelState(StrEnum):
    NONE = "NONE"
    REQUESTED = "REQUESTED"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class ParentClosePolicy(StrEnum):
    REQUEST_CANCEL = "REQUEST_CANCEL"
    ABANDON = "ABANDON"


TERMINAL_WORKFLOW = frozenset(
    {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED, WorkflowStatus.TERMINATED}
)
LIVE_WORKFLOW = frozenset(set(WorkflowStatus) - TERMINAL_WORKFLOW)
OPEN_TASK = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})
TERMINAL_TASK = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
