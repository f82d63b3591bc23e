"""The SDK end to end: a real `stratoflow_sdk.Worker` (in threads) against the session's local stack.

Each test runs its own worker on a queue of its own, so tests never take each other's work. Task functions are
shared by the tests; what they tell the test (that they started, that they saw their cancellation) goes through
the per-queue `Probe` of the test, looked up from `task_context().queue`. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from stratoflow_sdk import (
    ApplicationError,
    ChildWorkflowCancelledError,
    Client,
    FailedPreconditionError,
    TaskCancelledError,
    Worker,
    WorkflowCancelledError,
    WorkflowContext,
    join_all,
    select,
    task,
    task_context,
    workflow,
)

from tests.support.http import Client as HttpClient
from tests.support.http import event_data, wait_until

#: No task of these tests should run longer; a task still blocked then fails instead of hanging the run.
TASK_LIMIT = 60.0
RESULT_TIMEOUT = 60.0


class Probe:
    """What the task code of one test tells the test: started tasks, cancellations seen, cleanups run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, threading.Event] = {}
        self.seen: dict[str, Any] = {}
        self.released = threading.Event()

    def event(self, key: str) -> threading.Event:
        with self.lock:
            return self.events.setdefault(key, threading.Event())

    def signal(self, key: str) -> None:
        self.event(key).set()

    def wait(self, key: str, timeout: float = 15.0) -> None:
        assert self.event(key).wait(timeout), f"timed out after {timeout} s waiting for {key!r}"

    def record(self, key: str, value: Any) -> None:
        with self.lock:
            self.seen[key] = value

    def recorded(self, key: str) -> Any:
        with self.lock:
            return self.seen.get(key)


PROBES: dict[str, Probe] = {}


def probe() -> Probe:
    return PROBES[task_context().queue]


# ---------------------------------------------------------------- task code


def wait_for_cancellation(key: str) -> None:
    """Announce `<key>:running`, then wait until a (background) heartbeat says the task was cancelled."""
    context, own = task_context(), probe()
    own.signal(f"{key}:running")
    deadline = time.monotonic() + TASK_LIMIT
    while not context.cancel_requested:
        if own.released.is_set() or time.monotonic() > deadline:
            raise ApplicationError(f"{key} was never cancelled", non_retryable=True)
        own.released.wait(0.02)
    try:
        context.heartbeat()
    except TaskCancelledError:
        own.record(key, "cancelled")
        own.signal(f"{key}:stopped")
        raise  # the worker reports nothing: the task is already CANCELLED
    raise AssertionError("heartbeat() did not raise TaskCancelledError after cancelRequested")


@task(kind="quote")
def quote(request: dict[str, Any]) -> dict[str, Any]:
    if request["fast"]:
        return {"provider": request["provider"], "price": 100 + request["provider"]}
    wait_for_cancellation(request["key"])
    return {"provider": request["provider"], "price": 0}  # pragma: no cover - cancelled above


@task(kind="block")
def block(key: str) -> str:
    wait_for_cancellation(key)
    return "not cancelled"  # pragma: no cover


@task(kind="quick")
def quick(value: Any) -> Any:
    return {"echo": value}


@task(kind="record")
def record(entry: dict[str, Any]) -> dict[str, Any]:
    probe().record(f"{entry['key']}:{entry['what']}", entry)
    return {"recorded": entry["what"]}


@task(kind="gate")
def gate(key: str) -> bool:
    """Return once the task code of `key` has signalled."""
    probe().wait(key, timeout=TASK_LIMIT)
    return True


@task(kind="heartbeat-loop")
def heartbeat_loop(key: str) -> str:
    """Heartbeat explicitly until cancelled; then return anyway, so the worker's complete is refused."""
    context, own = task_context(), probe()
    own.signal(f"{key}:running")
    deadline = time.monotonic() + TASK_LIMIT
    beats = 0
    try:
        while time.monotonic() < deadline and not own.released.is_set():
            context.heartbeat({"beat": beats})
            beats += 1
            own.released.wait(0.05)
    except TaskCancelledError as exc:
        own.record(key, {"reason": exc.reason, "beats": beats})
        return "finished anyway"
    raise ApplicationError(f"{key} was never cancelled", non_retryable=True)


