"""Exceptions raised by the SDK, and the mapping from api.md error bodies to them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any


class StratoflowError(Exception):
    """Base class of every exception the SDK raises."""


# --- HTTP API errors --------------------------------------------------------------------------------------------


class ApiError(StratoflowError):
    """An error response of the Stratoflow HTTP API.

    ``code`` and ``message`` come from the ``{"error": {"code", "message", ...details}}`` body, ``status`` is the
    HTTP status and ``details`` holds every other key of ``error`` (for example ``currentStatus``). A response that
    carries no api.md error body (a proxy's 502, say) is an ``ApiError`` whose code is ``HTTP_<status>``.
    """

    #: The api.md error code this class stands for; ``None`` on the base class.
    api_code: str | None = None

    def __init__(self, code: str, message: str, status: int, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details: dict[str, Any] = dict(details or {})


class InvalidArgumentError(ApiError):
    """400 ``INVALID_ARGUMENT``: malformed request, schema violation or an invalid command."""

    api_code = "INVALID_ARGUMENT"


class UnauthenticatedError(ApiError):
    """401 ``UNAUTHENTICATED``: missing, malformed or unknown token."""

    api_code = "UNAUTHENTICATED"


class PermissionDeniedError(ApiError):
    """403 ``PERMISSION_DENIED``: the token lacks the scope (``client`` or ``worker``) the route needs."""

    api_code = "PERMISSION_DENIED"


class NotFoundError(ApiError):
    """404 ``NOT_FOUND``: unknown id, or a resource of another tenant."""

    api_code = "NOT_FOUND"


class FailedPreconditionError(ApiError):
    """409 ``FAILED_PRECONDITION``: the resource's state forbids the operation (see ``current_status``)."""

    api_code = "FAILED_PRECONDITION"

    @property
    def current_status(self) -> str | None:
        """The ``currentStatus`` detail of the response, when the server sent one."""
        value = self.details.get("currentStatus")
        return value if isinstance(value, str) else None


class LeaseLostError(ApiError):
    """409 ``LEASE_LOST``: the caller's lease expired or was taken over; the resource is still live."""

    api_code = "LEASE_LOST"


class ConflictError(ApiError):
    """409 ``CONFLICT``: an ``Idempotency-Key`` reused with another body, or a worker-chosen id already taken."""

    api_code = "CONFLICT"


class PayloadTooLargeError(ApiError):
    """413 ``PAYLOAD_TOO_LARGE``: a value over 256 KiB, a body over 5 MiB, or a submission too large to write."""

    api_code = "PAYLOAD_TOO_LARGE"


#: One class per api.md error code.
API_ERROR_CLASSES: Mapping[str, type[ApiError]] = {
    cls.api_code: cls
    for cls in (
        InvalidArgumentError,
        UnauthenticatedError,
        PermissionDeniedError,
        NotFoundError,
        FailedPreconditionError,
        LeaseLostError,
        ConflictError,
        PayloadTooLargeError,
    )
    if cls.api_code is not None
}


def api_error_from_response(status: int, body: Any, text: str = "") -> ApiError:
    """Build the typed exception for an error response (``body`` is the parsed JSON, or ``None``)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping) and isinstance(error.get("code"), str):
        code = str(error["code"])
        message = str(error.get("message", ""))
        details = {k: v for k, v in error.items() if k not in ("code", "message")}
    else:
        # Not an api.md body (a proxy or a crashed handler): keep what the server said.
        code = f"HTTP_{status}"
        message = text.strip()[:500] or f"HTTP status {status}"
        details = {}
    cls = API_ERROR_CLASSES.get(code, ApiError)
    return cls(code, message, status, details)


class TransportError(StratoflowError):
    """The request did not get an HTTP response (connection refused, timeout, reset)."""


# --- Outcomes seen by callers -----------------------------------------------------------------------------------


class WorkflowFailedError(StratoflowError):
    """``Client.result`` on an execution that ended ``FAILED``; ``error`` is its error value."""

    def __init__(self, workflow_execution_id: str, error: Any) -> None:
        super().__init__(f"workflow {workflow_execution_id} failed: {_describe(error)}")
        self.workflow_execution_id = workflow_execution_id
        self.error = error


class WorkflowCancelledError(StratoflowError):
    """``Client.result`` on an execution that ended ``CANCELLED``."""

    def __init__(self, workflow_execution_id: str, reason: str | None) -> None:
        super().__init__(f"workflow {workflow_execution_id} was cancelled" + (f": {reason}" if reason else ""))
        self.workflow_execution_id = workflow_execution_id
        self.reason = reason


class WorkflowTerminatedError(StratoflowError):
    """``Client.result`` on an execution that ended ``TERMINATED`` (by an operator, a batch or a cleanup timeout)."""

    def __init__(self, workflow_execution_id: str, reason: str | None) -> None:
        super().__init__(f"workflow {workflow_execution_id} was terminated" + (f": {reason}" if reason else ""))
        self.workflow_execution_id = workflow_execution_id
        self.reason = reason


# --- Outcomes seen by workflow and task code --------------------------------------------------------------------


class ApplicationError(StratoflowError):
    """Raise from task or workflow code to control how the failure is reported.

    The reported error value is ``{"type": type, "message": message}`` plus ``"details"`` when given. A task that
    raises it with ``non_retryable=True`` is failed with ``retryable: false``, so the platform does not retry it.
    """

    def __init__(
        self, message: str, *, type: str | None = None, non_retryable: bool = False, details: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or "ApplicationError"
        self.non_retryable = non_retryable
        self.details = details


class TaskError(StratoflowError):
    """Base of the errors about one task: ``task_execution_id`` and ``kind`` name it."""

    def __init__(self, message: str, *, task_execution_id: str, kind: str | None) -> None:
        super().__init__(message)
        self.task_execution_id = task_execution_id
        self.kind = kind


class TaskFailedError(TaskError):
    """Awaiting a task whose history ends in ``TASK_FAILED``; ``error`` is the task's error value."""

    def __init__(self, *, task_execution_id: str, kind: str | None, error: Any) -> None:
        super().__init__(
            f"task {task_execution_id} ({kind}) failed: {_describe(error)}", task_execution_id=task_execution_id,
            kind=kind,
        )
        self.error = error


class TaskCancelledError(TaskError):
    """The task was cancelled.

    In task code, ``TaskContext.heartbeat()`` raises it once the server answers ``cancelRequested: true``. In
    workflow code, awaiting a task handle raises it when the task was cancelled (``TASK_CANCELLED``, or the workflow's
    own cancel request).
    """

    def __init__(self, *, task_execution_id: str, kind: str | None, reason: str | None = None) -> None:
        super().__init__(
            f"task {task_execution_id} ({kind}) was cancelled" + (f": {reason}" if reason else ""),
            task_execution_id=task_execution_id, kind=kind,
        )
        self.reason = reason


class ChildWorkflowError(StratoflowError):
    """Base of the errors about one child workflow."""

    def __init__(
        self, message: str, *, child_workflow_execution_id: str, child_execution_name: str, kind: str | None,
        error: Any,
    ) -> None:
        super().__init__(message)
        self.child_workflow_execution_id = child_workflow_execution_id
        self.child_execution_name = child_execution_name
        self.kind = kind
        self.error = error


class ChildWorkflowFailedError(ChildWorkflowError):
    """Awaiting a child whose outcome is ``CHILD_WORKFLOW_FAILED`` with ``cancelled: false``."""


class ChildWorkflowTerminatedError(ChildWorkflowFailedError):
    """Awaiting a child that was terminated (``CHILD_WORKFLOW_FAILED`` with ``terminated: true``).

    A failure (``except ChildWorkflowFailedError`` catches it) that workflow code can tell apart: the child's code
    did not fail, an operator or a cleanup deadline ended it; ``reason`` is why.
    """

    @property
    def reason(self) -> str | None:
        """The reason the child was terminated with."""
        message = self.error.get("message") if isinstance(self.error, Mapping) else None
        return message if isinstance(message, str) else None


class ChildWorkflowCancelledError(ChildWorkflowError):
    """Awaiting a child whose outcome is ``CHILD_WORKFLOW_FAILED`` with ``cancelled: true`` (it ended CANCELLED)."""


# --- Replay errors ----------------------------------------------------------------------------------------------


class ReplayError(StratoflowError):
    """The history cannot be replayed (malformed, or inconsistent with itself)."""


class NonDeterminismError(ReplayError):
    """Replaying the workflow code produced a command that the history contradicts, or the reverse.

    ``command`` is the command the code issued (``None`` when the code issued none where the history has one) and
    ``event`` the history event involved (``None`` when the history has nothing there).
    """

    def __init__(self, message: str, *, command: Mapping[str, Any] | None = None, event: Any = None) -> None:
        super().__init__(message)
        self.command = dict(command) if command is not None else None
        self.event = event


class UnknownEventError(ReplayError):
    """The history holds an event type this SDK does not know; it is rejected rather than misread."""

    def __init__(self, message: str, *, event: Any = None) -> None:
        super().__init__(message)
        self.event = event


def is_cancelled_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` means "this was cancelled" rather than "this failed".

    True for :class:`asyncio.CancelledError` (how cancellation reaches workflow code), :class:`TaskCancelledError`,
    :class:`ChildWorkflowCancelledError` and :class:`WorkflowCancelledError`.
    """
    return isinstance(
        exc, asyncio.CancelledError | TaskCancelledError | ChildWorkflowCancelledError | WorkflowCancelledError
    )


def _describe(error: Any) -> str:
    if isinstance(error, Mapping):
        kind = error.get("type") or error.get("code")
        message = error.get("message")
        if kind or message:
            return f"{kind}: {message}" if kind and message else str(kind or message)
    return repr(error)
