"""Builds api.md histories by hand for replay tests (one second between events)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

RUN = "wf-1"
START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class History:
    """Fluent builder; ids follow the SDK's scheme for execution ``run``."""

    def __init__(self, run: str = RUN, input_value: Any = None) -> None:
        self.run = run
        self.events: list[dict[str, Any]] = []
        self._at = START
        self.add("WORKFLOW_STARTED", input=input_value)

    def add(self, event_type: str, **data: Any) -> History:
        self.events.append({"sequence": len(self.events) + 1, "type": event_type, "data": data,
                            "createdAt": stamp(self._at)})
        self._at += timedelta(seconds=1)
        return self

    def task(self, n: int) -> str:
        return f"{self.run}:task:{n}"

    def timer(self, n: int) -> str:
        return f"{self.run}:timer:{n}"

    def child(self, n: int) -> str:
        return f"{self.run}:child:{n}"

    def scheduled(self, n: int, kind: str, input_value: Any = None) -> History:
        return self.add("TASK_SCHEDULED", taskExecutionId=self.task(n), kind=kind, input=input_value)

    def completed(self, n: int, result: Any) -> History:
        return self.add("TASK_COMPLETED", taskExecutionId=self.task(n), result=result)

    def failed(self, n: int, error: Any) -> History:
        return self.add("TASK_FAILED", taskExecutionId=self.task(n), error=error)

    def task_cancelled(self, n: int, kind: str, reason: str | None = None) -> History:
        return self.add("TASK_CANCELLED", taskExecutionId=self.task(n), taskType=kind, reason=reason)

    def timer_started(self, n: int, duration_ms: int) -> History:
        return self.add("TIMER_STARTED", timerId=self.timer(n), durationMs=duration_ms,
                        fireAt=stamp(self._at + timedelta(milliseconds=duration_ms)))

    def fired(self, n: int) -> History:
        return self.add("TIMER_FIRED", timerId=self.timer(n))

    def timer_cancelled(self, n: int) -> History:
        return self.add("TIMER_CANCELLED", timerId=self.timer(n))

    def child_initiated(self, n: int, name: str, kind: str) -> History:
        return self.add("CHILD_WORKFLOW_INITIATED", childExecutionName=name, childWorkflowKind=kind,
                        childWorkflowExecutionId=self.child(n))

    def child_completed(self, n: int, name: str, output: Any) -> History:
        return self.add("CHILD_WORKFLOW_COMPLETED", childExecutionName=name, childWorkflowExecutionId=self.child(n),
                        output=output)

    def child_failed(self, n: int, name: str, error: Any, cancelled: bool) -> History:
        return self.add("CHILD_WORKFLOW_FAILED", childExecutionName=name, childWorkflowExecutionId=self.child(n),
                        error=error, cancelled=cancelled)

    def cancel_requested(self, reason: str | None = "stop", requested_by: str = "api") -> History:
        return self.add("CANCELLATION_REQUESTED", reason=reason, requestedBy=requested_by)
