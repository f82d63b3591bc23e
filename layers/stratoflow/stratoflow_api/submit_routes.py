"""`POST /v1/worker/workflows/{id}/commands` (scope `worker`): the command batch, a function of its own."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import Field
from stratoflow.commands import MAX_COMMANDS, Command, submit_commands
from stratoflow.services import runtime

from stratoflow_api.models import POLL_NEXT_DESCRIPTION, LeaseId, PathId, PollNext, RequestBody
from stratoflow_api.operations import route
from stratoflow_api.poll_next import claim_workflow, with_next
from stratoflow_api.response_models import CommandsSubmitted


class SubmitCommandsBody(RequestBody):
    """The command batch (api.md), here rather than in `models` so that only this function builds the command models."""

    leaseId: LeaseId
    commands: list[Command] = Field(max_length=MAX_COMMANDS)
    pollNext: PollNext | None = Field(default=None, description=POLL_NEXT_DESCRIPTION)


def register_submit_routes(app: APIGatewayHttpResolver) -> None:
    @route(app, "POST", "/v1/worker/workflows/{id}/commands", ok=200, answer=CommandsSubmitted)
    def submit(tenant: str, id: PathId, body: Annotated[SubmitCommandsBody, Body()]):
        submitted = submit_commands(runtime(), tenant, id, body.leaseId, list(body.commands))
        return with_next(submitted, tenant, body.pollNext, claim_workflow)
