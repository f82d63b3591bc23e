"""The races of semantics.md's table, each run many times with real threads released together by a barrier.

Run as a program so the races get a process of their own (no local stack sharing the table models, moto's backends
or the CPU with them):

    python -m tests.support.races --runs 100 [--backend inprocess|endpoint] [race ...]

It prints one JSON object: per race, the number of runs, how often each outcome won, the seconds taken and the first
failure (null when every run held). Every run asserts the exact outcome the table requires; after all runs of a race,
the invariant checker (I1-I4, settled) runs over every run's histories and stored items.

Backends: `inprocess` (default) is moto in this process behind one lock, with the local stack's journaled
TransactWriteItems, so every request is linearizable and every transaction atomic, as behind the embedded endpoint;
`endpoint` is the local stack's `EmbeddedAwsEndpoint` itself (the same, over loopback HTTP, about 3x slower).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from stratoflow import batches, event_delivery, outbox, terminate, timers, workflows
from stratoflow.cancel_on import CancelOnEntry
from stratoflow.clock import parse_iso_ms
from stratoflow.config import Settings
from stratoflow.deadlines import DEADLINE_TIMER_ID
from stratoflow.errors import FailedPrecondition
from stratoflow.runtime import Runtime

from tests.support.domain import Engine, FakeClock, SequentialIds, query_items, scan_items
from tests.support.invariants import check_invariants
from tests.support.template import create_table

TABLE = "stratoflow-races"
REGION = "us-east-1"


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None

    @property
    def status(self) -> str:
        """'ok' or the name of the error raised."""
        return "ok" if self.error is None else type(self.error).__name__


def race(pool: ThreadPoolExecutor, *calls: Callable[[], Any]) -> list[Outcome]:
    """Run the calls at the same moment (a barrier releases them together); the outcome of each, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Outcome:
        barrier.wait(timeout=30)
        try:
            return Outcome(value=call())
        except Exception as error:
            return Outcome(error=error)

    futures = [pool.submit(run, call) for call in calls]
    return [future.result(timeout=60) for future in futures]


def types_of(engine: Engine, wid: str, *types: str) -> list[str]:
    return [t for t in engine.types(wid) if t in types]


def data_of(engine: Engine, wid: str, event_type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in engine.history(wid) if e["type"] == event_type]


def data_in(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == event_type]


def outbox_keys(engine: Engine, wid: str, prefix: str = "OUTBOX#") -> list[tuple[str, str]]:
    """The pending outbox items of an execution (or of another owner named `<KIND>#<id>`, e.g. `BATCH#<id>`)."""
    owner = wid if "#" in wid else f"WF#{wid}"
    # Only the outbox items: the partition's events would make every drain round read the whole history.
    items = query_items(engine.dynamodb, engine.settings.table_name, f"T#{engine.tenant}#{owner}", prefix)
    return [(item["pk"], item["sk"]) for item in items]


def drain(engine: Engine, wids: list[str]) -> None:
    """Carry out what is left in these executions' outboxes, as the stream would."""
    for _ in range(5):
        pending = [key for wid in wids for key in outbox_keys(engine, wid)]
        if not pending:
            return
        for key in pending:
            outbox.process_outbox_item(engine.rt, *key, RecordingQueue())
    raise AssertionError(f"outbox items left in {wids}")


# ---------------------------------------------------------------------- the races: one run each, returns (roots, label)

Run = tuple[list[str], str]
_COUNTERS = {"two-cancels": itertools.count(), "stream": itertools.count()}  # variants taken in turn


def cancel_timer_vs_fire(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """Exactly one of TIMER_FIRED / TIMER_CANCELLED."""
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "START_TIMER", "timerId": "t", "durationMs": 300_000}])
    engine.cancel(wid, "wake up", cascade=False)  # makes it ready, so its worker can cancel the timer
    lease = engine.claim(wid)
    fire, cancel = race(
        pool,
        lambda: engine.fire(wid, "t"),
        lambda: engine.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}]),
    )
    assert fire.error is None and cancel.error is None, (fire, cancel)
    cancelled = [e["type"] for e in cancel.value["events"]]
    assert (fire.value, cancelled) in (("fired", []), ("ignored", ["TIMER_CANCELLED"])), (fire, cancel)
    expected = ["TIMER_FIRED"] if fire.value == "fired" else ["TIMER_CANCELLED"]
    assert types_of(engine, wid, "TIMER_FIRED", "TIMER_CANCELLED") == expected
    return [wid], "fired" if fire.value == "fired" else "cancelled"


