"""The outbox dispatcher: timer schedules, cascading cancels, parent close, events and batch starts, from the stream."""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.dal.keys import OUTBOX_PREFIX, TIMER_PREFIX
from stratoflow.observability import logger, metrics, tracer
from stratoflow.outbox import handle_timer_change, process_outbox_item
from stratoflow.services import batch_queue, runtime

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    keys = change.keys if change else None
    if not change or not keys:
        return
    sk = keys["sk"]
    if sk.startswith(TIMER_PREFIX):
        outcome = handle_timer_change(runtime(), change.old_image or None, change.new_image or None)
    elif sk.startswith(OUTBOX_PREFIX):
        outcome = process_outbox_item(runtime(), keys["pk"], sk, batch_queue(), change.new_image or None)
    else:
        outcome = "ignored"
    logger.info("outbox record", extra={"sk": sk, "outcome": outcome})
    metrics.add_metric(name="OutboxRecords", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


gc.freeze()
gc.enable()
