"""Success responses and the request facts every route needs."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types

from stratoflow_api.context import require_scope
from stratoflow_api.errors import ensure_body_size


def json_response(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def no_content() -> Response:
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


def authorize(app: APIGatewayRestResolver, *scopes: str) -> str:
    """The caller's tenant, after the scope (403: it needs one of `scopes`) and body size (413) checks."""
    event = app.current_event.raw_event
    tenant = require_scope(event, *scopes)
    ensure_body_size(event)
    return tenant
