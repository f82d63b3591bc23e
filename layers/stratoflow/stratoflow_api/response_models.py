"""What every route answers (api.md), as pydantic models: each answer is checked against its model before it is
sent, and the OpenAPI document describes the same models, so the two cannot drift apart.

Answers allow fields beyond those listed (`extra="allow"`), so a field the domain adds reaches callers at once;
list it here too, so that the document shows it.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from stratoflow.states import TaskStatus, WorkflowStatus

Timestamp = str  # ISO-8601 UTC with milliseconds, e.g. 2026-11-24T06:00:00.123Z


class _Answer(BaseModel):
    # Each function answers with a few of these models: build a model's validator when it is first used, not at
    # every cold start for all of them.
    model_config = ConfigDict(extra="allow", defer_build=True)


class _MayCarryNext(_Answer):
    """An answer that has `next` (the claim of a combined call) only when the request asked for one (`pollNext`):
    without it the answer is exactly what it was before combined calls existed."""

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        data = super().model_dump(**kwargs)
        if "next" not in self.model_fields_set:
            data.pop("next", None)
        return data


_NEXT = "Only when the request had `pollNext`: what that poll claimed after this call committed, or null."


StatusT = TypeVar("StatusT", WorkflowStatus, TaskStatus)


class _Work(_Answer, Generic[StatusT]):
    """What a workflow execution and a task both answer with. A model lists its ids as a base after this one,
    `class Task(_Work[TaskStatus], _TaskIds)`: pydantic orders fields from the last base to the first, so the ids
    come first in the answer, as in api.md."""

    kind: str
    queue: str
    status: StatusT
    input: Any = None
    output: Any = None
    error: Any = None


class _WorkflowIds(_Answer):
    workflowExecutionId: str


class WorkflowExecution(_Work[WorkflowStatus], _WorkflowIds):
    cancelReason: str | None
    parentWorkflowExecutionId: str | None
    childExecutionName: str | None
    cleanupDeadline: Timestamp | None = Field(default=None, description="When a cancel's cleanup must be over.")
    terminatedReason: str | None = Field(default=None, description="The reason given, once TERMINATED.")
    cancelOn: list[CancelOnSubscription] = Field(default_factory=list)
    createdAt: Timestamp
    updatedAt: Timestamp


class CancelOnSubscription(_Answer):
    eventType: str
    match: dict[str, str | int | float | bool]
    timeoutMs: int | None


class WorkflowPage(_Answer):
    workflows: list[WorkflowExecution]
    nextToken: str | None = Field(description="Pass it back for the next page; null at the end.")


class HistoryEvent(_Answer):
    sequence: int = Field(ge=1)
    type: str
    data: Any = None
    createdAt: Timestamp


class HistoryPage(_Answer):
    events: list[HistoryEvent]
    nextAfterSequence: int | None = Field(description="`afterSequence` of the next page; null at the end.")


class WorkflowCancelled(_Answer):
    workflowExecutionId: str
    status: Literal["CANCELLING"]


class _TaskIds(_Answer):
    taskExecutionId: str
    workflowExecutionId: str | None


class Task(_Work[TaskStatus], _TaskIds):
    attempt: int = Field(ge=0)
    maxRetries: int = Field(ge=0)
    timeoutMs: int | None
    cancelReason: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class TaskCancelled(_Answer):
    taskExecutionId: str
    status: Literal["CANCELLED"]


class WorkflowClaim(_Answer):
    """A claimed execution: the first page of its history and the lease."""

    workflowExecution: WorkflowExecution
    events: list[HistoryEvent]
    nextAfterSequence: int | None
    leaseId: str
    leaseExpiresAt: Timestamp


class TaskClaim(_Answer):
    task: Task
    leaseId: str
    leaseExpiresAt: Timestamp


class CommandsSubmitted(_MayCarryNext):
    status: WorkflowStatus
    events: list[HistoryEvent] = Field(description="The events this submission appended.")
    next: WorkflowClaim | None = Field(default=None, description=_NEXT)


class Heartbeat(_Answer):
    cancelRequested: bool
    leaseExpiresAt: Timestamp | None = Field(description="null once the task is cancelled.")


class TaskAttemptClosed(_MayCarryNext):
    status: TaskStatus
    next: TaskClaim | None = Field(default=None, description=_NEXT)


class WorkflowTerminated(_Answer):
    workflowExecutionId: str
    status: Literal["TERMINATED"]


class EventAccepted(_Answer):
    eventId: str


class BatchMatchCount(_Answer):
    matched: int = Field(ge=0, description="How many executions match the filter now (a dry run).")


class Batch(_Answer):
    batchId: str
    operation: Literal["CANCEL", "TERMINATE"]
    filter: dict[str, Any]
    reason: str | None
    cascade: bool
    cleanupTimeoutMs: int | None
    status: Literal["RUNNING", "COMPLETED", "STOPPED"]
    matched: int | None = Field(description="Set once the batch has finished listing the executions it matches.")
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    createdAt: Timestamp
    updatedAt: Timestamp
    completedAt: Timestamp | None


class BatchPage(_Answer):
    batches: list[Batch]
    nextToken: str | None


class BatchItem(_Answer):
    workflowExecutionId: str
    outcome: Literal["SUCCEEDED", "FAILED", "SKIPPED"]
    error: Any = None
    at: Timestamp


class BatchItemPage(_Answer):
    items: list[BatchItem]
    nextToken: str | None


class Health(_Answer):
    status: Literal["ok"]


class ErrorDetail(BaseModel):
    # Built only for the OpenAPI document: error bodies are written by stratoflow_api.error_mapping.
    model_config = ConfigDict(extra="allow", defer_build=True)

    code: str = Field(
        description="INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, FAILED_PRECONDITION, LEASE_LOST, "
        "CONFLICT, PAYLOAD_TOO_LARGE, UNAVAILABLE; details such as `currentStatus` or `problems` sit beside it."
    )
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer, the API Gateway's own included."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    error: ErrorDetail


class OpenApiDocument(_Answer):
    """This API's OpenAPI 3 document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
