"""`POST /v1/worker/workflows/{id}/commands` (scope `worker`): the command batch, a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from stratoflow.commands import submit_commands
from stratoflow.services import runtime

from stratoflow_api.models import SubmitCommandsBody
from stratoflow_api.responses import authorize, json_response


def register_submit_routes(app: APIGatewayRestResolver) -> None:
    @app.post("/v1/worker/workflows/<id>/commands", summary="Submit workflow commands", tags=["worker"])
    def submit(
        id: Annotated[str, Path()],
        body: Annotated[SubmitCommandsBody, Body()],
    ):
        tenant = authorize(app, "worker")
        return json_response(200, submit_commands(runtime(), tenant, id, body.leaseId, list(body.commands)))
