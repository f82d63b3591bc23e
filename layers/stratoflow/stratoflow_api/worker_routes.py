"""The worker API (scope `worker`) except command submission, which is a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from stratoflow import tasks, workflows
from stratoflow.observability import logger
from stratoflow.services import runtime

from stratoflow_api.models import CompleteTaskBody, FailTaskBody, HeartbeatBody, PollBody
from stratoflow_api.operations import answer, no_content, operation, tenant_of
from stratoflow_api.response_models import Heartbeat, TaskAttemptClosed, TaskClaim, WorkflowClaim


def register_worker_routes(app: APIGatewayHttpResolver) -> None:
    @app.route(
        **operation(
            "POST", "/v1/worker/workflows/poll", ok=200, answer=WorkflowClaim, nothing_ready=True,
            summary="Claim a ready workflow execution", tags=["worker"],
        )
    )  # fmt: skip
    def poll_workflow(body: Annotated[PollBody, Body()]):
        tenant = tenant_of(app)
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
        return answer(200, WorkflowClaim, claimed)

    @app.route(
        **operation(
            "POST", "/v1/worker/tasks/poll", ok=200, answer=TaskClaim, nothing_ready=True,
            summary="Claim a pending task", tags=["worker"],
        )
    )  # fmt: skip
    def poll_task(body: Annotated[PollBody, Body()]):
        tenant = tenant_of(app)
        claimed = tasks.poll_task(runtime(), tenant, queue=body.queue, kinds=body.kinds, lease_ms=body.leaseMs)
        return no_content() if claimed is None else answer(200, TaskClaim, claimed)

    @app.route(
        **operation(
            "POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat", ok=200, answer=Heartbeat, refusals=[409, 503],
            summary="Extend a task lease", tags=["worker"],
        )
    )  # fmt: skip
    def heartbeat(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803 - the API's name
        body: Annotated[HeartbeatBody, Body()],
    ):
        tenant = tenant_of(app)
        return answer(
            200, Heartbeat, tasks.heartbeat_task(runtime(), tenant, taskExecutionId, body.leaseId, body.details)
        )

    @app.route(
        **operation(
            "POST", "/v1/worker/tasks/{taskExecutionId}/complete", ok=200, answer=TaskAttemptClosed,
            refusals=[409, 503], summary="Complete a task", tags=["worker"],
        )
    )  # fmt: skip
    def complete(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803
        body: Annotated[CompleteTaskBody, Body()],
    ):
        tenant = tenant_of(app)
        return answer(
            200, TaskAttemptClosed, tasks.complete_task(runtime(), tenant, taskExecutionId, body.leaseId, body.output)
        )

    @app.route(
        **operation(
            "POST", "/v1/worker/tasks/{taskExecutionId}/fail", ok=200, answer=TaskAttemptClosed,
            refusals=[409, 503], summary="Fail a task attempt", tags=["worker"],
        )
    )  # fmt: skip
    def fail(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803
        body: Annotated[FailTaskBody, Body()],
    ):
        tenant = tenant_of(app)
        return answer(
            200,
            TaskAttemptClosed,
            tasks.fail_task(runtime(), tenant, taskExecutionId, body.leaseId, body.error, body.retryable),
        )
