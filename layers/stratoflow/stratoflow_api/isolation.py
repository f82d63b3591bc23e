"""Each resolver resolves its own request, even when invocations share a process.

Powertools keeps the request being resolved on its `BaseRouter` class, shared by every resolver of the process.
Lambda runs one invocation per process at a time, so that is safe there; the local stack runs concurrent invocations
in one process (a pool of handler modules per function, one Powertools), so a request could go on with another's
event: another tenant's identity, another body. An attribute of the resolver itself shadows the class's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext


def resolve_with_own_event(app: APIGatewayRestResolver) -> None:
    """Make `app.current_event` (and `app.lambda_context`) this resolver's own for each `resolve`."""
    resolve = app.resolve

    def resolve_own_event(event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        app.current_event = cast(APIGatewayProxyEvent, app._to_proxy_event(dict(event)))
        app.lambda_context = context
        return resolve(event, context)

    app.resolve = resolve_own_event  # type: ignore[method-assign]
