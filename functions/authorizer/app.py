"""The REQUEST authorizer: a bearer token's SHA-256 → tenant and scopes → an IAM policy of the scopes' routes."""

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
    HttpVerb,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, tracer
from stratoflow.tokens import parse_bearer, resolve_token

# Which routes each scope opens; a token without the scope of a route gets API Gateway's 403.
# Workers may also read a history page: a poll returns the first page and points them there for the rest.
SCOPE_ROUTES = {
    "client": (
        "/v1/workflows",
        "/v1/workflows/*",
        "/v1/tasks",
        "/v1/tasks/*",
        "/v1/batches",
        "/v1/batches/*",
        "/v1/events",
    ),
    "worker": ("/v1/worker/*", "/v1/workflows/*/events"),
}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict:
    token = parse_bearer(event.headers.get("Authorization") or event.headers.get("authorization"))
    principal = resolve_token(token) if token else None
    if principal is None:
        logger.info("unknown or missing token")
        raise Exception("Unauthorized")
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=principal.tenant,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={"tenant": principal.tenant, "scopes": " ".join(sorted(principal.scopes))},
    )
    for scope in sorted(principal.scopes):
        for route in SCOPE_ROUTES.get(scope, ()):
            policy.allow_route(HttpVerb.ALL.value, route)
    if not principal.scopes:
        policy.deny_all_routes()
    return policy.asdict()
