"""The SQS adapter behind the BatchQueue port: the FIFO queue whose messages run the slices of batches."""

from __future__ import annotations

import json
from typing import Any


class SqsBatchQueue:
    """One message group per batch (one slice at a time), deduplicated per slice, delayed by the queue (1 s)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, tenant: str, batch_id: str, slice_number: int) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps({"tenant": tenant, "batchId": batch_id, "slice": slice_number}),
            MessageGroupId=f"{tenant}/{batch_id}",
            # A slice's message sent twice (a redelivered runner, the sweeper) within five minutes is dropped.
            MessageDeduplicationId=f"{batch_id}:{slice_number}",
        )
