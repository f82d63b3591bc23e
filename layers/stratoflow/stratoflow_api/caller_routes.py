"""The caller API (scope `client`) except task cancellation, which is a function of its own.

Every route follows one pattern (see stratoflow_api.operations): `@route(app, ...)` names its entry of route_table
and its success answer; the function is the domain call, given the caller's `tenant`. Routes have no try/except:
guards, validation and error_mapping answer refusals.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from stratoflow import tasks, workflows
from stratoflow.services import runtime
from stratoflow.states import WorkflowStatus

from stratoflow_api.models import (
    CancelWorkflowBody,
    CreateTaskBody,
    IdempotencyKey,
    Name,
    NextToken,
    PageLimit,
    PathId,
    StartWorkflowBody,
)
from stratoflow_api.operations import route
from stratoflow_api.response_models import HistoryPage, Task, WorkflowCancelled, WorkflowExecution, WorkflowPage


def register_caller_routes(app: APIGatewayHttpResolver) -> None:
    @route(app, "POST", "/v1/workflows", ok=201, answer=WorkflowExecution)
    def start_workflow(tenant: str, body: Annotated[StartWorkflowBody, Body()], idempotency_key: IdempotencyKey = None):
        return workflows.start_workflow(
            runtime(), tenant, **body.work(), idempotency_key=idempotency_key, cancel_on=body.cancelOn
        )

    @route(app, "GET", "/v1/workflows", ok=200, answer=WorkflowPage)
    def list_workflows(
        tenant: str,
        status: Annotated[WorkflowStatus | None, Query()] = None,
        kind: Annotated[Name | None, Query()] = None,
        limit: PageLimit = 50,
        next_token: NextToken = None,
    ):
        return workflows.list_workflows(
            runtime(), tenant, status=status.value if status else None, kind=kind, limit=limit, next_token=next_token
        )

    @route(app, "GET", "/v1/workflows/{id}", ok=200, answer=WorkflowExecution)
    def get_workflow(tenant: str, id: PathId):
        return workflows.get_workflow(runtime(), tenant, id)

    @route(app, "GET", "/v1/workflows/{id}/events", ok=200, answer=HistoryPage)
    def read_history(
        tenant: str,
        id: PathId,
        after_sequence: Annotated[int, Query(alias="afterSequence", ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ):
        # Workers read the rest of a long history here too (the poll returns its first page).
        workflows.require_workflow(runtime(), tenant, id)
        return workflows.read_history(runtime(), tenant, id, after_sequence=after_sequence, limit=limit)

    @route(app, "POST", "/v1/workflows/{id}/cancel", ok=202, answer=WorkflowCancelled)
    def cancel_workflow(tenant: str, id: PathId, body: Annotated[CancelWorkflowBody | None, Body()] = None):
        request = body or CancelWorkflowBody()
        return workflows.cancel_workflow(
            runtime(),
            tenant,
            id,
            reason=request.reason,
            cascade=request.cascade,
            cleanup_timeout_ms=request.cleanupTimeoutMs,
        )

    @route(app, "POST", "/v1/tasks", ok=201, answer=Task)
    def create_task(tenant: str, body: Annotated[CreateTaskBody, Body()], idempotency_key: IdempotencyKey = None):
        return tasks.create_task(
            runtime(),
            tenant,
            **body.work(),
            max_retries=body.maxRetries,
            timeout_ms=body.timeoutMs,
            idempotency_key=idempotency_key,
        )

    @route(app, "GET", "/v1/tasks/{taskExecutionId}", ok=200, answer=Task)
    def get_task(tenant: str, taskExecutionId: PathId):  # noqa: N803 - the API's name
        return tasks.get_task(runtime(), tenant, taskExecutionId)
