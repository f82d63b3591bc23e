"""Every API function's resolver is built the same way: validated, strict about JSON, one error mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from stratoflow_api.errors import parse_json_body, register_error_handlers


class _InstanceBoundResolver(APIGatewayRestResolver):
    """Powertools keeps the current request on a class attribute shared by every resolver of the process.

    Lambda runs one request per process at a time, so that is harmless there; the local stack runs several
    functions' handlers concurrently in one process, where a request could be routed with another's event. Binding
    the event to the instance first keeps each resolver on its own request wherever it runs.
    """

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        self.current_event = self._to_proxy_event(dict(event))  # type: ignore[assignment]  # it is the REST event
        self.lambda_context = context
        return super().resolve(event, context)


def new_resolver(*registrations: Callable[[APIGatewayRestResolver], None]) -> APIGatewayRestResolver:
    """A resolver with the error mapping and the given routes (e.g. `register_caller_routes`)."""
    app = _InstanceBoundResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    register_error_handlers(app)
    for register in registrations:
        register(app)
    return app
