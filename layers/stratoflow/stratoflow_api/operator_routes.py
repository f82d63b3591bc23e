"""The operator controls (scope `client`, operators.md): terminate, batches and events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from stratoflow import batches, event_delivery, terminate
from stratoflow.cancel_on import EventType
from stratoflow.clock import iso_ms, parse_iso_ms
from stratoflow.deadlines import MAX_CLEANUP_TIMEOUT_MS, MIN_CLEANUP_TIMEOUT_MS
from stratoflow.services import runtime

from stratoflow_api.models import IdempotencyKey, Name, NextToken, PageLimit, PathId, RequestBody
from stratoflow_api.operations import answer, route
from stratoflow_api.response_models import (
    Batch,
    BatchItemPage,
    BatchMatchCount,
    BatchPage,
    EventAccepted,
    WorkflowTerminated,
)

RequiredReason = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
LiveStatus = Literal["PENDING", "RUNNING", "WAITING", "CANCELLING"]
OpaqueId = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TerminateWorkflowBody(RequestBody):
    reason: RequiredReason
    cascade: StrictBool = True


class BatchFilter(RequestBody):
    kind: Name | None = None
    queue: Name | None = None
    statuses: list[LiveStatus] | None = Field(default=None, min_length=1, max_length=4)
    createdAfter: str | None = None
    createdBefore: str | None = None
    workflowExecutionIds: list[OpaqueId] | None = Field(default=None, min_length=1, max_length=1000)

    @field_validator("createdAfter", "createdBefore")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return iso_ms(parse_iso_ms(value))
        except (ValueError, OverflowError, OSError) as error:
            raise ValueError("an ISO-8601 timestamp, e.g. 2026-11-24T06:00:00.123Z") from error

    @model_validator(mode="after")
    def _not_empty(self) -> BatchFilter:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            raise ValueError("the filter needs at least one field")
        return self

    def view(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class CreateBatchBody(RequestBody):
    operation: Literal["CANCEL", "TERMINATE"]
    filter: BatchFilter
    reason: RequiredReason | None = None
    cascade: StrictBool = True
    cleanupTimeoutMs: StrictInt | None = Field(default=None, ge=MIN_CLEANUP_TIMEOUT_MS, le=MAX_CLEANUP_TIMEOUT_MS)
    dryRun: StrictBool = False
    maxPerSecond: StrictInt = Field(default=batches.DEFAULT_MAX_PER_SECOND, ge=1, le=1000)

    @model_validator(mode="after")
    def _reason_unless_dry_run(self) -> CreateBatchBody:
        if self.reason is None and not self.dryRun:
            raise ValueError("reason is required unless dryRun is true")
        return self


class SendEventBody(RequestBody):
    eventType: EventType
    data: dict[str, Any] | None = None


def register_operator_routes(app: APIGatewayHttpResolver) -> None:
    @route(app, "POST", "/v1/workflows/{id}/terminate", ok=200, answer=WorkflowTerminated)
    def terminate_workflow(tenant: str, id: PathId, body: Annotated[TerminateWorkflowBody, Body()]):
        return terminate.terminate_workflow(runtime(), tenant, id, reason=body.reason, cascade=body.cascade)

    @route(app, "POST", "/v1/events", ok=202, answer=EventAccepted)
    def send_event(tenant: str, body: Annotated[SendEventBody, Body()], idempotency_key: IdempotencyKey = None):
        return event_delivery.send_event(
            runtime(), tenant, event_type=body.eventType, data=body.data or {}, idempotency_key=idempotency_key
        )

    @route(app, "POST", "/v1/batches", ok=202, answer=Batch, dry_run=BatchMatchCount)
    def create_batch(tenant: str, body: Annotated[CreateBatchBody, Body()], idempotency_key: IdempotencyKey = None):
        request = batches.BatchRequest(
            operation=body.operation,
            filter=body.filter.view(),
            reason=body.reason,
            cascade=body.cascade,
            cleanup_timeout_ms=body.cleanupTimeoutMs,
            max_per_second=body.maxPerSecond,
        )
        if body.dryRun:
            return answer(200, BatchMatchCount, {"matched": batches.count_matching(runtime(), tenant, request)})
        return batches.create_batch(runtime(), tenant, request, idempotency_key=idempotency_key)

    @route(app, "GET", "/v1/batches", ok=200, answer=BatchPage)
    def list_batches(tenant: str, limit: PageLimit = 50, next_token: NextToken = None):
        return batches.list_batches(runtime(), tenant, limit=limit, next_token=next_token)

    @route(app, "GET", "/v1/batches/{batchId}", ok=200, answer=Batch)
    def get_batch(tenant: str, batchId: PathId):  # noqa: N803 - the API's name
        return batches.get_batch(runtime(), tenant, batchId)

    @route(app, "GET", "/v1/batches/{batchId}/items", ok=200, answer=BatchItemPage)
    def list_batch_items(
        tenant: str,
        batchId: PathId,  # noqa: N803
        outcome: Annotated[Literal["SUCCEEDED", "FAILED", "SKIPPED"] | None, Query()] = None,
        limit: PageLimit = 50,
        next_token: NextToken = None,
    ):
        return batches.list_items(runtime(), tenant, batchId, outcome=outcome, limit=limit, next_token=next_token)

    @route(app, "POST", "/v1/batches/{batchId}/stop", ok=200, answer=Batch)
    def stop_batch(tenant: str, batchId: PathId):  # noqa: N803
        return batches.stop_batch(runtime(), tenant, batchId)
