"""Every race of semantics.md's table, run concurrently many times.

The many runs (`RUNS` per race, default 100, `STRATOFLOW_RACE_RUNS` to change) happen in processes of their own
(`python -m tests.support.races`), which race real threads released together by a barrier against the domain
services on moto behind one lock with atomic transactions, as the embedded endpoint serves it. Every run asserts the
exact outcome the table requires; after all runs of a race, the invariant checker (settled) covers every execution
and stored item. They get processes of their own because this one hosts the shared local stack of the test run,
whose table models, moto backends and background threads a second data set must not share.

One run of each race also goes through the HTTP API of the local stack (and, for the scheduler's and the stream's
duplicates, through the functions it deploys), asserting the same outcome and the invariant checker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.http import Client, event_data
from tests.support.races import race

REPO = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("STRATOFLOW_RACE_RUNS", "100"))
RACE_BUDGET_SECONDS = 1800
# Groups of about equal cost, one process each.
GROUPS = (
    ("child-completes-vs-cancel-request", "two-pollers", "cancel-task-vs-complete", "scheduler-fires-twice"),
    ("stream-record-twice", "task-completes-while-running", "cancel-timer-vs-fire", "two-cancels-of-a-task"),
    # the timers' last mile: the race through the queue's message and through Scheduler's hand-over
    ("cancel-timer-vs-last-mile", "cancel-timer-vs-hand-over"),
    # the operator controls' races (operators.md)
    ("terminate-vs-complete", "terminate-vs-cascade-cancel", "deadline-vs-own-cancel"),
    ("batch-vs-single-cancels", "stop-vs-running-batch", "event-vs-subscriber-end"),
)
# The outcomes each race may end with (each run asserts more: the events, statuses and errors of its outcome).
ALLOWED = {
    "cancel-timer-vs-fire": {"fired", "cancelled"},
    "cancel-timer-vs-last-mile": {"fired", "cancelled"},
    "cancel-timer-vs-hand-over": {"fired", "cancelled-before-hand-over", "cancelled-after-hand-over"},
    "cancel-task-vs-complete": {"cancelled", "completed"},
    "two-cancels-of-a-task": {"first-won", "first-lost"},
    "child-completes-vs-cancel-request": {"delivered", "failed"},
    "task-completes-while-running": {"release-saw-it", "release-saw-nothing"},
    "two-pollers": {"poller-1", "poller-2"},
    "scheduler-fires-twice": {"fired-once"},
    "stream-record-twice": {"child-cancel", "cascade", "parent-close"},
    "terminate-vs-complete": {"terminated", "completed"},
    "terminate-vs-cascade-cancel": {"asked-first", "terminated-first"},
    "deadline-vs-own-cancel": {"deadline", "own-cancel"},
    "batch-vs-single-cancels": {"batch-won-0", "batch-won-1", "batch-won-2", "batch-won-3"},
    "stop-vs-running-batch": {"stopped", "completed-first"},
    "event-vs-subscriber-end": {"cancelled-then-completed", "completed-first"},
}


@pytest.fixture(scope="module")
def race_results() -> dict[str, Any]:
    """Every race RUNS times, the groups in parallel processes; their JSON results merged."""
    paths = (REPO / "layers" / "stratoflow", REPO / "local", REPO / "sdk" / "src", REPO)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in paths)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.races", "--runs", str(RUNS), *group],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group in GROUPS
    ]
    results: dict[str, Any] = {}
    # All the groups share one deadline inside the test's own budget (RACE_BUDGET_SECONDS): `make test` runs other
    # modules beside this one, and the machine may be shared.
    deadline = time.monotonic() + RACE_BUDGET_SECONDS - 60
    try:
        for process in processes:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            assert out.strip(), f"the race runner printed nothing (exit {process.returncode}):\n{err[-5000:]}"
            results.update(json.loads(out))
    finally:
        for process in processes:  # none outlives a failed fixture
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


# The runs take about a minute on two idle cores; the budget allows for a machine shared with other work.
@pytest.mark.timeout(RACE_BUDGET_SECONDS)
@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_race(race_results: dict[str, Any], name: str) -> None:
    result = race_results[name]
    assert result["failure"] is None, f"{name} failed after {result['runs']} runs:\n{result['failure']}"
    assert result["runs"] == RUNS
    assert set(result["outcomes"]) <= ALLOWED[name], result["outcomes"]


# ---------------------------------------------------------------------- one run of each race through HTTP


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="racer") as executor:
        yield executor


@pytest.fixture
def client(api: Any, local_stack: Any) -> Client:
    return Client(api, local_stack)


def post(client: Client, path: str, body: Any) -> requests.Response:
    """A request on a connection of its own (racing threads must not share one)."""
    api: Any = client.api
    return requests.post(api.base_url + path, json=body, headers={"Authorization": f"Bearer {api.token}"}, timeout=30)


def test_cancel_timer_vs_timer_fires_through_http(client: Client, local_stack: Any, pool: ThreadPoolExecutor) -> None:
    wid = client.start("timer-race")
    client.run(wid, "timer-race", [{"type": "START_TIMER", "timerId": "t", "durationMs": 300_000}])
    client.cancel(wid, "wake up", cascade=False)
    lease = client.claim(wid, "timer-race")["leaseId"]
    payload = {"tenant": "acme", "workflowExecutionId": wid, "timerId": "t"}
    fire, cancel = race(
        pool,
        lambda: local_stack.invoke("FireTimerFunction", payload),
        lambda: post(
            client,
            f"/v1/worker/workflows/{wid}/commands",
            {"leaseId": lease, "commands": [{"type": "CANCEL_TIMER", "timerId": "t"}]},
        ),
    )
    assert cancel.value.status_code == 200, cancel.value.text
    cancelled = [e["type"] for e in cancel.value.json()["events"]]
    assert (fire.value["outcome"], cancelled) in (("fired", []), ("ignored", ["TIMER_CANCELLED"]))
    ends = [t for t in client.types(wid) if t in ("TIMER_FIRED", "TIMER_CANCELLED")]
    assert len(ends) == 1
    client.check(wid)


def test_cancel_task_vs_worker_completes_it_through_http(client: Client, pool: ThreadPoolExecutor) -> None:
    wid = client.start("task-race")
    task_id = f"{wid}.task"
    client.run(wid, "task-race", [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "task-race-work"}])
    lease = client.claim_task(task_id, "task-race-work")
    cancel, complete = race(
        pool,
        lambda: post(client, f"/v1/tasks/{task_id}/cancel", {"reason": "race"}),
        lambda: post(client, f"/v1/worker/tasks/{task_id}/complete", {"leaseId": lease, "output": "done"}),
    )
    codes = sorted([cancel.value.status_code, complete.value.status_code])
    assert codes == [200, 409], (cancel.value.text, complete.value.text)
    loser = cancel.value if cancel.value.status_code == 409 else complete.value
    assert loser.json()["error"]["code"] == "FAILED_PRECONDITION"
    ends = [t for t in client.types(wid) if t in ("TASK_CANCELLED", "TASK_COMPLETED")]
    assert len(ends) == 1
    client.check(wid)


def test_two_cancels_of_the_same_task_through_http(client: Client, pool: ThreadPoolExecutor) -> None:
    wid = client.start("cancel-race")
    task_id = f"{wid}.task"
    client.run(wid, "cancel-race", [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "cancel-race-work"}])
    first, second = race(
        pool,
        lambda: post(client, f"/v1/tasks/{task_id}/cancel", {"reason": "one"}),
        lambda: post(client, f"/v1/tasks/{task_id}/cancel", {"reason": "two"}),
    )
    assert sorted([first.value.status_code, second.value.status_code]) == [200, 409]
    assert client.types(wid).count("TASK_CANCELLED") == 1
    client.check(wid)


def test_child_completes_vs_parent_requests_its_cancel_through_http(client: Client, pool: ThreadPoolExecutor) -> None:
    pid = client.start("child-race")
    child_id = f"{pid}.child"
    client.run(
        pid,
        "child-race",
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": child_id,
                "workflowKind": "child-race-child",
            }
        ],
    )
    client.cancel(pid, "wake up", cascade=False)
    parent_lease = client.claim(pid, "child-race")["leaseId"]
    child_lease = client.claim(child_id, "child-race-child")["leaseId"]
    ask, complete = race(
        pool,
        lambda: post(
            client,
            f"/v1/worker/workflows/{pid}/commands",
            {
                "leaseId": parent_lease,
                "commands": [
                    {
                        "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                        "childExecutionName": "c",
                        "childWorkflowExecutionId": child_id,
                        "reason": "race",
                    }
                ],
            },
        ),
        lambda: post(
            client,
            f"/v1/worker/workflows/{child_id}/commands",
            {"leaseId": child_lease, "commands": [{"type": "COMPLETE_WORKFLOW", "output": "done"}]},
        ),
    )
    assert (ask.value.status_code, complete.value.status_code) == (200, 200)
    histories = client.check(pid)
    in_child = [
        d for d in event_data(histories[child_id], "CANCELLATION_REQUESTED") if d["requestedBy"] == f"workflow:{pid}"
    ]
    failed = event_data(histories[pid], "CHILD_WORKFLOW_CANCELLATION_FAILED")
    assert (len(in_child), len(failed)) in {(1, 0), (0, 1)}
    assert [e["type"] for e in histories[pid]].count("CHILD_WORKFLOW_COMPLETED") == 1


def test_task_completes_while_the_workflow_is_running_through_http(client: Client, pool: ThreadPoolExecutor) -> None:
    wid = client.start("running-race")
    task_id = f"{wid}.task"
    client.run(
        wid,
        "running-race",
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "running-work"},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 100},
        ],
    )
    task_lease = client.claim_task(task_id, "running-work")
    client.wait_for_event(wid, "TIMER_FIRED")
    lease = client.claim(wid, "running-race")["leaseId"]
    complete, release = race(
        pool,
        lambda: post(client, f"/v1/worker/tasks/{task_id}/complete", {"leaseId": task_lease, "output": "done"}),
        lambda: post(client, f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": []}),
    )
    assert (complete.value.status_code, release.value.status_code) == (200, 200)
    assert client.status(wid) == "PENDING"
    claimed = client.claim(wid, "running-race")
    assert "TASK_COMPLETED" in [e["type"] for e in claimed["events"]]
    client.submit(wid, claimed["leaseId"], [{"type": "COMPLETE_WORKFLOW"}])
    client.check(wid)


def test_two_pollers_never_get_the_same_lease_through_http(client: Client, pool: ThreadPoolExecutor) -> None:
    wid = client.start("poll-race")
    body = {"queue": client.queue, "workerId": "w", "kinds": ["poll-race"]}
    first, second = race(
        pool,
        lambda: post(client, "/v1/worker/workflows/poll", body),
        lambda: post(client, "/v1/worker/workflows/poll", body),
    )
    assert sorted([first.value.status_code, second.value.status_code]) == [200, 204]
    winner = first.value if first.value.status_code == 200 else second.value
    assert winner.json()["workflowExecution"]["workflowExecutionId"] == wid
    client.submit(wid, winner.json()["leaseId"], [{"type": "COMPLETE_WORKFLOW"}])
    client.check(wid)


def stream_event(key: tuple[str, str], image: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB stream INSERT record of the outbox item, as Lambda delivers it."""
    return {
        "Records": [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                    "NewImage": image,
                    "SequenceNumber": "1",
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000",
            }
        ]
    }


