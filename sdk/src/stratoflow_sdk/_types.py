"""Enums and the read-only views of API resources (camelCase JSON in, snake_case attributes out)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ParentClosePolicy(enum.StrEnum):
    """What happens to a child workflow when its parent reaches a terminal state.

    ``REQUEST_CANCEL`` (the default) asks a still-running child to cancel (``CANCELLATION_REQUESTED`` with
    ``reason: "parent closed"``); ``ABANDON`` leaves it running on its own.
    """

    REQUEST_CANCEL = "REQUEST_CANCEL"
    ABANDON = "ABANDON"


class WorkflowStatus(enum.StrEnum):
    """Status of a workflow execution (api.md)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    CANCELLING = "CANCELLING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TERMINATED = "TERMINATED"

    @property
    def is_terminal(self) -> bool:
        """Whether the execution has ended."""
        return self in (
            WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELLED, WorkflowStatus.TERMINATED
        )


class TaskStatus(enum.StrEnum):
    """Status of a task (api.md)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """Whether the task has ended."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


def parse_timestamp(value: Any) -> datetime | None:
    """An api.md timestamp (ISO-8601 UTC, e.g. ``2026-11-24T06:00:00.123Z``) as an aware datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 timestamp, got {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)


@dataclass(frozen=True)
class WorkflowExecution:
    """A workflow execution as the API returns it; ``raw`` keeps the JSON object."""

    workflow_execution_id: str
    kind: str
    queue: str
    status: WorkflowStatus
    input: Any = None
    output: Any = None
    error: Any = None
    cancel_reason: str | None = None
    parent_workflow_execution_id: str | None = None
    child_execution_name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    #: When a cancel request with a cleanup timeout was made, the time the execution is terminated if still live.
    cleanup_deadline: datetime | None = None
    #: The reason of the termination (``TERMINATED`` executions only).
    terminated_reason: str | None = None
    #: The events that cancel this execution (``cancelOn`` of its start), as their JSON objects.
    cancel_on: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkflowExecution:
        """Parse a WorkflowExecution JSON object."""
        return cls(
            workflow_execution_id=str(data["workflowExecutionId"]),
            kind=str(data.get("kind", "")),
            queue=str(data.get("queue", "default")),
            status=WorkflowStatus(data["status"]),
            input=data.get("input"),
            output=data.get("output"),
            error=data.get("error"),
            cancel_reason=data.get("cancelReason"),
            parent_workflow_execution_id=data.get("parentWorkflowExecutionId"),
            child_execution_name=data.get("childExecutionName"),
            created_at=parse_timestamp(data.get("createdAt")),
            updated_at=parse_timestamp(data.get("updatedAt")),
            cleanup_deadline=parse_timestamp(data.get("cleanupDeadline")),
            terminated_reason=data.get("terminatedReason"),
            cancel_on=tuple(dict(entry) for entry in data.get("cancelOn") or () if isinstance(entry, Mapping)),
            raw=dict(data),
        )


@dataclass(frozen=True)
class TaskExecution:
    """A task as the API returns it; ``raw`` keeps the JSON object."""

    task_execution_id: str
    kind: str
    queue: str
    status: TaskStatus
    workflow_execution_id: str | None = None
    input: Any = None
    output: Any = None
    error: Any = None
    attempt: int = 0
    max_retries: int = 0
    timeout_ms: int | None = None
    cancel_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskExecution:
        """Parse a Task JSON object."""
        return cls(
            task_execution_id=str(data["taskExecutionId"]),
            kind=str(data.get("kind", "")),
            queue=str(data.get("queue", "default")),
            status=TaskStatus(data["status"]),
            workflow_execution_id=data.get("workflowExecutionId"),
            input=data.get("input"),
            output=data.get("output"),
            error=data.get("error"),
            attempt=int(data.get("attempt") or 0),
            max_retries=int(data.get("maxRetries") or 0),
            timeout_ms=data.get("timeoutMs"),
            cancel_reason=data.get("cancelReason"),
            created_at=parse_timestamp(data.get("createdAt")),
            updated_at=parse_timestamp(data.get("updatedAt")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class HistoryEvent:
    """One event of an execution's history."""

    sequence: int
    type: str
    data: Mapping[str, Any]
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HistoryEvent:
        """Parse ``{"sequence", "type", "data", "createdAt"}``."""
        body = data.get("data")
        return cls(
            sequence=int(data["sequence"]),
            type=str(data["type"]),
            data=dict(body) if isinstance(body, Mapping) else {},
            created_at=parse_timestamp(data.get("createdAt")),
        )

    def to_json(self) -> dict[str, Any]:
        """The event as the API's JSON object."""
        created = None
        if self.created_at is not None:
            created = self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {"sequence": self.sequence, "type": self.type, "data": dict(self.data), "createdAt": created}


@dataclass(frozen=True)
class HistoryPage:
    """One page of ``GET /v1/workflows/{id}/events``; ``next_after_sequence`` is ``None`` at the end."""

    events: list[HistoryEvent]
    next_after_sequence: int | None


@dataclass(frozen=True)
class WorkflowActivation:
    """A claimed workflow execution (``POST /v1/worker/workflows/poll``): the first page of history and the lease."""

    execution: WorkflowExecution
    events: list[HistoryEvent]
    next_after_sequence: int | None
    lease_id: str
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class TaskActivation:
    """A claimed task (``POST /v1/worker/tasks/poll``) and its lease."""

    task: TaskExecution
    lease_id: str
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class PollRequest:
    """A poll's body (``queue``, ``workerId``, ``kinds``, ``leaseMs``), also the ``pollNext`` of a combined call:
    complete or fail a task, or submit commands, and claim the next task or execution in the same request."""

    queue: str
    worker_id: str | None = None
    kinds: Sequence[str] | None = None
    lease_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The poll's JSON body."""
        body: dict[str, Any] = {"queue": self.queue}
        if self.worker_id is not None:
            body["workerId"] = self.worker_id
        if self.kinds is not None:
            body["kinds"] = list(self.kinds)
        if self.lease_ms is not None:
            body["leaseMs"] = self.lease_ms
        return body


@dataclass(frozen=True)
class TaskReport:
    """Answer to a task completion or failure with ``pollNext``: the task's status and the next task claimed
    (``None`` when none was ready, or when the server does not offer combined calls)."""

    status: TaskStatus
    next: TaskActivation | None = None


@dataclass(frozen=True)
class HeartbeatResult:
    """Answer to a task heartbeat: whether the task was cancelled, and the extended lease."""

    cancel_requested: bool
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class SubmitResult:
    """Answer to a command submission: the execution's new status and the events it appended."""

    status: WorkflowStatus
    events: list[HistoryEvent]
    #: With ``poll_next``: the next execution claimed after the submission, ``None`` when none was ready.
    next: WorkflowActivation | None = None
