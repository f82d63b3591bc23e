"""Fire a timer (flow 3): the target of every timer's one-time EventBridge Scheduler schedule."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import BaseModel, event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from stratoflow.observability import logger, metrics, tracer
from stratoflow.services import runtime
from stratoflow.timers import fire_timer


class TimerDue(BaseModel):
    """The schedule's input, as the outbox dispatcher wrote it."""

    tenant: str
    workflowExecutionId: str
    timerId: str
    fireAt: str | None = None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=TimerDue)
def lambda_handler(event: TimerDue, context: LambdaContext) -> dict:
    outcome = fire_timer(runtime(), event.tenant, event.workflowExecutionId, event.timerId)
    logger.info("timer due", extra={"timerId": event.timerId, "outcome": outcome})
    metrics.add_metric(name=f"Timer_{outcome}", unit=MetricUnit.Count, value=1)
    return {"outcome": outcome}
