"""`POST /v1/tasks/{taskExecutionId}/cancel` (scope `client`): flow 1, a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from stratoflow import tasks
from stratoflow.services import runtime

from stratoflow_api.models import CancelTaskBody, PathId
from stratoflow_api.operations import route
from stratoflow_api.response_models import TaskCancelled


def register_cancel_task_routes(app: APIGatewayHttpResolver) -> None:
    @route(app, "POST", "/v1/tasks/{taskExecutionId}/cancel", ok=200, answer=TaskCancelled)
    def cancel_task(
        tenant: str,
        taskExecutionId: PathId,  # noqa: N803 - the API's name
        body: Annotated[CancelTaskBody | None, Body()] = None,
    ):
        return tasks.cancel_task(runtime(), tenant, taskExecutionId, body.reason if body else None)