class RecordingTimerQueue:
    """The timer queue in memory: what was sent down the last mile, to deliver it by hand."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        with self._lock:
            self.sent.append(message)


def _deliver_message(rt: Runtime, message: Any) -> str:
    """fire-timer handling a timer queue message, its clock already past the due time (nothing to wait)."""
    body = message.body
    fire_at = parse_iso_ms(body["fireAt"])
    return timers.deliver_last_mile(
        rt, body["tenant"], body["workflowExecutionId"], body["timerId"], fire_at, _never_wait
    )


def _never_wait(seconds: float) -> None:
    raise AssertionError(f"the clock is past the due time, yet asked to wait {seconds} s")


def _cancelling_timer(engine: Engine, duration_ms: int, claim_before_due_ms: int) -> tuple[str, str, int]:
    """A workflow with a started timer, its clock moved to `claim_before_due_ms` before the timer is due, then
    cancelled (which makes it ready, so its worker can cancel the timer) and claimed."""
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "START_TIMER", "timerId": "t", "durationMs": duration_ms}])
    items = query_items(engine.dynamodb, engine.settings.table_name, f"T#{engine.tenant}#WF#{wid}")
    fire_at = int(next(item["fireAtMs"] for item in items if item["sk"] == "TIMER#t"))
    engine.clock.set(max(engine.clock.now_ms(), fire_at - claim_before_due_ms))
    engine.cancel(wid, "wake up", cascade=False)
    return wid, engine.claim(wid), fire_at


def cancel_timer_vs_last_mile(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """The last mile: the timer's message, delivered twice at once, against CANCEL_TIMER. Exactly one of TIMER_FIRED
    / TIMER_CANCELLED; at most one delivery fires it."""
    wid, lease, fire_at = _cancelling_timer(engine, 10_000, 0)
    queue = RecordingTimerQueue()
    rt = replace(engine.rt, timer_queue=queue)
    timers.on_timer_started(
        rt,
        {
            "tenant": engine.tenant,
            "workflowExecutionId": wid,
            "timerId": "t",
            "fireAtMs": fire_at,
            "durationMs": 10_000,
        },
    )
    (message,) = queue.sent
    engine.clock.set(max(engine.clock.now_ms(), fire_at))
    first, second, cancel = race(
        pool,
        lambda: _deliver_message(engine.rt, message),
        lambda: _deliver_message(engine.rt, message),
        lambda: engine.submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}]),
    )
    assert first.error is None and second.error is None and cancel.error is None, (first, second, cancel)
    fired = sorted(str(o.value) for o in (first, second))
    cancelled = [e["type"] for e in cancel.value["events"]]
    assert (fired, cancelled) in ((["fired", "ignored"], []), (["ignored", "ignored"], ["TIMER_CANCELLED"])), (
        fired,
        cancel,
    )
    expected = ["TIMER_CANCELLED"] if cancelled else ["TIMER_FIRED"]
    assert types_of(engine, wid, "TIMER_FIRED", "TIMER_CANCELLED") == expected
    return [wid], "cancelled" if cancelled else "fired"


def cancel_timer_vs_hand_over(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """Scheduler's path: the hand-over and the delivery of the message it sends, one after the other as the queue
    would bring it, against CANCEL_TIMER. The cancel may land before the hand-over reads the timer, between the
    hand-over and the delivery, or after the delivery fired it. Exactly one of TIMER_FIRED / TIMER_CANCELLED."""
    wid, lease, fire_at = _cancelling_timer(engine, 3_600_000, 0)
    queue = RecordingTimerQueue()
    # Scheduler ran the hand-over 30 s after its time, a minute before the timer is due (its own clock); the queue
    # brings the message once the timer is due, when the worker cancels (the engine's clock).
    handing_over = replace(engine.rt, timer_queue=queue, clock=FakeClock(fire_at - 60_000))
    delivering = engine.rt

    def hand_over_then_deliver() -> tuple[str, list[str]]:
        outcome = timers.hand_over_timer(handing_over, engine.tenant, wid, "t", fire_at, _never_wait)
        return outcome, [_deliver_message(delivering, message) for message in queue.sent]

    path, cancel = race(pool, hand_over_then_deliver, lambda: engine.submit(wid, lease, [cancel_command("t")]))
    assert path.error is None and cancel.error is None, (path, cancel)
    hand_over, delivered = path.value
    assert hand_over in ("handed-over", "ignored"), hand_over
    assert len(queue.sent) == (1 if hand_over == "handed-over" else 0)
    cancelled = [e["type"] for e in cancel.value["events"]] == ["TIMER_CANCELLED"]
    assert delivered == ([] if hand_over == "ignored" else ["ignored" if cancelled else "fired"]), delivered
    assert cancelled or hand_over == "handed-over"
    expected = ["TIMER_CANCELLED"] if cancelled else ["TIMER_FIRED"]
    assert types_of(engine, wid, "TIMER_FIRED", "TIMER_CANCELLED") == expected
    if cancelled:
        return [wid], "cancelled-before-hand-over" if hand_over == "ignored" else "cancelled-after-hand-over"
    return [wid], "fired"


def cancel_command(timer_id: str) -> dict[str, str]:
    return {"type": "CANCEL_TIMER", "timerId": timer_id}


def scheduled_task(engine: Engine, claim: bool) -> tuple[str, str, str | None]:
    wid = engine.start()["workflowExecutionId"]
    task_id = f"{wid}.task"
    engine.run(wid, [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "work"}])
    return wid, task_id, engine.claim_task(task_id) if claim else None


def cancel_task_vs_complete(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """Exactly one of TASK_CANCELLED / TASK_COMPLETED; the loser gets 409 (FAILED_PRECONDITION)."""
    wid, task_id, lease = scheduled_task(engine, claim=True)
    assert lease is not None
    cancel, complete = race(
        pool, lambda: engine.cancel_task(task_id, "race"), lambda: engine.complete_task(task_id, lease, "done")
    )
    assert (cancel.status, complete.status) in (("ok", "FailedPrecondition"), ("FailedPrecondition", "ok")), (
        cancel,
        complete,
    )
    winner = "CANCELLED" if cancel.error is None else "COMPLETED"
    loser = complete if cancel.error is None else cancel
    assert isinstance(loser.error, FailedPrecondition) and loser.error.details == {"currentStatus": winner}
    assert engine.task(task_id)["status"] == winner
    expected = ["TASK_CANCELLED"] if winner == "CANCELLED" else ["TASK_COMPLETED"]
    assert types_of(engine, wid, "TASK_CANCELLED", "TASK_COMPLETED", "TASK_FAILED") == expected
    return [wid], winner.lower()


def two_cancels_of_a_task(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """One 200, one 409; one TASK_CANCELLED (the task PENDING or RUNNING, alternately)."""
    running = next(_COUNTERS["two-cancels"]) % 2 == 1  # PENDING and RUNNING tasks alternately
    wid, task_id, _ = scheduled_task(engine, claim=running)
    first, second = race(pool, lambda: engine.cancel_task(task_id, "one"), lambda: engine.cancel_task(task_id, "two"))
    assert sorted([first.status, second.status]) == ["FailedPrecondition", "ok"], (first, second)
    loser = first if first.error is not None else second
    assert isinstance(loser.error, FailedPrecondition) and loser.error.details == {"currentStatus": "CANCELLED"}
    winner = first if first.error is None else second
    assert winner.value == {"taskExecutionId": task_id, "status": "CANCELLED"}
    reason = "one" if winner is first else "two"  # the event carries the winner's reason
    assert data_of(engine, wid, "TASK_CANCELLED") == [
        {"taskExecutionId": task_id, "taskType": "work", "reason": reason}
    ]
    assert engine.task(task_id)["cancelReason"] == reason
    return [wid], f"first-{'won' if first.error is None else 'lost'}"


def child_completes_vs_cancel_request(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """Either CANCELLATION_REQUESTED in the child or CHILD_WORKFLOW_CANCELLATION_FAILED in the parent, and exactly
    one CHILD_WORKFLOW_COMPLETED."""
    pid = engine.start()["workflowExecutionId"]
    child_id = f"{pid}.child"
    engine.run(
        pid,
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": child_id,
                "workflowKind": "child",
            }
        ],
    )
    engine.cancel(pid, "wake up", cascade=False)
    parent_lease, child_lease = engine.claim(pid), engine.claim(child_id)
    request = {
        "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
        "childExecutionName": "c",
        "childWorkflowExecutionId": child_id,
        "reason": "race",
    }

    def ask_and_propagate() -> list[str]:
        engine.submit(pid, parent_lease, [request])
        return [outbox.process_outbox_item(engine.rt, *key) for key in outbox_keys(engine, pid, "OUTBOX#CHILD_CANCEL#")]

    ask, complete = race(
        pool,
        ask_and_propagate,
        lambda: engine.submit(child_id, child_lease, [{"type": "COMPLETE_WORKFLOW", "output": "done"}]),
    )
    assert ask.error is None and complete.error is None, (ask, complete)
    parent = engine.history(pid)
    in_child = [d for d in data_of(engine, child_id, "CANCELLATION_REQUESTED") if d["requestedBy"] == f"workflow:{pid}"]
    failed = data_in(parent, "CHILD_WORKFLOW_CANCELLATION_FAILED")
    assert (len(in_child), len(failed)) in ((1, 0), (0, 1)), (in_child, failed)
    assert ask.value == (["delivered"] if in_child else ["failed"])
    outcomes = [e["type"] for e in parent if e["type"] in ("CHILD_WORKFLOW_COMPLETED", "CHILD_WORKFLOW_FAILED")]
    assert outcomes == ["CHILD_WORKFLOW_COMPLETED"]
    return [pid], "delivered" if in_child else "failed"


def task_completes_while_running(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """The workflow ends PENDING after its release, never stuck WAITING."""
    wid = engine.start()["workflowExecutionId"]
    task_id = f"{wid}.task"
    engine.run(
        wid,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "work"},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 1},
        ],
    )
    task_lease = engine.claim_task(task_id)
    assert engine.fire(wid, "tick") == "fired"
    lease = engine.claim(wid)
    complete, release = race(
        pool,
        lambda: engine.complete_task(task_id, task_lease, "done"),
        lambda: engine.submit(wid, lease, [{"type": "RECORD_OPERATION", "operationName": "step", "result": 1}]),
    )
    assert complete.error is None and release.error is None, (complete, release)
    assert release.value["status"] in ("PENDING", "WAITING")
    item = engine.item_of(wid)  # whichever came first: ready, with the completion unseen; never stuck WAITING
    assert item["status"] == "PENDING" and item.get("dispatchAt") is not None, item
    assert int(item["lastSeq"]) > int(item["seenSeq"]), item
    return [wid], f"release-saw-{'it' if release.value['status'] == 'PENDING' else 'nothing'}"


def two_pollers(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """Never the same lease: of two workflow polls and two task polls, exactly one of each wins."""
    queue = f"q-{engine.rt.ids.new_id()}"
    wid = engine.start(queue=queue)["workflowExecutionId"]
    task_id = engine.create_task(queue=queue)["taskExecutionId"]
    polls = race(
        pool,
        lambda: engine.poll(queue),
        lambda: engine.poll(queue),
        lambda: engine.poll_task(queue),
        lambda: engine.poll_task(queue),
    )
    assert all(p.error is None for p in polls), polls
    workflows = [p.value for p in polls[:2] if p.value is not None]
    tasks = [p.value for p in polls[2:] if p.value is not None]
    assert len(workflows) == 1 and len(tasks) == 1, polls
    assert workflows[0]["workflowExecution"]["workflowExecutionId"] == wid
    assert tasks[0]["task"]["taskExecutionId"] == task_id and tasks[0]["task"]["attempt"] == 1
    assert engine.item_of(wid)["leaseId"] == workflows[0]["leaseId"]
    assert engine.task_item_of(task_id)["leaseId"] == tasks[0]["leaseId"]
    return [wid], f"poller-{1 + [p.value is not None for p in polls[:2]].index(True)}"


def scheduler_fires_twice(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """One TIMER_FIRED."""
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "START_TIMER", "timerId": "t", "durationMs": 300_000}])
    fires = race(pool, lambda: engine.fire(wid, "t"), lambda: engine.fire(wid, "t"))
    assert sorted(str(f.value) for f in fires) == ["fired", "ignored"], fires
    assert types_of(engine, wid, "TIMER_FIRED") == ["TIMER_FIRED"]
    return [wid], "fired-once"


def deliver_twice(engine: Engine, pool: ThreadPoolExecutor, key: tuple[str, str], redrive: bool) -> list[str]:
    """The stream's record (with the item's NewImage) delivered twice at once, or (`redrive`) racing the sweeper's
    re-drive, which has the keys only and reads the item."""
    image = engine.item(*key)
    outcomes = race(
        pool,
        lambda: outbox.process_outbox_item(engine.rt, *key, None, image),
        lambda: outbox.process_outbox_item(engine.rt, *key, None, None if redrive else image),
    )
    assert all(o.error is None for o in outcomes), outcomes
    return sorted(str(o.value) for o in outcomes)


def stream_record_twice(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """One effect: each kind of outbox record (child cancel, cascade, parent close) delivered twice at once."""
    turn = next(_COUNTERS["stream"])
    variant, redrive = turn % 3, (turn // 3) % 2 == 1  # each kind in turn, each as a redelivery and as a re-drive
    pid = engine.start()["workflowExecutionId"]
    child_id = f"{pid}.child"
    schedule_child = {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": "c",
        "childWorkflowExecutionId": child_id,
        "workflowKind": "child",
    }
    if variant == 0:
        engine.run(
            pid,
            [
                schedule_child,
                {
                    "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                    "childExecutionName": "c",
                    "childWorkflowExecutionId": child_id,
                    "reason": "twice",
                },
            ],
        )
        assert deliver_twice(engine, pool, outbox_keys(engine, pid)[0], redrive) == ["delivered", "done"]
        assert data_of(engine, child_id, "CANCELLATION_REQUESTED") == [
            {"reason": "twice", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
        ]
        return [pid], "child-cancel"
    if variant == 1:
        grandchild = f"{pid}.grandchild"
        engine.run(pid, [schedule_child])
        engine.run(
            child_id,
            [
                {
                    "type": "SCHEDULE_CHILD_WORKFLOW",
                    "childExecutionName": "g",
                    "childWorkflowExecutionId": grandchild,
                    "workflowKind": "child",
                }
            ],
        )
        engine.cancel(pid, "twice")
        assert deliver_twice(engine, pool, outbox_keys(engine, pid)[0], redrive) in (
            ["cascaded", "cascaded"],
            ["cascaded", "done"],
        )
        drain(engine, [pid, child_id, grandchild])
        for wid in (child_id, grandchild):
            assert data_of(engine, wid, "CANCELLATION_REQUESTED") == [
                {"reason": "twice", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
            ], wid
        return [pid], "cascade"
    task_id = f"{pid}.task"
    engine.run(
        pid,
        [
            schedule_child,
            {"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "work"},
            {"type": "START_TIMER", "timerId": "t", "durationMs": 300_000},
            {"type": "COMPLETE_WORKFLOW"},
        ],
    )
    at_end = engine.history(pid)
    assert deliver_twice(engine, pool, outbox_keys(engine, pid)[0], redrive) in (
        ["closed", "closed"],
        ["closed", "done"],
    )
    drain(engine, [pid])
    assert engine.history(pid) == at_end
    assert engine.task(task_id)["status"] == "CANCELLED"
    assert data_of(engine, child_id, "CANCELLATION_REQUESTED") == [
        {"reason": "parent closed", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
    ]
    return [pid], "parent-close"


# ---------------------------------------------------------------------- the operator controls' races (operators.md)


class RecordingQueue:
    """The batch queue: records slice messages (the races deliver them themselves)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []

    def send(self, tenant: str, batch_id: str, slice_number: int) -> None:
        self.sent.append((tenant, batch_id, slice_number))


