"""Every API function's resolver is built the same way: guarded, validated, strict about JSON, one error mapping.

The functions sit behind an HTTP API (payload format 2.0), so the resolvers are Powertools' APIGatewayHttpResolver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.errors import StratoflowError
from stratoflow.observability import logger

from stratoflow_api.error_mapping import error_response, register_error_handlers
from stratoflow_api.guards import guard_request
from stratoflow_api.json_body import JsonBodyValidation, parse_json_body


class _GuardedResolver(APIGatewayHttpResolver):
    """Runs the request guards (catch-all route, token, scope, body size) before Powertools validates a request, and
    binds each request to its resolver.

    Powertools keeps the current request on a class attribute shared by every resolver of the process. Lambda runs
    one request per process at a time, so that is harmless there; the local stack runs several functions' handlers
    concurrently in one process, where a request could be routed with another's event. Binding the event to the
    instance first keeps each resolver on its own request wherever it runs.
    """

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        request = dict(event)  # the guards leave the caller's principal in it
        # Powertools routes on rawPath and takes path parameters from it. The HTTP API sends it percent-decoded;
        # decoding here too keeps an encoded one (e.g. `order-42%3Acharge`) the same id. Ids never contain `%`.
        request["rawPath"] = unquote(str(request.get("rawPath") or "/"))
        self.current_event = self._to_proxy_event(request)  # type: ignore[assignment]  # it is the v2 event
        self.lambda_context = context
        try:
            guard_request(request)
        except StratoflowError as refused:
            logger.info("request refused", extra={"code": refused.code, "path": event.get("rawPath")})
            return self._refusal(error_response(refused.code, refused.message, **refused.details))
        return super().resolve(request, context)

    def _refusal(self, response: Response) -> dict[str, Any]:
        builder: ResponseBuilder[APIGatewayProxyEventV2] = ResponseBuilder(response)
        return builder.build(self.current_event)


def new_resolver(*registrations: Callable[[APIGatewayHttpResolver], None]) -> APIGatewayHttpResolver:
    """A resolver with the guards, the error mapping and the given routes (e.g. `register_caller_routes`)."""
    app = _GuardedResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    # Bodies are JSON whatever their Content-Type (stratoflow_api.json_body).
    app._request_validation_middleware = JsonBodyValidation()
    register_error_handlers(app)
    for register in registrations:
        register(app)
    return app
