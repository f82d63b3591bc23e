"""The REQUEST authorizer: a bearer token's SHA-256 → tenant and scopes → an IAM policy of the scopes' routes."""

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, tracer
from stratoflow.services import runtime
from stratoflow.tokens import parse_bearer, resolve_token
from stratoflow_api.route_table import policy_routes


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=APIGatewayAuthorizerRequestEvent)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict:
    token = parse_bearer(event.headers.get("Authorization") or event.headers.get("authorization"))
    principal = resolve_token(runtime(), token) if token else None
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
    # The routes the token's scopes open (stratoflow_api.route_table); API Gateway answers 403 for the others.
    allowed = policy_routes(principal.scopes)
    for method, resource in allowed:
        policy.allow_route(method, resource)
    if not allowed:
        policy.deny_all_routes()
    return policy.asdict()
