"""Fire a timer (flow 3). Invoked by a timer's one-time EventBridge Scheduler schedule, to fire it or to hand it over
to the last mile, and by the timer queue's delayed messages (an SQS batch, with partial batch responses).

A batch's messages arrive up to a second before their timers are due; each waits out its own remainder and fires on a
thread of its own, so no timer waits behind another one's wait or fire.
"""

import gc

# No collection while the imports below build what lives as long as the process; once they are done, those objects
# are frozen out of the collector's scans (the end of this module). About a tenth of a cold start's CPU, see
# docs/benchmarks.md, "Cold start".
gc.disable()

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import BaseModel, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.clock import parse_iso_ms
from stratoflow.observability import logger, metrics, tracer
from stratoflow.services import runtime
from stratoflow.timers import deliver_last_mile, fire_timer, hand_over_timer

processor = AsyncBatchProcessor(event_type=EventType.SQS)
BATCH_SIZE = 10  # the LastMile event source's BatchSize: one thread per message of a batch
waiters = ThreadPoolExecutor(max_workers=BATCH_SIZE, thread_name_prefix="timer")


class TimerDue(BaseModel):
    """A schedule's input or a timer message's body, as the outbox dispatcher wrote it."""

    tenant: str
    workflowExecutionId: str
    timerId: str
    fireAt: str | None = None
    handOver: bool = False


def _fire_at_ms(message: TimerDue) -> int:
    if message.fireAt is None:
        raise ValueError("a hand-over or a timer message carries fireAt")
    return parse_iso_ms(message.fireAt)


def _count(message: TimerDue, outcome: str, source: str) -> None:
    logger.info("timer due", extra={"timerId": message.timerId, "outcome": outcome, "source": source})
    metrics.add_metric(name=f"Timer_{outcome}", unit=MetricUnit.Count, value=1)


def deliver(record: SQSRecord) -> None:
    message = TimerDue.model_validate_json(record.body)
    tenant, workflow_id, timer_id = message.tenant, message.workflowExecutionId, message.timerId
    outcome = deliver_last_mile(runtime(), tenant, workflow_id, timer_id, _fire_at_ms(message), time.sleep)
    _count(message, outcome, "queue")


@tracer.capture_method
async def record_handler(record: SQSRecord) -> None:
    await asyncio.get_running_loop().run_in_executor(waiters, deliver, record)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> Any:
    if "Records" in event:
        return async_process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    message = parse(event=event, model=TimerDue)
    tenant, workflow_id, timer_id = message.tenant, message.workflowExecutionId, message.timerId
    if message.handOver:
        outcome = hand_over_timer(runtime(), tenant, workflow_id, timer_id, _fire_at_ms(message), time.sleep)
    else:
        outcome = fire_timer(runtime(), tenant, workflow_id, timer_id)
    _count(message, outcome, "schedule")
    return {"outcome": outcome}


gc.freeze()
gc.enable()
