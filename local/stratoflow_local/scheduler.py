"""Scheduler emulator: fires the one-time schedules of the template's schedule groups, and the periodic schedules.

EventBridge Scheduler fires nothing locally (moto only stores schedules), so this polls the template's schedule
groups through the endpoint (`list_schedules`, `get_schedule`) every ~100 ms. When an `at(...)` schedule is due it
invokes the target function with the schedule's `Target.Input` JSON as the event, then honours
`ActionAfterCompletion: DELETE`. If the input has a `fireAt` ISO timestamp within the `at()` second (the
expression rounds it up), the schedule fires at that instant, so a due timer fires within ~100 ms locally.
EventBridge Scheduler's precision in AWS is 60 s: with `precision_s` (default `STRATOFLOW_SCHEDULER_PRECISION_S`,
else 0) each one-time schedule runs at a random moment within that many seconds after its time. A failing target
is retried per the schedule's `RetryPolicy` (with local back-off), then the input goes to its dead-letter queue. For
tests, `duplicate_invocations` invokes every schedule twice.

`PeriodicTicker` runs the template's rate schedules (the sweeper) at a locally chosen period.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from stratoflow_local.holding import Holdable
from stratoflow_local.resources import client
from stratoflow_local.runtime import FunctionError
from stratoflow_local.template import LocalTemplate, PeriodicSchedule

logger = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 0.1
_DEFAULT_MAX_RETRIES = 185

Invoke = Callable[[str, Any], Any]


@dataclass(frozen=True)
class ScheduleInvocation:
    group: str
    name: str
    function: str
    payload: Any
    outcome: str  # "ok", "error", "dead-lettered", "no-target"
    at: float


def precision_from_environment(environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get("STRATOFLOW_SCHEDULER_PRECISION_S")
    return float(raw) if raw else 0.0


def due_time(schedule: Mapping[str, Any]) -> float | None:
    """Epoch seconds at which a one-time schedule is due; None for rate/cron schedules."""
    expression = str(schedule.get("ScheduleExpression", ""))
    if not (expression.startswith("at(") and expression.endswith(")")):
        return None
    zone = ZoneInfo(str(schedule.get("ScheduleExpressionTimezone") or "UTC"))
    at = datetime.fromisoformat(expression[3:-1]).replace(tzinfo=zone).timestamp()
    payload = _payload(schedule)
    if isinstance(payload, Mapping) and isinstance(payload.get("fireAt"), str):
        try:
            fire_at = datetime.fromisoformat(payload["fireAt"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            return at
        if at - 1 < fire_at <= at:  # the instant the expression rounded up (not a hand-over's later due time)
            return fire_at
    return at


def _payload(schedule: Mapping[str, Any]) -> Any:
    raw = (schedule.get("Target") or {}).get("Input")
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


class SchedulerEmulator(Holdable):
    """Polls the template's schedule groups and invokes due one-time schedules' targets."""

    def __init__(
        self,
        template: LocalTemplate,
        invoke: Invoke,
        endpoint_url: str,
        *,
        duplicate_invocations: bool = False,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        history: int = 10_000,
        precision_s: float | None = None,
        seed: int | None = None,
    ) -> None:
        self.template = template
        self.invoke = invoke
        self.endpoint_url = endpoint_url
        self.duplicate_invocations = duplicate_invocations
        self.poll_interval = poll_interval
        self.precision_s = precision_from_environment() if precision_s is None else precision_s
        self._random = random.Random(seed)
        self._lateness: dict[tuple[str, str, Any], float] = {}
        self.invocations: deque[ScheduleInvocation] = deque(maxlen=history)
        self.condition = threading.Condition()
        self.cycle_started = 0
        self.cycle_finished = 0
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._errors = 0
        self._next_due = float("inf")
        self._details: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
        self._finished: set[tuple[str, str, Any]] = set()
        self._attempts: dict[tuple[str, str], tuple[int, float]] = {}
        self._scheduler = client("scheduler", endpoint_url, template.names.region)
        self._sqs: Any = None
        self._thread = threading.Thread(target=self._run, name="scheduler-emulator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        """Poll now (the local stack calls it when the embedded endpoint saw a schedule change)."""
        self._wake.set()

    def _released(self) -> None:
        self.wake()

    def wait_cycle(self, timeout: float = 10.0) -> None:
        """Return after a full poll that started after this call (every schedule due by now has fired)."""
        deadline = time.monotonic() + timeout
        with self.condition:
            target = self.cycle_started + 1
            self._wake.set()
            while self.cycle_finished < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"scheduler emulator did not complete a cycle in {timeout} s")
                self.condition.wait(min(remaining, 0.05))
                self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._held:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            with self.condition:
                self.cycle_started += 1
                cycle = self.cycle_started
            try:
                self._cycle()
                self._errors = 0
            except Exception:
                # Log the first failure of a run of them; keep polling, more slowly, until the endpoint is back.
                if self._errors == 0:
                    logger.exception("scheduler poll failed")
                self._errors += 1
                self._wake.wait(min(1.0, self.poll_interval * self._errors))
            with self.condition:
                self.cycle_finished = cycle
                self.condition.notify_all()
            # Sleep until the next poll, or until the earliest known schedule is due if that comes first.
            self._wake.wait(max(0.0, min(self.poll_interval, self._next_due - time.time())))
            self._wake.clear()

    def _cycle(self) -> None:
        now = time.time()
        self._next_due = float("inf")
        seen: set[tuple[str, str]] = set()
        for group in self.template.schedule_groups.values():
            for summary in self._list(group):
                key = (group, summary["Name"])
                seen.add(key)
                if summary.get("State", "ENABLED") != "ENABLED":
                    continue
                version = summary.get("LastModificationDate")
                if (*key, version) in self._finished:
                    continue
                cached = self._details.get(key)
                if cached is None or cached[0] != version:
                    try:
                        detail = self._scheduler.get_schedule(GroupName=group, Name=summary["Name"])
                    except ClientError as error:
                        if error.response["Error"]["Code"] == "ResourceNotFoundException":
                            continue
                        raise
                    cached = (version, detail)
                    self._details[key] = cached
                detail = cached[1]
                due = due_time(detail)
                if due is None:
                    continue
                due += self._imprecision(group, summary["Name"], version)
                if due > now:
                    self._next_due = min(self._next_due, due)
                    continue
                retry_at = self._attempts.get(key, (0, 0.0))[1]
                if retry_at > now:
                    self._next_due = min(self._next_due, retry_at)
                    continue
                self._fire(group, detail, version)
        # Forget schedules that no longer exist (deleted by their owner or after completion).
        self._details = {key: value for key, value in self._details.items() if key in seen}
        self._finished = {entry for entry in self._finished if entry[:2] in seen}
        self._lateness = {entry: late for entry, late in self._lateness.items() if entry[:2] in seen}

    def _imprecision(self, group: str, name: str, version: Any) -> float:
        """How late this version of a schedule runs, drawn once: uniform within `precision_s`, as in AWS."""
        if self.precision_s <= 0:
            return 0.0
        key = (group, name, version)
        if key not in self._lateness:
            self._lateness[key] = self._random.uniform(0, self.precision_s)
        return self._lateness[key]

    def _list(self, group: str) -> list[dict[str, Any]]:
        schedules: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"GroupName": group, "MaxResults": 100}
            if token:
                kwargs["NextToken"] = token
            response = self._scheduler.list_schedules(**kwargs)
            schedules.extend(response.get("Schedules", []))
            token = response.get("NextToken")
            if not token:
                return schedules

    def _fire(self, group: str, detail: Mapping[str, Any], version: Any) -> None:
        name = str(detail["Name"])
        key = (group, name)
        target = detail.get("Target") or {}
        spec = self.template.function_by_arn(str(target.get("Arn", "")))
        payload = _payload(detail)
        if spec is None:
            logger.error("schedule target is not a function of the template", extra={"schedule": name})
            self._record(group, name, "", payload, "no-target")
            self._complete(group, detail, version)
            return
        outcome = "ok"
        for _ in range(2 if self.duplicate_invocations else 1):
            try:
                self.invoke(spec.logical_id, payload)
            except FunctionError as error:
                outcome = "error"
                logger.warning("schedule target failed", extra={"schedule": name, "error": error.error_message})
        self._record(group, name, spec.logical_id, payload, outcome)
        if outcome == "ok":
            self._attempts.pop(key, None)
            self._complete(group, detail, version)
            return
        attempts = self._attempts.get(key, (0, 0.0))[0] + 1
        policy = target.get("RetryPolicy") or {}
        if attempts > int(policy.get("MaximumRetryAttempts", _DEFAULT_MAX_RETRIES)):
            self._dead_letter(group, detail, payload)
            self._attempts.pop(key, None)
            self._complete(group, detail, version)
            return
        self._attempts[key] = (attempts, time.time() + min(5.0, 0.1 * 2**attempts))

    def _complete(self, group: str, detail: Mapping[str, Any], version: Any) -> None:
        name = str(detail["Name"])
        if detail.get("ActionAfterCompletion") == "DELETE":
            try:
                self._scheduler.delete_schedule(GroupName=group, Name=name)
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
            self._details.pop((group, name), None)
        else:
            self._finished.add((group, name, version))

    def _dead_letter(self, group: str, detail: Mapping[str, Any], payload: Any) -> None:
        name = str(detail["Name"])
        self._record(group, name, "", payload, "dead-lettered")
        arn = ((detail.get("Target") or {}).get("DeadLetterConfig") or {}).get("Arn")
        queue = self.template.queue_by_arn(str(arn)) if arn else None
        if queue is None:
            logger.error("schedule exhausted its retries and has no dead-letter queue", extra={"schedule": name})
            return
        if self._sqs is None:
            self._sqs = client("sqs", self.endpoint_url, self.template.names.region)
        url = self._sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        self._sqs.send_message(
            QueueUrl=url,
            MessageBody=(detail.get("Target") or {}).get("Input") or "{}",
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": "RetryAttemptsExhausted"},
                "SCHEDULE_ARN": {"DataType": "String", "StringValue": str(detail.get("Arn", name))},
            },
        )

    def _record(self, group: str, name: str, function: str, payload: Any, outcome: str) -> None:
        with self.condition:
            self.invocations.append(ScheduleInvocation(group, name, function, payload, outcome, time.time()))


def scheduled_event(template: LocalTemplate, schedule: PeriodicSchedule) -> dict[str, Any]:
    """The payload an EventBridge rate rule (SAM `Schedule` event) delivers to its target."""
    names = template.names
    rule = f"{names.stack_name}-{schedule.name.replace('.', '')}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": names.account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": names.region,
        "resources": [f"arn:aws:events:{names.region}:{names.account_id}:rule/{rule}"],
        "detail": {},
    }


class PeriodicTicker(Holdable):
    """Invokes each enabled periodic schedule's function every `period` seconds (None: the template's rate); a tick
    that falls while it is held is skipped."""

    def __init__(self, template: LocalTemplate, invoke: Invoke, period: float | None) -> None:
        self.template = template
        self.invoke = invoke
        self.period = period
        self.ticks = 0
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(schedule,), name=f"periodic-{schedule.name}", daemon=True)
            for schedule in template.periodic_schedules
            if schedule.enabled
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)

    def _run(self, schedule: PeriodicSchedule) -> None:
        period = self.period if self.period is not None else schedule.rate_seconds
        while not self._stopping.wait(period):
            if self._held:
                continue
            payload = schedule.input if schedule.input is not None else scheduled_event(self.template, schedule)
            try:
                self.invoke(schedule.function, payload)
            except FunctionError as error:
                logger.warning("periodic function failed", extra={"function": schedule.function, "error": str(error)})
            except Exception:
                logger.exception("periodic invocation failed", extra={"function": schedule.function})
            self.ticks += 1
