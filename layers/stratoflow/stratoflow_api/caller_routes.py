"""The caller API (scope `client`) except task cancellation, which is a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from stratoflow import tasks, workflows
from stratoflow.services import runtime
from stratoflow.states import WorkflowStatus

from stratoflow_api.models import CancelWorkflowBody, CreateTaskBody, Name, StartWorkflowBody
from stratoflow_api.responses import authorize, json_response

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]


def register_caller_routes(app: APIGatewayRestResolver) -> None:
    @app.post("/v1/workflows", summary="Start a workflow", tags=["workflows"])
    def start_workflow(body: Annotated[StartWorkflowBody, Body()], idempotency_key: IdempotencyKey = None):
        tenant = authorize(app, "client")
        view = workflows.start_workflow(
            runtime(),
            tenant,
            kind=body.kind,
            queue=body.queue,
            input_value=body.input,
            idempotency_key=idempotency_key,
            cancel_on=body.cancelOn,
        )
        return json_response(201, view)

    @app.get("/v1/workflows", summary="List workflow executions, newest first", tags=["workflows"])
    def list_workflows(
        status: Annotated[WorkflowStatus | None, Query()] = None,
        kind: Annotated[Name | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        next_token: Annotated[str | None, Query(alias="nextToken", max_length=4096)] = None,
    ):
        tenant = authorize(app, "client")
        page = workflows.list_workflows(
            tenant, status=status.value if status else None, kind=kind, limit=limit, next_token=next_token
        )
        return json_response(200, page)

    @app.get("/v1/workflows/<id>", summary="Read a workflow execution", tags=["workflows"])
    def get_workflow(id: Annotated[str, Path()]):
        tenant = authorize(app, "client")
        return json_response(200, workflows.get_workflow(tenant, id))

    @app.get("/v1/workflows/<id>/events", summary="Read one page of history", tags=["workflows"])
    def read_history(
        id: Annotated[str, Path()],
        after_sequence: Annotated[int, Query(alias="afterSequence", ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ):
        # Workers read the rest of a long history here too (the poll returns its first page).
        tenant = authorize(app, "client", "worker")
        workflows.require_workflow(tenant, id)
        return json_response(200, workflows.read_history(tenant, id, after_sequence=after_sequence, limit=limit))

    @app.post("/v1/workflows/<id>/cancel", summary="Cancel a workflow execution", tags=["workflows"])
    def cancel_workflow(
        id: Annotated[str, Path()],
        body: Annotated[CancelWorkflowBody | None, Body()] = None,
    ):
        tenant = authorize(app, "client")
        request = body or CancelWorkflowBody()
        result = workflows.cancel_workflow(
            runtime(),
            tenant,
            id,
            reason=request.reason,
            cascade=request.cascade,
            cleanup_timeout_ms=request.cleanupTimeoutMs,
        )
        return json_response(202, result)

    @app.post("/v1/tasks", summary="Create a standalone task", tags=["tasks"])
    def create_task(body: Annotated[CreateTaskBody, Body()], idempotency_key: IdempotencyKey = None):
        tenant = authorize(app, "client")
        view = tasks.create_task(
            runtime(),
            tenant,
            kind=body.kind,
            queue=body.queue,
            input_value=body.input,
            max_retries=body.maxRetries,
            timeout_ms=body.timeoutMs,
            idempotency_key=idempotency_key,
        )
        return json_response(201, view)

    @app.get("/v1/tasks/<taskExecutionId>", summary="Read a task", tags=["tasks"])
    def get_task(taskExecutionId: Annotated[str, Path()]):  # noqa: N803 - the API's name
        tenant = authorize(app, "client")
        return json_response(200, tasks.get_task(tenant, taskExecutionId))
