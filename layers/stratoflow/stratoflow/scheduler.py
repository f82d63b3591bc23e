"""The EventBridge Scheduler adapter behind the TimerScheduler port."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from stratoflow.runtime import TimerSchedule
from stratoflow.timers import at_expression


class EventBridgeTimerScheduler:
    """One-time schedules: `at()`, flexible window OFF, deleted after completion, retries and a DLQ."""

    def __init__(self, client: Any, target_arn: str, role_arn: str, dlq_arn: str) -> None:
        self._client = client
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._dlq_arn = dlq_arn

    def create(self, schedule: TimerSchedule) -> None:
        target: dict[str, Any] = {
            "Arn": self._target_arn,
            "RoleArn": self._role_arn,
            "Input": json.dumps(schedule.payload),
            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
        }
        if self._dlq_arn:
            target["DeadLetterConfig"] = {"Arn": self._dlq_arn}
        # A ConflictException means an earlier delivery of the same record created it already.
        with contextlib.suppress(self._client.exceptions.ConflictException):
            self._client.create_schedule(
                Name=schedule.name,
                GroupName=schedule.group,
                ScheduleExpression=at_expression(schedule.fire_at_ms),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target=target,
            )

    def delete(self, name: str, group: str) -> None:
        # Not found: already fired (and deleted after completion), or deleted by an earlier delivery.
        with contextlib.suppress(self._client.exceptions.ResourceNotFoundException):
            self._client.delete_schedule(Name=name, GroupName=group)
