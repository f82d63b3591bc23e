"""Fault injection for the fault matrix: the k-th AWS call of one Lambda invocation fails, at the AWS endpoint.

Every function runs in containers (processes) of its own, so faults are injected where Lambda code really meets them:
at the stack's embedded AWS endpoint, on the calls that reach it. Each container signs its calls with an access key id
of its own, so the endpoint's request hook knows which function, and which invocation, sent a call.

- `FaultPlan(kind, k)` says what happens to the AWS calls of one invocation; `FaultPlan(None)` only records them.
  A call is one botocore API call: its retries carry the same `amz-sdk-invocation-id` and meet the same fault, so the
  handler sees the error botocore reports once its own retries are spent. The kinds (`FAULT_KINDS`):
  - `throttle`: DynamoDB answers `ProvisionedThroughputExceededException` (other services `ThrottlingException`);
    nothing is written;
  - `condition`: another writer updates a versioned item (an execution, a task) between the handler's read and its
    write: the item's version moves on, nothing else changes, and DynamoDB itself then refuses the handler's write
    for its version condition (`TransactionCanceledException` with `ConditionalCheckFailed`, or
    `ConditionalCheckFailedException`). Only writes guarded by a version can meet this fault; other conditions
    (existence, a status) fail only when their item really changed, which is a different race, not a fault;
  - `network`: the connection is closed before the endpoint processes the request; nothing is written;
  - `timeout-after`: the endpoint processes the request, then closes the connection without answering: the write
    happened, its answer was lost (a retry of that call is dropped too, so the call is made once).
- `FaultInjector(stack)` installs the endpoint's request hook and listens to the stack's runtime: `arm(function,
  plan)` applies `plan` to the next invocation of `function` only; every other invocation (the front door's
  authorizer, the stream poller, the scheduler emulator) is untouched.
- `FAST_SDK_RETRIES` is the environment the matrix's stack gives its functions: botocore and PynamoDB make one
  attempt per call. A faulted call fails every attempt anyway, so the outcome is the one retries would reach, without
  their back-off (seconds per case).
- `AsyncSources(stack)` stands in for the stack's event sources while installed: stream batches, due schedules and
  periodic sweeps are recorded instead of delivered, and `drain()` delivers them as Lambda's event-source mappings,
  EventBridge Scheduler and the sweeper's schedule would: one record per batch in stream order, retried on a function
  error or a reported item failure (up to the mapping's `MaximumRetryAttempts`), schedules retried on a function
  error. A test can hold back the records or schedules it wants to deliver itself, under a fault.

tests/support/faults.py injects network and lost-answer failures into the domain's calls in process, for the crash
tests of the cancellation handlers; this module works at the level of whole Lambda invocations behind API Gateway and
the event sources, and adds throttling and concurrent writers.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratoflow_local.embedded_endpoint import Answer, AwsRequest, Drop
from stratoflow_local.runtime import FunctionError
from stratoflow_local.scheduler import scheduled_event

THROTTLE = "throttle"
CONDITION = "condition"
NETWORK = "network"
TIMEOUT_AFTER = "timeout-after"
FAULT_KINDS = (THROTTLE, CONDITION, NETWORK, TIMEOUT_AFTER)

STREAM_RETRIES = 5  # MaximumRetryAttempts of both stream mappings in template.yaml
SCHEDULE_RETRIES = 5  # EventBridge Scheduler retries up to 185 times; a one-shot fault needs one
IDLE_POLL_SECONDS = 1.0

VERSION_ATTRIBUTE = "ver"  # the optimistic-locking attribute of executions and tasks (PynamoDB VersionAttribute)


def fast_sdk_retries(directory: Path) -> dict[str, str]:
    """Function environment in which botocore (`AWS_MAX_ATTEMPTS`) and PynamoDB (its settings file) try once."""
    settings = directory / "pynamodb_settings.py"
    settings.write_text('retry_configuration = {"total_max_attempts": 1, "mode": "standard"}\n', encoding="utf-8")
    return {"AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard", "PYNAMODB_CONFIG": str(settings)}


@dataclass(frozen=True)
class Call:
    """One AWS API call as the endpoint saw it."""

    service: str
    operation: str
    guarded: bool  # a write conditioned on an item's version

    def __str__(self) -> str:
        return f"{self.service}.{self.operation}{' (versioned)' if self.guarded else ''}"


def applicable(kind: str, call: Call) -> bool:
    """Whether `kind` is a fault this call can meet in AWS."""
    return kind != CONDITION or call.guarded


@dataclass
class FaultPlan:
    kind: str | None
    k: int = 0
    calls: list[Call] = field(default_factory=list)
    injected: Call | None = None
    _attempts: dict[str, Answer | Drop | None] = field(default_factory=dict)  # call id → what its retries meet
    _concurrent_writer: Callable[[str, dict[str, Any]], None] | None = None

    def __str__(self) -> str:
        return "no fault" if self.kind is None else f"{self.kind} at call {self.k}"

    def on_request(self, request: AwsRequest) -> Answer | Drop | None:
        """What the endpoint does with one request of the planned invocation."""
        call_id = request.call_id or str(uuid.uuid4())
        if call_id in self._attempts:  # botocore retrying a call already seen: it meets the same fault
            return self._attempts[call_id]
        service = request.service or "unknown"
        versioned = _versioned_writes(request.json()) if service == "dynamodb" else []
        call = Call(service, request.operation, bool(versioned))
        self.calls.append(call)
        if self.kind is None or len(self.calls) != self.k or not applicable(self.kind, call):
            self._attempts[call_id] = None
            return None
        self.injected = call
        if self.kind == CONDITION:
            assert self._concurrent_writer is not None
            table, key = versioned[0]
            self._concurrent_writer(table, key)
            self._attempts[call_id] = None
            return None  # the real call goes ahead and fails its version condition
        if self.kind == TIMEOUT_AFTER:
            self._attempts[call_id] = Drop.BEFORE  # a retry must not write a second time
            return Drop.AFTER
        if self.kind == NETWORK:
            self._attempts[call_id] = Drop.BEFORE
            return Drop.BEFORE
        self._attempts[call_id] = answer = _throttled(service)
        return answer


def _throttled(service: str) -> Answer:
    if service == "dynamodb":
        code = "ProvisionedThroughputExceededException"
        body = {
            "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
            "message": "The level of configured provisioned throughput for the table was exceeded.",
        }
        return Answer(400, (("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)), _json(body))
    code = "ThrottlingException"
    return Answer(
        429, (("Content-Type", "application/json"), ("x-amzn-ErrorType", code)), _json({"Message": "Rate exceeded"})
    )


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _version_guard(operation: dict[str, Any]) -> str | None:
    """The version placeholder of a write conditioned on `ver = :value`, if it is one."""
    names = operation.get("ExpressionAttributeNames") or {}
    condition = operation.get("ConditionExpression") or ""
    for placeholder, name in names.items():
        if name == VERSION_ATTRIBUTE and re.search(rf"{re.escape(placeholder)}\s*=\s*:", condition):
            return str(placeholder)
    return None


def _versioned_writes(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key) of each write of a DynamoDB request that is conditioned on the item's version."""
    operations = [next(iter(item.values()), {}) for item in body.get("TransactItems") or []] or [body]
    writes = []
    for operation in operations:
        if _version_guard(operation) is None:
            continue
        key = operation.get("Key") or {name: operation["Item"][name] for name in ("pk", "sk")}
        writes.append((str(operation["TableName"]), key))
    return writes


