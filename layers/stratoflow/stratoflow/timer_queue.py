"""The SQS adapter behind the TimerQueue port: the standard queue whose delayed messages trigger fire-timer."""

from __future__ import annotations

import json
from typing import Any

from stratoflow.runtime import TimerMessage


class SqsTimerQueue:
    """One message per timer (or per re-delay), delayed per message; SQS caps a delay at 900 s."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, message: TimerMessage) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(message.body), DelaySeconds=message.delay_s
        )
