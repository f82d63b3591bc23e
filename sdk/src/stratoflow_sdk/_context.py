"""What workflow code sees: the workflow context and the handles of tasks and child workflows."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Generator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._scope import CancellationScope
from ._types import ParentClosePolicy
from ._values import duration_ms

if TYPE_CHECKING:
    from ._replay import Operation, WorkflowRuntime


class TaskHandle:
    """A scheduled task. ``await handle`` gives its result.

    Awaiting raises :class:`TaskFailedError` when the task failed (retries exhausted), :class:`TaskCancelledError`
    when it was cancelled, and :class:`asyncio.CancelledError` when the await itself was cancelled (then the task is
    cancelled too, unless another await still waits for it).
    """

    def __init__(self, op: Operation) -> None:
        self._op = op

    @property
    def task_execution_id(self) -> str:
        """The deterministic id of the task, ``<executionId>:task:<n>``."""
        return self._op.id

    @property
    def kind(self) -> str | None:
        """The task kind."""
        return self._op.kind

    def done(self) -> bool:
        """Whether the outcome is known at this point of the history."""
        return self._op.done

    def cancel(self, reason: str | None = None) -> None:
        """Request cancellation (``REQUEST_CANCEL_TASK``); awaiting the handle then raises TaskCancelledError."""
        self._op.runtime.request_cancel(self._op, reason)

    def __await__(self) -> Generator[Any, None, Any]:
        return (yield from self._op.runtime.wait(self._op))

    def __repr__(self) -> str:
        return f"TaskHandle({self.task_execution_id!r}, kind={self.kind!r}, done={self.done()})"


class ChildWorkflowHandle:
    """A started child workflow. ``await handle`` gives its output.

    Awaiting raises :class:`ChildWorkflowFailedError` or :class:`ChildWorkflowCancelledError` per the child's
    outcome, and :class:`asyncio.CancelledError` when the await itself was cancelled (the child is then asked to
    cancel; await the handle again, in a shielded scope, to wait for its actual outcome).
    """

    def __init__(self, op: Operation) -> None:
        self._op = op

    @property
    def child_workflow_execution_id(self) -> str:
        """The deterministic id of the child execution, ``<executionId>:child:<n>``."""
        return self._op.id

    @property
    def name(self) -> str:
        """The child execution name, unique within the parent."""
        return self._op.name or ""

    @property
    def kind(self) -> str | None:
        """The child's workflow kind."""
        return self._op.kind

    @property
    def cancel_failure(self) -> Any:
        """The error of ``CHILD_WORKFLOW_CANCELLATION_FAILED`` if the platform could not deliver a cancel request."""
        return self._op.cancel_failure

    def done(self) -> bool:
        """Whether the child's outcome is known at this point of the history."""
        return self._op.done

    def cancel(self, reason: str | None = None) -> None:
        """Ask the child to cancel (``REQUEST_CANCEL_CHILD_WORKFLOW``); its outcome arrives later."""
        self._op.runtime.request_cancel(self._op, reason)

    def __await__(self) -> Generator[Any, None, Any]:
        return (yield from self._op.runtime.wait(self._op))

    def __repr__(self) -> str:
        return f"ChildWorkflowHandle({self.child_workflow_execution_id!r}, name={self.name!r}, done={self.done()})"


