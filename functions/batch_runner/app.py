"""The batch runner: one slice of a batch per message of the batch queue (SQS FIFO, one group per batch)."""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import BaseModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.batches import run_slice
from stratoflow.observability import logger, metrics, tracer
from stratoflow.services import batch_queue, runtime

processor = SqsFifoPartialProcessor()


class SliceMessage(BaseModel):
    tenant: str
    batchId: str
    slice: int


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    message = SliceMessage.model_validate_json(record.body)
    outcome = run_slice(runtime(), batch_queue(), message.tenant, message.batchId, message.slice)
    logger.info("batch slice", extra={"batchId": message.batchId, "slice": message.slice, "outcome": outcome})
    metrics.add_metric(name=f"BatchSlice_{outcome}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


gc.freeze()
gc.enable()
