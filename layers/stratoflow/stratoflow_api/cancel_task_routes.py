"""`POST /v1/tasks/{taskExecutionId}/cancel` (scope `client`): flow 1, a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from stratoflow import tasks
from stratoflow.services import runtime

from stratoflow_api.models import CancelTaskBody
from stratoflow_api.operations import answer, operation, tenant_of
from stratoflow_api.response_models import TaskCancelled


def register_cancel_task_routes(app: APIGatewayHttpResolver) -> None:
    @app.route(
        **operation(
            "POST", "/v1/tasks/{taskExecutionId}/cancel", ok=200, answer=TaskCancelled, refusals=[409, 503],
            summary="Cancel a task", tags=["tasks"],
        )
    )  # fmt: skip
    def cancel_task(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803 - the API's name
        body: Annotated[CancelTaskBody | None, Body()] = None,
    ):
        tenant = tenant_of(app)
        reason = body.reason if body else None
        return answer(200, TaskCancelled, tasks.cancel_task(runtime(), tenant, taskExecutionId, reason))
