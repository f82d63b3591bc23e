"""What task code sees: the running task, its heartbeats and its cancellation."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from typing import TYPE_CHECKING, Any

from ._errors import ApiError, FailedPreconditionError, LeaseLostError, TaskCancelledError
from ._types import TaskActivation
from ._values import json_value

if TYPE_CHECKING:
    from ._client import Client

_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("stratoflow_task", default=None)


class TaskContext:
    """The task being run by this thread. Get it with :func:`task_context`.

    The Worker heartbeats in the background at a fraction of the lease; :attr:`cancel_requested` turns true as soon as
    a heartbeat answer says ``cancelRequested``. Long-running code should check it, or call :meth:`heartbeat`,
    which raises :class:`TaskCancelledError` once the task is cancelled.
    """

    def __init__(self, client: Client, activation: TaskActivation) -> None:
        task = activation.task
        self._client = client
        self._lease_id = activation.lease_id
        self.task_execution_id: str = task.task_execution_id
        self.workflow_execution_id: str | None = task.workflow_execution_id
        self.kind: str = task.kind
        self.queue: str = task.queue
        self.attempt: int = task.attempt
        self.max_retries: int = task.max_retries
        self.input: Any = task.input
        self._lock = threading.Lock()
        self._cancel_requested = False
        self._cancel_reason: str | None = None
        self._lease_lost = False
        self._released = False
        self._last_heartbeat = time.monotonic()

    @property
    def lease_id(self) -> str:
        """The lease this worker holds on the task."""
        return self._lease_id

    @property
    def cancel_requested(self) -> bool:
        """Whether the task was cancelled (learnt from a heartbeat) or the worker gave it up on shutdown."""
        with self._lock:
            return self._cancel_requested

    @property
    def lease_lost(self) -> bool:
        """Whether a heartbeat found that this worker no longer holds the task (its result would be refused)."""
        with self._lock:
            return self._lease_lost

    def heartbeat(self, details: Any = None) -> None:
        """Heartbeat now (extending the lease, recording ``details``).

        Raises :class:`TaskCancelledError` if the task is cancelled, :class:`LeaseLostError` or
        :class:`FailedPreconditionError` if this worker no longer holds it.
        """
        self._raise_if_cancelled()
        value = json_value(details, "heartbeat details") if details is not None else None
        self._send(value)
        self._raise_if_cancelled()

    def _raise_if_cancelled(self) -> None:
        with self._lock:
            if self._cancel_requested:
                raise TaskCancelledError(task_execution_id=self.task_execution_id, kind=self.kind,
                                         reason=self._cancel_reason)

    def _send(self, details: Any) -> None:
        try:
            result = self._client.heartbeat_task(self.task_execution_id, self._lease_id, details)
        except (LeaseLostError, FailedPreconditionError):
            with self._lock:
                self._lease_lost = True
            raise
        with self._lock:
            self._last_heartbeat = time.monotonic()
            if result.cancel_requested:
                self._cancel_requested = True

    def _background_heartbeat(self) -> None:
        """One automatic heartbeat; errors are recorded, never raised (the task thread decides what to do)."""
        with contextlib.suppress(ApiError):
            self._send(None)

    def _since_last_heartbeat(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_heartbeat

    def _release(self, reason: str) -> None:
        """Mark the task as given up by the worker: its code sees ``cancel_requested`` and its result is dropped."""
        with self._lock:
            self._released = True
            self._cancel_requested = True
            self._cancel_reason = reason

    @property
    def _is_released(self) -> bool:
        with self._lock:
            return self._released

    def _activate(self) -> contextvars.Token[TaskContext | None]:
        return _current.set(self)

    @staticmethod
    def _deactivate(token: contextvars.Token[TaskContext | None]) -> None:
        _current.reset(token)


def task_context() -> TaskContext:
    """The :class:`TaskContext` of the task function running in this thread.

    Raises :class:`RuntimeError` outside a task function run by a Worker.
    """
    context = _current.get()
    if context is None:
        raise RuntimeError("task_context() is only available inside a task function run by a Worker")
    return context
