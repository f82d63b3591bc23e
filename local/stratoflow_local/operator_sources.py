"""Event sources of the operator controls, emulated locally from template.yaml: SQS queues and EventBridge buses.

- `SqsEventSource` (`stratoflow_local.queues`): every function event of type `SQS`, the batch queue's among them.
- `EventBusRouter`: the template's event buses are created on the endpoint, which then accepts `PutEvents` for them.
  A catch-all rule on each bus copies every event to a local tap queue; the router reads it and delivers each event
  to the target function of every rule of that bus whose `Pattern` matches (the same matcher as the stream filters,
  `stratoflow_local.filters`), retrying a failed delivery a few times before its rule's dead-letter queue.

Both read `LocalTemplate.raw` with the template's own resolver, so they see what deploys.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from stratoflow_local.filters import matches
from stratoflow_local.queues import QueueMapping, SqsEventSource, function_events, queue_mappings, sqs_record
from stratoflow_local.resources import client
from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import LocalTemplate, Resolver

logger = logging.getLogger(__name__)
__all__ = ["EventBusRouter", "OperatorSources", "QueueMapping", "SqsEventSource", "queue_mappings", "sqs_record"]

# Every request to the embedded endpoint takes its one lock: poll no more often than latency needs.
POLL_INTERVAL = 0.25
BUS_DELIVERY_ATTEMPTS = 3
Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class BusRule:
    name: str
    function: str
    bus_name: str
    pattern: Mapping[str, Any]
    dead_letter_arn: str | None


def _resolver(template: LocalTemplate) -> Resolver:
    return Resolver(template.raw, template.parameters, template.names)


def bus_rules(template: LocalTemplate) -> list[BusRule]:
    rules = []
    for function, event_name, kind, properties in function_events(template):
        if kind not in ("EventBridgeRule", "CloudWatchEvent"):
            continue
        dead_letter = (properties.get("DeadLetterConfig") or {}).get("Destination")
        rules.append(
            BusRule(
                name=f"{function}.{event_name}",
                function=function,
                bus_name=str(properties.get("EventBusName") or "default"),
                pattern=properties.get("Pattern") or {},
                dead_letter_arn=str(dead_letter) if dead_letter else None,
            )
        )
    return rules


def event_bus_names(template: LocalTemplate) -> list[str]:
    resolver = _resolver(template)
    return [
        str(resolver.ref(logical_id))
        for logical_id, resource in template.raw["Resources"].items()
        if resource.get("Type") == "AWS::Events::EventBus"
    ]


def queue_attributes(template: LocalTemplate, logical_id: str) -> dict[str, str]:
    """The SQS attributes of a template queue that change how it behaves locally (FIFO, delay, visibility, DLQ)."""
    properties = _resolver(template).resolve(template.raw["Resources"][logical_id].get("Properties") or {})
    attributes = {}
    for name in ("FifoQueue", "ContentBasedDeduplication", "DelaySeconds", "VisibilityTimeout"):
        if name in properties:
            value = properties[name]
            attributes[name] = str(value).lower() if isinstance(value, bool) else str(value)
    if "RedrivePolicy" in properties:
        attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
    return attributes


class _Loop:
    """A daemon thread calling `cycle()` until stopped; a cycle that found nothing waits `poll_interval`, or until
    `wake()` (the local stack wakes it when the embedded endpoint saw a change to the queues or buses)."""

    def __init__(self, name: str) -> None:
        self.poll_interval = POLL_INTERVAL
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._errors = 0

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            busy = False
            try:
                busy = self.cycle()
                self._errors = 0
            except Exception:
                if self._errors == 0:
                    logger.exception("local event source failed", extra={"source": self._thread.name})
                self._errors += 1
                self._stopping.wait(min(1.0, POLL_INTERVAL * self._errors))
            if not busy:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def cycle(self) -> bool:
        raise NotImplementedError


class EventBusRouter(_Loop):
    TAP_RULE = "stratoflow-local-tap"

    def __init__(self, template: LocalTemplate, invoke: Invoke, endpoint_url: str) -> None:
        super().__init__("event-bus-router")
        self.template = template
        self.invoke = invoke
        self.rules = bus_rules(template)
        self.bus_names = event_bus_names(template)
        self.delivered: list[tuple[str, str]] = []  # (rule, event id), for tests
        region = template.names.region
        self._events = client("events", endpoint_url, region)
        self._sqs = client("sqs", endpoint_url, region)
        self._taps: dict[str, str] = {}

    def start(self) -> None:
        for bus in {*self.bus_names, *(rule.bus_name for rule in self.rules if rule.bus_name != "default")}:
            self._create_bus(bus)
        super().start()

    def _create_bus(self, bus: str) -> None:
        try:
            self._events.create_event_bus(Name=bus)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                raise
        url = self._sqs.create_queue(QueueName=f"stratoflow-local-tap-{hashlib.sha256(bus.encode()).hexdigest()[:16]}")[
            "QueueUrl"
        ]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        account = self.template.names.account_id
        self._events.put_rule(Name=self.TAP_RULE, EventBusName=bus, EventPattern=json.dumps({"account": [account]}))
        self._events.put_targets(Rule=self.TAP_RULE, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
        self._taps[bus] = url

    def cycle(self) -> bool:
        busy = False
        for bus, url in self._taps.items():
            messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in messages:
                busy = True
                event = json.loads(message["Body"])
                event.setdefault("account", self.template.names.account_id)
                for rule in self.rules:
                    if rule.bus_name == bus and matches(rule.pattern, event):
                        self._deliver(rule, event)
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return busy

    def _deliver(self, rule: BusRule, event: dict[str, Any]) -> None:
        for attempt in range(BUS_DELIVERY_ATTEMPTS):
            try:
                self.invoke(rule.function, event)
                self.delivered.append((rule.name, str(event.get("id"))))
                return
            except FunctionError as error:
                logger.warning("bus target failed", extra={"rule": rule.name, "error": error.error_message})
                time.sleep(0.1 * 2**attempt)
        queue = self.template.queue_by_arn(rule.dead_letter_arn) if rule.dead_letter_arn else None
        if queue is not None:
            url = self._sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))


class OperatorSources:
    """Both emulators, started and stopped together by the local stack."""

    def __init__(self, template: LocalTemplate, invoke: Invoke, endpoint_url: str) -> None:
        self.queues = SqsEventSource(template, invoke, endpoint_url)
        self.buses = EventBusRouter(template, invoke, endpoint_url)

    def start(self) -> OperatorSources:
        self.queues.start()
        self.buses.start()
        return self

    def wake(self) -> None:
        self.queues.wake()
        self.buses.wake()

    def stop(self) -> None:
        self.buses.stop()
        self.queues.stop()
