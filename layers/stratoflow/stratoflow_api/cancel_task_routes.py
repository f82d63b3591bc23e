"""`POST /v1/tasks/{taskExecutionId}/cancel` (scope `client`): flow 1, a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from stratoflow import tasks
from stratoflow.services import runtime

from stratoflow_api.models import CancelTaskBody
from stratoflow_api.responses import authorize, json_response


def register_cancel_task_routes(app: APIGatewayRestResolver) -> None:
    @app.post("/v1/tasks/<taskExecutionId>/cancel", summary="Cancel a task", tags=["tasks"])
    def cancel_task(
        taskExecutionId: Annotated[str, Path()],  # noqa: N803 - the API's name
        body: Annotated[CancelTaskBody | None, Body()] = None,
    ):
        tenant = authorize(app, "client")
        reason = body.reason if body else None
        return json_response(200, tasks.cancel_task(runtime(), tenant, taskExecutionId, reason))