class WorkflowContext:
    """The workflow's view of the world, passed as the first argument of every ``@workflow`` function.

    Everything here is deterministic: derived from the history and the execution id, never from the clock, the
    network or global random state. Use it instead of ``time``, ``random``, ``uuid`` and ``asyncio.sleep``.
    """

    def __init__(self, runtime: WorkflowRuntime) -> None:
        self._rt = runtime

    # --- identity ------------------------------------------------------------------------------------------------

    @property
    def execution_id(self) -> str:
        """The workflow execution id."""
        return self._rt.execution_id

    @property
    def kind(self) -> str:
        """The workflow kind."""
        return self._rt.definition.kind

    @property
    def queue(self) -> str:
        """The queue this execution runs on (tasks and children inherit it unless given one)."""
        return self._rt.queue

    # --- deterministic helpers -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The current time of the workflow: the timestamp of the history event being processed (UTC)."""
        return self._rt.now

    def random(self) -> random.Random:
        """A random generator seeded from the execution id (the same object for the whole run)."""
        return self._rt.random

    def uuid4(self) -> uuid.UUID:
        """A version-4 UUID drawn from :meth:`random`, so it is the same on every replay."""
        return self._rt.uuid4()

    @property
    def is_replaying(self) -> bool:
        """Whether the code is re-running events it already processed (use it to silence logs, nothing else)."""
        return self._rt.is_replaying

    # --- cancellation --------------------------------------------------------------------------------------------

    @property
    def cancel_requested(self) -> bool:
        """Whether the workflow was asked to cancel (``CANCELLATION_REQUESTED`` reached at this point)."""
        return self._rt.cancel_requested

    @property
    def cancel_reason(self) -> str | None:
        """The reason of the cancel request, if any."""
        return self._rt.cancel_reason

    @property
    def cleanup_deadline(self) -> datetime | None:
        """When the platform terminates this execution if it has not ended by then (UTC), or ``None``.

        Set by a cancel request made with a cleanup timeout (``cleanupDeadline`` of ``CANCELLATION_REQUESTED``):
        cleanup that would outlive it is cut short, so keep it shorter, or record progress as it goes.
        """
        return self._rt.cleanup_deadline

    def cancellation_scope(self, *, shield: bool = False) -> CancellationScope:
        """A new cancellation scope, entered with ``async with``.

        ``shield=True`` keeps the workflow's cancellation out of the block: cleanup in it still runs and can
        schedule tasks, timers and children after the workflow was asked to cancel.
        """
        return CancellationScope(self._rt, shield=shield)

    # --- durable operations --------------------------------------------------------------------------------------

    def schedule_task(
        self,
        kind: str,
        input: Any = None,
        *,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout: float | timedelta | None = None,
    ) -> TaskHandle:
        """Schedule a task now (``SCHEDULE_TASK``) and return its handle; ``await`` it for the result.

        ``timeout`` bounds each attempt (``timeoutMs``), ``max_retries`` the retries after a failed attempt.
        Scheduling from a cancelled scope sends nothing and returns a handle that is already cancelled.
        """
        timeout_ms = duration_ms(timeout, "task timeout") if timeout is not None else None
        if max_retries is not None and (not isinstance(max_retries, int) or max_retries < 0):
            raise ValueError(f"max_retries must be a non-negative int, got {max_retries!r}")
        return TaskHandle(self._rt.schedule_task(kind, input, queue=queue, max_retries=max_retries,
                                                 timeout_ms=timeout_ms))

    async def sleep(self, seconds: float | timedelta) -> None:
        """Wait on a durable timer (``START_TIMER``); a cancelled sleep cancels its timer (``CANCEL_TIMER``)."""
        millis = duration_ms(seconds, "sleep duration")
        op = self._rt.start_timer(millis)
        await _OperationAwaitable(op)

    def start_child(
        self,
        kind: str,
        input: Any = None,
        *,
        name: str | None = None,
        queue: str | None = None,
        parent_close_policy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL,
        cancel_on: list[Mapping[str, Any]] | None = None,
    ) -> ChildWorkflowHandle:
        """Start a child workflow now (``SCHEDULE_CHILD_WORKFLOW``) and return its handle.

        ``name`` (the child execution name) must be unique within this execution; it defaults to ``<kind>-<n>``.
        ``cancel_on`` (up to 5 entries ``{"eventType", "match"?, "timeoutMs"?}``) cancels the child when a matching
        event reaches the platform (``POST /v1/events`` or the event bus), as a cascading cancel would.
        """
        return ChildWorkflowHandle(
            self._rt.start_child(
                kind, input, name=name, queue=queue, parent_close_policy=parent_close_policy,
                cancel_on=_cancel_on(cancel_on),
            )
        )

    async def run_operation(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run a side effect once and record its JSON result (``RECORD_OPERATION``).

        On replay ``fn`` is not called: the result comes from the history's ``OPERATION_COMPLETED``. If ``fn``
        raises, nothing is recorded and the exception propagates (the next activation runs it again).
        """
        return self._rt.run_operation(name, fn)

    # --- state ---------------------------------------------------------------------------------------------------

    def set_state(self, key: str, value: Any) -> None:
        """Record a JSON value under ``key`` (``SET_STATE``)."""
        self._rt.set_state(key, value)

    def get_state(self, key: str, default: Any = None) -> Any:
        """The value last set under ``key`` by this workflow, or ``default``."""
        return self._rt.state.get(key, default)

    def clear_state(self, key: str) -> None:
        """Remove ``key`` (``CLEAR_STATE``)."""
        self._rt.clear_state(key)


def _cancel_on(entries: list[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Check the shape of ``cancel_on`` entries here, so a mistake fails in the workflow, not at submission."""
    if entries is None:
        return None
    if not isinstance(entries, list) or len(entries) > 5:
        raise ValueError("cancel_on is a list of at most 5 entries")
    checked = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("eventType"), str):
            raise ValueError(f"a cancel_on entry is {{'eventType', 'match'?, 'timeoutMs'?}}, got {entry!r}")
        match = entry.get("match") or {}
        if not isinstance(match, Mapping) or len(match) > 1:
            raise ValueError(f"a cancel_on match has at most one key, got {match!r}")
        checked.append({key: entry[key] for key in ("eventType", "match", "timeoutMs") if entry.get(key) is not None})
    return checked


class _OperationAwaitable:
    def __init__(self, op: Operation) -> None:
        self._op = op

    def __await__(self) -> Generator[Any, None, Any]:
        return (yield from self._op.runtime.wait(self._op))