def _terminal_events(engine: Engine, wid: str) -> list[str]:
    ends = ("WORKFLOW_COMPLETED", "WORKFLOW_FAILED", "WORKFLOW_CANCELLED", "WORKFLOW_TERMINATED")
    return [t for t in engine.types(wid) if t in ends]


def terminate_vs_complete(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """Exactly one terminal event; the loser gets FAILED_PRECONDITION with the winner's status."""
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    kill, complete = race(
        pool,
        lambda: terminate.terminate_workflow(engine.rt, engine.tenant, wid, reason="race", cascade=True),
        lambda: engine.submit(wid, lease, [{"type": "COMPLETE_WORKFLOW", "output": "done"}]),
    )
    assert sorted([kill.status, complete.status]) == ["FailedPrecondition", "ok"], (kill, complete)
    winner = "TERMINATED" if kill.error is None else "COMPLETED"
    loser = complete if kill.error is None else kill
    assert isinstance(loser.error, FailedPrecondition) and loser.error.details == {"currentStatus": winner}
    assert _terminal_events(engine, wid) == [f"WORKFLOW_{winner}"]
    assert engine.types(wid)[-1] == f"WORKFLOW_{winner}"
    return [wid], winner.lower()


def terminate_vs_cascade_cancel(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """A cascade cancel reaching a child while the child is terminated: it ends TERMINATED, nothing follows."""
    pid = engine.start()["workflowExecutionId"]
    child_id = f"{pid}.child"
    engine.run(
        pid,
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": child_id,
                "workflowKind": "child",
            }
        ],
    )
    engine.cancel(pid, "cascade")
    (cascade_key,) = outbox_keys(engine, pid, "OUTBOX#CASCADE#")
    cascade, kill = race(
        pool,
        lambda: outbox.process_outbox_item(engine.rt, *cascade_key),
        lambda: terminate.terminate_workflow(engine.rt, engine.tenant, child_id, reason="race", cascade=True),
    )
    assert cascade.error is None and kill.error is None, (cascade, kill)
    drain(engine, [pid, child_id])
    child = engine.types(child_id)
    assert child[-1] == "WORKFLOW_TERMINATED" and _terminal_events(engine, child_id) == ["WORKFLOW_TERMINATED"]
    assert child.count("CANCELLATION_REQUESTED") <= 1
    reports = data_of(engine, pid, "CHILD_WORKFLOW_FAILED")
    assert [(r["terminated"], r["cancelled"]) for r in reports] == [(True, False)]
    return [pid], "asked-first" if "CANCELLATION_REQUESTED" in child else "terminated-first"


