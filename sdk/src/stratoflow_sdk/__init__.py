"""Stratoflow worker SDK: durable workflows in plain async Python, tasks in a thread pool.

Workflow code uses :class:`WorkflowContext` (``ctx``) and :func:`join_all`, :func:`select`, :func:`with_timeout`;
task code uses :func:`task_context`; processes run a :class:`Worker`; callers use :class:`Client`. See docs/sdk.md.
"""

from ._client import Client
from ._combinators import Selected, join_all, select, with_timeout
from ._context import ChildWorkflowHandle, TaskHandle, WorkflowContext
from ._definitions import TaskDefinition, WorkflowDefinition, task, workflow
from ._errors import (
    ApiError,
    ApplicationError,
    ChildWorkflowCancelledError,
    ChildWorkflowError,
    ChildWorkflowFailedError,
    ChildWorkflowTerminatedError,
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    LeaseLostError,
    NonDeterminismError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ReplayError,
    StratoflowError,
    TaskCancelledError,
    TaskError,
    TaskFailedError,
    TransportError,
    UnauthenticatedError,
    UnknownEventError,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowTerminatedError,
    is_cancelled_error,
)
from ._operators import Batch, BatchFilter, BatchItem, BatchItemOutcome, BatchOperation, BatchStatus, CancelOn
from ._replay import CancellationScope, ReplayResult, replay_history
from ._task_context import TaskContext, task_context
from ._transport import RequestsTransport, Transport, TransportResponse
from ._types import (
    HistoryEvent,
    ParentClosePolicy,
    TaskExecution,
    TaskStatus,
    WorkflowExecution,
    WorkflowStatus,
)
from ._worker import Worker

__all__ = [
    "ApiError",
    "ApplicationError",
    "Batch",
    "BatchFilter",
    "BatchItem",
    "BatchItemOutcome",
    "BatchOperation",
    "BatchStatus",
    "CancelOn",
    "CancellationScope",
    "ChildWorkflowCancelledError",
    "ChildWorkflowError",
    "ChildWorkflowFailedError",
    "ChildWorkflowHandle",
    "ChildWorkflowTerminatedError",
    "Client",
    "ConflictError",
    "FailedPreconditionError",
    "HistoryEvent",
    "InvalidArgumentError",
    "LeaseLostError",
    "NonDeterminismError",
    "NotFoundError",
    "ParentClosePolicy",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ReplayError",
    "ReplayResult",
    "RequestsTransport",
    "Selected",
    "StratoflowError",
    "TaskCancelledError",
    "TaskContext",
    "TaskDefinition",
    "TaskError",
    "TaskExecution",
    "TaskFailedError",
    "TaskHandle",
    "TaskStatus",
    "Transport",
    "TransportError",
    "TransportResponse",
    "UnauthenticatedError",
    "UnknownEventError",
    "Worker",
    "WorkflowCancelledError",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowExecution",
    "WorkflowFailedError",
    "WorkflowStatus",
    "WorkflowTerminatedError",
    "is_cancelled_error",
    "join_all",
    "replay_history",
    "select",
    "task",
    "task_context",
    "with_timeout",
    "workflow",
]
