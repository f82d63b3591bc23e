"""An in-memory Stratoflow server for the SDK's unit tests, reached through the SDK's ``Transport`` interface.

It implements the api.md routes the SDK uses, with the rules that shape the SDK's behaviour: leases and readiness
(no lost wake-up), atomic command submissions (≤ 25 commands, nothing after a terminal command, unknown fields and
bad ids refused), the events each command appends, tasks with retries and cancellation, timers fired on demand,
child workflows with outcome delivery and cancel propagation, parent-close policy, cascading cancellation, and
history paging with ``nextAfterSequence``; and the operator controls of operators.md: terminate (with cascade),
cleanup deadlines on cancel, cancel-on-event subscriptions with ``POST /v1/events``, and batches. Everything happens
synchronously inside the request, so tests are deterministic; timers fire and deadlines pass only when a test says
so (``advance``), and a batch reaches ``batch_step`` executions each time it is read (all of them by default).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from stratoflow_sdk import TransportResponse

ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
LIVE = ("PENDING", "RUNNING", "WAITING", "CANCELLING")
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TERMINATED")
TERMINAL_EVENTS = ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED", "WORKFLOW_TERMINATED")

# api.md's command table: the fields each command may carry, and those it must.
COMMAND_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "SCHEDULE_TASK": ({"taskExecutionId", "kind", "input", "queue", "maxRetries", "timeoutMs"},
                      {"taskExecutionId", "kind"}),
    "REQUEST_CANCEL_TASK": ({"taskExecutionId", "reason"}, {"taskExecutionId"}),
    "START_TIMER": ({"timerId", "durationMs"}, {"timerId", "durationMs"}),
    "CANCEL_TIMER": ({"timerId"}, {"timerId"}),
    "SCHEDULE_CHILD_WORKFLOW": ({"childExecutionName", "childWorkflowExecutionId", "workflowKind", "input", "queue",
                                 "parentClosePolicy"},
                                {"childExecutionName", "childWorkflowExecutionId", "workflowKind"}),
    "REQUEST_CANCEL_CHILD_WORKFLOW": ({"childExecutionName", "childWorkflowExecutionId", "reason"},
                                      {"childExecutionName", "childWorkflowExecutionId", "reason"}),
    "RECORD_OPERATION": ({"operationName", "result"}, {"operationName", "result"}),
    "SET_STATE": ({"key", "value"}, {"key", "value"}),
    "CLEAR_STATE": ({"key"}, {"key"}),
    "COMPLETE_WORKFLOW": ({"output"}, {"output"}),
    "FAIL_WORKFLOW": ({"error"}, {"error"}),
    "CANCEL_WORKFLOW": ({"reason"}, set()),
    "SUSPEND_WORKFLOW": ({"reason"}, set()),
}
TERMINAL_COMMANDS = {"COMPLETE_WORKFLOW": "COMPLETED", "FAIL_WORKFLOW": "FAILED", "CANCEL_WORKFLOW": "CANCELLED"}


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": code, "message": message, **details}}


def bad(message: str) -> HttpError:
    return HttpError(400, "INVALID_ARGUMENT", message)


def ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeClock:
    """Manual time; every reading moves it on by ``tick`` so event timestamps are strictly increasing."""

    def __init__(self, start: datetime | None = None, tick: timedelta = timedelta(milliseconds=1)) -> None:
        self._now = start or datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
        self._tick = tick

    def now(self) -> datetime:
        value = self._now
        self._now += self._tick
        return value

    def peek(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass
class Execution:
    id: str
    tenant: str
    kind: str
    queue: str
    status: str
    input: Any
    created: datetime
    order: int
    output: Any = None
    error: Any = None
    cancel_reason: str | None = None
    parent: str | None = None
    child_name: str | None = None
    parent_close_policy: str = "REQUEST_CANCEL"
    events: list[dict[str, Any]] = field(default_factory=list)
    lease_id: str | None = None
    unseen: bool = False
    children: dict[str, str] = field(default_factory=dict)
    updated: datetime | None = None
    cleanup_deadline: datetime | None = None
    terminated_reason: str | None = None
    cancel_on: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class BatchRecord:
    id: str
    tenant: str
    body: dict[str, Any]
    created: datetime
    order: int
    targets: list[str]  # the snapshot: ids to reach, in order (unknown listed ids included)
    status: str = "RUNNING"
    matched: int | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    updated: datetime | None = None
    completed: datetime | None = None


@dataclass
class TaskRecord:
    id: str
    tenant: str
    workflow_id: str | None
    kind: str
    queue: str
    input: Any
    max_retries: int
    timeout_ms: int | None
    created: datetime
    order: int
    status: str = "PENDING"
    output: Any = None
    error: Any = None
    attempt: int = 0
    cancel_reason: str | None = None
    lease_id: str | None = None
    details: Any = None
    updated: datetime | None = None


@dataclass
class TimerRecord:
    execution_id: str
    timer_id: str
    status: str
    fire_at: datetime


@dataclass
class Submission:
    """One accepted submission, with how much history the submitter had been handed at its poll."""

    execution_id: str
    history_length_at_poll: int
    commands: list[dict[str, Any]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    body: Any


class FakeServer:
    """The fake. ``tokens`` maps token -> (tenant, scopes)."""

    def __init__(
        self,
        *,
        tokens: Mapping[str, tuple[str, set[str]]] | None = None,
        poll_page_size: int = 1000,
        clock: FakeClock | None = None,
        reject_submission: Callable[[list[dict[str, Any]]], bool] | None = None,
        batch_step: int | None = None,
        combined_calls: bool = True,
    ) -> None:
        self.combined_calls = combined_calls  # False: a server that ignores pollNext, as unknown fields are
        self.tokens = dict(tokens or {"tok": ("acme", {"client", "worker"})})
        self.poll_page_size = poll_page_size
        self.clock = clock or FakeClock()
        self.reject_submission = reject_submission
        self.batch_step = batch_step
        self.batches: dict[str, BatchRecord] = {}
        self.delivered_events: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.executions: dict[str, Execution] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.timers: dict[tuple[str, str], TimerRecord] = {}
        self.requests: list[RecordedRequest] = []
        self.submissions: list[Submission] = []
        self.rejected_submissions: list[list[dict[str, Any]]] = []
        self.idempotency: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._poll_lengths: dict[str, int] = {}
        self._counter = 0

    # --- test helpers --------------------------------------------------------------------------------------------

    def events(self, execution_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return json.loads(json.dumps(self.executions[execution_id].events))

    def execution(self, execution_id: str) -> Execution:
        return self.executions[execution_id]

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def started_timers(self, execution_id: str | None = None) -> list[TimerRecord]:
        with self.lock:
            return [t for t in self.timers.values()
                    if t.status == "STARTED" and (execution_id is None or t.execution_id == execution_id)]

    def fire_timer(self, execution_id: str, timer_id: str) -> bool:
        """Fire one timer now (whatever its due time); False if it is no longer STARTED."""
        with self.lock:
            timer = self.timers[(execution_id, timer_id)]
            execution = self.executions[execution_id]
            if timer.status != "STARTED" or execution.status not in LIVE:
                return False
            timer.status = "FIRED"
            self._append(execution, "TIMER_FIRED", {"timerId": timer_id}, by_holder=False)
            return True

    def fire_due_timers(self) -> int:
        with self.lock:
            due = [t for t in self.started_timers() if t.fire_at <= self.clock.peek()]
            return sum(self.fire_timer(t.execution_id, t.timer_id) for t in sorted(due, key=lambda t: t.fire_at))

    def advance(self, seconds: float) -> int:
        """Move time on: fire the timers that are due and terminate the executions past their cleanup deadline."""
        with self.lock:
            self.clock.advance(seconds)
            fired = self.fire_due_timers()
            for execution in sorted(self.executions.values(), key=lambda e: e.order):
                deadline = execution.cleanup_deadline
                if execution.status in LIVE and deadline is not None and deadline <= self.clock.peek():
                    self._terminate(execution, "cleanup timeout", "cleanup-timeout", cascade=True)
            return fired

    def expire_lease(self, execution_id: str) -> None:
        with self.lock:
            execution = self.executions[execution_id]
            execution.lease_id = None
            if execution.status == "RUNNING":
                execution.status = "PENDING"

    def claim_task(self, task_id: str) -> str:
        """Hand one specific PENDING task to a pretend worker; returns its lease id."""
        with self.lock:
            task = self.tasks[task_id]
            assert task.status == "PENDING", f"task {task_id} is {task.status}"
            task.status = "RUNNING"
            task.attempt += 1
            task.lease_id = self._new_id()
            return task.lease_id

    def ready(self, execution_id: str) -> bool:
        with self.lock:
            return self._is_ready(self.executions[execution_id])

    # --- transport -----------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: Mapping[str, str], headers: Mapping[str, str],
               body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(RecordedRequest(method, path, dict(params), body))
            try:
                return self._route(method, path, dict(params), headers, body)
            except HttpError as exc:
                return exc.status, exc.body

    def _route(self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str],
               body: Any) -> tuple[int, Any]:
        routes: list[tuple[str, str, str | None, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"/v1/health", None, lambda: (200, {"status": "ok"})),
            ("POST", r"/v1/workflows", "client", self._start_workflow),
            ("GET", r"/v1/workflows", "client", self._list_workflows),
            ("GET", r"/v1/workflows/([^/]+)", "client", self._get_workflow),
            ("GET", r"/v1/workflows/([^/]+)/events", "client", self._history),
            ("POST", r"/v1/workflows/([^/]+)/cancel", "client", self._cancel_workflow),
            ("POST", r"/v1/workflows/([^/]+)/terminate", "client", self._terminate_workflow),
            ("POST", r"/v1/events", "client", self._send_event),
            ("POST", r"/v1/batches", "client", self._start_batch),
            ("GET", r"/v1/batches", "client", self._list_batches),
            ("GET", r"/v1/batches/([^/]+)", "client", self._get_batch),
            ("GET", r"/v1/batches/([^/]+)/items", "client", self._batch_items),
            ("POST", r"/v1/batches/([^/]+)/stop", "client", self._stop_batch),
            ("POST", r"/v1/tasks", "client", self._create_task),
            ("GET", r"/v1/tasks/([^/]+)", "client", self._get_task),
            ("POST", r"/v1/tasks/([^/]+)/cancel", "client", self._cancel_task),
            ("POST", r"/v1/worker/workflows/poll", "worker", self._poll_workflow),
            ("POST", r"/v1/worker/workflows/([^/]+)/commands", "worker", self._submit),
            ("POST", r"/v1/worker/tasks/poll", "worker", self._poll_task),
            ("POST", r"/v1/worker/tasks/([^/]+)/heartbeat", "worker", self._heartbeat),
            ("POST", r"/v1/worker/tasks/([^/]+)/complete", "worker", self._complete_task),
            ("POST", r"/v1/worker/tasks/([^/]+)/fail", "worker", self._fail_task),
        ]
        # Combined calls: once the write went through, the poll its `pollNext` names, answered in `next`.
        combined = {self._submit: self._poll_workflow, self._complete_task: self._poll_task,
                    self._fail_task: self._poll_task}
        for route_method, pattern, scope, handler in routes:
            match = re.fullmatch(pattern, path)
            if match is None or route_method != method:
                continue
            if scope is None:
                return handler()
            tenant = self._authorize(headers, scope)
            args = [unquote(g) for g in match.groups()]
            kwargs: dict[str, Any] = {"tenant": tenant}
            if method == "POST":
                kwargs["body"] = body if body is not None else {}
                if not isinstance(kwargs["body"], dict):
                    raise bad("the body must be a JSON object")
                if path in ("/v1/workflows", "/v1/events", "/v1/batches"):
                    kwargs["idempotency_key"] = headers.get("Idempotency-Key")
            else:
                kwargs["params"] = params
            poll = combined.get(handler)
            poll_next = kwargs.get("body", {}).get("pollNext") if poll is not None and self.combined_calls else None
            if poll_next is not None and not (isinstance(poll_next, dict) and isinstance(poll_next.get("queue"), str)):
                raise bad("pollNext must be a poll's body")
            status, answer = handler(*args, **kwargs)
            if poll is not None and poll_next is not None:
                _, claimed = poll(tenant=tenant, body=poll_next)
                answer = {**answer, "next": claimed}
            return status, answer
        raise HttpError(404, "NOT_FOUND", f"no route {method} {path}")

    def _authorize(self, headers: Mapping[str, str], scope: str) -> str:
        header = headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            raise HttpError(401, "UNAUTHENTICATED", "missing or unknown token")
        tenant, scopes = self.tokens[header[7:]]
        if scope not in scopes:
            raise HttpError(403, "PERMISSION_DENIED", f"this token lacks the {scope!r} scope")
        return tenant

    # --- helpers -------------------------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._counter += 1
        return str(uuid.UUID(int=self._counter, version=4))

    def _next_order(self) -> int:
        self._counter += 1
        return self._counter

    def _execution(self, tenant: str, execution_id: str) -> Execution:
        execution = self.executions.get(execution_id)
        if execution is None or execution.tenant != tenant:
            raise HttpError(404, "NOT_FOUND", f"workflow execution {execution_id} not found")
        return execution

    def _task(self, tenant: str, task_id: str) -> TaskRecord:
        task = self.tasks.get(task_id)
        if task is None or task.tenant != tenant:
            raise HttpError(404, "NOT_FOUND", f"task {task_id} not found")
        return task

    @staticmethod
    def _name(value: Any, what: str) -> str:
        if not isinstance(value, str) or not ID.fullmatch(value):
            raise bad(f"{what} must be 1-128 characters of [A-Za-z0-9._:-]")
        return value

    def _append(self, execution: Execution, event_type: str, data: dict[str, Any], *, by_holder: bool) -> dict:
        assert execution.status in LIVE or event_type in TERMINAL_EVENTS, "an event after the end"
        now = self.clock.now()
        event = {"sequence": len(execution.events) + 1, "type": event_type, "data": json.loads(json.dumps(data)),
                 "createdAt": ts(now)}
        execution.events.append(event)
        execution.updated = now
        if not by_holder:
            if execution.status == "WAITING":
                execution.status = "PENDING"
            execution.unseen = True
        return event

    @staticmethod
    def _is_ready(execution: Execution) -> bool:
        if execution.lease_id is not None:
            return False
        return execution.status == "PENDING" or (execution.status == "CANCELLING" and execution.unseen)

    def _workflow_view(self, execution: Execution) -> dict[str, Any]:
        return {
            "workflowExecutionId": execution.id, "kind": execution.kind, "queue": execution.queue,
            "status": execution.status, "input": execution.input, "output": execution.output,
            "error": execution.error, "cancelReason": execution.cancel_reason,
            "parentWorkflowExecutionId": execution.parent, "childExecutionName": execution.child_name,
            "createdAt": ts(execution.created), "updatedAt": ts(execution.updated or execution.created),
            "cleanupDeadline": ts(execution.cleanup_deadline) if execution.cleanup_deadline else None,
            "terminatedReason": execution.terminated_reason, "cancelOn": json.loads(json.dumps(execution.cancel_on)),
        }

    def _task_view(self, task: TaskRecord) -> dict[str, Any]:
        return {
            "taskExecutionId": task.id, "workflowExecutionId": task.workflow_id, "kind": task.kind,
            "queue": task.queue, "status": task.status, "input": task.input, "output": task.output,
            "error": task.error, "attempt": task.attempt, "maxRetries": task.max_retries,
            "timeoutMs": task.timeout_ms, "cancelReason": task.cancel_reason, "createdAt": ts(task.created),
            "updatedAt": ts(task.updated or task.created),
        }

    def _create_execution(self, tenant: str, execution_id: str, kind: str, queue: str, input_value: Any, *,
                          parent: str | None = None, child_name: str | None = None,
                          policy: str = "REQUEST_CANCEL") -> Execution:
        now = self.clock.now()
        execution = Execution(id=execution_id, tenant=tenant, kind=kind, queue=queue, status="PENDING",
                              input=input_value, created=now, order=self._next_order(), parent=parent,
                              child_name=child_name, parent_close_policy=policy)
        self.executions[execution_id] = execution
        self._append(execution, "WORKFLOW_STARTED", {"input": input_value}, by_holder=True)
        return execution

    def _request_cancel(self, execution: Execution, reason: str | None, requested_by: str,
                        deadline: datetime | None = None) -> None:
        execution.status = "CANCELLING"
        execution.cancel_reason = reason
        execution.cleanup_deadline = deadline
        self._append(execution, "CANCELLATION_REQUESTED", {
            "reason": reason, "requestedBy": requested_by, "cleanupDeadline": ts(deadline) if deadline else None},
            by_holder=False)

    def _cancel_with_cascade(self, execution: Execution, reason: str | None, requested_by: str, *,
                             cascade: bool, deadline: datetime | None) -> None:
        if execution.status != "CANCELLING":
            self._request_cancel(execution, reason, requested_by, deadline)
        if cascade:
            for descendant in self._descendants(execution):
                if descendant.status in LIVE and descendant.status != "CANCELLING":
                    self._request_cancel(descendant, reason, f"workflow:{execution.id}", deadline)

    def _terminate(self, execution: Execution, reason: str, requested_by: str, *, cascade: bool) -> None:
        ended = [(execution, requested_by)]
        if cascade:
            ended += [(d, f"workflow:{execution.id}") for d in self._descendants(execution) if d.status in LIVE]
        # Every one ends before any close effect runs, so that no descendant is asked to cancel on its way out.
        for target, by in ended:
            target.status = "TERMINATED"
            target.terminated_reason = reason
            target.lease_id = None
            self._append(target, "WORKFLOW_TERMINATED", {"reason": reason, "requestedBy": by}, by_holder=True)
        for target, _ in ended:
            self._on_close(target)

    def _descendants(self, execution: Execution) -> list[Execution]:
        found: list[Execution] = []
        queue = [execution]
        while queue:
            current = queue.pop(0)
            for child_id in current.children.values():
                child = self.executions.get(child_id)
                if child is not None:
                    found.append(child)
                    queue.append(child)
        return found

    # --- caller API ----------------------------------------------------------------------------------------------

    def _start_workflow(self, *, tenant: str, body: dict[str, Any], idempotency_key: str | None) -> tuple[int, Any]:
        kind = self._name(body.get("kind"), "kind")
        queue = self._name(body.get("queue", "default"), "queue")
        cancel_on = self._cancel_on(body.get("cancelOn", []))
        if idempotency_key is not None:
            previous = self.idempotency.get((tenant, idempotency_key))
            if previous is not None:
                if previous[0] != body:
                    raise HttpError(409, "CONFLICT", "Idempotency-Key reused with another body")
                return 201, previous[1]
        execution = self._create_execution(tenant, self._new_id(), kind, queue, body.get("input"))
        execution.cancel_on = cancel_on
        view = self._workflow_view(execution)
        if idempotency_key is not None:
            self.idempotency[(tenant, idempotency_key)] = (body, view)
        return 201, view

    def _list_workflows(self, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        limit = int(params.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise bad("limit must be 1-100")
        status = params.get("status")
        if status is not None and status not in LIVE + TERMINAL:
            raise bad("unknown status")
        items = sorted((e for e in self.executions.values() if e.tenant == tenant
                        and (status is None or e.status == status)
                        and (params.get("kind") is None or e.kind == params.get("kind"))),
                       key=lambda e: -e.order)
        offset = int(params.get("nextToken", "0"))
        page = items[offset:offset + limit]
        more = offset + limit < len(items)
        return 200, {"workflows": [self._workflow_view(e) for e in page],
                     "nextToken": str(offset + limit) if more else None}

    def _get_workflow(self, execution_id: str, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        return 200, self._workflow_view(self._execution(tenant, execution_id))

    def _history(self, execution_id: str, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        execution = self._execution(tenant, execution_id)
        after = int(params.get("afterSequence", "0"))
        limit = int(params.get("limit", "100"))
        if after < 0 or not 1 <= limit <= 1000:
            raise bad("afterSequence >= 0 and limit 1-1000")
        return 200, self._page(execution, after, limit)

    @staticmethod
    def _page(execution: Execution, after: int, limit: int) -> dict[str, Any]:
        page = [e for e in execution.events if e["sequence"] > after][:limit]
        # api.md: a full page returns its last sequence (the next page may then be empty).
        following = page[-1]["sequence"] if len(page) == limit else None
        return {"events": json.loads(json.dumps(page)), "nextAfterSequence": following}

    def _cancel_workflow(self, execution_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        execution = self._execution(tenant, execution_id)
        reason = self._reason(body.get("reason"), required=False)
        cleanup_ms = self._cleanup_timeout(body.get("cleanupTimeoutMs"))
        if execution.status in TERMINAL:
            raise HttpError(409, "FAILED_PRECONDITION", f"workflow is {execution.status}",
                            currentStatus=execution.status)
        deadline = self.clock.peek() + timedelta(milliseconds=cleanup_ms) if cleanup_ms is not None else None
        self._cancel_with_cascade(execution, reason, "api", cascade=body.get("cascade", True), deadline=deadline)
        return 202, {"workflowExecutionId": execution.id, "status": "CANCELLING"}

    def _terminate_workflow(self, execution_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        execution = self._execution(tenant, execution_id)
        reason = self._reason(body.get("reason"), required=True)
        if execution.status in TERMINAL:
            raise HttpError(409, "FAILED_PRECONDITION", f"workflow is {execution.status}",
                            currentStatus=execution.status)
        self._terminate(execution, reason, "api", cascade=body.get("cascade", True))
        return 200, {"workflowExecutionId": execution.id, "status": "TERMINATED"}

    # --- operators.md: validation --------------------------------------------------------------------------------

    @staticmethod
    def _reason(value: Any, *, required: bool) -> Any:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not 1 <= len(value) <= 1024:
            raise bad("reason must be 1-1024 characters")
        return value

    @staticmethod
    def _cleanup_timeout(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1000 <= value <= 86_400_000:
            raise bad("cleanupTimeoutMs must be 1000-86400000")
        return value

    def _cancel_on(self, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or len(value) > 5:
            raise bad("cancelOn is a list of 0-5 entries")
        entries = []
        for entry in value:
            if not isinstance(entry, dict) or set(entry) - {"eventType", "match", "timeoutMs"}:
                raise bad("a cancelOn entry has eventType, match and timeoutMs")
            match = entry.get("match") or {}
            if not isinstance(match, dict) or len(match) > 1 or any(
                    not isinstance(v, str | int | float | bool) or not 1 <= len(k) <= 128 for k, v in match.items()):
                raise bad("match has zero or one key whose value is a string, number or boolean")
            timeout = entry.get("timeoutMs")
            if timeout is not None and (not isinstance(timeout, int) or not 1000 <= timeout <= 31_536_000_000):
                raise bad("timeoutMs must be 1000-31536000000")
            entries.append({"eventType": self._name(entry.get("eventType"), "eventType"), "match": match,
                            "timeoutMs": timeout})
        return entries

    # --- operators.md: events ------------------------------------------------------------------------------------

    def _send_event(self, *, tenant: str, body: dict[str, Any], idempotency_key: str | None) -> tuple[int, Any]:
        event_type = self._name(body.get("eventType"), "eventType")
        data = body.get("data", {})
        if not isinstance(data, dict) or set(body) - {"eventType", "data"}:
            raise bad("data must be a JSON object")
        if idempotency_key is not None:
            previous = self.idempotency.get((tenant, "event:" + idempotency_key))
            if previous is not None:
                if previous[0] != body:
                    raise HttpError(409, "CONFLICT", "Idempotency-Key reused with another body")
                return 202, previous[1]
        event_id = self._new_id()
        self.delivered_events.append({"eventId": event_id, "eventType": event_type, "data": data})
        now = self.clock.peek()
        for execution in sorted(self.executions.values(), key=lambda e: e.order):
            if execution.tenant != tenant or execution.status not in LIVE or execution.status == "CANCELLING":
                continue
            for entry in execution.cancel_on:
                expired = entry["timeoutMs"] is not None and \
                    execution.created + timedelta(milliseconds=entry["timeoutMs"]) <= now
                if entry["eventType"] == event_type and not expired and self._matches(entry["match"], data):
                    self._cancel_with_cascade(execution, f"cancelOn {event_type}", f"event:{event_id}",
                                              cascade=True, deadline=None)
                    break
        answer = {"eventId": event_id}
        if idempotency_key is not None:
            self.idempotency[(tenant, "event:" + idempotency_key)] = (body, answer)
        return 202, answer

    @staticmethod
    def _matches(match: dict[str, Any], data: dict[str, Any]) -> bool:
        for key, expected in match.items():
            if key not in data:
                return False
            actual = data[key]
            # JSON equality: 7 != "7", 5 == 5.0, true != 1.
            if isinstance(expected, bool) or isinstance(actual, bool):
                if not (isinstance(expected, bool) and isinstance(actual, bool) and expected == actual):
                    return False
            elif isinstance(expected, str) != isinstance(actual, str) or expected != actual:
                return False
        return True

    # --- operators.md: batches -----------------------------------------------------------------------------------

    def _batch_targets(self, tenant: str, spec: dict[str, Any], before: datetime) -> list[str]:
        statuses = spec.get("statuses") or list(LIVE)
        created_after = spec.get("createdAfter")
        created_before = min(ts(before), spec.get("createdBefore") or ts(before))

        def selected(execution: Execution) -> bool:
            return ((spec.get("kind") is None or execution.kind == spec["kind"])
                    and (spec.get("queue") is None or execution.queue == spec["queue"])
                    and (created_after is None or ts(execution.created) >= created_after)
                    and ts(execution.created) < created_before)

        ids = spec.get("workflowExecutionIds")
        if ids is not None:
            # Every listed id is reached: unknown ones fail, terminal ones are skipped.
            return [i for i in ids if (e := self.executions.get(i)) is None or e.tenant != tenant or selected(e)]
        return [e.id for e in sorted(self.executions.values(), key=lambda e: e.order)
                if e.tenant == tenant and e.status in statuses and selected(e)]

    def _start_batch(self, *, tenant: str, body: dict[str, Any], idempotency_key: str | None) -> tuple[int, Any]:
        allowed = {"operation", "filter", "reason", "cascade", "cleanupTimeoutMs", "dryRun", "maxPerSecond"}
        if set(body) - allowed:
            raise bad(f"unknown fields {sorted(set(body) - allowed)}")
        if body.get("operation") not in ("CANCEL", "TERMINATE"):
            raise bad("operation is CANCEL or TERMINATE")
        spec = body.get("filter")
        filter_fields = {"kind", "queue", "statuses", "createdAfter", "createdBefore", "workflowExecutionIds"}
        if not isinstance(spec, dict) or not spec or set(spec) - filter_fields:
            raise bad("filter needs at least one of " + ", ".join(sorted(filter_fields)))
        if any(status not in LIVE for status in spec.get("statuses") or []):
            raise bad("statuses may name only live statuses")
        ids = spec.get("workflowExecutionIds")
        if ids is not None and (not isinstance(ids, list) or not 1 <= len(ids) <= 1000):
            raise bad("workflowExecutionIds has 1-1000 ids")
        dry_run = bool(body.get("dryRun", False))
        self._reason(body.get("reason"), required=not dry_run)
        self._cleanup_timeout(body.get("cleanupTimeoutMs"))
        if not 1 <= int(body.get("maxPerSecond", 50)) <= 1000:
            raise bad("maxPerSecond must be 1-1000")
        now = self.clock.now()
        if dry_run:
            return 200, {"matched": len(self._batch_targets(tenant, spec, now))}
        if idempotency_key is not None:
            previous = self.idempotency.get((tenant, "batch:" + idempotency_key))
            if previous is not None:
                if previous[0] != body:
                    raise HttpError(409, "CONFLICT", "Idempotency-Key reused with another body")
                return 202, self._batch_view(self.batches[previous[1]["batchId"]])
        batch = BatchRecord(id=self._new_id(), tenant=tenant, body=body, created=now, order=self._next_order(),
                            targets=self._batch_targets(tenant, spec, now))
        self.batches[batch.id] = batch
        view = self._batch_view(batch)
        if idempotency_key is not None:
            self.idempotency[(tenant, "batch:" + idempotency_key)] = (body, view)
        return 202, view

    def _batch(self, tenant: str, batch_id: str) -> BatchRecord:
        batch = self.batches.get(batch_id)
        if batch is None or batch.tenant != tenant:
            raise HttpError(404, "NOT_FOUND", f"batch {batch_id} not found")
        return batch

    def _batch_view(self, batch: BatchRecord) -> dict[str, Any]:
        counts = {outcome: sum(item["outcome"] == outcome for item in batch.items)
                  for outcome in ("SUCCEEDED", "FAILED", "SKIPPED")}
        return {
            "batchId": batch.id, "operation": batch.body["operation"], "filter": batch.body["filter"],
            "reason": batch.body.get("reason"), "cascade": batch.body.get("cascade", True),
            "cleanupTimeoutMs": batch.body.get("cleanupTimeoutMs"), "status": batch.status, "matched": batch.matched,
            "succeeded": counts["SUCCEEDED"], "failed": counts["FAILED"], "skipped": counts["SKIPPED"],
            "createdAt": ts(batch.created), "updatedAt": ts(batch.updated or batch.created),
            "completedAt": ts(batch.completed) if batch.completed else None,
        }

    def _run_batch(self, batch: BatchRecord) -> None:
        """Reach the next ``batch_step`` executions (every remaining one when it is None)."""
        if batch.status != "RUNNING":
            return
        batch.matched = len(batch.targets)
        remaining = batch.targets[len(batch.items):]
        for execution_id in remaining[:self.batch_step] if self.batch_step is not None else remaining:
            batch.items.append(self._batch_one(batch, execution_id))
        batch.updated = self.clock.now()
        if len(batch.items) == len(batch.targets):
            batch.status = "COMPLETED"
            batch.completed = batch.updated

    def _batch_one(self, batch: BatchRecord, execution_id: str) -> dict[str, Any]:
        at = ts(self.clock.now())
        execution = self.executions.get(execution_id)
        if execution is None or execution.tenant != batch.tenant:
            return {"workflowExecutionId": execution_id, "outcome": "FAILED", "at": at,
                    "error": {"code": "NOT_FOUND", "message": f"workflow execution {execution_id} not found"}}
        operation = batch.body["operation"]
        if execution.status in TERMINAL or (operation == "CANCEL" and execution.status == "CANCELLING"):
            return {"workflowExecutionId": execution_id, "outcome": "SKIPPED", "error": None, "at": at}
        cascade = batch.body.get("cascade", True)
        if operation == "TERMINATE":
            self._terminate(execution, batch.body["reason"], f"batch:{batch.id}", cascade=cascade)
        else:
            cleanup_ms = batch.body.get("cleanupTimeoutMs")
            deadline = self.clock.peek() + timedelta(milliseconds=cleanup_ms) if cleanup_ms else None
            self._cancel_with_cascade(execution, batch.body["reason"], f"batch:{batch.id}", cascade=cascade,
                                      deadline=deadline)
        return {"workflowExecutionId": execution_id, "outcome": "SUCCEEDED", "error": None, "at": at}

    @staticmethod
    def _paged(items: list[Any], params: dict[str, str]) -> tuple[list[Any], str | None]:
        limit = int(params.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise bad("limit must be 1-100")
        offset = int(params.get("nextToken", "0"))
        return items[offset:offset + limit], str(offset + limit) if offset + limit < len(items) else None

    def _get_batch(self, batch_id: str, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        batch = self._batch(tenant, batch_id)
        self._run_batch(batch)
        return 200, self._batch_view(batch)

    def _list_batches(self, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        batches = sorted((b for b in self.batches.values() if b.tenant == tenant), key=lambda b: -b.order)
        page, token = self._paged(batches, params)
        return 200, {"batches": [self._batch_view(b) for b in page], "nextToken": token}

    def _batch_items(self, batch_id: str, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        batch = self._batch(tenant, batch_id)
        outcome = params.get("outcome")
        if outcome is not None and outcome not in ("SUCCEEDED", "FAILED", "SKIPPED"):
            raise bad("outcome is SUCCEEDED, FAILED or SKIPPED")
        page, token = self._paged([i for i in batch.items if outcome is None or i["outcome"] == outcome], params)
        return 200, {"items": json.loads(json.dumps(page)), "nextToken": token}

    def _stop_batch(self, batch_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        batch = self._batch(tenant, batch_id)
        if batch.status != "RUNNING":
            raise HttpError(409, "FAILED_PRECONDITION", f"batch is {batch.status}", currentStatus=batch.status)
        batch.status = "STOPPED"
        batch.completed = batch.updated = self.clock.now()
        return 200, self._batch_view(batch)

    def _create_task(self, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        task = TaskRecord(id=self._new_id(), tenant=tenant, workflow_id=None,
                          kind=self._name(body.get("kind"), "kind"),
                          queue=self._name(body.get("queue", "default"), "queue"), input=body.get("input"),
                          max_retries=int(body.get("maxRetries") or 0), timeout_ms=body.get("timeoutMs"),
                          created=self.clock.now(), order=self._next_order())
        self.tasks[task.id] = task
        return 201, self._task_view(task)

    def _get_task(self, task_id: str, *, tenant: str, params: dict[str, str]) -> tuple[int, Any]:
        return 200, self._task_view(self._task(tenant, task_id))

    def _cancel_task(self, task_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        task = self._task(tenant, task_id)
        if task.status not in ("PENDING", "RUNNING"):
            raise HttpError(409, "FAILED_PRECONDITION", f"task is {task.status}", currentStatus=task.status)
        self._cancel_task_record(task, body.get("reason"), by_holder=False)
        return 200, {"taskExecutionId": task.id, "status": "CANCELLED"}

    def _cancel_task_record(self, task: TaskRecord, reason: Any, *, by_holder: bool) -> None:
        task.status = "CANCELLED"
        task.cancel_reason = reason
        task.lease_id = None
        task.updated = self.clock.now()
        if task.workflow_id is not None:
            execution = self.executions[task.workflow_id]
            if execution.status in LIVE:
                self._append(execution, "TASK_CANCELLED",
                             {"taskExecutionId": task.id, "taskType": task.kind, "reason": reason},
                             by_holder=by_holder)

    # --- worker API: workflows -----------------------------------------------------------------------------------

    def _poll_workflow(self, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        queue = self._name(body.get("queue"), "queue")
        kinds = body.get("kinds")
        lease_ms = int(body.get("leaseMs", 60_000))
        if not 1000 <= lease_ms <= 300_000:
            raise bad("leaseMs must be 1000-300000")
        candidates = sorted((e for e in self.executions.values() if e.tenant == tenant and e.queue == queue
                             and (kinds is None or e.kind in kinds) and self._is_ready(e)),
                            key=lambda e: e.order)
        if not candidates:
            return 204, None
        execution = candidates[0]
        execution.lease_id = self._new_id()
        execution.unseen = False
        if execution.status == "PENDING":
            execution.status = "RUNNING"
        self._poll_lengths[execution.id] = len(execution.events)
        page = self._page(execution, 0, self.poll_page_size)
        expires = self.clock.peek() + timedelta(milliseconds=lease_ms)
        return 200, {"workflowExecution": self._workflow_view(execution), **page,
                     "leaseId": execution.lease_id, "leaseExpiresAt": ts(expires)}

    def _submit(self, execution_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        execution = self._execution(tenant, execution_id)
        commands = body.get("commands")
        if not isinstance(commands, list) or not isinstance(body.get("leaseId"), str):
            raise bad("leaseId and commands are required")
        if len(commands) > 25:
            raise bad("at most 25 commands per submission")
        self._validate(execution, commands)
        if self.reject_submission is not None and self.reject_submission(commands):
            self.rejected_submissions.append(commands)
            raise HttpError(413, "PAYLOAD_TOO_LARGE", "submission too large for one atomic write")
        if execution.status in TERMINAL:
            raise HttpError(409, "FAILED_PRECONDITION", f"workflow is {execution.status}",
                            currentStatus=execution.status)
        if execution.lease_id is None or execution.lease_id != body["leaseId"]:
            raise HttpError(409, "LEASE_LOST", "the lease expired or was taken over")
        before = len(execution.events)
        pending_child_cancels: list[tuple[str, str, str]] = []
        for command in commands:
            self._apply(execution, command, pending_child_cancels)
        self.submissions.append(Submission(execution.id, self._poll_lengths.get(execution.id, 0),
                                           json.loads(json.dumps(commands))))
        appended = execution.events[before:]
        execution.lease_id = None
        if execution.status in TERMINAL:
            self._on_close(execution)
        elif execution.status != "CANCELLING":
            execution.status = "PENDING" if execution.unseen else "WAITING"
        # The outbox: effects that happen after the commit.
        for child_id, name, reason in pending_child_cancels:
            self._propagate_child_cancel(execution, child_id, name, reason)
        return 200, {"status": execution.status, "events": appended}

    def _validate(self, execution: Execution, commands: list[Any]) -> None:
        timers = {t for (e, t) in self.timers if e == execution.id}
        tasks = {t.id for t in self.tasks.values() if t.workflow_id == execution.id}
        names = set(execution.children)
        new_ids: set[str] = set()
        for position, command in enumerate(commands):
            if not isinstance(command, dict) or command.get("type") not in COMMAND_FIELDS:
                raise bad(f"command {position}: unknown command type")
            kind = command["type"]
            allowed, required = COMMAND_FIELDS[kind]
            extra = set(command) - allowed - {"type"}
            if extra or not required <= set(command):
                raise bad(f"command {position} ({kind}): unknown fields {sorted(extra)} or missing "
                          f"{sorted(required - set(command))}")
            last = position == len(commands) - 1
            if (kind in TERMINAL_COMMANDS or kind == "SUSPEND_WORKFLOW") and not last:
                raise bad(f"command {position} ({kind}) must be the last one")
            if kind == "SCHEDULE_TASK":
                task_id = self._name(command["taskExecutionId"], "taskExecutionId")
                self._name(command["kind"], "kind")
                if task_id in self.tasks or task_id in new_ids:
                    raise HttpError(409, "CONFLICT", f"task {task_id} already exists")
                new_ids.add(task_id)
                tasks.add(task_id)
            elif kind == "REQUEST_CANCEL_TASK":
                if command["taskExecutionId"] not in tasks:
                    raise bad("REQUEST_CANCEL_TASK for a task this execution did not schedule")
            elif kind == "START_TIMER":
                timer_id = self._name(command["timerId"], "timerId")
                duration = command["durationMs"]
                if not isinstance(duration, int) or not 1 <= duration <= 365 * 24 * 3600 * 1000:
                    raise bad("durationMs must be 1 ms .. 365 days")
                if timer_id in timers:
                    raise bad(f"timer id {timer_id} reused")
                timers.add(timer_id)
            elif kind == "CANCEL_TIMER":
                if command["timerId"] not in timers:
                    raise bad("CANCEL_TIMER for an unknown timer")
            elif kind == "SCHEDULE_CHILD_WORKFLOW":
                child_id = self._name(command["childWorkflowExecutionId"], "childWorkflowExecutionId")
                self._name(command["workflowKind"], "workflowKind")
                name = command["childExecutionName"]
                if not isinstance(name, str) or not name or name in names:
                    raise bad("childExecutionName must be unique within the parent")
                if command.get("parentClosePolicy", "REQUEST_CANCEL") not in ("REQUEST_CANCEL", "ABANDON"):
                    raise bad("parentClosePolicy is REQUEST_CANCEL or ABANDON")
                if child_id in self.executions or child_id in new_ids:
                    raise HttpError(409, "CONFLICT", f"execution {child_id} already exists")
                names.add(name)
                new_ids.add(child_id)
            elif kind == "REQUEST_CANCEL_CHILD_WORKFLOW" and not isinstance(command["reason"], str):
                raise bad("reason must be a string")

    def _apply(self, execution: Execution, command: dict[str, Any],
               pending_child_cancels: list[tuple[str, str, str]]) -> None:
        kind = command["type"]
        if kind == "SCHEDULE_TASK":
            task = TaskRecord(id=command["taskExecutionId"], tenant=execution.tenant, workflow_id=execution.id,
                              kind=command["kind"], queue=command.get("queue", execution.queue),
                              input=command.get("input"), max_retries=int(command.get("maxRetries") or 0),
                              timeout_ms=command.get("timeoutMs"), created=self.clock.now(),
                              order=self._next_order())
            self.tasks[task.id] = task
            self._append(execution, "TASK_SCHEDULED", {"taskExecutionId": task.id, "kind": task.kind,
                                                       "input": task.input}, by_holder=True)
        elif kind == "REQUEST_CANCEL_TASK":
            task = self.tasks[command["taskExecutionId"]]
            if task.status in ("PENDING", "RUNNING"):
                self._cancel_task_record(task, command.get("reason"), by_holder=True)
        elif kind == "START_TIMER":
            fire_at = self.clock.peek() + timedelta(milliseconds=command["durationMs"])
            self.timers[(execution.id, command["timerId"])] = TimerRecord(execution.id, command["timerId"],
                                                                          "STARTED", fire_at)
            self._append(execution, "TIMER_STARTED", {"timerId": command["timerId"],
                                                      "durationMs": command["durationMs"],
                                                      "fireAt": ts(fire_at)}, by_holder=True)
        elif kind == "CANCEL_TIMER":
            timer = self.timers[(execution.id, command["timerId"])]
            if timer.status == "STARTED":
                timer.status = "CANCELLED"
                self._append(execution, "TIMER_CANCELLED", {"timerId": timer.timer_id}, by_holder=True)
        elif kind == "SCHEDULE_CHILD_WORKFLOW":
            child = self._create_execution(
                execution.tenant, command["childWorkflowExecutionId"], command["workflowKind"],
                command.get("queue", execution.queue), command.get("input"), parent=execution.id,
                child_name=command["childExecutionName"], policy=command.get("parentClosePolicy", "REQUEST_CANCEL"),
            )
            execution.children[command["childExecutionName"]] = child.id
            self._append(execution, "CHILD_WORKFLOW_INITIATED", {
                "childExecutionName": command["childExecutionName"], "childWorkflowKind": child.kind,
                "childWorkflowExecutionId": child.id}, by_holder=True)
        elif kind == "REQUEST_CANCEL_CHILD_WORKFLOW":
            self._append(execution, "CHILD_WORKFLOW_CANCELLATION_REQUESTED", {
                "childExecutionName": command["childExecutionName"],
                "childWorkflowExecutionId": command["childWorkflowExecutionId"], "reason": command["reason"]},
                by_holder=True)
            pending_child_cancels.append((command["childWorkflowExecutionId"], command["childExecutionName"],
                                          command["reason"]))
        elif kind == "RECORD_OPERATION":
            self._append(execution, "OPERATION_COMPLETED", {"operationName": command["operationName"],
                                                            "result": command["result"]}, by_holder=True)
        elif kind == "SET_STATE":
            self._append(execution, "STATE_SET", {"key": command["key"], "value": command["value"]}, by_holder=True)
        elif kind == "CLEAR_STATE":
            self._append(execution, "STATE_CLEARED", {"key": command["key"]}, by_holder=True)
        elif kind in TERMINAL_COMMANDS:
            execution.status = TERMINAL_COMMANDS[kind]
            if kind == "COMPLETE_WORKFLOW":
                execution.output = command["output"]
                self._append(execution, "WORKFLOW_COMPLETED", {"output": command["output"]}, by_holder=True)
            elif kind == "FAIL_WORKFLOW":
                execution.error = command["error"]
                self._append(execution, "WORKFLOW_FAILED", {"error": command["error"]}, by_holder=True)
            else:
                self._append(execution, "WORKFLOW_CANCELLED", {"reason": command.get("reason")}, by_holder=True)

    def _propagate_child_cancel(self, parent: Execution, child_id: str, name: str, reason: str) -> None:
        child = self.executions.get(child_id)
        if child is None or child.parent != parent.id or child.status in TERMINAL:
            if parent.status in LIVE:
                self._append(parent, "CHILD_WORKFLOW_CANCELLATION_FAILED", {
                    "childExecutionName": name, "childWorkflowExecutionId": child_id,
                    "error": {"code": "FAILED_PRECONDITION", "message": "the child is finished or unknown"}},
                    by_holder=False)
            return
        if child.status != "CANCELLING":
            self._request_cancel(child, reason, f"workflow:{parent.id}")

    def _on_close(self, execution: Execution) -> None:
        if execution.parent is not None:
            parent = self.executions[execution.parent]
            if parent.status in LIVE:
                data: dict[str, Any] = {"childExecutionName": execution.child_name,
                                        "childWorkflowExecutionId": execution.id}
                if execution.status == "COMPLETED":
                    self._append(parent, "CHILD_WORKFLOW_COMPLETED", {**data, "output": execution.output},
                                 by_holder=False)
                else:
                    cancelled = execution.status == "CANCELLED"
                    terminated = execution.status == "TERMINATED"
                    error = execution.error
                    if cancelled:
                        error = {"code": "CANCELLED", "message": execution.cancel_reason or "cancelled"}
                    elif terminated:
                        error = {"code": "TERMINATED", "message": execution.terminated_reason}
                    self._append(parent, "CHILD_WORKFLOW_FAILED", {**data, "error": error, "cancelled": cancelled,
                                                                   "terminated": terminated}, by_holder=False)
        for name, child_id in execution.children.items():
            child = self.executions[child_id]
            if child.status in LIVE and child.parent_close_policy == "REQUEST_CANCEL":
                self._propagate_child_cancel(execution, child_id, name, "parent closed")
        for task in self.tasks.values():
            if task.workflow_id == execution.id and task.status in ("PENDING", "RUNNING"):
                task.status = "CANCELLED"
                task.lease_id = None
        for timer in self.timers.values():
            if timer.execution_id == execution.id and timer.status == "STARTED":
                timer.status = "CANCELLED"

    # --- worker API: tasks ---------------------------------------------------------------------------------------

    def _poll_task(self, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        queue = self._name(body.get("queue"), "queue")
        kinds = body.get("kinds")
        lease_ms = int(body.get("leaseMs", 60_000))
        candidates = sorted((t for t in self.tasks.values() if t.tenant == tenant and t.queue == queue
                             and t.status == "PENDING" and (kinds is None or t.kind in kinds)),
                            key=lambda t: t.order)
        if not candidates:
            return 204, None
        task = candidates[0]
        task.status = "RUNNING"
        task.attempt += 1
        task.lease_id = self._new_id()
        expires = self.clock.peek() + timedelta(milliseconds=lease_ms)
        return 200, {"task": self._task_view(task), "leaseId": task.lease_id, "leaseExpiresAt": ts(expires)}

    def _check_task_lease(self, task: TaskRecord, lease_id: Any) -> None:
        if task.status in TERMINAL:
            raise HttpError(409, "FAILED_PRECONDITION", f"task is {task.status}", currentStatus=task.status)
        if task.lease_id is None or task.lease_id != lease_id:
            raise HttpError(409, "LEASE_LOST", "the task lease expired or was taken over")

    def _heartbeat(self, task_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        task = self._task(tenant, task_id)
        if task.status == "CANCELLED":
            return 200, {"cancelRequested": True, "leaseExpiresAt": None}
        self._check_task_lease(task, body.get("leaseId"))
        task.details = body.get("details")
        return 200, {"cancelRequested": False, "leaseExpiresAt": ts(self.clock.peek() + timedelta(seconds=60))}

    def _complete_task(self, task_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        task = self._task(tenant, task_id)
        self._check_task_lease(task, body.get("leaseId"))
        task.status = "COMPLETED"
        task.output = body.get("output")
        task.lease_id = None
        if task.workflow_id is not None:
            self._append(self.executions[task.workflow_id], "TASK_COMPLETED",
                         {"taskExecutionId": task.id, "result": task.output}, by_holder=False)
        return 200, {"status": "COMPLETED"}

    def _fail_task(self, task_id: str, *, tenant: str, body: dict[str, Any]) -> tuple[int, Any]:
        task = self._task(tenant, task_id)
        self._check_task_lease(task, body.get("leaseId"))
        task.error = body.get("error")
        task.lease_id = None
        if body.get("retryable", True) and task.attempt <= task.max_retries:
            task.status = "PENDING"
            return 200, {"status": "PENDING"}
        task.status = "FAILED"
        if task.workflow_id is not None:
            self._append(self.executions[task.workflow_id], "TASK_FAILED",
                         {"taskExecutionId": task.id, "error": task.error}, by_holder=False)
        return 200, {"status": "FAILED"}


class FakeTransport:
    """The SDK's ``Transport`` backed by a :class:`FakeServer` (bodies go through JSON both ways)."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def request(self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
                json_body: Any = None, timeout: float | None = None) -> TransportResponse:
        path = urlsplit(url).path
        body = None if json_body is None else json.loads(json.dumps(json_body))
        status, response = self.server.handle(method, path, dict(params or {}), dict(headers), body)
        text = "" if response is None else json.dumps(response)
        return TransportResponse(status=status, body=json.loads(text) if text else None, text=text)
