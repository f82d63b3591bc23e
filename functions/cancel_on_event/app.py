"""Cancel on an event: the target of the event bus rule (source "stratoflow.<tenant>"), cancels the subscribers."""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.event_delivery import receive_bus_event
from stratoflow.observability import logger, metrics, tracer
from stratoflow.services import runtime

SOURCE_PREFIX = "stratoflow."


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=EventBridgeModel)
def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict:
    tenant = event.source.removeprefix(SOURCE_PREFIX)
    cancelled = receive_bus_event(
        runtime(), tenant, event_id=event.id, event_type=event.detail_type, data=event.detail
    )
    logger.info("event received", extra={"eventId": event.id, "eventType": event.detail_type, "cancelled": cancelled})
    metrics.add_metric(name="EventCancellations", unit=MetricUnit.Count, value=cancelled)
    return {"eventId": event.id, "cancelled": cancelled}


gc.freeze()
gc.enable()
