"""The history event catalogue of api.md, history validation, and the index replay works from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._errors import ReplayError, UnknownEventError
from ._types import HistoryEvent
from ._values import deterministic_id

#: Every event type of api.md and the data keys it carries.
EVENT_KEYS: Mapping[str, frozenset[str]] = {
    "WORKFLOW_STARTED": frozenset({"input"}),
    "TASK_SCHEDULED": frozenset({"taskExecutionId", "kind", "input"}),
    "TASK_COMPLETED": frozenset({"taskExecutionId", "result"}),
    "TASK_FAILED": frozenset({"taskExecutionId", "error"}),
    "TASK_CANCELLED": frozenset({"taskExecutionId", "taskType", "reason"}),
    "TIMER_STARTED": frozenset({"timerId", "durationMs", "fireAt"}),
    "TIMER_FIRED": frozenset({"timerId"}),
    "TIMER_CANCELLED": frozenset({"timerId"}),
    "CHILD_WORKFLOW_INITIATED": frozenset({"childExecutionName", "childWorkflowKind", "childWorkflowExecutionId"}),
    "CHILD_WORKFLOW_COMPLETED": frozenset({"childExecutionName", "childWorkflowExecutionId", "output"}),
    "CHILD_WORKFLOW_FAILED": frozenset(
        {"childExecutionName", "childWorkflowExecutionId", "error", "cancelled", "terminated"}
    ),
    "CHILD_WORKFLOW_CANCELLATION_REQUESTED": frozenset(
        {"childExecutionName", "childWorkflowExecutionId", "reason"}
    ),
    "CHILD_WORKFLOW_CANCELLATION_FAILED": frozenset({"childExecutionName", "childWorkflowExecutionId", "error"}),
    "OPERATION_COMPLETED": frozenset({"operationName", "result"}),
    "STATE_SET": frozenset({"key", "value"}),
    "STATE_CLEARED": frozenset({"key"}),
    "CANCELLATION_REQUESTED": frozenset({"reason", "requestedBy", "cleanupDeadline"}),
    "WORKFLOW_COMPLETED": frozenset({"output"}),
    "WORKFLOW_FAILED": frozenset({"error"}),
    "WORKFLOW_CANCELLED": frozenset({"reason"}),
    "WORKFLOW_TERMINATED": frozenset({"reason", "requestedBy"}),
}

#: The keys replay cannot do without (values such as ``reason`` may be absent or null).
REQUIRED_KEYS: Mapping[str, tuple[str, ...]] = {
    "TASK_SCHEDULED": ("taskExecutionId", "kind"),
    "TASK_COMPLETED": ("taskExecutionId",),
    "TASK_FAILED": ("taskExecutionId",),
    "TASK_CANCELLED": ("taskExecutionId",),
    "TIMER_STARTED": ("timerId",),
    "TIMER_FIRED": ("timerId",),
    "TIMER_CANCELLED": ("timerId",),
    "CHILD_WORKFLOW_INITIATED": ("childExecutionName", "childWorkflowKind", "childWorkflowExecutionId"),
    "CHILD_WORKFLOW_COMPLETED": ("childWorkflowExecutionId",),
    "CHILD_WORKFLOW_FAILED": ("childWorkflowExecutionId",),
    "CHILD_WORKFLOW_CANCELLATION_REQUESTED": ("childWorkflowExecutionId",),
    "CHILD_WORKFLOW_CANCELLATION_FAILED": ("childWorkflowExecutionId",),
    "OPERATION_COMPLETED": ("operationName",),
    "STATE_SET": ("key",),
    "STATE_CLEARED": ("key",),
}

TERMINAL_EVENTS = frozenset({"WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED", "WORKFLOW_TERMINATED"})

#: Commands that always append exactly one event, so replay matches them to the history one by one, in order.
#: Value: the event type and the (command field, event field) pairs that must agree.
POSITIONAL_COMMANDS: Mapping[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "SCHEDULE_TASK": ("TASK_SCHEDULED", (("taskExecutionId", "taskExecutionId"), ("kind", "kind"))),
    "START_TIMER": ("TIMER_STARTED", (("timerId", "timerId"),)),
    "SCHEDULE_CHILD_WORKFLOW": (
        "CHILD_WORKFLOW_INITIATED",
        (
            ("childWorkflowExecutionId", "childWorkflowExecutionId"),
            ("childExecutionName", "childExecutionName"),
            ("workflowKind", "childWorkflowKind"),
        ),
    ),
    "REQUEST_CANCEL_CHILD_WORKFLOW": (
        "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
        (("childWorkflowExecutionId", "childWorkflowExecutionId"),),
    ),
    "RECORD_OPERATION": ("OPERATION_COMPLETED", (("operationName", "operationName"),)),
    "SET_STATE": ("STATE_SET", (("key", "key"),)),
    "CLEAR_STATE": ("STATE_CLEARED", (("key", "key"),)),
    "COMPLETE_WORKFLOW": ("WORKFLOW_COMPLETED", ()),
    "FAIL_WORKFLOW": ("WORKFLOW_FAILED", ()),
    "CANCEL_WORKFLOW": ("WORKFLOW_CANCELLED", ()),
}
POSITIONAL_EVENTS = frozenset(event for event, _ in POSITIONAL_COMMANDS.values())
TERMINAL_COMMANDS = frozenset({"COMPLETE_WORKFLOW", "FAIL_WORKFLOW", "CANCEL_WORKFLOW"})


def command_matches_event(command: Mapping[str, Any], event: HistoryEvent) -> bool:
    """Whether a positional command is the one that appended ``event``."""
    expected = POSITIONAL_COMMANDS.get(str(command.get("type")))
    if expected is None or expected[0] != event.type:
        return False
    return all(command.get(c) == event.data.get(e) for c, e in expected[1])


def describe_command(command: Mapping[str, Any]) -> str:
    """A short human description: the type and its identifying fields."""
    keys = ("taskExecutionId", "timerId", "childWorkflowExecutionId", "childExecutionName", "workflowKind", "kind",
            "operationName", "key")
    fields = ", ".join(f"{k}={command[k]!r}" for k in keys if k in command)
    return f"{command.get('type')}({fields})"


def describe_event(event: HistoryEvent) -> str:
    """``#<sequence> <TYPE>(<identifying data>)``."""
    keys = ("taskExecutionId", "timerId", "childWorkflowExecutionId", "childExecutionName", "childWorkflowKind",
            "kind", "operationName", "key")
    fields = ", ".join(f"{k}={event.data[k]!r}" for k in keys if k in event.data)
    return f"#{event.sequence} {event.type}({fields})"


