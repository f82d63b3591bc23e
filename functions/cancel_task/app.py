"""Cancel a task: POST /v1/tasks/{taskExecutionId}/cancel (flow 1 of the cancellation semantics)."""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, metrics, tracer
from stratoflow_api.cancel_task_routes import register_cancel_task_routes
from stratoflow_api.resolver import new_resolver

app = new_resolver(register_cancel_task_routes)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


gc.freeze()
gc.enable()
