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
from dataclasses import dataclass
from typing import Any

from stratoflow import outbox
from stratoflow.config import Settings
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
    items = query_items(engine.dynamodb, engine.settings.table_name, f"T#{engine.tenant}#WF#{wid}")
    return [(item["pk"], item["sk"]) for item in items if item["sk"].startswith(prefix)]


def drain(engine: Engine, wids: list[str]) -> None:
    """Carry out what is left in these executions' outboxes, as the stream would."""
    for _ in range(5):
        pending = [key for wid in wids for key in outbox_keys(engine, wid)]
        if not pending:
            return
        for key in pending:
            outbox.process_outbox_item(engine.rt, *key)
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


def deliver_twice(engine: Engine, pool: ThreadPoolExecutor, key: tuple[str, str]) -> list[str]:
    outcomes = race(
        pool, lambda: outbox.process_outbox_item(engine.rt, *key), lambda: outbox.process_outbox_item(engine.rt, *key)
    )
    assert all(o.error is None for o in outcomes), outcomes
    return sorted(str(o.value) for o in outcomes)


def stream_record_twice(engine: Engine, pool: ThreadPoolExecutor) -> Run:
    """One effect: each kind of outbox record (child cancel, cascade, parent close) delivered twice at once."""
    variant = next(_COUNTERS["stream"]) % 3
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
        assert deliver_twice(engine, pool, outbox_keys(engine, pid)[0]) == ["delivered", "done"]
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
        assert deliver_twice(engine, pool, outbox_keys(engine, pid)[0]) in (
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
    assert deliver_twice(engine, pool, outbox_keys(engine, pid)[0]) in (["closed", "closed"], ["closed", "done"])
    drain(engine, [pid])
    assert engine.history(pid) == at_end
    assert engine.task(task_id)["status"] == "CANCELLED"
    assert data_of(engine, child_id, "CANCELLATION_REQUESTED") == [
        {"reason": "parent closed", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
    ]
    return [pid], "parent-close"


RACES: dict[str, Callable[[Engine, ThreadPoolExecutor], Run]] = {
    "cancel-timer-vs-fire": cancel_timer_vs_fire,
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
    from stratoflow_local import moto_transactions  # noqa: PLC0415

    lock = threading.RLock()
    unlocked = BotocoreStubber.__call__

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return unlocked(self, *args, **kwargs)

    BotocoreStubber.__call__ = locked  # type: ignore[method-assign]
    moto_transactions.install()
    try:
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION), None
    finally:
        moto_transactions.uninstall()
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
    from stratoflow.dal.items import bind  # noqa: PLC0415

    backend = inprocess_aws if args.backend == "inprocess" else endpoint_aws
    results: dict[str, Any] = {}
    with backend() as (dynamodb, host), ThreadPoolExecutor(max_workers=4, thread_name_prefix="racer") as pool:
        for name in args.races:
            table = f"{TABLE}-{name}"  # a table per race keeps the final Scan and moto's index queries small
            create_table(dynamodb, table)
            bind(table, region=REGION, host=host)
            rt = Runtime(Settings(table_name=table), FakeClock(), SequentialIds("r"))
            results[name] = run_race(name, args.runs, Engine(rt, dynamodb, tenant="acme"), pool)
    json.dump(results, sys.stdout)
    return 1 if any(result["failure"] for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
