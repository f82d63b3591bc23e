"""The worker API (scope `worker`) except command submission, which is a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from stratoflow import tasks
from stratoflow.services import runtime

from stratoflow_api.models import CompleteTaskBody, FailTaskBody, HeartbeatBody, PathId, PollBody
from stratoflow_api.operations import route
from stratoflow_api.poll_next import claim_task, claim_workflow, with_next
from stratoflow_api.response_models import Heartbeat, TaskAttemptClosed, TaskClaim, WorkflowClaim


def register_worker_routes(app: APIGatewayHttpResolver) -> None:
    @route(app, "POST", "/v1/worker/workflows/poll", ok=200, answer=WorkflowClaim, nothing_ready=True)
    def poll_workflow(tenant: str, body: Annotated[PollBody, Body()]):
        return claim_workflow(tenant, body)

    @route(app, "POST", "/v1/worker/tasks/poll", ok=200, answer=TaskClaim, nothing_ready=True)
    def poll_task(tenant: str, body: Annotated[PollBody, Body()]):
        return claim_task(tenant, body)

    @route(app, "POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat", ok=200, answer=Heartbeat)
    def heartbeat(tenant: str, taskExecutionId: PathId, body: Annotated[HeartbeatBody, Body()]):  # noqa: N803
        return tasks.heartbeat_task(runtime(), tenant, taskExecutionId, body.leaseId, body.details)

    @route(app, "POST", "/v1/worker/tasks/{taskExecutionId}/complete", ok=200, answer=TaskAttemptClosed)
    def complete(tenant: str, taskExecutionId: PathId, body: Annotated[CompleteTaskBody, Body()]):  # noqa: N803
        completed = tasks.complete_task(runtime(), tenant, taskExecutionId, body.leaseId, body.output)
        return with_next(completed, tenant, body.pollNext, claim_task)

    @route(app, "POST", "/v1/worker/tasks/{taskExecutionId}/fail", ok=200, answer=TaskAttemptClosed)
    def fail(tenant: str, taskExecutionId: PathId, body: Annotated[FailTaskBody, Body()]):  # noqa: N803
        failed = tasks.fail_task(runtime(), tenant, taskExecutionId, body.leaseId, body.error, body.retryable)
        return with_next(failed, tenant, body.pollNext, claim_task)
