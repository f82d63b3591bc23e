"""How a route is declared: its table entry, its OpenAPI operation (every status it answers) and its answers.

    @route(app, "POST", "/v1/workflows/{id}/cancel", ok=202, answer=WorkflowCancelled)
    def cancel_workflow(tenant: str, id: PathId, body: ...):
        return workflows.cancel_workflow(runtime(), tenant, id, ...)

A route is its domain call: `route` gives it the caller's `tenant` (once the route's scope is checked) and answers
what it returns as its declaration says (`ok` with `answer`; 204 for None where `nothing_ready`), so the status and
the model of a success are said once, where the OpenAPI document takes them from. `operation` documents the refusals
every route of its kind can give — 401, 403 and 413 for a protected route, 404 for a path naming a resource, 400 for
a body — and takes the route's tag, summary and own refusals (400 for query parameters, 409, 503) from route_table.
`answer` checks the domain's value against the answer model before sending it.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from pydantic import BaseModel
from stratoflow.errors import PermissionDenied

from stratoflow_api.guards import principal_of
from stratoflow_api.response_models import ErrorBody
from stratoflow_api.route_table import route_access, route_of

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

BEARER = "bearerAuth"


def security_schemes() -> dict[str, SecurityScheme]:
    """The OpenAPI document's security schemes. Powertools' OpenAPI models are imported here, not with this module:
    only the document needs them, and they were the costliest import of every API function's cold start."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: PLC0415

    return {BEARER: HTTPBearer(description="A tenant's API token: `Authorization: Bearer <token>`.")}


REFUSALS = {
    400: "INVALID_ARGUMENT: malformed JSON, a body that is not an object, a schema violation, a bad parameter",
    401: "UNAUTHENTICATED: no, malformed or unknown bearer token",
    403: "PERMISSION_DENIED: the token lacks the scope of this route",
    404: "NOT_FOUND: unknown id, or another tenant's",
    409: "FAILED_PRECONDITION (with currentStatus), LEASE_LOST or CONFLICT",
    413: "PAYLOAD_TOO_LARGE: a value over 256 KiB, a body over 5 MiB, or a submission too large for one write",
    503: "UNAVAILABLE: heavy contention on one resource; nothing was written, safe to retry",
}

Answer = TypeVar("Answer", bound=BaseModel)


def operation(
    method: str,
    path: str,
    *,
    ok: int,
    answer: type[BaseModel],
    nothing_ready: bool = False,
    dry_run: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of `app.route` for a route of route_table (`path` as in template.yaml: `{id}`), which
    gives its tag, summary and own refusals."""
    access = route_access(method, path)
    if access is None:
        raise LookupError(f"{method} {path} is not in stratoflow_api.route_table")
    summary = access.summary
    responses: dict[int, Any] = {ok: {"description": summary, "content": {"application/json": {"model": answer}}}}
    if nothing_ready:
        responses[204] = {"description": "Nothing is ready: no body.", "content": {}}
    if dry_run is not None:
        dry_run_answer = {"application/json": {"model": dry_run}}
        responses[200] = {"description": "A dry run: what would be done, nothing changed.", "content": dry_run_answer}
    statuses = set(access.refusals)
    if not access.public:
        statuses |= {401, 403, 413}
    if "{" in path:
        statuses.add(404)
    if method.upper() in ("POST", "PUT", "PATCH"):
        statuses.add(400)
    for status in sorted(statuses):
        responses[status] = {"description": REFUSALS[status], "content": {"application/json": {"model": ErrorBody}}}
    return {
        "rule": re.sub(r"\{([^}]+)\}", r"<\1>", path),
        "method": method.upper(),
        "summary": summary,
        "tags": [access.tag],
        "responses": responses,
        "security": None if access.public else [{BEARER: []}],
    }


def route(
    app: APIGatewayHttpResolver,
    method: str,
    path: str,
    *,
    ok: int,
    answer: type[BaseModel],
    **declaration: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Register the decorated domain call as the operation `operation(method, path, ok=..., answer=..., ...)`.

    Powertools validates and passes the call's parameters, except `tenant`, which is the caller's tenant; what the
    call returns is answered as `ok` with `answer`, None as 204 (a poll's `nothing_ready`), a Response as it is.
    """

    def register(call: Callable[..., Any]) -> Callable[..., Response]:
        # Powertools reads a route's parameters from its signature, resolving text annotations in the globals of the
        # function it is given: here, the call's own signature, resolved in the call's module, less `tenant`.
        signature = inspect.signature(call, eval_str=True)
        takes_tenant = "tenant" in signature.parameters
        parameters = [parameter for name, parameter in signature.parameters.items() if name != "tenant"]

        @functools.wraps(call)
        def respond(**params: Any) -> Response:
            value = call(tenant=tenant_of(app), **params) if takes_tenant else call(**params)
            return _answered(value, ok, answer, nothing_ready=bool(declaration.get("nothing_ready")))

        respond.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        app.route(**operation(method, path, ok=ok, answer=answer, **declaration))(respond)
        return respond

    return register


def tenant_of(app: APIGatewayHttpResolver) -> str:
    """The caller's tenant, as its token names it, once the route's scope is checked (guards did it first)."""
    event = app.current_event.raw_event
    access = route_of(event)
    principal = principal_of(event)
    if access is None or not principal.scopes & access.scopes:
        raise PermissionDenied("this token lacks the scope of this route")
    return principal.tenant


def answer(status: int, model: type[Answer], value: Any) -> Response:
    """`value` (the domain's answer) as `model` says, or a ValidationError (a 5xx: the server broke its contract)."""
    checked = model.model_validate(value)
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(checked.model_dump(mode="json")),
    )


def no_content() -> Response:
    return Response(status_code=204, content_type=None, body="")


def _answered(value: Any, ok: int, model: type[BaseModel], *, nothing_ready: bool) -> Response:
    if isinstance(value, Response):
        return value
    return no_content() if value is None and nothing_ready else answer(ok, model, value)
