"""The worker API (scope `worker`) except command submission, which is a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from stratoflow import tasks
from stratoflow.services import runtime

from stratoflow_api.models import CompleteTaskBody, FailTaskBody, HeartbeatBody, PollBody
from stratoflow_api.operations import answer, no_content, operation, tenant_of
from stratoflow_api.poll_next import claim_task, claim_workflow, with_next
from stratoflow_api.response_models import Heartbeat, TaskAttemptClosed, TaskClaim, WorkflowClaim


def register_worker_routes(app: APIGatewayHttpResolver) -> None:
    @app.route(
        **operation(
            "POST", "/v1/worker/workflows/poll", ok=200, answer=WorkflowClaim, nothing_ready=True,
            summary="Claim a ready workflow execution", tags=["worker"],
        )
    )  # fmt: skip
    def poll_workflow(body: Annotated[PollBody, Body()]):
        claimed = claim_workflow(tenant_of(app), body)
        return no_content() if claimed is None else answer(200, WorkflowClaim, claimed)

    @app.route(
        **operation(
            "POST", "/v1/worker/tasks/poll", ok=200, answer=TaskClaim, nothing_ready=True,
            summary="Claim a pending task", tags=["worker"],
        )
    )  # fmt: skip
    def poll_task(body: Annotated[PollBody, Body()]):
        claimed = claim_task(tenant_of(app), body)
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
        completed = tasks.complete_task(runtime(), tenant, taskExecutionId, body.leaseId, body.output)
        return answer(200, TaskAttemptClosed, with_next(completed, tenant, body.pollNext, claim_task))

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
        failed = tasks.fail_task(runtime(), tenant, taskExecutionId, body.leaseId, body.error, body.retryable)
        return answer(200, TaskAttemptClosed, with_next(failed, tenant, body.pollNext, claim_task))
