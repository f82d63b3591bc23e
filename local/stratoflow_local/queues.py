"""SQS event sources, emulated locally from template.yaml: what a Lambda SQS event-source mapping does.

For each function event of type `SQS` (its `Queue`, `BatchSize`, `FunctionResponseTypes`), `SqsEventSource` receives
from the queue through the endpoint and invokes the function with a real SQS event of up to `BatchSize` messages,
several batches of a mapping at a time as Lambda's pollers do; then it deletes what succeeded (with
`ReportBatchItemFailures`, all but the failed ones; a function error fails the whole batch). The queue itself is the
endpoint's: per-message and queue delays, the visibility timeout after which a failed message comes back, the
redrive to the dead-letter queue once a message was received `maxReceiveCount` times, and FIFO message groups (one
in flight at a time) are SQS's behaviour as moto serves it.

Delayed messages become visible without any request to the endpoint, so the source polls every `poll_interval`;
`wake()` makes it poll at once (after a send, say).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stratoflow_local.holding import Holdable
from stratoflow_local.resources import client
from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import LocalTemplate, Resolver

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 0.1
DEFAULT_CONCURRENCY = 5  # batches of one mapping in flight at once (Lambda starts with five pollers)
SQS_MAX_RECEIVE = 10  # ReceiveMessage returns at most ten messages
Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class QueueMapping:
    name: str
    function: str
    queue_name: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    maximum_concurrency: int = DEFAULT_CONCURRENCY


@dataclass(frozen=True)
class QueueDelivery:
    """One batch delivered: its mapping, its messages' ids and bodies, the ids that failed (all on a function
    error), and when (epoch seconds) each message was sent, the batch was received and its invocation returned."""

    mapping: str
    message_ids: tuple[str, ...]
    failed: tuple[str, ...]
    bodies: tuple[str, ...] = ()
    received_at: float = 0.0
    finished_at: float = 0.0
    sent_at: tuple[float, ...] = ()


def function_events(template: LocalTemplate) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(function, event name, type, resolved properties) of every function event of the template."""
    resolver = Resolver(template.raw, template.parameters, template.names)
    found = []
    for logical_id in template.functions:
        resource = template.raw["Resources"][logical_id]
        for event_name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            properties = resolver.resolve(event.get("Properties") or {})
            found.append((logical_id, event_name, str(event.get("Type")), properties))
    return found