TASKS = [quote, block, quick, record, gate, heartbeat_loop]


# ---------------------------------------------------------------- workflow code


@workflow(kind="sdk-first-of-ten")
async def first_of_ten(ctx: WorkflowContext, key: str) -> dict[str, Any]:
    handles = [
        ctx.schedule_task("quote", {"provider": i, "fast": i == 3, "key": f"{key}:{i}"}) for i in range(10)
    ]
    index, value = await select(*handles)
    return {"index": index, "value": value, "tasks": [h.task_execution_id for h in handles]}


@workflow(kind="sdk-task-vs-timer")
async def task_vs_timer(ctx: WorkflowContext, spec: dict[str, Any]) -> dict[str, Any]:
    work = ctx.schedule_task("quick" if spec["taskWins"] else "block", spec["key"])
    index, value = await select(work, ctx.sleep(spec["timerSeconds"]))
    return {"winner": "task" if index == 0 else "timer", "value": value, "task": work.task_execution_id}


@workflow(kind="sdk-child")
async def cancellable_child(ctx: WorkflowContext, key: str) -> str:
    try:
        await ctx.schedule_task("block", f"{key}:child-work")
        return "child finished"
    except asyncio.CancelledError:
        async with ctx.cancellation_scope(shield=True):
            await ctx.schedule_task("record", {"key": key, "what": "child-cleanup", "reason": ctx.cancel_reason})
        raise


@workflow(kind="sdk-parent-cancels-child")
async def parent_cancels_child(ctx: WorkflowContext, key: str) -> dict[str, Any]:
    child = ctx.start_child("sdk-child", key)
    await ctx.schedule_task("gate", f"{key}:child-work:running")  # returns once the child's task runs
    child.cancel("no longer needed")
    try:
        await child
    except ChildWorkflowCancelledError:
        return {"childCancelled": True, "child": child.child_workflow_execution_id}
    return {"childCancelled": False, "child": child.child_workflow_execution_id}


@workflow(kind="sdk-order")
async def order_with_compensation(ctx: WorkflowContext, key: str) -> str:
    child = ctx.start_child("sdk-child", key)
    charge = ctx.schedule_task("block", f"{key}:charge")
    try:
        await join_all(child, charge)
        return "shipped"
    except asyncio.CancelledError:
        async with ctx.cancellation_scope(shield=True):
            await ctx.schedule_task("record", {"key": key, "what": "compensation"})
            with contextlib.suppress(ChildWorkflowCancelledError):
                await child  # its real outcome: it was asked to cancel too
        raise


@workflow(kind="sdk-cancelled-task")
async def cancelled_task(ctx: WorkflowContext, key: str) -> Any:
    try:
        return await ctx.schedule_task("heartbeat-loop", key)
    except TaskCancelledError as exc:
        return {"taskCancelled": exc.reason}


WORKFLOWS = [first_of_ten, task_vs_timer, cancellable_child, parent_cancels_child, order_with_compensation,
             cancelled_task]


# ---------------------------------------------------------------- harness


class Harness:
    def __init__(self, stack: Any, api: Any) -> None:
        self.stack = stack
        self.queue = f"sdk-{uuid.uuid4().hex[:12]}"
        self.probe = PROBES[self.queue] = Probe()
        self.client = Client(stack.url, "tok-acme")
        self.http = HttpClient(api, stack)
        self.workers: list[Worker] = []

    @contextmanager
    def worker(self, **options: Any) -> Iterator[Worker]:
        settings: dict[str, Any] = {"max_concurrent_tasks": 12, "heartbeat_interval": 0.3, "shutdown_grace": 10.0}
        settings.update(options)
        worker = Worker(self.client, queue=self.queue, workflows=WORKFLOWS, tasks=TASKS, **settings)
        worker.start()
        self.workers.append(worker)
        try:
            yield worker
        finally:
            worker.stop()
            assert worker.error is None, worker.error

    def start(self, kind: str, input_value: Any) -> str:
        return self.client.start_workflow(kind, input_value, queue=self.queue).workflow_execution_id

    def history(self, wid: str) -> list[dict[str, Any]]:
        return self.http.history(wid)

    def types(self, wid: str) -> list[str]:
        return self.http.types(wid)

    def close(self) -> None:
        self.probe.released.set()
        for worker in self.workers:
            worker.stop(grace=5.0)
        PROBES.pop(self.queue, None)


