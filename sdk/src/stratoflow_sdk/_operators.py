"""Views and inputs of the operator controls: cancel-on-event subscriptions and batches."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ._types import WorkflowStatus, parse_timestamp


def format_timestamp(value: datetime) -> str:
    """An aware datetime as the API's timestamp (``2026-11-24T06:00:00.123Z``)."""
    if value.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration_ms(value: float | timedelta, what: str) -> int:
    """Seconds (or a timedelta) as whole milliseconds, for the API's ``…Ms`` fields."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds <= 0:
        raise ValueError(f"{what} must be positive, got {value!r}")
    return round(seconds * 1000)


@dataclass(frozen=True)
class CancelOn:
    """One cancel-on-event subscription of a workflow start.

    The execution is cancelled when an event of ``event_type`` arrives whose data has ``match``'s key equal to its
    value (an empty ``match`` accepts every event of the type), until ``timeout`` (seconds or a timedelta) after the
    start when one is given.
    """

    event_type: str
    match: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | timedelta | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``cancelOn`` entry of a start body."""
        entry: dict[str, Any] = {"eventType": self.event_type, "match": dict(self.match)}
        if self.timeout is not None:
            entry["timeoutMs"] = duration_ms(self.timeout, "timeout")
        return entry


class BatchOperation(enum.StrEnum):
    """What a batch does to each execution it matches."""

    CANCEL = "CANCEL"
    TERMINATE = "TERMINATE"


class BatchStatus(enum.StrEnum):
    """Status of a batch: ``RUNNING`` until it has reached every execution (``COMPLETED``) or was stopped."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    STOPPED = "STOPPED"

    @property
    def is_terminal(self) -> bool:
        """Whether the batch has finished."""
        return self is not BatchStatus.RUNNING


class BatchItemOutcome(enum.StrEnum):
    """What a batch did to one execution."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class BatchFilter:
    """Which executions of the tenant a batch selects; every given field must hold, and one at least is needed.

    ``statuses`` defaults (server side) to every live status; ``created_after <= createdAt < created_before``.
    """

    kind: str | None = None
    queue: str | None = None
    statuses: Sequence[WorkflowStatus | str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    workflow_execution_ids: Sequence[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``filter`` object of a batch body (only the fields that are set)."""
        body: dict[str, Any] = {}
        if self.kind is not None:
            body["kind"] = self.kind
        if self.queue is not None:
            body["queue"] = self.queue
        if self.statuses is not None:
            body["statuses"] = [str(status) for status in self.statuses]
        if self.created_after is not None:
            body["createdAfter"] = format_timestamp(self.created_after)
        if self.created_before is not None:
            body["createdBefore"] = format_timestamp(self.created_before)
        if self.workflow_execution_ids is not None:
            body["workflowExecutionIds"] = list(self.workflow_execution_ids)
        return body


@dataclass(frozen=True)
class Batch:
    """A batch as the API returns it; ``matched`` is ``None`` until the batch has listed every execution."""

    batch_id: str
    operation: BatchOperation
    status: BatchStatus
    filter: Mapping[str, Any]
    reason: str | None = None
    cascade: bool = True
    cleanup_timeout_ms: int | None = None
    matched: int | None = None
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def reached(self) -> int:
        """How many executions the batch has handled so far, whatever the outcome."""
        return self.succeeded + self.failed + self.skipped

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Batch:
        """Parse a Batch JSON object."""
        matched = data.get("matched")
        return cls(
            batch_id=str(data["batchId"]),
            operation=BatchOperation(data["operation"]),
            status=BatchStatus(data["status"]),
            filter=dict(data.get("filter") or {}),
            reason=data.get("reason"),
            cascade=bool(data.get("cascade", True)),
            cleanup_timeout_ms=data.get("cleanupTimeoutMs"),
            matched=int(matched) if matched is not None else None,
            succeeded=int(data.get("succeeded") or 0),
            failed=int(data.get("failed") or 0),
            skipped=int(data.get("skipped") or 0),
            created_at=parse_timestamp(data.get("createdAt")),
            updated_at=parse_timestamp(data.get("updatedAt")),
            completed_at=parse_timestamp(data.get("completedAt")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class BatchItem:
    """One execution a batch reached, and what came of it (``error`` is the API error body of a failure)."""

    workflow_execution_id: str
    outcome: BatchItemOutcome
    error: Mapping[str, Any] | None = None
    at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchItem:
        """Parse one entry of ``GET /v1/batches/{id}/items``."""
        error = data.get("error")
        return cls(
            workflow_execution_id=str(data["workflowExecutionId"]),
            outcome=BatchItemOutcome(data["outcome"]),
            error=dict(error) if isinstance(error, Mapping) else None,
            at=parse_timestamp(data.get("at")),
            raw=dict(data),
        )