def parse_events(raw: Iterable[HistoryEvent | Mapping[str, Any]]) -> list[HistoryEvent]:
    """Events as :class:`HistoryEvent`, checked: known types, required keys, sequences 1..N without gaps."""
    events = [e if isinstance(e, HistoryEvent) else HistoryEvent.from_json(e) for e in raw]
    for position, event in enumerate(events, start=1):
        if event.type not in EVENT_KEYS:
            raise UnknownEventError(
                f"history event #{event.sequence} has type {event.type!r}, which this SDK does not know; "
                "refusing to replay rather than misread the history",
                event=event,
            )
        if event.sequence != position:
            raise ReplayError(f"history sequences must be 1..N without gaps; position {position} has "
                              f"#{event.sequence}")
        missing = [k for k in REQUIRED_KEYS.get(event.type, ()) if event.data.get(k) is None]
        if missing:
            raise ReplayError(f"history event {describe_event(event)} lacks {', '.join(missing)}")
    if not events or events[0].type != "WORKFLOW_STARTED":
        raise ReplayError("a history starts with WORKFLOW_STARTED")
    return events


def merge_pages(first: Sequence[HistoryEvent], rest: Iterable[HistoryEvent]) -> list[HistoryEvent]:
    """Concatenate history pages, dropping repeats of sequences already seen."""
    merged = list(first)
    last = merged[-1].sequence if merged else 0
    for event in rest:
        if event.sequence > last:
            merged.append(event)
            last = event.sequence
    return merged


def is_resume_timer(execution_id: str, timer_id: str) -> bool:
    """Whether ``timer_id`` is one of the SDK's own resume timers (see ``_submission``), not workflow code's."""
    prefix = deterministic_id(execution_id, "resume", 0)[: -len("0")]
    return timer_id.startswith(prefix) and timer_id[len(prefix):].isdigit()


@dataclass
class HistoryIndex:
    """What replay needs to know about the whole history up front."""

    events: list[HistoryEvent]
    #: Events appended by positional commands, in order (the SDK's resume timers left out).
    positional: list[HistoryEvent] = field(default_factory=list)
    #: sequence -> index in ``positional``.
    positional_index: dict[int, int] = field(default_factory=dict)
    #: Tasks with a terminal event anywhere in the history (so a cancel request would change nothing).
    closed_tasks: set[str] = field(default_factory=set)
    #: Timers with TIMER_FIRED or TIMER_CANCELLED anywhere in the history.
    closed_timers: set[str] = field(default_factory=set)
    #: How many resume timers the SDK already started.
    resume_timers: int = 0

    @classmethod
    def build(cls, execution_id: str, events: list[HistoryEvent]) -> HistoryIndex:
        index = cls(events=events)
        for event in events:
            data = event.data
            if event.type == "TIMER_STARTED" and is_resume_timer(execution_id, str(data["timerId"])):
                index.resume_timers += 1
                continue
            if event.type in POSITIONAL_EVENTS:
                index.positional_index[event.sequence] = len(index.positional)
                index.positional.append(event)
            if event.type in ("TASK_COMPLETED", "TASK_FAILED", "TASK_CANCELLED"):
                index.closed_tasks.add(str(data["taskExecutionId"]))
            elif event.type in ("TIMER_FIRED", "TIMER_CANCELLED"):
                index.closed_timers.add(str(data["timerId"]))
        return index

    @property
    def last_sequence(self) -> int:
        return self.events[-1].sequence if self.events else 0
