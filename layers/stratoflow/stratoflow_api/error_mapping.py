"""The one place where failures become api.md's error body: {"error": {"code", "message", ...details}}.

Domain exceptions carry their code (stratoflow.errors); Powertools' validation errors become 400 INVALID_ARGUMENT
with one `problems` entry per field; an unknown route or method is 404. A refusal about the body (invalid, not an
object, not JSON) is given only once the path's resources are known to exist (api.md: 404 before 400).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from stratoflow.errors import ContentionExhausted, StratoflowError
from stratoflow.observability import logger

from stratoflow_api.guards import require_path_resources
from stratoflow_api.json_body import MalformedBody, not_json

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
MAX_PROBLEMS = 20


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def error_response(code: str, message: str, **details: Any) -> Response:
    return Response(
        status_code=STATUS.get(code, 500),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error_body(code, message, **details)),
    )


def validation_refusal(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """The message and `problems` of a 400 for pydantic's errors: `field: problem` of the first, each one listed."""
    if any(error.get("type") == "missing" and tuple(error.get("loc", ())) == ("body",) for error in errors):
        problem = "this route takes a JSON object body"
        return "the request body is missing", [{"field": "body", "problem": problem}]
    problems = []
    for error in errors[:MAX_PROBLEMS]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append({"field": location or "body", "problem": str(error.get("msg", "invalid"))})
    first = problems[0] if problems else {"field": "body", "problem": "invalid request"}
    return f"{first['field']}: {first['problem']}", problems


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(StratoflowError)
    def _domain_error(error: StratoflowError) -> Response:
        if isinstance(error, ContentionExhausted):
            logger.warning("contention exhausted", extra={"path": app.current_event.path})
        else:
            logger.info("request refused", extra={"code": error.code, "path": app.current_event.path})
        return error_response(error.code, error.message, **error.details)

    def _refuse_body(refusal: StratoflowError) -> Response:
        try:
            require_path_resources(app.current_event.raw_event)
        except StratoflowError as missing:
            return _domain_error(missing)
        return _domain_error(refusal)

    @app.exception_handler(MalformedBody)
    def _malformed_body(error: MalformedBody) -> Response:
        return _refuse_body(error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        message, problems = validation_refusal(list(error.errors()))
        return _refuse_body(MalformedBody(message, problems=problems))

    @app.exception_handler(UnicodeDecodeError)
    def _undecodable_body(_: UnicodeDecodeError) -> Response:
        # Only the request body is decoded from bytes on the way to a route: a body that is not UTF-8.
        return _refuse_body(not_json("the body is not UTF-8"))

    @app.exception_handler(NotFoundError)
    def _unknown_route(_: NotFoundError) -> Response:
        return error_response("NOT_FOUND", "no such route")

    @app.not_found
    def _no_route(_: Exception) -> Response:
        return error_response("NOT_FOUND", "no such route")
