"""Deterministic replay: run workflow code against its history and work out the commands that are new.

How one activation works (docs/sdk.md has the long version):

* The workflow function is run from the start on a fresh :class:`WorkflowEventLoop`. History events are delivered
  one at a time, in sequence order; after each one the loop runs until nothing is ready. An event resolves the
  future it is about (``TASK_COMPLETED`` the task's, ``TIMER_FIRED`` the timer's, ...), so code wakes up in event
  order and the same history always drives the code through the same steps. ``ctx.now()`` is the timestamp of the
  event being delivered.
* Commands that always append exactly one event (schedule task, start timer, start child, cancel child, record
  operation, set/clear state, and the terminal ones) are *positional*: the n-th such command the code issues must
  be the command behind the n-th such event of the history (same type and ids), otherwise
  :class:`NonDeterminismError`. Once the history has no more of them, further commands are new and are returned.
  When replay delivers a positional event, the code must already have issued its command: an activation submits
  its commands only after having seen every event before them.
* ``REQUEST_CANCEL_TASK`` and ``CANCEL_TIMER`` append an event only if the task or timer is still live when the
  submission lands, so they cannot be matched by position. They are sent unless the whole history already shows the
  task or timer closed (then the request would change nothing), and the awaiting code sees the cancellation at once
  either way, so behaviour depends only on the events delivered so far.
* Workflow cancellation (``CANCELLATION_REQUESTED``) cancels the root cancellation scope: every SDK await that is not
  shielded raises :class:`asyncio.CancelledError`, and so does any later one (level-triggered, as in Trio or
  Temporal's TypeScript SDK). ``ctx.cancellation_scope(shield=True)`` protects cleanup code.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import inspect
import random
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from ._context import WorkflowContext
from ._definitions import workflow_definition
from ._errors import (
    ApplicationError,
    ChildWorkflowCancelledError,
    ChildWorkflowFailedError,
    ChildWorkflowTerminatedError,
    NonDeterminismError,
    ReplayError,
    StratoflowError,
    TaskCancelledError,
    TaskFailedError,
)
from ._history import (
    HistoryIndex,
    command_matches_event,
    describe_command,
    describe_event,
    is_resume_timer,
    parse_events,
)
from ._loop import WorkflowEventLoop
from ._scope import CancellationScope, current_scope_var, reason_text
from ._types import HistoryEvent, ParentClosePolicy, parse_timestamp
from ._values import check_name, deterministic_id, json_value

if TYPE_CHECKING:
    from ._definitions import WorkflowDefinition

#: The replay that owns the current asyncio task (set in the root task's context, inherited by its children).
current_runtime: contextvars.ContextVar[WorkflowRuntime | None] = contextvars.ContextVar(
    "stratoflow_runtime", default=None
)

DEFAULT_CHILD_CANCEL_REASON = "cancelled by the parent workflow"
#: Error messages are cut so a failure report always fits api.md's 256 KiB value limit.
MAX_ERROR_MESSAGE = 8192
#: Workflow code that keeps the loop busy without waiting for history would hang the worker: give up after this.
MAX_STEPS_PER_EVENT = 1_000_000

Outcome = tuple[Literal["result", "error", "cancelled"], Any]


class _Abort(BaseException):
    """Unwinds workflow code once replay has failed; the failure itself is kept on the runtime.

    A BaseException so that ``except Exception`` in workflow code cannot swallow it.
    """


class _WaiterFuture(asyncio.Future[Any]):
    """The future one ``await`` of an operation sleeps on.

    Cancelling it (a select loser, a timeout, a cancelled scope, ``Task.cancel()``) cancels the operation right
    away, not on the next loop turn, so the cancel command comes before whatever the code does next.
    """

    on_cancel: Callable[[Any], None] | None = None

    def cancel(self, msg: Any | None = None) -> bool:
        cancelled = super().cancel(msg=msg)
        if cancelled and self.on_cancel is not None:
            self.on_cancel(msg)
        return cancelled


@dataclass
class _Waiter:
    future: _WaiterFuture
    scope: CancellationScope
    op: Operation


class Operation:
    """A durable thing workflow code can await: a task, a timer or a child workflow."""

    def __init__(self, runtime: WorkflowRuntime, category: Literal["task", "timer", "child"], op_id: str,
                 kind: str | None, name: str | None = None) -> None:
        self.runtime = runtime
        self.category = category
        self.id = op_id
        self.kind = kind
        self.name = name
        self.done = False
        self.outcome: Outcome = ("result", None)
        self.resolved_sequence: int | None = None
        self.cancel_requested = False
        self.cancel_failure: Any = None
        self.waiters: list[_Waiter] = []

    def resolve(self, outcome: Outcome) -> None:
        if self.done:
            return
        self.done = True
        self.outcome = outcome
        self.resolved_sequence = self.runtime.sequence
        for waiter in list(self.waiters):
            if waiter.future.done():
                continue
            kind, value = outcome
            if kind == "result":
                waiter.future.set_result(value)
            elif kind == "error":
                waiter.future.set_exception(value)
            else:
                waiter.future.cancel(msg=value)

    def value(self) -> Any:
        kind, value = self.outcome
        if kind == "result":
            return value
        if kind == "error":
            raise value
        raise asyncio.CancelledError(value)


@dataclass(frozen=True)
class ReplayResult:
    """What one replay of a history produced.

    ``commands`` are the new commands (not yet in the history), in the order the code issued them, before any
    split into submissions. ``finished`` says whether the workflow code has ended (its terminal command is in
    ``commands`` or already in the history). ``resume_timers`` counts the SDK's resume timers in the history.
    """

    commands: list[dict[str, Any]]
    finished: bool
    resume_timers: int


class WorkflowRuntime:
    """One replay of one history: the event loop, the matching state and everything workflow code touches."""

    def __init__(self, definition: WorkflowDefinition, events: list[HistoryEvent], *, execution_id: str,
                 queue: str) -> None:
        self.definition = definition
        self.execution_id = execution_id
        self.queue = queue
        self.index = HistoryIndex.build(execution_id, events)
        self.loop = WorkflowEventLoop(self._loop_time, self._violation)  # type: ignore[abstract]
        self.sequence = 0
        self.now = datetime(1970, 1, 1, tzinfo=UTC)
        self.cursor = 0
        self.new_commands: list[dict[str, Any]] = []
        self.failure: StratoflowError | None = None
        self.ended = False
        self.finished = False
        self.root: asyncio.Task[Any] | None = None
        self.root_scope = CancellationScope(self, shield=False)
        self.waiters: list[_Waiter] = []
        self.tasks: dict[str, Operation] = {}
        self.timers: dict[str, Operation] = {}
        self.children: dict[str, Operation] = {}
        self.child_names: set[str] = set()
        self.counters = {"task": 0, "timer": 0, "child": 0}
        self.state: dict[str, Any] = {}
        self.cancel_requested = False
        self.cancel_reason: str | None = None
        self.cleanup_deadline: datetime | None = None
        self.terminated = False
        seed = int.from_bytes(hashlib.sha256(execution_id.encode("utf-8")).digest()[:8], "big")
        self.random = random.Random(seed)
        self.ctx: WorkflowContext = WorkflowContext(self)

    # --- driving -------------------------------------------------------------------------------------------------

    def run(self) -> ReplayResult:
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self.loop)
        try:
            for event in self.index.events:
                self._deliver(event)
                self._drain()
            if self.failure is not None:
                raise self.failure
            return ReplayResult(
                commands=list(self.new_commands), finished=self.finished, resume_timers=self.index.resume_timers
            )
        except _Abort:
            assert self.failure is not None
            raise self.failure from None
        finally:
            self._teardown()
            asyncio.events._set_running_loop(previous)

    def _drain(self) -> None:
        if self.finished:
            return
        steps = 0
        while self.loop.has_ready():
            steps += 1
            if steps > MAX_STEPS_PER_EVENT:
                raise ReplayError(
                    f"workflow {self.definition.kind!r}: more than {MAX_STEPS_PER_EVENT} loop steps after history "
                    f"event #{self.sequence}; the code seems to spin without awaiting a task, timer or child"
                )
            self.loop.run_one()
            if self.failure is not None:
                raise self.failure
            for error in self.loop.errors:
                if "handle" in error:  # a callback raised: an SDK bug, never the workflow's own exception
                    exc = error.get("exception")
                    raise ReplayError(f"internal error during replay: {error.get('message')}") from exc
            self.loop.errors.clear()
        # The terminal command comes after whatever the last round still did (a select cancelling its losers
        # while the workflow returns), since nothing may follow it.
        if self.root is not None and self.root.done():
            self._finish()

    def _teardown(self) -> None:
        # Close suspended coroutines now, in this thread, while emitting is refused: left to the garbage collector
        # their `finally` blocks would run at a random time in a random thread.
        self.ended = True
        for task in self.loop.tasks:
            if not task.done():
                coro = task.get_coro()
                try:
                    if coro is not None and inspect.iscoroutine(coro):
                        coro.close()
                except BaseException:
                    pass  # workflow code misbehaving while being discarded
        self.loop.close()

    def _loop_time(self) -> float:
        return self.now.timestamp()

    def _violation(self, message: str) -> BaseException:
        return self._fail(NonDeterminismError(f"workflow {self.definition.kind!r}: {message}"))

    def _fail(self, error: StratoflowError) -> _Abort:
        if self.failure is None:
            self.failure = error
        return _Abort()

    def check_live(self) -> None:
        """Refuse to act once replay failed, the workflow finished, or the activation is over."""
        if self.failure is not None or self.ended or self.finished:
            raise _Abort()

    # --- events --------------------------------------------------------------------------------------------------

    def _deliver(self, event: HistoryEvent) -> None:
        self.sequence = event.sequence
        if event.created_at is not None:
            self.now = event.created_at
        position = self.index.positional_index.get(event.sequence)
        if position is not None and position >= self.cursor:
            expected = f"; it had issued {self.cursor} of the history's {len(self.index.positional)} such commands"
            raise NonDeterminismError(
                f"workflow {self.definition.kind!r}: history event {describe_event(event)} has no matching command: "
                f"the workflow code had not issued it when replay reached the event{expected}",
                event=event,
            )
        if self.finished:
            return
        data = event.data
        handler = getattr(self, f"_on_{event.type.lower()}", None)
        if handler is not None:
            handler(event, data)

    def _on_workflow_started(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        if event.sequence != 1 or self.root is not None:
            raise ReplayError(f"WORKFLOW_STARTED must be the first event, found it at #{event.sequence}")
        context = contextvars.copy_context()
        context.run(current_runtime.set, self)
        context.run(current_scope_var.set, self.root_scope)
        coro = self.definition.fn(self.ctx, data.get("input"))
        self.root = self.loop.create_task(coro, name=f"workflow:{self.definition.kind}", context=context)

    def _op(self, table: dict[str, Operation], key: str, event: HistoryEvent) -> Operation:
        op = table.get(str(event.data[key]))
        if op is None:
            raise ReplayError(f"history event {describe_event(event)} refers to something this execution never "
                              "started")
        return op

    def _on_task_completed(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        self._op(self.tasks, "taskExecutionId", event).resolve(("result", data.get("result")))

    def _on_task_failed(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        op = self._op(self.tasks, "taskExecutionId", event)
        op.resolve(("error", TaskFailedError(task_execution_id=op.id, kind=op.kind, error=data.get("error"))))

    def _on_task_cancelled(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        op = self._op(self.tasks, "taskExecutionId", event)
        op.resolve(("error", TaskCancelledError(task_execution_id=op.id, kind=op.kind, reason=data.get("reason"))))

    def _on_timer_fired(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        if not is_resume_timer(self.execution_id, str(data["timerId"])):
            self._op(self.timers, "timerId", event).resolve(("result", None))

    def _on_timer_cancelled(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        if is_resume_timer(self.execution_id, str(data["timerId"])):
            return
        op = self._op(self.timers, "timerId", event)
        if not op.cancel_requested:
            raise NonDeterminismError(
                f"workflow {self.definition.kind!r}: history event {describe_event(event)} says the timer was "
                "cancelled, but the workflow code had not cancelled it when replay reached the event",
                event=event,
            )

    def _on_child_workflow_completed(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        self._op(self.children, "childWorkflowExecutionId", event).resolve(("result", data.get("output")))

    def _on_child_workflow_failed(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        op = self._op(self.children, "childWorkflowExecutionId", event)
        cancelled = bool(data.get("cancelled"))
        terminated = bool(data.get("terminated"))
        cls: type[ChildWorkflowFailedError | ChildWorkflowCancelledError]
        if terminated:
            cls, what = ChildWorkflowTerminatedError, "was terminated"
        elif cancelled:
            cls, what = ChildWorkflowCancelledError, "was cancelled"
        else:
            cls, what = ChildWorkflowFailedError, "failed"
        op.resolve(("error", cls(
            f"child workflow {op.id} ({op.kind}) {what}", child_workflow_execution_id=op.id,
            child_execution_name=op.name or "", kind=op.kind, error=data.get("error"),
        )))

    def _on_child_workflow_cancellation_failed(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        self._op(self.children, "childWorkflowExecutionId", event).cancel_failure = data.get("error")

    def _on_cancellation_requested(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        if self.cancel_requested:
            return
        self.cancel_requested = True
        self.cancel_reason = reason_text(data.get("reason"))
        self.cleanup_deadline = parse_timestamp(data.get("cleanupDeadline"))
        self.root_scope.cancel(self.cancel_reason)

    def _on_workflow_terminated(self, event: HistoryEvent, data: Mapping[str, Any]) -> None:
        # Terminated by an operator or a cleanup deadline: the code is stopped where it was, nothing more is sent.
        self.terminated = True
        self.finished = True

    # --- the end of the workflow function ------------------------------------------------------------------------

    def _finish(self) -> None:
        root = self.root
        assert root is not None
        command: dict[str, Any]
        if root.cancelled():
            command = {"type": "CANCEL_WORKFLOW"}
            reason = self.cancel_reason
            if reason is None:
                try:
                    root.result()
                except asyncio.CancelledError as exc:
                    reason = reason_text(exc.args[0]) if exc.args else None
            if reason is not None:
                command["reason"] = reason
        else:
            raised = root.exception()
            if isinstance(raised, _Abort):
                raise self.failure or ReplayError("replay aborted")
            if raised is None:
                try:
                    command = {"type": "COMPLETE_WORKFLOW", "output": json_value(root.result(), "workflow output")}
                except (TypeError, ValueError) as bad_output:
                    command = {"type": "FAIL_WORKFLOW", "error": error_value(bad_output)}
            else:
                command = {"type": "FAIL_WORKFLOW", "error": error_value(raised)}
        try:
            self.emit_positional(command)
        except _Abort:
            assert self.failure is not None
            raise self.failure from None
        self.finished = True

    # --- commands ------------------------------------------------------------------------------------------------

    def emit_positional(self, command: dict[str, Any]) -> HistoryEvent | None:
        """Match a command that always appends one event against the history; ``None`` when it is new."""
        self.check_live()
        if self.cursor < len(self.index.positional):
            event = self.index.positional[self.cursor]
            if not command_matches_event(command, event):
                raise self._fail(NonDeterminismError(
                    f"workflow {self.definition.kind!r}: the workflow code issued {describe_command(command)} where "
                    f"the history has {describe_event(event)}; the code no longer does what it did when the history "
                    "was recorded",
                    command=command, event=event,
                ))
            self.cursor += 1
            return event
        self.new_commands.append(command)
        return None

    def emit_new(self, command: dict[str, Any]) -> None:
        """Queue a command that cannot be matched by position (cancel task, cancel timer)."""
        self.check_live()
        self.new_commands.append(command)

    def current_scope(self) -> CancellationScope:
        return current_scope_var.get() or self.root_scope

    def schedule_task(self, kind: str, input: Any, *, queue: str | None, max_retries: int | None,
                      timeout_ms: int | None) -> Operation:
        self.check_live()
        check_name(kind, "task kind")
        if queue is not None:
            check_name(queue, "task queue")
        value = json_value(input, "task input")
        self.counters["task"] += 1
        op = Operation(self, "task", deterministic_id(self.execution_id, "task", self.counters["task"]), kind)
        self.tasks[op.id] = op
        cancelled, reason = self.current_scope()._effective()
        if cancelled:
            # Scheduled from a cancelled scope: never sent, already cancelled.
            op.resolve(("error", TaskCancelledError(task_execution_id=op.id, kind=kind, reason=reason)))
            return op
        command: dict[str, Any] = {"type": "SCHEDULE_TASK", "taskExecutionId": op.id, "kind": kind, "input": value}
        if queue is not None:
            command["queue"] = queue
        if max_retries is not None:
            command["maxRetries"] = max_retries
        if timeout_ms is not None:
            command["timeoutMs"] = timeout_ms
        self.emit_positional(command)
        return op

    def start_timer(self, duration_ms: int) -> Operation:
        self.check_live()
        self.counters["timer"] += 1
        op = Operation(self, "timer", deterministic_id(self.execution_id, "timer", self.counters["timer"]), None)
        self.timers[op.id] = op
        cancelled, reason = self.current_scope()._effective()
        if cancelled:
            op.resolve(("cancelled", reason))
            return op
        self.emit_positional({"type": "START_TIMER", "timerId": op.id, "durationMs": duration_ms})
        return op

    def start_child(self, kind: str, input: Any, *, name: str | None, queue: str | None,
                    parent_close_policy: ParentClosePolicy,
                    cancel_on: list[dict[str, Any]] | None = None) -> Operation:
        self.check_live()
        check_name(kind, "child workflow kind")
        if queue is not None:
            check_name(queue, "child workflow queue")
        policy = ParentClosePolicy(parent_close_policy)
        value = json_value(input, "child workflow input")
        number = self.counters["child"] + 1
        child_name = name if name is not None else f"{kind}-{number}"
        if not isinstance(child_name, str) or not child_name:
            raise ValueError("a child execution name must be a non-empty string")
        if child_name in self.child_names:
            raise ValueError(f"child execution name {child_name!r} is already used in this workflow execution")
        self.counters["child"] = number
        self.child_names.add(child_name)
        op = Operation(self, "child", deterministic_id(self.execution_id, "child", number), kind, child_name)
        self.children[op.id] = op
        if self.current_scope()._effective()[0]:
            op.resolve(("error", ChildWorkflowCancelledError(
                f"child workflow {child_name!r} was started from a cancelled scope and never ran",
                child_workflow_execution_id=op.id, child_execution_name=child_name, kind=kind, error=None,
            )))
            return op
        command: dict[str, Any] = {
            "type": "SCHEDULE_CHILD_WORKFLOW", "childExecutionName": child_name, "childWorkflowExecutionId": op.id,
            "workflowKind": kind, "input": value, "parentClosePolicy": policy.value,
        }
        if queue is not None:
            command["queue"] = queue
        if cancel_on:
            command["cancelOn"] = cancel_on
        self.emit_positional(command)
        return op

    def request_cancel(self, op: Operation, reason: Any) -> None:
        """Cancel a task, timer or child on behalf of the code (explicitly, or because its await was cancelled)."""
        if op.done or op.cancel_requested:
            return
        self.check_live()
        text = reason_text(reason)
        op.cancel_requested = True
        if op.category == "task":
            if op.id not in self.index.closed_tasks:
                command: dict[str, Any] = {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": op.id}
                if text is not None:
                    command["reason"] = text
                self.emit_new(command)
            # Resolved now: the server appends TASK_CANCELLED in this very submission and wakes nobody for it.
            op.resolve(("error", TaskCancelledError(task_execution_id=op.id, kind=op.kind, reason=text)))
        elif op.category == "timer":
            if op.id not in self.index.closed_timers:
                self.emit_new({"type": "CANCEL_TIMER", "timerId": op.id})
            op.resolve(("cancelled", text))
        else:
            # The child's outcome arrives later as its own event; only this await is given up at once.
            self.emit_positional({
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW", "childExecutionName": op.name,
                "childWorkflowExecutionId": op.id, "reason": text or DEFAULT_CHILD_CANCEL_REASON,
            })

    def run_operation(self, name: str, fn: Callable[[], Any]) -> Any:
        self.check_live()
        if not isinstance(name, str) or not name:
            raise ValueError("an operation name must be a non-empty string")
        probe = {"type": "RECORD_OPERATION", "operationName": name}
        event = self._peek_positional()
        if event is not None:
            self.emit_positional(probe)  # raises on a mismatch
            return event.data.get("result")
        result = fn()
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise TypeError("run_operation() takes a plain function; it must not return an awaitable")
        value = json_value(result, f"result of operation {name!r}")
        self.emit_positional({**probe, "result": value})
        return value

    def _peek_positional(self) -> HistoryEvent | None:
        return self.index.positional[self.cursor] if self.cursor < len(self.index.positional) else None

    def set_state(self, key: str, value: Any) -> None:
        self.check_live()
        if not isinstance(key, str) or not key:
            raise ValueError("a state key must be a non-empty string")
        stored = json_value(value, f"state value {key!r}")
        self.emit_positional({"type": "SET_STATE", "key": key, "value": stored})
        self.state[key] = stored

    def clear_state(self, key: str) -> None:
        self.check_live()
        if not isinstance(key, str) or not key:
            raise ValueError("a state key must be a non-empty string")
        self.emit_positional({"type": "CLEAR_STATE", "key": key})
        self.state.pop(key, None)

    # --- awaiting ------------------------------------------------------------------------------------------------

    def wait(self, op: Operation) -> Generator[Any, None, Any]:
        """The body of ``await handle``: a cancellation point, then the operation's outcome."""
        self.check_live()
        scope = self.current_scope()
        cancelled, reason = scope._effective()
        if cancelled:
            self.request_cancel(op, reason)
            raise asyncio.CancelledError(reason)
        if op.done:
            return op.value()
        future = _WaiterFuture(loop=self.loop)
        waiter = _Waiter(future, scope, op)
        op.waiters.append(waiter)
        self.waiters.append(waiter)
        future.on_cancel = functools.partial(self._waiter_cancelled, waiter)
        try:
            return (yield from future.__await__())
        finally:
            op.waiters.remove(waiter)
            self.waiters.remove(waiter)

    def _waiter_cancelled(self, waiter: _Waiter, reason: Any) -> None:
        # An await given up cancels what it awaited, unless someone else is still waiting for it.
        if self.ended or waiter.op.done:
            return
        if any(w is not waiter and not w.future.done() for w in waiter.op.waiters):
            return
        self.request_cancel(waiter.op, reason)

    def cancel_waiters(self) -> None:
        """Cancel every await whose scope is now cancelled (in the order the awaits began)."""
        for waiter in list(self.waiters):
            if waiter.future.done():
                continue
            cancelled, reason = waiter.scope._effective()
            if cancelled:
                waiter.future.cancel(msg=reason)

    # --- deterministic helpers -----------------------------------------------------------------------------------

    def uuid4(self) -> uuid.UUID:
        return uuid.UUID(int=self.random.getrandbits(128), version=4)

    @property
    def is_replaying(self) -> bool:
        return self.sequence < self.index.last_sequence


