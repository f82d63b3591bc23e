"""The process's collaborators, built once per cold start from the function's environment."""

from __future__ import annotations

from functools import lru_cache

import boto3

from stratoflow.batch_queue import SqsBatchQueue
from stratoflow.config import Settings, get_settings
from stratoflow.dal.items import bind
from stratoflow.runtime import Runtime
from stratoflow.scheduler import EventBridgeTimerScheduler


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    _bind(settings)
    return Runtime(settings=settings)


@lru_cache(maxsize=1)
def timer_scheduler() -> EventBridgeTimerScheduler:
    settings = runtime().settings
    return EventBridgeTimerScheduler(
        boto3.client("scheduler"),
        target_arn=settings.fire_timer_function_arn,
        role_arn=settings.scheduler_role_arn,
        dlq_arn=settings.timer_dlq_arn,
    )


@lru_cache(maxsize=1)
def batch_queue() -> SqsBatchQueue:
    return SqsBatchQueue(boto3.client("sqs"), runtime().settings.batch_queue_url)


def _bind(settings: Settings) -> None:
    bind(
        settings.table_name,
        region=settings.aws_region or settings.aws_default_region,
        host=settings.aws_endpoint_url,
    )