def queue_mappings(template: LocalTemplate) -> list[QueueMapping]:
    """The SQS event sources of the template's functions, resolved as they deploy."""
    mappings = []
    for function, event_name, kind, properties in function_events(template):
        if kind == "SQS":
            queue = template.queue_by_arn(str(properties["Queue"]))
            if queue is None:
                raise ValueError(f"{function}.{event_name}: {properties['Queue']} is not a queue of the template")
            scaling = properties.get("ScalingConfig") or {}
            mappings.append(
                QueueMapping(
                    name=f"{function}.{event_name}",
                    function=function,
                    queue_name=queue.name,
                    queue_arn=queue.arn,
                    batch_size=int(properties.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    maximum_concurrency=int(scaling.get("MaximumConcurrency", DEFAULT_CONCURRENCY)),
                )
            )
    return mappings


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": dict(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsEventSource(Holdable):
    """Every SQS mapping of the template, polled by one thread; each mapping's batches run on its own workers."""

    def __init__(
        self,
        template: LocalTemplate,
        invoke: Invoke,
        endpoint_url: str,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        history: int = 10_000,
    ) -> None:
        self.template = template
        self.invoke = invoke
        self.poll_interval = poll_interval
        self.mappings = queue_mappings(template)
        self.deliveries: deque[QueueDelivery] = deque(maxlen=history)  # for tests
        self._sqs = client("sqs", endpoint_url, template.names.region)
        self._urls: dict[str, str] = {}
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._errors = 0
        self._lock = threading.Lock()
        self._in_flight = {mapping.name: 0 for mapping in self.mappings}
        self._workers = {
            mapping.name: ThreadPoolExecutor(max(1, mapping.maximum_concurrency), thread_name_prefix=mapping.name)
            for mapping in self.mappings
        }
        self._thread = threading.Thread(target=self._run, name="sqs-event-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for workers in self._workers.values():
            workers.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        """Poll now rather than after the interval."""
        self._wake.set()

    def _released(self) -> None:
        self.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no batch is being delivered and no queue of a mapping holds a message that is due (visible) or
        received (in flight); messages still delayed are not due. Raise `TimeoutError` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self._idle():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the SQS event source was not idle within {timeout} s")
            self.wake()
            time.sleep(0.02)

    def _idle(self) -> bool:
        with self._lock:
            if any(self._in_flight.values()):
                return False
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        for mapping in self.mappings:
            counts = self._sqs.get_queue_attributes(QueueUrl=self._url(mapping.queue_name), AttributeNames=names)
            if any(int(value) for value in counts["Attributes"].values()):
                return False
        return True

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._held:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            busy = False
            try:
                busy = self.cycle()
                self._errors = 0
            except Exception:
                if self._errors == 0:
                    logger.exception("local SQS event source failed")
                self._errors += 1
                self._wake.wait(min(1.0, self.poll_interval * self._errors))
            if not busy:
                self._wake.wait(self.poll_interval)
            self._wake.clear()

    def cycle(self) -> bool:
        """Receive one batch for every mapping with a free worker; True if any batch was handed to one."""
        busy = False
        for mapping in self.mappings:
            with self._lock:
                if self._in_flight[mapping.name] >= mapping.maximum_concurrency:
                    continue
            messages = self._receive(mapping)
            if not messages:
                continue
            busy = True
            with self._lock:
                self._in_flight[mapping.name] += 1
            self._workers[mapping.name].submit(self._deliver, mapping, messages, time.time())
        return busy

    def _url(self, queue_name: str) -> str:
        if queue_name not in self._urls:
            self._urls[queue_name] = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        return self._urls[queue_name]

    def _receive(self, mapping: QueueMapping) -> list[dict[str, Any]]:
        """Up to BatchSize messages (ReceiveMessage returns ten at most, so a larger batch takes several calls)."""
        messages: list[dict[str, Any]] = []
        while len(messages) < mapping.batch_size:
            received = self._sqs.receive_message(
                QueueUrl=self._url(mapping.queue_name),
                MaxNumberOfMessages=min(SQS_MAX_RECEIVE, mapping.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            messages.extend(received)
            if len(received) < SQS_MAX_RECEIVE:
                break
        return messages

    def _deliver(self, mapping: QueueMapping, messages: list[dict[str, Any]], received_at: float) -> None:
        try:
            self._invoke(mapping, messages, received_at)
        except Exception:
            logger.exception("local SQS delivery failed", extra={"mapping": mapping.name})
        finally:
            with self._lock:
                self._in_flight[mapping.name] -= 1
            self._wake.set()  # a worker is free again

    def _invoke(self, mapping: QueueMapping, messages: list[dict[str, Any]], received_at: float) -> None:
        region = self.template.names.region
        records = [sqs_record(message, mapping.queue_arn, region) for message in messages]
        ids = tuple(message["MessageId"] for message in messages)
        bodies = tuple(message["Body"] for message in messages)
        sent = tuple(int((message.get("Attributes") or {}).get("SentTimestamp", 0)) / 1000 for message in messages)
        try:
            response = self.invoke(mapping.function, {"Records": records})
        except FunctionError as error:
            logger.warning("queue function failed", extra={"mapping": mapping.name, "error": error.error_message})
            self.deliveries.append(QueueDelivery(mapping.name, ids, ids, bodies, received_at, time.time(), sent))
            return  # every message comes back after its visibility timeout
        failed: set[str] = set()
        if mapping.report_batch_item_failures and isinstance(response, Mapping):
            failed = {str(f.get("itemIdentifier")) for f in response.get("batchItemFailures") or []}
        url = self._url(mapping.queue_name)
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        failed_ids = tuple(i for i in ids if i in failed)
        self.deliveries.append(QueueDelivery(mapping.name, ids, failed_ids, bodies, received_at, time.time(), sent))