@pytest.fixture
def sdk(local_stack: Any, api: Any) -> Iterator[Harness]:
    harness = Harness(local_stack, api)
    try:
        yield harness
    finally:
        harness.close()


def count(types: Sequence[str], event_type: str) -> int:
    return sum(1 for t in types if t == event_type)


def by_task(events: Sequence[dict[str, Any]], event_type: str) -> dict[str, dict[str, Any]]:
    return {data["taskExecutionId"]: data for data in event_data(events, event_type)}


def refusals(caplog: pytest.LogCaptureFixture, task_id: str) -> list[FailedPreconditionError]:
    """The worker's refused reports of `task_id` (it logs them as 'task result not recorded')."""
    found = []
    for entry in caplog.records:
        if entry.name == "stratoflow_sdk.worker" and getattr(entry, "taskExecutionId", None) == task_id:
            error = entry.args[0] if isinstance(entry.args, tuple) and entry.args else None
            if isinstance(error, FailedPreconditionError):
                found.append(error)
    return found


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    return wait_until(condition, timeout, what)


# ---------------------------------------------------------------- tests


def test_select_over_a_fan_out_of_ten_takes_the_first_and_cancels_the_other_nine(sdk: Harness) -> None:
    with sdk.worker():
        wid = sdk.start("sdk-first-of-ten", "fan")
        result = sdk.client.result(wid, timeout=RESULT_TIMEOUT)
        # Every loser that had started notices its cancellation and stops without reporting.
        for i in range(10):
            if i != 3 and sdk.probe.event(f"fan:{i}:running").is_set():
                sdk.probe.wait(f"fan:{i}:stopped")
    assert (result["index"], result["value"]) == (3, {"provider": 3, "price": 103})
    ids = result["tasks"]
    assert ids == [f"{wid}:task:{n}" for n in range(1, 11)]
    winner, losers = ids[3], [t for i, t in enumerate(ids) if i != 3]

    statuses = {t: sdk.client.get_task(t) for t in ids}
    assert statuses[winner].status == "COMPLETED"
    assert statuses[winner].output == {"provider": 3, "price": 103}
    for loser in losers:
        assert (statuses[loser].status, statuses[loser].output) == ("CANCELLED", None), loser

    events = sdk.history(wid)
    types = [e["type"] for e in events]
    assert count(types, "TASK_SCHEDULED") == 10
    assert set(by_task(events, "TASK_COMPLETED")) == {winner}
    assert set(by_task(events, "TASK_CANCELLED")) == set(losers)
    assert count(types, "TASK_CANCELLED") == 9
    assert count(types, "TASK_FAILED") == 0
    assert types[-1] == "WORKFLOW_COMPLETED"
    sdk.http.check(wid)


def test_a_timer_that_wins_a_race_against_a_task_cancels_the_task(sdk: Harness) -> None:
    with sdk.worker():
        wid = sdk.start("sdk-task-vs-timer", {"taskWins": False, "key": "slow", "timerSeconds": 0.5})
        result = sdk.client.result(wid, timeout=RESULT_TIMEOUT)
        if sdk.probe.event("slow:running").is_set():
            sdk.probe.wait("slow:stopped")
    assert result["winner"] == "timer"
    task_id = result["task"]
    assert sdk.client.get_task(task_id).status == "CANCELLED"
    events = sdk.history(wid)
    types = [e["type"] for e in events]
    assert count(types, "TIMER_FIRED") == 1
    assert count(types, "TIMER_CANCELLED") == 0
    assert set(by_task(events, "TASK_CANCELLED")) == {task_id}
    assert count(types, "TASK_COMPLETED") == 0
    # The timer's event comes first, then the cancel of the loser, then the end.
    assert types.index("TIMER_FIRED") < types.index("TASK_CANCELLED") < types.index("WORKFLOW_COMPLETED")
    sdk.http.check(wid)


