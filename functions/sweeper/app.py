"""The sweeper: expired task attempts, overdue timers and outbox items left behind, on a rate schedule."""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, metrics, tracer
from stratoflow.services import batch_queue, runtime
from stratoflow.sweeper import sweep


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    swept = sweep(runtime(), batch_queue())
    total = sum(swept.values())
    # An idle sweep (every minute, most of the time) publishes no metric line: only sweeps that did something count.
    if total:
        logger.info("swept", extra={"swept": swept})
        metrics.add_metric(name="SweptItems", unit=MetricUnit.Count, value=total)
    return {"swept": swept}


gc.freeze()
gc.enable()