def deadline_vs_own_cancel(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """The cleanup deadline fires while the workflow submits CANCEL_WORKFLOW: exactly one terminal event."""
    wid = engine.start()["workflowExecutionId"]
    workflows.cancel_workflow(engine.rt, engine.tenant, wid, reason="stop", cascade=True, cleanup_timeout_ms=1_000)
    lease = engine.claim(wid)
    engine.clock.advance(1_000)
    fire, cancel = race(
        pool,
        lambda: engine.fire(wid, DEADLINE_TIMER_ID),
        lambda: engine.submit(wid, lease, [{"type": "CANCEL_WORKFLOW", "reason": "cleaned up"}]),
    )
    assert fire.error is None, fire
    if fire.value == "terminated":
        assert isinstance(cancel.error, FailedPrecondition) and cancel.error.details == {"currentStatus": "TERMINATED"}
        expected = "WORKFLOW_TERMINATED"
    else:
        assert (fire.value, cancel.error) == ("cancelled", None), (fire, cancel)
        expected = "WORKFLOW_CANCELLED"
    assert _terminal_events(engine, wid) == [expected]
    drain(engine, [wid])
    return [wid], "deadline" if expected == "WORKFLOW_TERMINATED" else "own-cancel"


def batch_vs_single_cancels(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """A batch and single cancels of the same executions: each is asked once; the batch counts what it changed."""
    kind = f"b-{engine.rt.ids.new_id()}"
    wids = [engine.start(kind=kind)["workflowExecutionId"] for _ in range(3)]
    engine.clock.advance(1)
    queue = RecordingQueue()
    batch = batches.create_batch(
        engine.rt,
        engine.tenant,
        batches.BatchRequest("CANCEL", {"kind": kind}, "batch", True, None, 50),
    )
    batch_id = batch["batchId"]
    outcomes = race(
        pool,
        lambda: batches.run_slice(engine.rt, queue, engine.tenant, batch_id, 1, sleep=lambda _: None),
        *[lambda wid=wid: engine.cancel(wid, "single") for wid in wids],
    )
    assert all(o.error is None for o in outcomes), outcomes
    drain(engine, [*wids, f"BATCH#{batch_id}"])
    view = batches.get_batch(engine.rt, engine.tenant, batch_id)
    assert (view["status"], view["matched"]) == ("COMPLETED", 3), view
    by_batch = 0
    for wid in wids:
        (request,) = data_of(engine, wid, "CANCELLATION_REQUESTED")
        by_batch += request["requestedBy"] == f"batch:{batch_id}"
    assert (view["succeeded"], view["skipped"], view["failed"]) == (by_batch, 3 - by_batch, 0), view
    return wids, f"batch-won-{by_batch}"


def stop_vs_running_batch(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """`stop` while a slice runs: nothing is handled after the stop commits, and the counts match the outcomes."""
    kind = f"s-{engine.rt.ids.new_id()}"
    wids = [engine.start(kind=kind)["workflowExecutionId"] for _ in range(4)]
    engine.clock.advance(1)
    queue = RecordingQueue()
    batch_id = batches.create_batch(
        engine.rt, engine.tenant, batches.BatchRequest("CANCEL", {"kind": kind}, "batch", True, None, 50)
    )["batchId"]
    run, stop = race(
        pool,
        lambda: batches.run_slice(engine.rt, queue, engine.tenant, batch_id, 1, sleep=lambda _: None),
        lambda: batches.stop_batch(engine.rt, engine.tenant, batch_id),
    )
    assert run.error is None, run
    view = batches.get_batch(engine.rt, engine.tenant, batch_id)
    handled = batches.list_items(engine.rt, engine.tenant, batch_id, outcome=None, limit=100, next_token=None)["items"]
    assert view["succeeded"] == len(handled) == sum(engine.status(w) == "CANCELLING" for w in wids), view
    if stop.error is None:
        assert view["status"] == "STOPPED" and run.value in ("finished", "completed"), (view, run)
        label = "stopped"
    else:
        assert isinstance(stop.error, FailedPrecondition) and view["status"] == "COMPLETED", (stop, view)
        assert view["succeeded"] == 4
        label = "completed-first"
    drain(engine, [*wids, f"BATCH#{batch_id}"])
    return wids, label


def event_vs_subscriber_end(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """An event for a subscriber that completes at the same moment: at most one request, nothing after the end."""
    event_type = f"e-{engine.rt.ids.new_id()}"
    wid = str(
        workflows.start_workflow(
            engine.rt,
            engine.tenant,
            kind="sub",
            queue="default",
            input_value=None,
            cancel_on=[CancelOnEntry(eventType=event_type)],
        )["workflowExecutionId"]
    )
    lease = engine.claim(wid)
    engine.clock.advance(1)
    event_id = f"{wid}.event"
    deliver, complete = race(
        pool,
        lambda: event_delivery.receive_bus_event(
            engine.rt, engine.tenant, event_id=event_id, event_type=event_type, data={}
        ),
        lambda: engine.submit(wid, lease, [{"type": "COMPLETE_WORKFLOW", "output": "done"}]),
    )
    assert deliver.error is None and complete.error is None, (deliver, complete)
    types = engine.types(wid)
    assert types[-1] == "WORKFLOW_COMPLETED" and _terminal_events(engine, wid) == ["WORKFLOW_COMPLETED"]
    assert deliver.value == types.count("CANCELLATION_REQUESTED") in (0, 1)
    again = event_delivery.receive_bus_event(
        engine.rt, engine.tenant, event_id=event_id, event_type=event_type, data={}
    )
    assert again == 0 and engine.types(wid) == types
    drain(engine, [wid])
    return [wid], "cancelled-then-completed" if deliver.value else "completed-first"


RACES: dict[str, Callable[[Engine, ThreadPoolExecutor], Run]] = {
    "terminate-vs-complete": terminate_vs_complete,
    "terminate-vs-cascade-cancel": terminate_vs_cascade_cancel,
    "deadline-vs-own-cancel": deadline_vs_own_cancel,
    "batch-vs-single-cancels": batch_vs_single_cancels,
    "stop-vs-running-batch": stop_vs_running_batch,
    "event-vs-subscriber-end": event_vs_subscriber_end,
    "cancel-timer-vs-fire": cancel_timer_vs_fire,
    "cancel-timer-vs-last-mile": cancel_timer_vs_last_mile,
    "cancel-timer-vs-hand-over": cancel_timer_vs_hand_over,
    "cancel-task-vs-complete": cancel_task_vs_complete,
    "two-cancels-of-a-task": two_cancels_of_a_task,
    "child-completes-vs-cancel-request": child_completes_vs_cancel_request,
    "task-completes-while-running": task_completes_while_running,
    "two-pollers": two_pollers,
    "scheduler-fires-twice": scheduler_fires_twice,
    "stream-record-twice": stream_record_twice,
}


# ---------------------------------------------------------------------- running them


def run_race(name: str, runs: int, engine: Engine, pool: ThreadPoolExecutor) -> dict[str, Any]:
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    failure = None
    try:
        for _ in range(runs):
            _, label = RACES[name](engine, pool)
            outcomes[label] += 1
        check_everything(engine)
    except Exception:
        failure = traceback.format_exc()
    return {
        "runs": sum(outcomes.values()),
        "outcomes": dict(outcomes),
        "seconds": round(time.monotonic() - started, 2),
        "failure": failure,
    }


def check_everything(engine: Engine) -> None:
    """The invariant checker, settled, over every execution of the race's table: histories as the API pages them,
    and every stored item."""
    items = scan_items(engine.dynamodb, engine.settings.table_name)
    histories = {
        item["workflowExecutionId"]: engine.history(item["workflowExecutionId"]) for item in items if item["sk"] == "WF"
    }
    check_invariants(histories, stored_items=items, tenant=engine.tenant, settled=True)


@contextmanager
def inprocess_aws() -> Iterator[Any]:
    """moto in this process, one request at a time, with journaled (atomic, O(transaction)) transactions."""
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415
    from moto.core.botocore_stubber import BotocoreStubber  # noqa: PLC0415
    from stratoflow_local.moto_patches import moto_patched  # noqa: PLC0415

    lock = threading.RLock()
    unlocked = BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return unlocked(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]
    try:
        # The embedded endpoint's patches; every request is serialized by `locked`, as moto_queries requires.
        with moto_patched(), mock_aws():
            yield boto3.client("dynamodb", region_name=REGION), None
    finally:
        BotocoreStubber.__call__ = unlocked  # type: ignore[method-assign]


@contextmanager
def endpoint_aws() -> Iterator[Any]:
    """The local stack's embedded endpoint: moto on loopback behind one lock."""
    import boto3  # noqa: PLC0415
    from stratoflow_local.embedded_endpoint import EmbeddedAwsEndpoint  # noqa: PLC0415

    with EmbeddedAwsEndpoint() as endpoint:
        yield boto3.client("dynamodb", **endpoint.client_kwargs()), endpoint.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--backend", choices=("inprocess", "endpoint"), default="inprocess")
    parser.add_argument("races", nargs="*", default=list(RACES))
    args = parser.parse_args(argv)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        }
    )
    from stratoflow.services import build_runtime  # noqa: PLC0415

    backend = inprocess_aws if args.backend == "inprocess" else endpoint_aws
    results: dict[str, Any] = {}
    with backend() as (dynamodb, host), ThreadPoolExecutor(max_workers=4, thread_name_prefix="racer") as pool:
        for name in args.races:
            table = f"{TABLE}-{name}"  # a table per race keeps the final Scan and moto's index queries small
            create_table(dynamodb, table)
            settings = Settings(table_name=table, aws_region=REGION, aws_endpoint_url=host)
            rt = build_runtime(settings, clock=FakeClock(), ids=SequentialIds("r"))
            results[name] = run_race(name, args.runs, Engine(rt, dynamodb, tenant="acme"), pool)
    json.dump(results, sys.stdout)
    return 1 if any(result["failure"] for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
