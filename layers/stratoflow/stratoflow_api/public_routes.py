"""Routes without authentication: health and the OpenAPI document generated from every route."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from stratoflow_api.operations import route, security_schemes
from stratoflow_api.resolver import new_resolver
from stratoflow_api.response_models import Health, OpenApiDocument


def build_resolver() -> APIGatewayHttpResolver:
    """A resolver with every route of the API, as the functions register them, and the error mapping.

    The other functions' routes are imported here, not with this module: only the OpenAPI document needs them, and
    the caller API's cold start need not load them.
    """
    from stratoflow_api.caller_routes import register_caller_routes  # noqa: PLC0415
    from stratoflow_api.cancel_task_routes import register_cancel_task_routes  # noqa: PLC0415
    from stratoflow_api.operator_routes import register_operator_routes  # noqa: PLC0415
    from stratoflow_api.submit_routes import register_submit_routes  # noqa: PLC0415
    from stratoflow_api.worker_routes import register_worker_routes  # noqa: PLC0415

    return new_resolver(
        register_public_routes,
        register_caller_routes,
        register_cancel_task_routes,
        register_worker_routes,
        register_submit_routes,
        register_operator_routes,
    )


def _as_answered(document: dict[str, Any]) -> dict[str, Any]:
    """Two corrections to what Powertools generates, so the document says what the API answers.

    Powertools documents a 422 on every validated operation, but this API answers validation failures 400 (and the
    422's schemas go with it). An optional body is generated as "the object or null", but a body is an object or
    absent: `null` is refused like any body that is not an object.
    """
    for operations in document.get("paths", {}).values():
        for spec in operations.values():
            spec.get("responses", {}).pop("422", None)
            for content in spec.get("requestBody", {}).get("content", {}).values():
                variants = content.get("schema", {}).get("anyOf", [])
                objects = [variant for variant in variants if variant != {"type": "null"}]
                if len(variants) == 2 and len(objects) == 1:
                    content["schema"] = objects[0]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return document


@lru_cache(maxsize=1)
def openapi_document() -> str:
    schema = build_resolver().get_openapi_json_schema(
        title="Stratoflow API",
        version="1.0.0",
        description="Durable workflows on AWS serverless parts: event histories, leases and exact cancellation. "
        'Every 4xx/5xx answer is {"error": {"code", "message", ...details}}.',
        security_schemes=security_schemes(),
    )
    return json.dumps(_as_answered(json.loads(schema)))


def register_public_routes(app: APIGatewayHttpResolver) -> None:
    @route(app, "GET", "/v1/health", ok=200, answer=Health)
    def health():
        return {"status": "ok"}

    @route(app, "GET", "/v1/openapi.json", ok=200, answer=OpenApiDocument)
    def openapi():
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document())