class FaultInjector:
    """Arms fault plans for single invocations of the stack's functions, applied at its embedded endpoint."""

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self._armed: dict[str, FaultPlan] = {}
        self._by_request: dict[str, FaultPlan] = {}
        self._lock = threading.Lock()
        self._dynamodb: Any = None

    def install(self) -> None:
        endpoint = self._stack.aws_endpoint
        assert endpoint is not None, "faults are injected at the embedded endpoint"
        endpoint.request_hook = self._hook
        self._stack.runtime.add_invocation_listener(self._on_invocation)

    def uninstall(self) -> None:
        endpoint = self._stack.aws_endpoint
        if endpoint is not None:
            endpoint.request_hook = None
        if self._stack.runtime is not None:
            self._stack.runtime.remove_invocation_listener(self._on_invocation)

    def _on_invocation(self, function: str, request_id: str, access_key_id: str) -> None:
        with self._lock:
            plan = self._armed.pop(function, None)
            if plan is not None:
                self._by_request = {request_id: plan}  # one faulted invocation at a time

    def _hook(self, request: AwsRequest) -> Answer | Drop | None:
        key = request.access_key_id
        runtime = self._stack.runtime
        if not key or runtime is None:
            return None
        owner = runtime.invocation_of(key)
        if owner is None or owner[1] is None:
            return None
        with self._lock:
            plan = self._by_request.get(owner[1])
        return None if plan is None else plan.on_request(request)

    def _bump_version(self, table: str, key: dict[str, Any]) -> None:
        """Another writer's update of the item: its version moves on, nothing else changes."""
        if self._dynamodb is None:
            self._dynamodb = self._stack.client("dynamodb")
        self._dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #ver = #ver + :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#ver": VERSION_ATTRIBUTE},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    def arm(self, function: str, plan: FaultPlan) -> FaultPlan:
        plan._concurrent_writer = self._bump_version
        with self._lock:
            assert function not in self._armed, f"{function} is armed already"
            self._armed[function] = plan
        return plan

    def disarm(self, function: str) -> FaultPlan | None:
        with self._lock:
            return self._armed.pop(function, None)


@contextmanager
def fault_injector(stack: Any) -> Iterator[FaultInjector]:
    injector = FaultInjector(stack)
    injector.install()
    try:
        yield injector
    finally:
        injector.uninstall()


# ---------------------------------------------------------------- the event sources


