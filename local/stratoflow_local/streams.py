"""Stream poller: what Lambda's event-source mappings do with the table's DynamoDB stream, done locally.

One consumer thread per mapping of the template reads every shard of the stream through the endpoint
(`describe_stream`, `get_shard_iterator`, `get_records`), keeps the records its `FilterCriteria` match, and invokes
the mapped function with real DynamoDB stream events in batches of `BatchSize`, in stream order per shard:

- a handler that raises fails the whole batch: with `BisectBatchOnFunctionError` the batch is split in two and
  each half delivered on its own (splitting uses no retry), otherwise it is retried;
- with `ReportBatchItemFailures`, `batchItemFailures` makes the records from the lowest failed sequence number on
  be retried (an unknown or empty identifier fails the whole batch), as Lambda checkpoints;
- after `MaximumRetryAttempts` retries (-1: forever), or once a record is older than `MaximumRecordAgeInSeconds`,
  a description of the batch is sent to the on-failure SQS queue and the consumer moves on.

For tests, `duplicate_deliveries` delivers every batch twice and `reorder` shuffles the records of different items
within a batch (records of one item keep their order), seeded. `wait_idle()` returns once every record written so
far, and everything the deliveries wrote in turn, has been delivered.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from stratoflow_local.filters import matches_any
from stratoflow_local.persistence import StreamCheckpoints
from stratoflow_local.resources import client
from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import LocalTemplate, StreamMapping

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 0.05
# With an embedded endpoint the consumers are woken by every DynamoDB change, so polling is only the safety net.
FED_POLL_INTERVAL = 1.0
# New shards (a closed shard's children) are looked for this often, not on every poll.
SHARD_DISCOVERY_SECONDS = 10.0
_RETRY_DELAY = 0.02
_MAX_RETRY_DELAY = 0.2

Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Delivery:
    """One invocation of a stream function (kept for tests and diagnostics)."""

    mapping: str
    function: str
    sequence_numbers: tuple[str, ...]
    outcome: str  # "ok", "partial", "error"
    attempt: int


@dataclass(frozen=True)
class FailedBatch:
    """A batch given up on and sent to the on-failure destination."""

    mapping: str
    condition: str
    sequence_numbers: tuple[str, ...]


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A `get_records` record (as boto3 returns it) in the shape Lambda delivers it."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return _json_ready(
        {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", "us-east-1"),
            "dynamodb": dynamodb,
            "eventSourceARN": stream_arn,
            **({"userIdentity": record["userIdentity"]} if "userIdentity" in record else {}),
        }
    )


def _json_ready(value: Any) -> Any:
    """Binary attribute values are base64 strings in Lambda events; sets become lists."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_ready(item) for item in value]
    return value


def reorder_batch(records: Sequence[Mapping[str, Any]], rng: random.Random) -> list[Mapping[str, Any]]:
    """A random interleaving of the per-item sequences: records of one item keep their relative order."""
    per_item: dict[str, deque[Mapping[str, Any]]] = {}
    for record in records:
        key = json.dumps(record["dynamodb"]["Keys"], sort_keys=True)
        per_item.setdefault(key, deque()).append(record)
    result: list[Mapping[str, Any]] = []
    while per_item:
        keys = list(per_item)
        weights = [len(per_item[key]) for key in keys]
        key = rng.choices(keys, weights=weights)[0]
        result.append(per_item[key].popleft())
        if not per_item[key]:
            del per_item[key]
    return result


