"""The worker API (scope `worker`) except command submission, which is a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from stratoflow import tasks, workflows
from stratoflow.observability import logger
from stratoflow.services import runtime

from stratoflow_api.models import CompleteTaskBody, FailTaskBody, HeartbeatBody, PollBody
from stratoflow_api.responses import authorize, json_response, no_content


def register_worker_routes(app: APIGatewayRestResolver) -> None:
    @app.post("/v1/worker/workflows/poll", summary="Claim a ready workflow execution", tags=["worker"])
    def poll_workflow(body: Annotated[PollBody, Body()]):
        tenant = authorize(app, "worker")
        claimed = workflows.poll_workflow(
            runtime(), tenant, queue=body.queue, worker_id=body.workerId or "", kinds=body.kinds, lease_ms=body.leaseMs
        )
        if claimed is None:
            return no_content()
        logger.info(
            "workflow claimed",
            extra={
                "workerId": body.workerId,
                "workflowExecutionId": claimed["workflowExecution"]["workflowExecutionId"],
            },
        )
        return json_response(200, claimed)

    @app.post("/v1/worker/tasks/poll", summary="Claim a pending task", tags=["worker"])
    def poll_task(body: Annotated[PollBody, Body()]):
        tenant = authorize(app, "worker")
        claimed = tasks.poll_task(runtime(), tenant, queue=body.queue, kinds=body.kinds, lease_ms=body.leaseMs)
        return no_content() if claimed is None else json_response(200, claimed)

    @app.post("/v1/worker/tasks/<taskExecutionId>/heartbeat", summary="Extend a task lease", tags=["worker"])
    def heartbeat(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803 - the API's name
        body: Annotated[HeartbeatBody, Body()],
    ):
        tenant = authorize(app, "worker")
        return json_response(200, tasks.heartbeat_task(runtime(), tenant, taskExecutionId, body.leaseId, body.details))

    @app.post("/v1/worker/tasks/<taskExecutionId>/complete", summary="Complete a task", tags=["worker"])
    def complete(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803
        body: Annotated[CompleteTaskBody, Body()],
    ):
        tenant = authorize(app, "worker")
        return json_response(200, tasks.complete_task(runtime(), tenant, taskExecutionId, body.leaseId, body.output))

    @app.post("/v1/worker/tasks/<taskExecutionId>/fail", summary="Fail a task attempt", tags=["worker"])
    def fail(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803
        body: Annotated[FailTaskBody, Body()],
    ):
        tenant = authorize(app, "worker")
        return json_response(
            200, tasks.fail_task(runtime(), tenant, taskExecutionId, body.leaseId, body.error, body.retryable)
        )
