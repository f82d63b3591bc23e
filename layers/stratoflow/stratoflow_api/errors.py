"""The one place where failures become api.md's error body: {"error": {"code", "message", ...details}}.

Precedence when several apply (api.md): 401, 403, 404, 400/413, 409. The resolver validates a body before the
route runs, so a validation failure is answered here only after the scope and the path's resource are checked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from stratoflow.errors import (
    ContentionExhausted,
    NotFound,
    PayloadTooLarge,
    StratoflowError,
)
from stratoflow.executions import get_execution
from stratoflow.observability import logger
from stratoflow.tasks import get_task_item

from stratoflow_api.context import principal_of, require_scope

MAX_BODY_BYTES = 5 * 1024 * 1024

STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "FAILED_PRECONDITION": 409,
    "LEASE_LOST": 409,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNAVAILABLE": 503,
}


def _workflow_exists(tenant: str, workflow_id: str) -> bool:
    return get_execution(tenant, workflow_id) is not None


def _task_exists(tenant: str, task_id: str) -> bool:
    return get_task_item(tenant, task_id) is not None


# Path parameters name resources; a request naming a missing one is 404 before its body is judged.
_resource_checks: dict[str, Callable[[str, str], bool]] = {"id": _workflow_exists, "taskExecutionId": _task_exists}


def error_response(code: str, message: str, **details: Any) -> Response:
    body = {"error": {"code": code, "message": message, **details}}
    return Response(
        status_code=STATUS.get(code, 500), content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
    )


def scopes_of_path(path: str) -> tuple[str, ...]:
    """The scopes that open a route (as the authorizer's policy grants them)."""
    if path.startswith("/v1/worker/"):
        return ("worker",)
    if path.startswith("/v1/workflows/") and path.endswith("/events"):
        return ("client", "worker")
    return ("client",)


def check_path_resources(event: Any) -> None:
    tenant = principal_of(event).tenant
    for name, value in (event.get("pathParameters") or {}).items():
        exists = _resource_checks.get(name)
        if exists is not None and not exists(tenant, value):
            raise NotFound(f"{value} not found")


def ensure_body_size(event: Any) -> None:
    body = event.get("body") or ""
    if len(body.encode("utf-8")) > MAX_BODY_BYTES:
        check_path_resources(event)
        raise PayloadTooLarge(f"the request body is over {MAX_BODY_BYTES} bytes", limitBytes=MAX_BODY_BYTES)


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    if any(error.get("type") == "json_invalid" for error in errors):
        return "the request body is not valid JSON", [{"field": "body", "problem": "not valid JSON"}]
    for error in errors[:20]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body",))
        details.append({"field": location, "problem": str(error.get("msg", "invalid"))})
    first = details[0] if details else {"field": "", "problem": "invalid request"}
    message = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
    return message, details


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(StratoflowError)
    def _domain_error(error: StratoflowError) -> Response:
        if isinstance(error, ContentionExhausted):
            logger.warning("contention exhausted", extra={"path": app.current_event.path})
        else:
            logger.info("request refused", extra={"code": error.code, "path": app.current_event.path})
        return error_response(error.code, error.message, **error.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        event = app.current_event.raw_event
        try:
            require_scope(event, *scopes_of_path(app.current_event.path))
            check_path_resources(event)
            ensure_body_size(event)
        except StratoflowError as refused:
            return _domain_error(refused)
        message, details = _validation_message(list(error.errors()))
        logger.info("invalid request", extra={"path": app.current_event.path, "problems": details})
        return error_response("INVALID_ARGUMENT", message, problems=details)

    @app.exception_handler(NotFoundError)
    def _unknown_route(_: NotFoundError) -> Response:
        return error_response("NOT_FOUND", "no such route")

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return error_response("NOT_FOUND", "no such route")