def error_value(exc: BaseException) -> dict[str, Any]:
    """The ``{"type", "message"}`` error value reported for an exception (plus ``details`` of ApplicationError)."""
    if isinstance(exc, ApplicationError):
        value: dict[str, Any] = {"type": exc.type, "message": exc.message[:MAX_ERROR_MESSAGE]}
        if exc.details is not None:
            try:
                value["details"] = json_value(exc.details, "error details")
            except (TypeError, ValueError):
                value["details"] = repr(exc.details)[:1000]
        return value
    return {"type": type(exc).__name__, "message": str(exc)[:MAX_ERROR_MESSAGE]}


def replay_history(
    workflow: Any,
    events: Iterable[HistoryEvent | Mapping[str, Any]],
    *,
    execution_id: str,
    queue: str = "default",
) -> ReplayResult:
    """Replay ``workflow`` (a ``@workflow`` function) against a history and return the new commands.

    This is what the Worker does at every activation; tests use it to check that changed workflow code still
    replays recorded histories. Raises :class:`NonDeterminismError` when the code and the history disagree,
    :class:`UnknownEventError` for an event type this SDK does not know, and :class:`ReplayError` for a
    malformed history.
    """
    definition = workflow_definition(workflow)
    return WorkflowRuntime(definition, parse_events(events), execution_id=execution_id, queue=queue).run()
