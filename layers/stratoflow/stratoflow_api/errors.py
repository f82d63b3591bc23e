"""The one place where failures become api.md's error body: {"error": {"code", "message", ...details}}.

Precedence when several apply (api.md): 401, 403, 404, 400/413, 409. The resolver validates a body before the
route runs, so a validation failure is answered here only after the scope and the path's resource are checked.
"""

from __future__ import annotations

import json
import math
import re
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
def _batch_exists(tenant: str, batch_id: str) -> bool:
    from stratoflow.batches import get_batch_item  # noqa: PLC0415 - only batch routes name a batch

    return get_batch_item(tenant, batch_id) is not None


_resource_checks: dict[str, Callable[[str, str], bool]] = {
    "id": _workflow_exists,
    "taskExecutionId": _task_exists,
    "batchId": _batch_exists,
}


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


# Deeper JSON could not be read back (the history, a poll) by a recursive parser such as Python's, so it is refused.
MAX_JSON_DEPTH = 128
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _check_json_value(value: Any, text: str) -> None:
    """Depth and Unicode checks json.loads does not make (iterative: the value may be deep)."""
    may_be_deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    may_hold_surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if not (may_be_deep or may_hold_surrogates):
        return
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and may_hold_surrogates:
            item.encode("utf-8")  # a lone surrogate (\ud800) is not Unicode text: UnicodeEncodeError


def parse_json_body(text: str | bytes) -> Any:
    """A request body as JSON (RFC 8259); anything else raises json.JSONDecodeError, answered with 400.

    Stricter than json.loads, which accepts what would fail later as a 5xx or be stored unreadable: NaN and Infinity
    (not JSON), a number too large for a float or too long for an int, a lone surrogate (not Unicode text), and
    nesting deeper than MAX_JSON_DEPTH.
    """
    source = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    try:
        value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
        _check_json_value(value, source)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        message = str(error) if isinstance(error, ValueError) else f"JSON is nested deeper than {MAX_JSON_DEPTH} levels"
        raise json.JSONDecodeError(message, source, 0) from None
    return value


def _validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    details = []
    invalid_json = [error for error in errors if error.get("type") == "json_invalid"]
    if invalid_json:
        problem = str((invalid_json[0].get("ctx") or {}).get("error") or "not valid JSON")
        return "the request body is not valid JSON", [{"field": "body", "problem": problem}]
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

    @app.exception_handler(UnicodeDecodeError)
    def _undecodable_body(_: UnicodeDecodeError) -> Response:
        # Only the request body is decoded from bytes on the way to a route: a body that is not UTF-8.
        invalid = {"type": "json_invalid", "loc": ("body", 0), "msg": "", "ctx": {"error": "the body is not UTF-8"}}
        return _invalid_request(RequestValidationError([invalid]))

    @app.exception_handler(NotFoundError)
    def _unknown_route(_: NotFoundError) -> Response:
        return error_response("NOT_FOUND", "no such route")

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return error_response("NOT_FOUND", "no such route")