def test_redelivery_through_the_deployed_handlers(client: Client, local_stack: Any, pool: ThreadPoolExecutor) -> None:
    """The scheduler's and the stream's duplicates, through the functions the stack deploys, after HTTP set-up."""
    pid = client.start("redelivery")
    child_id = f"{pid}.child"
    client.run(
        pid,
        "redelivery",
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": child_id,
                "workflowKind": "redelivery-child",
            },
            {"type": "START_TIMER", "timerId": "t", "durationMs": 300_000},
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": child_id,
                "reason": "twice",
            },
        ],
    )
    payload = {"tenant": "acme", "workflowExecutionId": pid, "timerId": "t"}
    fires = race(
        pool,
        lambda: local_stack.invoke("FireTimerFunction", payload),
        lambda: local_stack.invoke("FireTimerFunction", payload),
    )
    assert sorted(f.value["outcome"] for f in fires) == ["fired", "ignored"]
    key = (f"T#acme#WF#{pid}", "OUTBOX#CHILD_CANCEL#0000000005")
    event = stream_event(key, {"pk": {"S": key[0]}, "sk": {"S": key[1]}})
    deliveries = race(
        pool,
        lambda: local_stack.invoke("PropagateChildCancelFunction", event),
        lambda: local_stack.invoke("PropagateChildCancelFunction", event),
    )
    assert [d.value for d in deliveries] == [{"batchItemFailures": []}] * 2
    histories = client.check(pid)
    assert [e["type"] for e in histories[pid]].count("TIMER_FIRED") == 1
    assert event_data(histories[child_id], "CANCELLATION_REQUESTED") == [
        {"reason": "twice", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
    ]
