"""Propagate child-cancel requests (flow 4): the table stream's INSERTs of OUTBOX#CHILD_CANCEL# items."""

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
from stratoflow.observability import logger, metrics, tracer
from stratoflow.outbox import propagate_child_cancel
from stratoflow.services import runtime

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    keys = change.keys if change else None
    if not change or not keys:
        return
    # The record's NewImage is the request as committed; without one, the item is read (as a re-drive does).
    outcome = propagate_child_cancel(runtime(), keys["pk"], keys["sk"], change.new_image or None)
    logger.info("child cancel request", extra={"sk": keys["sk"], "outcome": outcome})
    metrics.add_metric(name=f"ChildCancel_{outcome}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


gc.freeze()
gc.enable()
