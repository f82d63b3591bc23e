"""Fault injection for the fault matrix: the k-th AWS call of one Lambda invocation fails, on top of botocore's events.

- `FaultPlan(kind, k)` says what happens to the AWS calls of one invocation; `FaultPlan(None)` only records them.
  The kinds (`FAULT_KINDS`):
  - `throttle`: DynamoDB answers `ProvisionedThroughputExceededException` (other services `ThrottlingException`), as
    botocore reports it once its own retries are spent; nothing is written;
  - `condition`: another writer updates a versioned item (an execution, a task) between the handler's read and its
    write: the item's version moves on, nothing else changes, and DynamoDB itself then refuses the handler's write
    for its version condition (`TransactionCanceledException` with `ConditionalCheckFailed`, or
    `ConditionalCheckFailedException`). Only writes guarded by a version can meet this fault; other conditions
    (existence, a status) fail only when their item really changed, which is a different race, not a fault;
  - `network`: `EndpointConnectionError` before the request is sent; nothing is written;
  - `timeout-after`: the real call is made and succeeds, then `ReadTimeoutError` is raised as if its answer was lost.
- `FaultInjector(stack)` hooks every botocore client of the process (DynamoDB through PynamoDB, EventBridge Scheduler
  through boto3) with `before-call` / `after-call` handlers, and wraps the stack's Lambda runtime: `arm(function,
  plan)` applies `plan` to the next invocation of `function` only, on the thread that runs it; every other
  invocation and thread (the front door, the stream poller, the scheduler emulator) is untouched.
- `AsyncSources(stack)` stands in for the stack's event sources while installed: stream batches, due schedules and
  periodic sweeps are recorded instead of delivered, and `drain()` delivers them as Lambda's event-source mappings,
  EventBridge Scheduler and the sweeper's schedule would: one record per batch in stream order, retried on a function
  error or a reported item failure (up to the mapping's `MaximumRetryAttempts`), schedules retried on a function
  error. A test can hold back the records or schedules it wants to deliver itself, under a fault.

tests/support/faults.py injects the same `network` and `timeout-after` failures (its `InjectedCrash` and
`InjectedTimeout`, used here too) into the domain's calls for the crash tests of the cancellation handlers; this
module works at the level of whole Lambda invocations behind API Gateway and the event sources, and adds throttling
and concurrent writers.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from stratoflow_local.runtime import FunctionError
from stratoflow_local.scheduler import scheduled_event

from tests.support.faults import InjectedCrash, InjectedTimeout

THROTTLE = "throttle"
CONDITION = "condition"
NETWORK = "network"
TIMEOUT_AFTER = "timeout-after"
FAULT_KINDS = (THROTTLE, CONDITION, NETWORK, TIMEOUT_AFTER)

STREAM_RETRIES = 5  # MaximumRetryAttempts of both stream mappings in template.yaml
SCHEDULE_RETRIES = 5  # EventBridge Scheduler retries up to 185 times; a one-shot fault needs one
IDLE_POLL_SECONDS = 1.0

VERSION_ATTRIBUTE = "ver"  # the optimistic-locking attribute of executions and tasks (PynamoDB VersionAttribute)


@dataclass(frozen=True)
class Call:
    """One AWS API call as the injector saw it."""

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
    _timeout_pending: bool = False
    _concurrent_writer: Callable[[str, dict[str, Any]], None] | None = None

    def __str__(self) -> str:
        return "no fault" if self.kind is None else f"{self.kind} at call {self.k}"


_active = threading.local()


def _version_guard(operation: dict[str, Any]) -> str | None:
    """The version placeholder of a write conditioned on `ver = :value`, if it is one."""
    names = operation.get("ExpressionAttributeNames") or {}
    condition = operation.get("ConditionExpression") or ""
    for placeholder, name in names.items():
        if name == VERSION_ATTRIBUTE and re.search(rf"{re.escape(placeholder)}\s*=\s*:", condition):
            return str(placeholder)
    return None


def _versioned_writes(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(table, key) of each write of a DynamoDB request that is conditioned on the item's version."""
    try:
        body = json.loads(params.get("body") or b"{}")
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    operations = [next(iter(item.values()), {}) for item in body.get("TransactItems") or []] or [body]
    writes = []
    for operation in operations:
        if _version_guard(operation) is None:
            continue
        key = operation.get("Key") or {name: operation["Item"][name] for name in ("pk", "sk")}
        writes.append((str(operation["TableName"]), key))
    return writes


