"""What an operator wants to know about one execution, derived from its history: the cancel request, the open work
(tasks, timers, children) and the terminal outcome. Everything is plain JSON so that ``-o json`` prints it as is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._types import HistoryEvent

TERMINAL_EVENTS = {
    "WORKFLOW_COMPLETED": "COMPLETED",
    "WORKFLOW_FAILED": "FAILED",
    "WORKFLOW_CANCELLED": "CANCELLED",
    "WORKFLOW_TERMINATED": "TERMINATED",
}
_TASK_ENDS = {"TASK_COMPLETED": "COMPLETED", "TASK_FAILED": "FAILED", "TASK_CANCELLED": "CANCELLED"}
_TIMER_ENDS = {"TIMER_FIRED": "FIRED", "TIMER_CANCELLED": "CANCELLED"}


def _at(event: HistoryEvent) -> str | None:
    return event.to_json()["createdAt"]


def summarize(events: Iterable[HistoryEvent]) -> dict[str, Any]:
    """``{"cancelRequest", "tasks", "timers", "children", "outcome"}`` of a history, in the order things happened.

    Each task, timer and child carries its ``state`` (open ones are ``SCHEDULED``, ``STARTED`` or ``RUNNING``) and
    the times it started and ended.
    """
    cancel_request: dict[str, Any] | None = None
    tasks: dict[str, dict[str, Any]] = {}
    timers: dict[str, dict[str, Any]] = {}
    children: dict[str, dict[str, Any]] = {}
    outcome: dict[str, Any] | None = None
    for event in events:
        data: Mapping[str, Any] = event.data
        kind = event.type
        if kind == "CANCELLATION_REQUESTED" and cancel_request is None:
            # The first request is the one that made the execution CANCELLING; later ones change nothing.
            cancel_request = {"reason": data.get("reason"), "requestedBy": data.get("requestedBy"),
                              "at": _at(event), "cleanupDeadline": data.get("cleanupDeadline")}
        elif kind == "TASK_SCHEDULED":
            task_id = str(data.get("taskExecutionId"))
            tasks[task_id] = {"taskExecutionId": task_id, "kind": data.get("kind"), "state": "SCHEDULED",
                              "scheduledAt": _at(event), "endedAt": None}
        elif kind in _TASK_ENDS and str(data.get("taskExecutionId")) in tasks:
            task = tasks[str(data.get("taskExecutionId"))]
            task.update(state=_TASK_ENDS[kind], endedAt=_at(event))
        elif kind == "TIMER_STARTED":
            timer_id = str(data.get("timerId"))
            timers[timer_id] = {"timerId": timer_id, "durationMs": data.get("durationMs"),
                                "fireAt": data.get("fireAt"), "state": "STARTED", "startedAt": _at(event),
                                "endedAt": None}
        elif kind in _TIMER_ENDS and str(data.get("timerId")) in timers:
            timers[str(data.get("timerId"))].update(state=_TIMER_ENDS[kind], endedAt=_at(event))
        elif kind == "CHILD_WORKFLOW_INITIATED":
            child_id = str(data.get("childWorkflowExecutionId"))
            children[child_id] = {"childExecutionName": data.get("childExecutionName"),
                                  "childWorkflowExecutionId": child_id, "kind": data.get("childWorkflowKind"),
                                  "state": "RUNNING", "cancelRequested": False, "startedAt": _at(event),
                                  "endedAt": None}
        elif kind.startswith("CHILD_WORKFLOW_") and str(data.get("childWorkflowExecutionId")) in children:
            child = children[str(data.get("childWorkflowExecutionId"))]
            if kind == "CHILD_WORKFLOW_CANCELLATION_REQUESTED":
                child["cancelRequested"] = True
            elif kind == "CHILD_WORKFLOW_COMPLETED":
                child.update(state="COMPLETED", endedAt=_at(event))
            elif kind == "CHILD_WORKFLOW_FAILED":
                state = "TERMINATED" if data.get("terminated") else "CANCELLED" if data.get("cancelled") else "FAILED"
                child.update(state=state, endedAt=_at(event))
        elif kind in TERMINAL_EVENTS:
            outcome = {"status": TERMINAL_EVENTS[kind], "at": _at(event), **dict(data)}
    return {
        "cancelRequest": cancel_request,
        "tasks": list(tasks.values()),
        "timers": list(timers.values()),
        "children": list(children.values()),
        "outcome": outcome,
    }