def _sequence(record: Mapping[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


class _Consumer:
    """The event-source mapping of one function: a thread reading every shard of one stream."""

    def __init__(self, poller: StreamPoller, mapping: StreamMapping, stream_arn: str, seed: int) -> None:
        self.mapping = mapping
        self.stream_arn = stream_arn
        self._poller = poller
        self._rng = random.Random(seed)
        self._streams = client("dynamodbstreams", poller.endpoint_url, poller.region)
        self._sqs: Any = None
        self._iterators: dict[str, str | None] = {}  # shard id → iterator; None once a closed shard is drained
        self._last_sequence: dict[str, str] = {}
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{mapping.name}", daemon=True)
        self.cycle_started = 0
        self.cycle_finished = 0
        self.last_idle_cycle = 0
        self._errors = 0
        self._shard_id = ""
        self._discovered_at = -SHARD_DISCOVERY_SECONDS

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._poller.stopping.is_set():
            with self._poller.condition:
                self.cycle_started += 1
                cycle = self.cycle_started
            read = 0
            try:
                read = self._cycle()
                self._errors = 0
            except Exception:
                # Log the first failure of a run of them; keep polling, more slowly, until the stream is back.
                if self._errors == 0:
                    logger.exception("stream poll failed", extra={"mapping": self.mapping.name})
                self._errors += 1
                read = -1
                self._wake.wait(min(1.0, self._poller.poll_interval * self._errors))
            with self._poller.condition:
                self.cycle_finished = cycle
                if read == 0:
                    self.last_idle_cycle = cycle
                else:
                    self._poller.activity += 1
                self._poller.condition.notify_all()
            self._wake.wait(self._poller.poll_interval)
            self._wake.clear()

    # ------------------------------------------------------------ reading

    def _cycle(self) -> int:
        now = time.monotonic()
        if not self._iterators or now - self._discovered_at >= SHARD_DISCOVERY_SECONDS:
            self._discover_shards()
            self._discovered_at = now
        read = 0
        for shard_id in list(self._iterators):
            records = self._read_shard(shard_id)
            read += len(records)
            self._shard_id = shard_id
            if records:
                self._process([lambda_record(record, self.stream_arn) for record in records])
                if self._poller.checkpoints is not None:
                    self._poller.checkpoints.save(self.mapping.name, shard_id, self._last_sequence[shard_id])
        return read

    def _discover_shards(self) -> None:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        first_time = not self._iterators
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            if shard_id in self._iterators:
                continue
            # Shards that appear later are read from their start, like Lambda reads child shards.
            position = self.mapping.starting_position if first_time else "TRIM_HORIZON"
            if position == "AT_TIMESTAMP":
                position = "TRIM_HORIZON"
            start: dict[str, str] = {"ShardIteratorType": position}
            delivered = self._poller.checkpoints.get(self.mapping.name, shard_id) if self._poller.checkpoints else None
            if delivered is not None:
                # A restarted stack goes on after the last record this mapping delivered, as Lambda's mapping does.
                self._last_sequence[shard_id] = delivered
                start = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": delivered}
            self._iterators[shard_id] = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard_id, **start
            )["ShardIterator"]

    def _read_shard(self, shard_id: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while True:
            iterator = self._iterators.get(shard_id)
            if iterator is None:
                return records
            try:
                response = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ExpiredIteratorException" or shard_id not in self._last_sequence:
                    raise
                self._iterators[shard_id] = self._streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard_id,
                    ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=self._last_sequence[shard_id],
                )["ShardIterator"]
                continue
            batch = response.get("Records", [])
            self._iterators[shard_id] = response.get("NextShardIterator")
            if not batch:
                return records
            self._last_sequence[shard_id] = batch[-1]["dynamodb"]["SequenceNumber"]
            records.extend(batch)

    # ------------------------------------------------------------ delivering

    def _process(self, records: list[dict[str, Any]]) -> None:
        self._poller.observe_records(self.mapping, records)
        matched = [record for record in records if matches_any(self.mapping.filter_patterns, record)]
        size = max(1, self.mapping.batch_size)
        for start in range(0, len(matched), size):
            batch = matched[start : start + size]
            for _ in range(2 if self._poller.duplicate_deliveries else 1):
                self._deliver(batch, attempt=0)

    def _deliver(self, batch: list[dict[str, Any]], attempt: int) -> None:
        """Deliver `batch` (in stream order) until done, retries exhausted or records too old."""
        mapping = self.mapping
        while batch:
            too_old = self._too_old(batch)
            if too_old:
                self._send_to_failure_destination(too_old, "RecordAgeExceeded", attempt)
                batch = [record for record in batch if record not in too_old]
                continue
            ordered = reorder_batch(batch, self._rng) if self._poller.reorder else batch
            try:
                response = self._poller.invoke(mapping.function, {"Records": ordered})
            except FunctionError:
                self._poller.record(Delivery(mapping.name, mapping.function, _sequences(ordered), "error", attempt))
                if mapping.bisect_batch_on_function_error and len(batch) > 1:
                    middle = len(batch) // 2
                    self._deliver(batch[:middle], attempt)
                    self._deliver(batch[middle:], attempt)
                    return
                remaining = batch
            else:
                remaining = self._remaining_after(batch, response)
                outcome = "partial" if remaining else "ok"
                self._poller.record(Delivery(mapping.name, mapping.function, _sequences(ordered), outcome, attempt))
                if not remaining:
                    return
            if 0 <= mapping.maximum_retry_attempts <= attempt:
                self._send_to_failure_destination(remaining, "RetryAttemptsExhausted", attempt)
                return
            attempt += 1
            batch = remaining
            if self._poller.stopping.wait(min(_MAX_RETRY_DELAY, _RETRY_DELAY * 2 ** (attempt - 1))):
                return

    def _remaining_after(self, batch: list[dict[str, Any]], response: Any) -> list[dict[str, Any]]:
        if not self.mapping.report_batch_item_failures or not isinstance(response, Mapping):
            return []
        failures = response.get("batchItemFailures") or []
        if not failures:
            return []
        sequences = {record["dynamodb"]["SequenceNumber"] for record in batch}
        identifiers = [failure.get("itemIdentifier") if isinstance(failure, Mapping) else None for failure in failures]
        if any(identifier not in sequences for identifier in identifiers):
            return batch  # an unknown or empty identifier fails the whole batch
        lowest = min(int(str(identifier)) for identifier in identifiers)
        return [record for record in batch if _sequence(record) >= lowest]

    def _too_old(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = self.mapping.maximum_record_age_seconds
        if limit < 0:
            return []
        now = time.time()
        return [record for record in batch if now - record["dynamodb"].get("ApproximateCreationDateTime", now) > limit]

    def _send_to_failure_destination(self, batch: list[dict[str, Any]], condition: str, attempt: int) -> None:
        mapping = self.mapping
        self._poller.record_failure(FailedBatch(mapping.name, condition, _sequences(batch)))
        logger.warning(
            "stream batch sent to the on-failure destination",
            extra={"mapping": mapping.name, "condition": condition, "records": len(batch)},
        )
        if mapping.on_failure_arn is None:
            return
        queue = self._poller.template.queue_by_arn(mapping.on_failure_arn)
        if queue is None:
            logger.error("on-failure destination is not a queue of the template", extra={"arn": mapping.on_failure_arn})
            return
        if self._sqs is None:
            self._sqs = client("sqs", self._poller.endpoint_url, self._poller.region)
        created = [record["dynamodb"].get("ApproximateCreationDateTime", 0) for record in batch]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self._poller.template.functions[mapping.function].arn,
                "condition": condition,
                "approximateInvokeCount": attempt + 1,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": self._shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(min(created)),
                "approximateArrivalOfLastRecord": _iso(max(created)),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        queue_url = self._sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        self._sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sequences(records: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(record["dynamodb"]["SequenceNumber"] for record in records)


class StreamPoller:
    """Runs every enabled stream mapping of the template."""

    def __init__(
        self,
        template: LocalTemplate,
        invoke: Invoke,
        endpoint_url: str,
        stream_arns: Mapping[str, str],
        *,
        duplicate_deliveries: bool = False,
        reorder: bool = False,
        seed: int = 0,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        history: int = 10_000,
        checkpoints: StreamCheckpoints | None = None,
    ) -> None:
        self.template = template
        self.checkpoints = checkpoints
        self.invoke = invoke
        self.endpoint_url = endpoint_url
        self.region = template.names.region
        self.duplicate_deliveries = duplicate_deliveries
        self.reorder = reorder
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self.condition = threading.Condition()
        self.activity = 0
        self.deliveries: deque[Delivery] = deque(maxlen=history)
        self.failures: deque[FailedBatch] = deque(maxlen=history)
        self.records_seen: deque[tuple[str, dict[str, Any]]] = deque(maxlen=history)
        self._consumers = []
        for index, mapping in enumerate(template.stream_mappings):
            if not mapping.enabled:
                continue
            stream_arn = stream_arns.get(mapping.table_name)
            if not stream_arn:
                raise ValueError(f"{mapping.name}: table {mapping.table_name} has no stream")
            self._consumers.append(_Consumer(self, mapping, stream_arn, seed + index))

    def start(self) -> None:
        for consumer in self._consumers:
            consumer.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for consumer in self._consumers:
            consumer.wake()
        for consumer in self._consumers:
            consumer.join(timeout)

    def record(self, delivery: Delivery) -> None:
        with self.condition:
            self.deliveries.append(delivery)

    def record_failure(self, failure: FailedBatch) -> None:
        with self.condition:
            self.failures.append(failure)

    def observe_records(self, mapping: StreamMapping, records: Sequence[dict[str, Any]]) -> None:
        with self.condition:
            self.records_seen.extend((mapping.name, record) for record in records)

    def wake(self) -> None:
        for consumer in self._consumers:
            consumer.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once every consumer has finished a cycle that read nothing, with no activity meanwhile.

        Such a round starts after the call, so every record written before it (and every record its deliveries
        wrote) has been delivered, retried or sent to the on-failure destination. Raise `TimeoutError` otherwise.
        """
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                activity = self.activity
                targets = {id(consumer): consumer.cycle_started + 1 for consumer in self._consumers}
                self.wake()
                while not all(consumer.cycle_finished >= targets[id(consumer)] for consumer in self._consumers):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"stream consumers not idle after {timeout} s")
                    self.condition.wait(min(remaining, 0.05))
                    self.wake()
                idle = all(consumer.last_idle_cycle >= targets[id(consumer)] for consumer in self._consumers)
                if idle and self.activity == activity:
                    return
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"stream consumers not idle after {timeout} s")