@dataclass(frozen=True)
class StreamWork:
    function: str
    record: dict[str, Any]

    @property
    def keys(self) -> tuple[str, str]:
        keys = self.record["dynamodb"]["Keys"]
        return keys["pk"]["S"], keys["sk"]["S"]

    @property
    def event_name(self) -> str:
        return str(self.record["eventName"])


@dataclass(frozen=True)
class ScheduleWork:
    function: str
    payload: Any


Work = StreamWork | ScheduleWork


@dataclass
class Delivery:
    """What delivering one piece of work took: the invocations' outcomes, in order."""

    work: Work
    outcomes: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        return bool(self.outcomes) and self.outcomes[-1] == "ok"


class AsyncSources:
    """Records what the stack's stream mappings, scheduler and periodic schedule would invoke; delivers it on demand."""

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self._lock = threading.Lock()
        self._pending: list[Work] = []
        self._saved: dict[str, Any] = {}
        self.ticks = 0

    def install(self) -> None:
        stack = self._stack
        stack.wait_idle(20)
        self._saved = {
            "streams": stack.streams.invoke,
            "scheduler": stack.scheduler.invoke,
            "periodic": stack.periodic.invoke,
        }
        stack.streams.invoke = self._record_batch
        stack.scheduler.invoke = self._record_schedule
        stack.periodic.invoke = self._record_tick
        # Nothing is delivered between drains, and a drain wakes the poller and the emulator itself: polling them
        # rarely meanwhile saves the CPU their polls take from every request of the test.
        self._saved["intervals"] = (stack.streams.poll_interval, stack.scheduler.poll_interval)
        stack.streams.poll_interval = stack.scheduler.poll_interval = IDLE_POLL_SECONDS

    def uninstall(self) -> None:
        stack = self._stack
        if not self._saved or stack.streams is None:
            return  # never installed, or the stack has stopped already
        self.drain()
        stack.streams.invoke = self._saved["streams"]
        stack.scheduler.invoke = self._saved["scheduler"]
        stack.periodic.invoke = self._saved["periodic"]
        stack.streams.poll_interval, stack.scheduler.poll_interval = self._saved["intervals"]
        self._saved = {}

    def _record_batch(self, function: str, event: Any) -> Any:
        with self._lock:
            self._pending.extend(StreamWork(function, record) for record in event["Records"])
        return {"batchItemFailures": []}

    def _record_schedule(self, function: str, payload: Any) -> Any:
        with self._lock:
            self._pending.append(ScheduleWork(function, payload))
        return {"recorded": True}

    def _record_tick(self, function: str, payload: Any) -> Any:
        with self._lock:
            self.ticks += 1
        return {}

    def take(self) -> list[Work]:
        with self._lock:
            work, self._pending = self._pending, []
        return work

    # ------------------------------------------------------------ delivering

    def deliver(self, work: Work) -> Delivery:
        """Invoke the work's function as its source would, retrying a failure; the result says what happened."""
        delivery = Delivery(work)
        retries = STREAM_RETRIES if isinstance(work, StreamWork) else SCHEDULE_RETRIES
        for _ in range(retries + 1):
            event = {"Records": [work.record]} if isinstance(work, StreamWork) else work.payload
            try:
                response = self._stack.invoke(work.function, event)
            except FunctionError:
                delivery.outcomes.append("error")
                continue
            if isinstance(work, StreamWork) and (response or {}).get("batchItemFailures"):
                delivery.outcomes.append("item-failure")
                continue
            delivery.outcomes.append("ok")
            return delivery
        return delivery

    def drain(self, hold: Callable[[Work], bool] | None = None, rounds: int = 50) -> list[Work]:
        """Deliver everything the sources have recorded, and what that delivery caused, until nothing is left.

        Work for which `hold` is true is set aside and returned instead of delivered. Every other delivery must
        succeed (a failure is what the test injects, never what a clean delivery meets).
        """
        held: list[Work] = []
        for _ in range(rounds):
            self._stack.wait_idle(20)
            work = self.take()
            if not work:
                return held
            for item in work:
                if hold is not None and hold(item):
                    held.append(item)
                    continue
                delivery = self.deliver(item)
                assert delivery.delivered, f"a clean delivery failed: {delivery}"
        raise AssertionError(f"the event sources did not settle in {rounds} rounds")

    def sweep(self) -> Any:
        """One run of the sweeper, with the event its rate schedule delivers; a failed run is simply run again."""
        schedule = next(s for s in self._stack.template.periodic_schedules if s.function == "SweeperFunction")
        return self._stack.invoke("SweeperFunction", scheduled_event(self._stack.template, schedule))


@contextmanager
def async_sources(stack: Any) -> Iterator[AsyncSources]:
    sources = AsyncSources(stack)
    sources.install()
    try:
        yield sources
    finally:
        sources.uninstall()


# ---------------------------------------------------------------- figures for docs/reliability.md


def record_figures(test: str, **figures: Any) -> None:
    """Append one JSON line of figures to the file named by `RELIABILITY_FIGURES`, if that variable is set."""
    path = os.environ.get("RELIABILITY_FIGURES")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"test": test, **figures}, sort_keys=True, default=str) + "\n")
