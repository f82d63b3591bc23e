"""`POST /v1/worker/workflows/{id}/commands` (scope `worker`): the command batch, a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict, Field
from stratoflow.commands import MAX_COMMANDS, Command, submit_commands
from stratoflow.services import runtime

from stratoflow_api.models import LeaseId
from stratoflow_api.operations import answer, operation, tenant_of
from stratoflow_api.response_models import CommandsSubmitted


class SubmitCommandsBody(BaseModel):
    """The command batch (api.md), here rather than in `models` so that only this function builds the command models."""

    model_config = ConfigDict(extra="ignore")

    leaseId: LeaseId
    commands: list[Command] = Field(max_length=MAX_COMMANDS)


def register_submit_routes(app: APIGatewayRestResolver) -> None:
    @app.route(
        **operation(
            "POST", "/v1/worker/workflows/{id}/commands", ok=200, answer=CommandsSubmitted, refusals=[409, 503],
            summary="Submit workflow commands", tags=["worker"],
        )
    )  # fmt: skip
    def submit(
        id: Annotated[str, Path()],
        body: Annotated[SubmitCommandsBody, Body()],
    ):
        tenant = tenant_of(app)
        return answer(200, CommandsSubmitted, submit_commands(runtime(), tenant, id, body.leaseId, list(body.commands)))
