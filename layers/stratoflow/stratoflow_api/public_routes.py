"""Routes without authentication: health and the OpenAPI document generated from every route."""

from __future__ import annotations

import json
from functools import lru_cache

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from stratoflow_api.caller_routes import register_caller_routes
from stratoflow_api.cancel_task_routes import register_cancel_task_routes
from stratoflow_api.operator_routes import register_operator_routes
from stratoflow_api.resolver import new_resolver
from stratoflow_api.responses import json_response
from stratoflow_api.submit_routes import register_submit_routes
from stratoflow_api.worker_routes import register_worker_routes


def build_resolver() -> APIGatewayRestResolver:
    """A resolver with every route of the API, as the functions register them, and the error mapping."""
    return new_resolver(
        register_public_routes,
        register_caller_routes,
        register_cancel_task_routes,
        register_worker_routes,
        register_submit_routes,
        register_operator_routes,
    )


@lru_cache(maxsize=1)
def openapi_document() -> str:
    schema = build_resolver().get_openapi_json_schema(
        title="Stratoflow API",
        version="1.0.0",
        description="Durable workflows on AWS serverless parts: event histories, leases and exact cancellation.",
    )
    return json.dumps(json.loads(schema))


def register_public_routes(app: APIGatewayRestResolver) -> None:
    @app.get("/v1/health", summary="Health check", tags=["public"])
    def health():
        return json_response(200, {"status": "ok"})

    @app.get("/v1/openapi.json", summary="This API's OpenAPI document", tags=["public"])
    def openapi():
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())
