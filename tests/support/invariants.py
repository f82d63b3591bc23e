"""One checker for invariants I1-I4 of semantics.md, over histories as the API returns them.

`check_invariants(histories, stored_items=..., settled=...)` raises `InvariantViolation` (an AssertionError) that
lists every violation found, each naming the invariant, the workflow execution and the events involved:

- I1 history: sequences are 1..N, gapless, unique and increasing; the history starts with one WORKFLOW_STARTED;
  at most one terminal event, and nothing after it.
- I2 timers: each started timer ends with at most one of TIMER_FIRED / TIMER_CANCELLED, never before it started,
  never one after the other; exactly one once the timer is closed (an open timer of an ended workflow is cancelled
  without an event, so then none).
- I3 tasks: per task at most one of TASK_COMPLETED / TASK_FAILED / TASK_CANCELLED (nothing after TASK_CANCELLED),
  exactly one matching the task's terminal status while its workflow is live.
- I4 children: each child's outcome is reported at most once, and exactly once to a live parent, matching how the
  child ended; each CHILD_WORKFLOW_CANCELLATION_REQUESTED yields exactly one of: the child's CANCELLATION_REQUESTED
  {requestedBy: "workflow:<parent>"}, the parent's CHILD_WORKFLOW_CANCELLATION_FAILED, or nothing because the child
  was already CANCELLING. An execution is asked to cancel (CANCELLATION_REQUESTED) at most once.

`histories` maps workflow execution ids to their full histories (a single list is accepted too). Where given,
`stored_items` are the table's items (attribute names as stored: `pk`, `sk`, `status`, `lastSeq`, ...); then the
checker also compares each execution's, task's, timer's and child link's stored status with its events.
`settled=True` says every asynchronous follow-up has landed (stream and scheduler effects, sweeps): then no outbox
item may be left, no request may still be on its way, and no task or timer of an ended workflow may be open.

Attribution rule: a child's CANCELLATION_REQUESTED whose requestedBy is the parent and whose reason is the reason of
one of the parent's requests for that child is that request's delivery (tests give different flows different reasons).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Event = Mapping[str, Any]
Item = Mapping[str, Any]

TERMINAL_EVENTS = {
    "WORKFLOW_COMPLETED": "COMPLETED",
    "WORKFLOW_FAILED": "FAILED",
    "WORKFLOW_CANCELLED": "CANCELLED",
    "WORKFLOW_TERMINATED": "TERMINATED",
}
TERMINAL_STATUSES = frozenset(TERMINAL_EVENTS.values())
LIVE_STATUSES = frozenset({"PENDING", "RUNNING", "WAITING", "CANCELLING"})
OPEN_TASKS = frozenset({"PENDING", "RUNNING"})
TIMER_ENDS = ("TIMER_FIRED", "TIMER_CANCELLED")
TASK_OUTCOMES = {"TASK_COMPLETED": "COMPLETED", "TASK_FAILED": "FAILED", "TASK_CANCELLED": "CANCELLED"}
CHILD_OUTCOMES = ("CHILD_WORKFLOW_COMPLETED", "CHILD_WORKFLOW_FAILED")
UNKNOWN_HISTORY = "<history>"


@dataclass(frozen=True)
class Violation:
    invariant: str
    workflow_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.invariant} in {self.workflow_id}: {self.message}"


class InvariantViolation(AssertionError):
    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        lines = "\n".join(f"  - {violation}" for violation in self.violations)
        super().__init__(f"{len(self.violations)} invariant violation(s):\n{lines}")


def _describe(event: Event) -> str:
    return f"{event.get('type')}@{event.get('sequence')}"


@dataclass
class _History:
    workflow_id: str
    events: list[Event]
    terminal: Event | None = None

    @property
    def live(self) -> bool:
        return self.terminal is None


@dataclass
class _Stored:
    executions: dict[str, Item] = field(default_factory=dict)
    tasks: dict[str, list[Item]] = field(default_factory=lambda: defaultdict(list))
    timers: dict[str, dict[str, Item]] = field(default_factory=lambda: defaultdict(dict))
    links: dict[str, dict[str, Item]] = field(default_factory=lambda: defaultdict(dict))
    outbox: list[Item] = field(default_factory=list)
    task_refs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


class _Checker:
    def __init__(self, histories: Mapping[str, Sequence[Event]], stored: _Stored | None, settled: bool) -> None:
        self.histories = {wid: _History(wid, list(events)) for wid, events in histories.items()}
        self.stored = stored
        self.settled = settled
        self.violations: list[Violation] = []

    def fail(self, invariant: str, workflow_id: str, message: str) -> None:
        self.violations.append(Violation(invariant, workflow_id, message))

    def run(self) -> list[Violation]:
        for history in self.histories.values():
            self.check_history(history)
        for history in self.histories.values():
            self.check_timers(history)
            self.check_tasks(history)
            self.check_children(history)
        self.check_task_ids_unique()
        if self.stored is not None:
            self.check_stored_executions()
            self.check_open_tasks_recorded()
            if self.settled:
                self.check_outbox_drained()
        return self.violations

    # ------------------------------------------------------------------ I1

    def check_history(self, history: _History) -> None:
        wid, events = history.workflow_id, history.events
        for position, event in enumerate(events, start=1):
            sequence = event.get("sequence")
            if sequence != position:
                seen = [e.get("sequence") for e in events]
                duplicates = sorted({s for s in seen if isinstance(s, int) and seen.count(s) > 1})
                detail = f"; duplicated: {duplicates}" if duplicates else ""
                self.fail(
                    "I1",
                    wid,
                    f"event #{position} ({event.get('type')}) has sequence {sequence}, expected {position}: "
                    f"sequences must be 1..N, gapless, unique and increasing (got {seen}){detail}",
                )
                break
        if events and events[0].get("type") != "WORKFLOW_STARTED":
            self.fail("I1", wid, f"the history starts with {_describe(events[0])}, not WORKFLOW_STARTED")
        starts = [e for e in events if e.get("type") == "WORKFLOW_STARTED"]
        if len(starts) > 1:
            self.fail("I1", wid, f"WORKFLOW_STARTED appears {len(starts)} times: {[_describe(e) for e in starts]}")
        for index, event in enumerate(events):
            if event.get("type") in TERMINAL_EVENTS:
                if history.terminal is None:
                    history.terminal = event
                    after = events[index + 1 :]
                    if after:
                        self.fail(
                            "I1",
                            wid,
                            f"{[_describe(e) for e in after]} follow the terminal event {_describe(event)}",
                        )
                else:
                    self.fail(
                        "I1",
                        wid,
                        f"a second terminal event {_describe(event)} after {_describe(history.terminal)}",
                    )
        requests = [e for e in events if e.get("type") == "CANCELLATION_REQUESTED"]
        if len(requests) > 1:
            self.fail(
                "I4",
                wid,
                f"CANCELLATION_REQUESTED appears {len(requests)} times ({[_describe(e) for e in requests]}): "
                "a CANCELLING execution is never asked again",
            )
        for request in requests:
            by = (request.get("data") or {}).get("requestedBy")
            origins = ("workflow:", "event:", "batch:")  # the operator controls' requests (operators.md)
            if not isinstance(by, str) or not (
                by == "api" or any(by.startswith(origin) and len(by) > len(origin) for origin in origins)
            ):
                expected = "not 'api', 'workflow:', 'event:' or 'batch:'"
                self.fail("I4", wid, f"{_describe(request)} has requestedBy {by!r}, {expected}")

    # ------------------------------------------------------------------ I2

    def check_timers(self, history: _History) -> None:
        wid = history.workflow_id
        started: dict[str, Event] = {}
        ended: dict[str, Event] = {}
        for event in history.events:
            kind = event.get("type")
            data = event.get("data") or {}
            timer_id = str(data.get("timerId"))
            if kind == "TIMER_STARTED":
                if timer_id in started:
                    self.fail(
                        "I2",
                        wid,
                        f"timer {timer_id!r} started twice ({_describe(started[timer_id])}, {_describe(event)})",
                    )
                else:
                    started[timer_id] = event
            elif kind in TIMER_ENDS:
                if timer_id not in started:
                    self.fail("I2", wid, f"{_describe(event)} for timer {timer_id!r}, which was not started before")
                elif timer_id in ended:
                    self.fail(
                        "I2",
                        wid,
                        f"timer {timer_id!r}: {_describe(event)} after {_describe(ended[timer_id])}; "
                        "a timer ends with exactly one of TIMER_FIRED / TIMER_CANCELLED",
                    )
                else:
                    ended[timer_id] = event
        if self.stored is None:
            return
        # A cleanup deadline's timer ($cleanup-deadline) is the platform's, not the workflow's: it has no events.
        stored = {tid: item for tid, item in self.stored.timers.get(wid, {}).items() if not tid.startswith("$")}
        for timer_id in started:
            item = stored.get(timer_id)
            if item is None:
                self.fail("I2", wid, f"timer {timer_id!r} has TIMER_STARTED but no stored timer")
                continue
            status = item.get("status")
            end = ended.get(timer_id)
            if status == "STARTED":
                if end is not None:
                    self.fail("I2", wid, f"timer {timer_id!r} is stored STARTED but has {_describe(end)}")
                elif self.settled and not history.live:
                    self.fail("I2", wid, f"timer {timer_id!r} is still STARTED after its workflow ended")
            elif status == "FIRED":
                if end is None or end.get("type") != "TIMER_FIRED":
                    got = _describe(end) if end is not None else "no end event"
                    self.fail("I2", wid, f"timer {timer_id!r} is stored FIRED but has {got}")
            elif status == "CANCELLED":
                if end is not None and end.get("type") != "TIMER_CANCELLED":
                    self.fail("I2", wid, f"timer {timer_id!r} is stored CANCELLED but has {_describe(end)}")
                elif end is None and history.live:
                    self.fail(
                        "I2",
                        wid,
                        f"timer {timer_id!r} is CANCELLED without TIMER_CANCELLED while its workflow is live",
                    )
            else:
                self.fail("I2", wid, f"timer {timer_id!r} has unknown stored status {status!r}")
        for timer_id in stored:
            if timer_id not in started:
                self.fail("I2", wid, f"stored timer {timer_id!r} has no TIMER_STARTED")

    # ------------------------------------------------------------------ I3

    def check_tasks(self, history: _History) -> None:
        wid = history.workflow_id
        scheduled: dict[str, Event] = {}
        outcomes: dict[str, Event] = {}
        for event in history.events:
            kind = event.get("type")
            data = event.get("data") or {}
            task_id = str(data.get("taskExecutionId"))
            if kind == "TASK_SCHEDULED":
                if task_id in scheduled:
                    self.fail(
                        "I3",
                        wid,
                        f"task {task_id!r} scheduled twice ({_describe(scheduled[task_id])}, {_describe(event)})",
                    )
                else:
                    scheduled[task_id] = event
            elif kind in TASK_OUTCOMES:
                if task_id not in scheduled:
                    self.fail("I3", wid, f"{_describe(event)} for task {task_id!r}, which was not scheduled before")
                elif task_id in outcomes:
                    first = outcomes[task_id]
                    rule = (
                        "nothing may follow TASK_CANCELLED"
                        if first.get("type") == "TASK_CANCELLED"
                        else "a task reaches exactly one terminal state"
                    )
                    self.fail("I3", wid, f"task {task_id!r}: {_describe(event)} after {_describe(first)}; {rule}")
                else:
                    outcomes[task_id] = event
        if self.stored is None:
            return
        stored = {str(item.get("taskExecutionId")): item for item in self.stored.tasks.get(wid, [])}
        for task_id in scheduled:
            item = stored.get(task_id)
            if item is None:
                self.fail("I3", wid, f"task {task_id!r} has TASK_SCHEDULED but no stored task")
                continue
            status = item.get("status")
            outcome = outcomes.get(task_id)
            if status in ("PENDING", "RUNNING"):
                if outcome is not None:
                    self.fail("I3", wid, f"task {task_id!r} is stored {status} but has {_describe(outcome)}")
                elif self.settled and not history.live:
                    self.fail("I3", wid, f"task {task_id!r} is still {status} after its workflow ended")
            elif status in ("COMPLETED", "FAILED", "CANCELLED"):
                if outcome is not None:
                    if TASK_OUTCOMES[str(outcome.get("type"))] != status:
                        self.fail("I3", wid, f"task {task_id!r} is stored {status} but has {_describe(outcome)}")
                elif history.live or status != "CANCELLED":
                    self.fail(
                        "I3",
                        wid,
                        f"task {task_id!r} is {status} without its outcome event"
                        + (" while its workflow is live" if history.live else ""),
                    )
            else:
                self.fail("I3", wid, f"task {task_id!r} has unknown stored status {status!r}")
        for task_id in stored:
            if task_id not in scheduled:
                self.fail("I3", wid, f"stored task {task_id!r} of this workflow has no TASK_SCHEDULED")

    def check_task_ids_unique(self) -> None:
        owners: dict[str, list[str]] = defaultdict(list)
        for history in self.histories.values():
            for event in history.events:
                if event.get("type") == "TASK_SCHEDULED":
                    owners[str((event.get("data") or {}).get("taskExecutionId"))].append(history.workflow_id)
        for task_id, wids in owners.items():
            if len(set(wids)) > 1:
                self.fail("I3", wids[0], f"task {task_id!r} is scheduled by several executions: {sorted(set(wids))}")

    # ------------------------------------------------------------------ I4

    def check_children(self, parent: _History) -> None:
        pid = parent.workflow_id
        initiated: dict[str, Event] = {}
        outcomes: dict[str, list[Event]] = defaultdict(list)
        requests: dict[tuple[str, str], list[Event]] = defaultdict(list)
        failures: dict[tuple[str, str], list[Event]] = defaultdict(list)
        for event in parent.events:
            kind = event.get("type")
            data = event.get("data") or {}
            name = str(data.get("childExecutionName"))
            child_id = str(data.get("childWorkflowExecutionId"))
            if kind == "CHILD_WORKFLOW_INITIATED":
                if name in initiated:
                    self.fail("I4", pid, f"child name {name!r} initiated twice ({_describe(event)})")
                else:
                    initiated[name] = event
            elif kind in CHILD_OUTCOMES:
                start = initiated.get(name)
                if start is None or (start.get("data") or {}).get("childWorkflowExecutionId") != child_id:
                    self.fail("I4", pid, f"{_describe(event)} for {name!r}/{child_id!r}, not a child initiated before")
                outcomes[name].append(event)
            elif kind == "CHILD_WORKFLOW_CANCELLATION_REQUESTED":
                requests[(name, child_id)].append(event)
            elif kind == "CHILD_WORKFLOW_CANCELLATION_FAILED":
                failures[(name, child_id)].append(event)
        for name, reported in outcomes.items():
            if len(reported) > 1:
                self.fail(
                    "I4",
                    pid,
                    f"child {name!r} has {len(reported)} outcome events {[_describe(e) for e in reported]}; "
                    "a child's outcome is reported once",
                )
        links = self.stored.links.get(pid, {}) if self.stored is not None else {}
        for name, start in initiated.items():
            started_id = str((start.get("data") or {}).get("childWorkflowExecutionId"))
            self._check_child_outcome(parent, name, started_id, outcomes.get(name, []), links.get(name))
        for (name, child_id), asked in requests.items():
            self._check_cancel_requests(parent, name, child_id, asked, failures.get((name, child_id), []), initiated)
        for (name, child_id), failed in failures.items():
            if (name, child_id) not in requests:
                self.fail(
                    "I4",
                    pid,
                    f"{[_describe(e) for e in failed]} for {name!r}/{child_id!r} answer no "
                    "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
                )
        if self.settled:
            for name, link in links.items():
                if link.get("cancelState") == "REQUESTED":
                    self.fail("I4", pid, f"the cancel request for child {name!r} is still on its way after settling")

    def _check_child_outcome(
        self, parent: _History, name: str, child_id: str, reported: list[Event], link: Item | None
    ) -> None:
        pid = parent.workflow_id
        child = self.histories.get(child_id)
        if child is None:
            return
        if child.terminal is None:
            if reported:
                self.fail("I4", pid, f"{_describe(reported[0])} reports child {name!r}, which has not ended")
            if link is not None and link.get("status") != "INITIATED":
                self.fail("I4", pid, f"the link of live child {name!r} is {link.get('status')}")
            return
        ended_as = TERMINAL_EVENTS[str(child.terminal.get("type"))]
        if link is not None and link.get("status") != ended_as:
            self.fail("I4", pid, f"child {name!r} ended {ended_as} but its link is {link.get('status')}")
        if not reported:
            if parent.live:
                self.fail(
                    "I4",
                    pid,
                    f"child {name!r} ended with {_describe(child.terminal)} but its live parent has no outcome event",
                )
            return
        event = reported[0]
        data = event.get("data") or {}
        terminal_data = child.terminal.get("data") or {}
        if ended_as == "COMPLETED":
            good = event.get("type") == "CHILD_WORKFLOW_COMPLETED" and data.get("output") == terminal_data.get("output")
        elif ended_as == "FAILED":
            good = (
                event.get("type") == "CHILD_WORKFLOW_FAILED"
                and data.get("cancelled") is False
                and data.get("terminated") is False
                and data.get("error") == terminal_data.get("error")
            )
        elif ended_as == "TERMINATED":
            good = (
                event.get("type") == "CHILD_WORKFLOW_FAILED"
                and data.get("cancelled") is False
                and data.get("terminated") is True
                and data.get("error") == {"code": "TERMINATED", "message": terminal_data.get("reason")}
            )
        else:
            good = (
                event.get("type") == "CHILD_WORKFLOW_FAILED"
                and data.get("cancelled") is True
                and data.get("terminated") is False
            )
        if not good:
            self.fail(
                "I4",
                pid,
                f"{_describe(event)} {dict(data)} does not match how child {name!r} ended "
                f"({_describe(child.terminal)})",
            )

    def _check_cancel_requests(
        self,
        parent: _History,
        name: str,
        child_id: str,
        asked: list[Event],
        failed: list[Event],
        initiated: Mapping[str, Event],
    ) -> None:
        pid = parent.workflow_id
        label = f"child {name!r}/{child_id!r}"
        for request, failure in zip(asked, failed, strict=False):
            if int(failure.get("sequence") or 0) < int(request.get("sequence") or 0):
                self.fail("I4", pid, f"{_describe(failure)} for {label} precedes the request {_describe(request)}")
        if len(failed) > len(asked):
            self.fail(
                "I4",
                pid,
                f"{label}: {len(failed)} CHILD_WORKFLOW_CANCELLATION_FAILED for {len(asked)} request(s)",
            )
            return
        start = initiated.get(name)
        ours = start is not None and (start.get("data") or {}).get("childWorkflowExecutionId") == child_id
        child = self.histories.get(child_id) if ours else None
        if not ours:
            if self.settled and parent.live and len(failed) != len(asked):
                self.fail(
                    "I4",
                    pid,
                    f"{label} is not a child of this execution: each of {len(asked)} request(s) must yield "
                    f"CHILD_WORKFLOW_CANCELLATION_FAILED, got {len(failed)}",
                )
            return
        if child is None:
            return
        reasons = {(r.get("data") or {}).get("reason") for r in asked}
        delivered = [
            e
            for e in child.events
            if e.get("type") == "CANCELLATION_REQUESTED"
            and (e.get("data") or {}).get("requestedBy") == f"workflow:{pid}"
            and (e.get("data") or {}).get("reason") in reasons
        ]
        if delivered and len(failed) > len(asked) - 1:
            self.fail(
                "I4",
                pid,
                f"{label}: a request was delivered ({_describe(delivered[0])} in the child) and every one of "
                f"{len(asked)} request(s) also failed ({[_describe(e) for e in failed]})",
            )
        asked_to_cancel = any(e.get("type") == "CANCELLATION_REQUESTED" for e in child.events)
        if self.settled and parent.live and not asked_to_cancel and len(failed) != len(asked):
            self.fail(
                "I4",
                pid,
                f"{label}: {len(asked)} request(s), no CANCELLATION_REQUESTED in the child and "
                f"{len(failed)} CHILD_WORKFLOW_CANCELLATION_FAILED: a request was lost",
            )

    # ------------------------------------------------------------------ stored state

    def check_stored_executions(self) -> None:
        assert self.stored is not None
        for wid, history in self.histories.items():
            item = self.stored.executions.get(wid)
            if item is None:
                continue
            status = item.get("status")
            if item.get("lastSeq") is not None and int(item["lastSeq"]) != len(history.events):
                self.fail("I1", wid, f"stored lastSeq is {item['lastSeq']} but the history has {len(history.events)}")
            if history.terminal is not None:
                expected = TERMINAL_EVENTS[str(history.terminal.get("type"))]
                if status != expected:
                    self.fail(
                        "I1", wid, f"stored status {status} but the history ends with {_describe(history.terminal)}"
                    )
            elif status not in LIVE_STATUSES:
                self.fail("I1", wid, f"stored status {status} but the history has no terminal event")
            elif status == "CANCELLING" and not any(e.get("type") == "CANCELLATION_REQUESTED" for e in history.events):
                self.fail("I4", wid, "stored CANCELLING without CANCELLATION_REQUESTED")

    def check_open_tasks_recorded(self) -> None:
        """A live execution's record of its open tasks (ids on it, and reference items) names exactly its PENDING and
        RUNNING tasks: what its close will cancel (I3: a task left out would be handed to a worker after the end)."""
        assert self.stored is not None
        for wid, item in self.stored.executions.items():
            if item.get("status") not in LIVE_STATUSES or "taskRefs" not in item:
                continue  # ended (close works from its payload), or written before the ids were kept on it
            recorded = set(item.get("openTasks") or ()) | self.stored.task_refs[wid]
            open_now = {str(t["taskExecutionId"]) for t in self.stored.tasks[wid] if t.get("status") in OPEN_TASKS}
            if recorded != open_now:
                self.fail("I3", wid, f"open tasks recorded {sorted(recorded)}, open tasks stored {sorted(open_now)}")

    def check_outbox_drained(self) -> None:
        assert self.stored is not None
        for item in self.stored.outbox:
            sk = str(item.get("sk"))
            invariant = "I3" if sk.startswith("OUTBOX#CLOSE#") else "I4"
            self.fail(
                invariant,
                str(item.get("workflowExecutionId")),
                f"outbox item {sk} is still pending after settling: a follow-up was lost",
            )


def _classify(items: Iterable[Item], tenant: str | None) -> _Stored:
    stored = _Stored()
    for item in items:
        pk, sk = str(item.get("pk", "")), str(item.get("sk", ""))
        if tenant is not None and not pk.startswith(f"T#{tenant}#"):
            continue
        if sk == "WF":
            stored.executions[str(item.get("workflowExecutionId"))] = item
        elif sk == "TASK":
            if item.get("workflowExecutionId") is not None:
                stored.tasks[str(item["workflowExecutionId"])].append(item)
        elif sk.startswith("TIMER#"):
            stored.timers[str(item.get("workflowExecutionId"))][str(item.get("timerId"))] = item
        elif sk.startswith("CHILD#"):
            stored.links[str(item.get("parentWorkflowExecutionId"))][str(item.get("childExecutionName"))] = item
        elif sk.startswith("OUTBOX#"):
            stored.outbox.append(item)
        elif sk.startswith("TASKREF#"):
            stored.task_refs[pk.split("#WF#", 1)[1]].add(str(item.get("taskExecutionId")))
    return stored


def find_violations(
    histories: Mapping[str, Sequence[Event]] | Sequence[Event],
    *,
    stored_items: Iterable[Item] | None = None,
    tenant: str | None = None,
    settled: bool = False,
) -> list[Violation]:
    """Every violation of I1-I4 in `histories` (and, where given, against the stored items)."""
    if isinstance(histories, Mapping):
        by_id: Mapping[str, Sequence[Event]] = histories
    else:
        by_id = {UNKNOWN_HISTORY: histories}
    stored = _classify(stored_items, tenant) if stored_items is not None else None
    return _Checker(by_id, stored, settled).run()


def check_invariants(
    histories: Mapping[str, Sequence[Event]] | Sequence[Event],
    *,
    stored_items: Iterable[Item] | None = None,
    tenant: str | None = None,
    settled: bool = False,
) -> None:
    """Raise `InvariantViolation` listing every violation of I1-I4; return quietly when there is none."""
    violations = find_violations(histories, stored_items=stored_items, tenant=tenant, settled=settled)
    if violations:
        raise InvariantViolation(violations)
