"""Propagate child-cancel requests (flow 4): the table stream's INSERTs of OUTBOX#CHILD_CANCEL# items."""

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
    keys = record.dynamodb.keys if record.dynamodb else None
    if not keys:
        return
    outcome = propagate_child_cancel(runtime(), keys["pk"], keys["sk"])
    logger.info("child cancel request", extra={"sk": keys["sk"], "outcome": outcome})
    metrics.add_metric(name=f"ChildCancel_{outcome}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