def test_a_task_that_wins_a_race_against_a_timer_cancels_the_timer_which_never_fires(sdk: Harness) -> None:
    # Nothing fires by the clock until the workflow has ended (not the timer queue's delayed message, nor a schedule,
    # nor the sweeper's net for overdue timers), so the task wins however loaded the machine is; what fell due
    # meanwhile is then delivered late, as AWS may deliver it.
    with sdk.stack.time_held(), sdk.worker():
        wid = sdk.start("sdk-task-vs-timer", {"taskWins": True, "key": "fast", "timerSeconds": 1})
        result = sdk.client.result(wid, timeout=RESULT_TIMEOUT)
        events = sdk.history(wid)
        [started] = event_data(events, "TIMER_STARTED")
        fire_at = datetime.fromisoformat(started["fireAt"].replace("Z", "+00:00")).timestamp()
        time.sleep(max(0.0, fire_at - time.time()) + 0.1)  # the hold, not this wait, keeps the timer from firing
    assert (result["winner"], result["value"]) == ("task", {"echo": "fast"})
    assert event_data(events, "TIMER_CANCELLED") == [{"timerId": started["timerId"]}]
    # Every schedule and queue message due by now has been delivered, and what that wrote has landed: no TIMER_FIRED.
    sdk.stack.wait_idle(10)  # the schedules due and the stream so far (either may put a message on a queue)
    sdk.stack.operator_sources.queues.wait_idle(10)  # the queue's messages
    sdk.stack.wait_idle(10)  # the stream deliveries of what those wrote
    events = sdk.history(wid)
    # A schedule deleted late may still be invoked (semantics: it changes nothing), so only the history counts.
    assert count([e["type"] for e in events], "TIMER_FIRED") == 0
    sdk.http.check(wid)


def test_a_parent_cancelling_its_child_sees_it_end_cancelled_after_its_cleanup(sdk: Harness) -> None:
    with sdk.worker():
        wid = sdk.start("sdk-parent-cancels-child", "kid")
        result = sdk.client.result(wid, timeout=RESULT_TIMEOUT)
        sdk.probe.wait("kid:child-work:stopped")
    child = result["child"]
    assert result == {"childCancelled": True, "child": child}
    assert sdk.client.get_workflow(child).status == "CANCELLED"

    parent_events = sdk.history(wid)
    assert event_data(parent_events, "CHILD_WORKFLOW_CANCELLATION_REQUESTED") == [
        {"childExecutionName": "sdk-child-1", "childWorkflowExecutionId": child, "reason": "no longer needed"}
    ]
    [outcome] = event_data(parent_events, "CHILD_WORKFLOW_FAILED")
    assert (outcome["childWorkflowExecutionId"], outcome["cancelled"]) == (child, True)

    child_events = sdk.history(child)
    assert event_data(child_events, "CANCELLATION_REQUESTED") == [
        {"reason": "no longer needed", "requestedBy": f"workflow:{wid}", "cleanupDeadline": None}
    ]
    work, cleanup = f"{child}:task:1", f"{child}:task:2"
    assert set(by_task(child_events, "TASK_CANCELLED")) == {work}
    assert set(by_task(child_events, "TASK_COMPLETED")) == {cleanup}
    assert [e["type"] for e in child_events][-1] == "WORKFLOW_CANCELLED"
    assert sdk.probe.recorded("kid:child-cleanup")["reason"] == "no longer needed"
    assert sdk.client.get_task(work).status == "CANCELLED"
    sdk.http.check(wid)


