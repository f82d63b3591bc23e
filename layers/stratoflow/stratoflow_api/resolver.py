"""Every API function's resolver is built the same way: validated, strict about JSON, one error mapping."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from stratoflow_api.errors import parse_json_body, register_error_handlers


def new_resolver(*registrations: Callable[[APIGatewayRestResolver], None]) -> APIGatewayRestResolver:
    """A resolver with the error mapping and the given routes (e.g. `register_caller_routes`)."""
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    register_error_handlers(app)
    for register in registrations:
        register(app)
    return app
