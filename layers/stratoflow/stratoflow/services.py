"""The composition root: the process's collaborators, built once per cold start from the function's environment.

`runtime()` is what every handler and route passes to the domain, reads included; on its first call it reads the
environment (never at import), binds the repository to the table and builds the clock, the id factory and the timer
scheduler. `build_runtime` builds one from given settings (tests, tools, the benchmark).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from stratoflow.batch_queue import SqsBatchQueue
from stratoflow.clock import Clock, IdFactory, SystemClock, UuidFactory
from stratoflow.config import Settings
from stratoflow.dal.dynamodb import DynamoRepository
from stratoflow.dal.repository import Repository
from stratoflow.runtime import Runtime, TimerQueue, TimerScheduler
from stratoflow.scheduler import EventBridgeTimerScheduler
from stratoflow.timer_queue import SqsTimerQueue


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    repo: Repository | None = None,
    scheduler: TimerScheduler | None = None,
    timer_queue: TimerQueue | None = None,
) -> Runtime:
    if repo is None:
        repo = DynamoRepository(
            settings.table_name,
            region=settings.aws_region or settings.aws_default_region,
            host=settings.aws_endpoint_url,
        )
    if scheduler is None:
        scheduler = EventBridgeTimerScheduler(
            _LazyClient("scheduler"),
            target_arn=settings.fire_timer_function_arn,
            role_arn=settings.scheduler_role_arn,
            dlq_arn=settings.timer_dlq_arn,
        )
    if timer_queue is None:
        timer_queue = SqsTimerQueue(_LazyClient("sqs"), settings.timer_queue_url)
    return Runtime(settings, repo, clock or SystemClock(), ids or UuidFactory(), scheduler, timer_queue)


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """The process's runtime, built from the environment on first use."""
    return build_runtime(Settings.from_environ())


class _LazyClient:
    """A boto3 client created on first use: only the functions that schedule timers pay for it at cold start.

    boto3 itself is imported then too: the table is reached through PynamoDB, which needs only botocore, so a cold
    start that creates no client never loads boto3 (nor s3transfer, which boto3 imports).
    """

    def __init__(self, service: str) -> None:
        self._service = service
        self._client: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # noqa: PLC0415

                self._client = boto3.client(self._service)
        return getattr(self._client, name)


@lru_cache(maxsize=1)
def batch_queue() -> SqsBatchQueue:
    """The queue of batch slices (the functions that start or run batches), its client created on first use."""
    return SqsBatchQueue(_LazyClient("sqs"), runtime().settings.batch_queue_url)