def test_cancelling_a_workflow_cascades_and_its_shielded_cleanup_runs_a_compensation(sdk: Harness) -> None:
    with sdk.worker():
        wid = sdk.start("sdk-order", "order")
        sdk.probe.wait("order:charge:running")
        sdk.probe.wait("order:child-work:running")
        assert sdk.client.cancel_workflow(wid, reason="customer cancelled") == "CANCELLING"
        with pytest.raises(WorkflowCancelledError):
            sdk.client.result(wid, timeout=RESULT_TIMEOUT)
        child = f"{wid}:child:1"
        assert sdk.client.wait_workflow(child, timeout=RESULT_TIMEOUT).status == "CANCELLED"
        sdk.probe.wait("order:charge:stopped")
        sdk.probe.wait("order:child-work:stopped")

    parent = sdk.client.get_workflow(wid)
    assert (parent.status, parent.cancel_reason) == ("CANCELLED", "customer cancelled")
    charge, compensation = f"{wid}:task:1", f"{wid}:task:2"
    assert sdk.client.get_task(charge).status == "CANCELLED"
    assert sdk.client.get_task(compensation).status == "COMPLETED"
    assert sdk.probe.recorded("order:compensation") == {"key": "order", "what": "compensation"}

    parent_events = sdk.history(wid)
    types = [e["type"] for e in parent_events]
    assert event_data(parent_events, "CANCELLATION_REQUESTED") == [
        {"reason": "customer cancelled", "requestedBy": "api", "cleanupDeadline": None}
    ]
    assert set(by_task(parent_events, "TASK_CANCELLED")) == {charge}
    assert set(by_task(parent_events, "TASK_COMPLETED")) == {compensation}
    # The compensation is scheduled after the request, and the parent ends after the child's outcome.
    assert types.index("CANCELLATION_REQUESTED") < types.index("TASK_SCHEDULED", 3)
    [outcome] = event_data(parent_events, "CHILD_WORKFLOW_FAILED")
    assert (outcome["childWorkflowExecutionId"], outcome["cancelled"]) == (child, True)
    assert types[-1] == "WORKFLOW_CANCELLED"

    child_events = sdk.history(child)
    assert event_data(child_events, "CANCELLATION_REQUESTED") == [
        {"reason": "customer cancelled", "requestedBy": f"workflow:{wid}", "cleanupDeadline": None}
    ]
    assert set(by_task(child_events, "TASK_CANCELLED")) == {f"{child}:task:1"}
    assert set(by_task(child_events, "TASK_COMPLETED")) == {f"{child}:task:2"}
    assert [e["type"] for e in child_events][-1] == "WORKFLOW_CANCELLED"
    for task_id in (f"{child}:task:1", f"{child}:task:2", charge, compensation):
        assert sdk.client.get_task(task_id).status in ("CANCELLED", "COMPLETED")
    sdk.http.check(wid)


def test_a_running_task_stops_when_cancelled_and_its_later_complete_is_refused(
    sdk: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="stratoflow_sdk.worker")
    with sdk.worker():
        wid = sdk.start("sdk-cancelled-task", "loop")
        task_id = f"{wid}:task:1"
        sdk.probe.wait("loop:running")
        assert sdk.client.get_task(task_id).status == "RUNNING"
        assert sdk.client.cancel_task(task_id, reason="operator stop") == "CANCELLED"
        assert sdk.client.result(wid, timeout=RESULT_TIMEOUT) == {"taskCancelled": "operator stop"}
        seen = wait_for(lambda: sdk.probe.recorded("loop"), "the task code to see its cancellation")
        [refused] = wait_for(lambda: refusals(caplog, task_id), "the worker's refused complete")
    assert seen["beats"] >= 1
    assert (refused.status, refused.current_status) == (409, "CANCELLED")

    view = sdk.client.get_task(task_id)
    assert (view.status, view.output, view.error, view.cancel_reason) == ("CANCELLED", None, None, "operator stop")
    events = sdk.history(wid)
    types = [e["type"] for e in events]
    assert event_data(events, "TASK_CANCELLED") == [
        {"taskExecutionId": task_id, "taskType": "heartbeat-loop", "reason": "operator stop"}
    ]
    assert count(types, "TASK_COMPLETED") == 0
    assert count(types, "TASK_FAILED") == 0
    assert types[-1] == "WORKFLOW_COMPLETED"
    sdk.http.check(wid)