def _error_response(code: str, message: str, status: int, **extra: Any) -> tuple[AWSResponse, dict[str, Any]]:
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
        **extra,
    }
    return AWSResponse("https://fault.invalid/", status, {}, None), parsed


def _before_call(model: Any, params: dict[str, Any], **_: Any) -> Any:
    plan: FaultPlan | None = getattr(_active, "plan", None)
    if plan is None:
        return None
    service = model.service_model.service_name
    versioned = _versioned_writes(params) if service == "dynamodb" else []
    call = Call(service, model.name, bool(versioned))
    plan.calls.append(call)
    if plan.kind is None or len(plan.calls) != plan.k or not applicable(plan.kind, call):
        return None
    url = params.get("url", "https://fault.invalid/")
    if plan.kind == TIMEOUT_AFTER:
        plan._timeout_pending = True
        return None
    plan.injected = call
    if plan.kind == NETWORK:
        raise InjectedCrash(endpoint_url=url)
    if plan.kind == CONDITION:
        assert plan._concurrent_writer is not None
        table, key = versioned[0]
        _active.plan = None  # the other writer's call is not the handler's
        try:
            plan._concurrent_writer(table, key)
        finally:
            _active.plan = plan
        return None  # the real call goes ahead and fails its version condition
    if service == "dynamodb":
        return _error_response(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
            400,
        )
    return _error_response("ThrottlingException", "Rate exceeded", 429)


def _after_call(http_response: Any, **_: Any) -> None:
    plan: FaultPlan | None = getattr(_active, "plan", None)
    if plan is None or not plan._timeout_pending:
        return
    plan._timeout_pending = False
    plan.injected = plan.calls[-1]
    raise InjectedTimeout(endpoint_url=getattr(http_response, "url", None) or "https://fault.invalid/")


_HOOKED = "_stratoflow_fault_hooks"
_install_lock = threading.Lock()
_original_make_api_call = BaseClient._make_api_call


def _make_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    if not getattr(self, _HOOKED, False):
        self.meta.events.register_first("before-call.*.*", _before_call, unique_id="stratoflow-fault-before")
        self.meta.events.register_last("after-call.*.*", _after_call, unique_id="stratoflow-fault-after")
        setattr(self, _HOOKED, True)
    return _original_make_api_call(self, operation_name, api_params)


class FaultInjector:
    """Arms fault plans for single invocations of the stack's functions."""

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self._armed: dict[str, FaultPlan] = {}
        self._lock = threading.Lock()
        self._original_invoke: Callable[[str, Any], Any] | None = None
        self._dynamodb: Any = None

    def install(self) -> None:
        with _install_lock:
            BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]
        runtime = self._stack.runtime
        self._original_invoke = runtime.invoke
        runtime.invoke = self._invoke

    def uninstall(self) -> None:
        if self._original_invoke is not None:
            self._stack.runtime.invoke = self._original_invoke
            self._original_invoke = None
        with _install_lock:
            BaseClient._make_api_call = _original_make_api_call  # type: ignore[method-assign]

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

    def _invoke(self, logical_id: str, event: Any) -> Any:
        assert self._original_invoke is not None
        plan = self.disarm(logical_id)
        if plan is None:
            return self._original_invoke(logical_id, event)
        _active.plan = plan
        try:
            return self._original_invoke(logical_id, event)
        finally:
            _active.plan = None


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
        # rarely meanwhile saves the CPU their polls take from every request of the test (one process, one GIL).
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
