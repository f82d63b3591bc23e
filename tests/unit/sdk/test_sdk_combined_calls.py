"""Combined calls in the SDK: the Client's report-and-poll methods, and a Worker that asks for its next piece of work
when it reports a result, goes straight on with what it got, and runs activations of different executions at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from typing import Any

import pytest
from sdk_fake_server import FakeServer, FakeTransport
from sdk_harness import BASE_URL, wait_until
from stratoflow_sdk import Client, PollRequest, TaskStatus, TransportResponse, Worker, WorkflowContext, task, workflow
from stratoflow_sdk._types import WorkflowStatus

SLOW_POLL = 30.0  # an empty poll waits this long: work found within a test's timeout came from a wake-up or `next`


@task(kind="inc")
def inc(value: int) -> int:
    return value + 1


@workflow(kind="two-steps")
async def two_steps(ctx: WorkflowContext, value: int) -> int:
    value = await ctx.schedule_task("inc", value)
    return await ctx.schedule_task("inc", value)


@workflow(kind="echo")
async def echo(ctx: WorkflowContext, value: Any) -> Any:
    return value


@pytest.fixture
def make_worker() -> Iterator[Callable[..., Worker]]:
    """Started workers on a given client (polling every SLOW_POLL unless told otherwise), stopped after the test."""
    with ExitStack() as running:

        def make(client: Client, **options: Any) -> Worker:
            settings: dict[str, Any] = {"poll_interval": SLOW_POLL, "heartbeat_interval": 0.02, **options}
            return running.enter_context(Worker(client, queue="default", **settings))

        yield make


def bodies(server: FakeServer, pattern: str) -> list[Any]:
    return [request.body for request in server.requests_to("POST", pattern)]


# --- the Client --------------------------------------------------------------------------------------------------


def test_complete_and_poll_sends_poll_next_and_returns_the_next_task(client: Client, server: FakeServer) -> None:
    first = client.create_task("inc", 1).task_execution_id
    second = client.create_task("inc", 2).task_execution_id
    lease = server.claim_task(first)
    poll = PollRequest("default", "w-1", kinds=["inc"], lease_ms=5000)

    report = client.complete_task_and_poll(first, lease, 2, poll)

    assert report.status == TaskStatus.COMPLETED
    assert report.next is not None and report.next.task.task_execution_id == second
    assert server.tasks[second].status == "RUNNING" and server.tasks[second].lease_id == report.next.lease_id
    (sent,) = bodies(server, f"/v1/worker/tasks/{first}/complete")
    assert sent == {
        "leaseId": lease,
        "output": 2,
        "pollNext": {"queue": "default", "workerId": "w-1", "kinds": ["inc"], "leaseMs": 5000},
    }
    last = client.fail_task_and_poll(second, report.next.lease_id, {"message": "no"}, poll, retryable=False)
    assert (last.status, last.next) == (TaskStatus.FAILED, None)


def test_the_plain_calls_send_no_poll_next(client: Client, server: FakeServer) -> None:
    created = client.create_task("inc", 1).task_execution_id
    lease = server.claim_task(created)
    assert client.complete_task(created, lease, 2) == TaskStatus.COMPLETED
    assert bodies(server, f"/v1/worker/tasks/{created}/complete") == [{"leaseId": lease, "output": 2}]


def test_submit_with_poll_next_returns_the_next_activation(client: Client, server: FakeServer) -> None:
    first = client.start_workflow("echo", 1).workflow_execution_id
    second = client.start_workflow("echo", 2).workflow_execution_id
    activation = client.poll_workflow("default", "w-1")
    assert activation is not None and activation.execution.workflow_execution_id == first

    result = client.submit_commands(first, activation.lease_id, [{"type": "COMPLETE_WORKFLOW", "output": 1}],
                                    poll_next=PollRequest("default", "w-1"))

    assert result.status == WorkflowStatus.COMPLETED
    assert result.next is not None and result.next.execution.workflow_execution_id == second
    assert [event.type for event in result.next.events] == ["WORKFLOW_STARTED"]
    assert client.submit_commands(second, result.next.lease_id, []).next is None


def test_a_server_without_combined_calls_answers_no_next(server: FakeServer) -> None:
    old = FakeServer(combined_calls=False)
    client = Client(BASE_URL, "tok", transport=FakeTransport(old))
    first = client.create_task("inc", 1).task_execution_id
    client.create_task("inc", 2)

    report = client.complete_task_and_poll(first, old.claim_task(first), 2, PollRequest("default"))

    assert (report.status, report.next) == (TaskStatus.COMPLETED, None)


# --- the Worker --------------------------------------------------------------------------------------------------


def test_a_task_slot_goes_straight_on_with_the_task_its_report_claimed(
    make_worker: Callable[..., Worker], client: Client, server: FakeServer
) -> None:
    created = [client.create_task("inc", n).task_execution_id for n in range(6)]
    make_worker(client, tasks=[inc], max_concurrent_tasks=1)

    wait_until(lambda: all(server.tasks[t].status == "COMPLETED" for t in created), what="the six tasks")

    assert [server.tasks[t].output for t in created] == [1, 2, 3, 4, 5, 6]
    for task_id in created:
        (sent,) = bodies(server, f"/v1/worker/tasks/{task_id}/complete")
        assert sent["pollNext"] == {"queue": "default", "workerId": sent["pollNext"]["workerId"], "kinds": ["inc"],
                                    "leaseMs": 60_000}
    # One poll claimed the first task; each report claimed the next; the last found nothing and the poller's poll
    # after it came back empty (it then waits SLOW_POLL).
    assert len(server.requests_to("POST", "/v1/worker/tasks/poll")) <= 2


def test_a_worker_on_a_server_without_combined_calls_still_runs_everything(make_worker: Callable[..., Worker]) -> None:
    old = FakeServer(combined_calls=False)
    client = Client(BASE_URL, "tok", transport=FakeTransport(old))
    runs = [client.start_workflow("two-steps", n).workflow_execution_id for n in range(3)]
    make_worker(client, workflows=[two_steps], tasks=[inc], poll_interval=0.005)

    assert [client.result(run, timeout=5, poll_interval=0.005) for run in runs] == [2, 3, 4]


def test_workflows_and_tasks_run_to_completion_on_combined_calls(
    make_worker: Callable[..., Worker], client: Client, server: FakeServer
) -> None:
    runs = [client.start_workflow("two-steps", 10 * n).workflow_execution_id for n in range(5)]
    make_worker(client, workflows=[two_steps], tasks=[inc], max_concurrent_activations=2, max_concurrent_tasks=2)

    assert [client.result(run, timeout=5, poll_interval=0.005) for run in runs] == [2, 12, 22, 32, 42]
    combined = [body for body in bodies(server, r"/v1/worker/workflows/[^/]+/commands") if "pollNext" in body]
    assert combined and all(body["pollNext"]["kinds"] == ["two-steps"] for body in combined)


def test_a_report_asks_for_no_next_task_once_a_poll_came_back_empty(
    make_worker: Callable[..., Worker], client: Client, server: FakeServer
) -> None:
    def polls() -> int:
        return len(server.requests_to("POST", "/v1/worker/tasks/poll"))

    @task(kind="waits-for-the-empty-poll")
    def waits(_: Any) -> str:
        wait_until(lambda: polls() >= 2, what="the poll after the claim")  # it came back empty: no backlog
        return "done"

    created = client.create_task("waits-for-the-empty-poll").task_execution_id
    make_worker(client, tasks=[waits])
    wait_until(lambda: server.tasks[created].status == "COMPLETED", what="the task")

    (sent,) = bodies(server, f"/v1/worker/tasks/{created}/complete")
    assert sent == {"leaseId": sent["leaseId"], "output": "done"}  # no pollNext: it would only find nothing


class GatedTransport(FakeTransport):
    """Holds every command submission for ``hold`` seconds, or until ``parties`` of them are in flight together."""

    def __init__(self, server: FakeServer, *, parties: int = 0, hold: float = 0.0) -> None:
        super().__init__(server)
        self.barrier = threading.Barrier(parties, timeout=5) if parties else None
        self.hold = hold
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def request(self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
                json_body: Any = None, timeout: float | None = None) -> TransportResponse:
        if not url.endswith("/commands"):
            return super().request(method, url, headers=headers, params=params, json_body=json_body, timeout=timeout)
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            time.sleep(self.hold)
            return super().request(method, url, headers=headers, params=params, json_body=json_body, timeout=timeout)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_activations_of_different_executions_run_at_once(
    make_worker: Callable[..., Worker], server: FakeServer
) -> None:
    transport = GatedTransport(server, parties=2)  # a worker processing one activation at a time never gets past it
    client = Client(BASE_URL, "tok", transport=transport)
    runs = [client.start_workflow("echo", n).workflow_execution_id for n in range(2)]
    make_worker(client, workflows=[echo], max_concurrent_activations=2)

    wait_until(lambda: all(server.execution(run).status == "COMPLETED" for run in runs), what="both executions")
    assert transport.most_in_flight == 2


def test_concurrent_activations_are_bounded(make_worker: Callable[..., Worker], server: FakeServer) -> None:
    transport = GatedTransport(server, hold=0.02)
    client = Client(BASE_URL, "tok", transport=transport)
    runs = [client.start_workflow("echo", n).workflow_execution_id for n in range(6)]
    make_worker(client, workflows=[echo], max_concurrent_activations=2, poll_interval=0.005)

    wait_until(lambda: all(server.execution(run).status == "COMPLETED" for run in runs), what="six executions")
    assert transport.most_in_flight <= 2
    assert [server.execution(run).output for run in runs] == list(range(6))


def test_a_stopping_worker_asks_for_no_more_work(client: Client, server: FakeServer) -> None:
    release = threading.Event()

    @task(kind="slow")
    def slow(_: Any) -> str:
        release.wait(5)
        return "done"

    first = client.create_task("slow").task_execution_id
    second = client.create_task("slow").task_execution_id
    worker = Worker(client, tasks=[slow], max_concurrent_tasks=1, poll_interval=SLOW_POLL, shutdown_grace=5.0)
    worker.start()
    wait_until(lambda: server.tasks[first].status == "RUNNING", what="the first task to run")
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    wait_until(lambda: not worker.running, what="the worker to stop polling")
    release.set()
    stopper.join(5)

    assert server.tasks[first].status == "COMPLETED"
    (sent,) = bodies(server, f"/v1/worker/tasks/{first}/complete")
    assert sorted(sent) == ["leaseId", "output"]  # no pollNext: a stopping worker takes no new work
    assert server.tasks[second].status == "PENDING"
