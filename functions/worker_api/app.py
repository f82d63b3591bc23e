"""The worker API: workflow and task polls, task heartbeats, completion and failure."""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, metrics, tracer
from stratoflow_api.resolver import new_resolver
from stratoflow_api.worker_routes import register_worker_routes

app = new_resolver(register_worker_routes)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


gc.freeze()
gc.enable()
