"""The Worker: activations, history paging, chunked and split submissions, tasks, heartbeats and shutdown."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sdk_fake_server import FakeServer, FakeTransport
from sdk_harness import BASE_URL, Harness, wait_until
from sdk_workflows import fan_out, join_all_workflow
from stratoflow_sdk import (
    ApplicationError,
    Client,
    NotFoundError,
    PayloadTooLargeError,
    TaskCancelledError,
    TransportResponse,
    UnauthenticatedError,
    Worker,
    WorkflowContext,
    task,
    task_context,
    workflow,
)
from stratoflow_sdk._definitions import registry, workflow_definition
from stratoflow_sdk._worker import run_workflow_activation


@task(kind="double")
def double(value: int) -> int:
    return 2 * value


@pytest.fixture
def make_worker(client: Client) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def make(**kwargs: Any) -> Worker:
        options = {"poll_interval": 0.005, "heartbeat_interval": 0.02, "shutdown_grace": 5.0, **kwargs}
        worker = Worker(client, queue="default", **options)
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(grace=0)


def task_requests(server: FakeServer, task_id: str, action: str) -> list[Any]:
    return server.requests_to("POST", f"/v1/worker/tasks/{task_id}/{action}")


# --- workflows ---------------------------------------------------------------------------------------------------


def test_a_worker_runs_a_workflow_and_its_tasks_to_completion(make_worker: Callable[..., Worker],
                                                               client: Client) -> None:
    make_worker(workflows=[join_all_workflow], tasks=[double])
    run = client.start_workflow("join-all", [1, 2, 3]).workflow_execution_id
    assert client.result(run, timeout=5, poll_interval=0.005) == 12


def test_a_worker_drives_a_chunked_fan_out_through_its_resume_timer(
        make_worker: Callable[..., Worker], client: Client, server: FakeServer) -> None:
    make_worker(workflows=[fan_out], tasks=[double])
    run = client.start_workflow("fan-out", 30).workflow_execution_id

    def finished() -> bool:
        server.advance(0.01)  # the platform's timers: the 1 ms resume timer is due at once
        return server.execution(run).status == "COMPLETED"

    wait_until(finished, what="the fan-out to finish")
    assert server.execution(run).output == 870
    sizes = [len(s.commands) for s in server.submissions if s.execution_id == run]
    assert sizes[:2] == [25, 6]


def test_a_poll_with_next_after_sequence_reads_the_rest_of_the_history() -> None:
    # Given a history of 8 events and a server that hands out 2 per poll
    h = Harness(FakeServer(poll_page_size=2))
    run = h.start("join-all", [1, 2, 3])
    h.activate()
    for task_record in h.pending_tasks(run):
        h.complete(task_record.id, 2 * task_record.input)
    # When the worker polls
    activation = h.client.poll_workflow("default", "w", kinds=["join-all"])
    assert activation is not None
    assert [e.sequence for e in activation.events] == [1, 2]
    assert activation.next_after_sequence == 2
    result = run_workflow_activation(h.client, activation, h.workflows)
    # Then it read the rest from the history endpoint and replayed all of it
    reads = h.server.requests_to("GET", f"/v1/workflows/{run}/events")
    assert [(r.params["afterSequence"], r.params["limit"]) for r in reads] == [("2", "1000")]
    assert result.status.value == "COMPLETED"
    assert h.server.execution(run).output == 12


def test_a_full_poll_page_followed_by_an_empty_page_is_handled() -> None:
    h = Harness(FakeServer(poll_page_size=1))
    run = h.start("join-all", [4])
    activation = h.client.poll_workflow("default", "w", kinds=["join-all"])
    assert activation is not None and activation.next_after_sequence == 1
    run_workflow_activation(h.client, activation, h.workflows)
    (read,) = h.server.requests_to("GET", f"/v1/workflows/{run}/events")
    assert read.params["afterSequence"] == "1"
    assert [s.commands[0]["type"] for s in h.server.submissions] == ["SCHEDULE_TASK"]


def test_a_submission_refused_with_413_is_halved_until_it_fits() -> None:
    h = Harness(FakeServer(reject_submission=lambda commands: len(commands) > 4))
    run = h.start("fan-out", 10)
    h.activate()
    assert [len(c) for c in h.server.rejected_submissions] == [10, 6]
    (accepted,) = h.activations(run)
    assert [c.get("taskExecutionId") or c.get("timerId") for c in accepted["commands"]] == [
        f"{run}:task:1", f"{run}:task:2", f"{run}:resume:1"]
    # Each resume timer brings the next activation, which regenerates the rest by replay.
    while h.server.started_timers(run):
        (resume,) = h.server.started_timers(run)
        h.fire(run, resume.timer_id)
        h.activate()
    scheduled = [e["data"]["taskExecutionId"] for e in h.history(run) if e["type"] == "TASK_SCHEDULED"]
    assert scheduled == [f"{run}:task:{n}" for n in range(1, 11)]
    resumes = [e["data"]["timerId"] for e in h.history(run) if e["type"] == "TIMER_STARTED"]
    assert resumes == [f"{run}:resume:{n}" for n in range(1, len(resumes) + 1)]


def test_a_single_command_still_too_large_is_not_submitted() -> None:
    h = Harness(FakeServer(reject_submission=lambda commands: True))
    h.start("join-all", [1])
    activation = h.client.poll_workflow("default", "w", kinds=["join-all"])
    assert activation is not None
    with pytest.raises(PayloadTooLargeError):
        run_workflow_activation(h.client, activation, h.workflows)
    assert h.server.submissions == []


def test_a_non_deterministic_activation_submits_nothing_and_keeps_the_lease(
        caplog: pytest.LogCaptureFixture) -> None:
    @workflow(kind="join-all")
    async def changed(ctx: WorkflowContext, numbers: list[int]) -> None:
        await ctx.sleep(1)

    h = Harness()
    run = h.start("join-all", [1])
    h.activate()
    h.complete(h.pending_tasks(run)[0].id, 2)
    worker = Worker(h.client, workflows=[changed])
    activation = h.client.poll_workflow("default", "w", kinds=["join-all"])
    assert activation is not None
    with caplog.at_level(logging.ERROR, logger="stratoflow_sdk.worker"):
        assert worker.process_activation(activation) is None
    assert "nothing submitted" in caplog.text
    assert "NonDeterminismError" in caplog.text
    assert len(h.server.submissions) == 1
    assert h.server.execution(run).lease_id == activation.lease_id


# --- tasks -------------------------------------------------------------------------------------------------------


def test_heartbeat_raises_task_cancelled_once_the_task_is_cancelled(
        make_worker: Callable[..., Worker], client: Client, server: FakeServer) -> None:
    started = threading.Event()
    seen: dict[str, Any] = {}

    @task(kind="long")
    def long_running(_: Any) -> str:
        context = task_context()
        started.set()
        while True:
            try:
                context.heartbeat({"at": "loop"})
            except TaskCancelledError as exc:
                seen.update(error=exc, flag=context.cancel_requested, id=context.task_execution_id)
                raise
            threading.Event().wait(0.005)

    make_worker(tasks=[long_running], heartbeat_interval=60)
    created = client.create_task("long").task_execution_id
    assert started.wait(5)
    client.cancel_task(created, reason="user aborted")
    wait_until(lambda: "error" in seen, what="the task to see its cancellation")
    assert seen["flag"] is True and seen["id"] == created
    assert isinstance(seen["error"], TaskCancelledError) and seen["error"].task_execution_id == created
    assert server.tasks[created].details == {"at": "loop"}
    assert task_requests(server, created, "complete") == [] and task_requests(server, created, "fail") == []


def test_background_heartbeats_surface_cancellation_to_task_code(
        make_worker: Callable[..., Worker], client: Client, server: FakeServer) -> None:
    started = threading.Event()
    observed = threading.Event()

    @task(kind="quiet")
    def quiet(_: Any) -> str:
        started.set()
        deadline = time.monotonic() + 5
        while not task_context().cancel_requested and time.monotonic() < deadline:
            threading.Event().wait(0.005)
        if task_context().cancel_requested:
            observed.set()
        return "stopped early"

    make_worker(tasks=[quiet], heartbeat_interval=0.01)
    created = client.create_task("quiet").task_execution_id
    assert started.wait(5)
    wait_until(lambda: len(task_requests(server, created, "heartbeat")) >= 1, what="an automatic heartbeat")
    client.cancel_task(created)
    assert observed.wait(5)
    wait_until(lambda: len(task_requests(server, created, "complete")) == 1, what="the refused completion")
    assert server.tasks[created].status == "CANCELLED"


@pytest.mark.parametrize(
    ("raised", "retryable", "error_type"),
    [
        (ValueError("bad input"), True, "ValueError"),
        (ApplicationError("no such user", type="UserMissing", non_retryable=True), False, "UserMissing"),
    ],
)
def test_task_exceptions_are_reported_as_failures(make_worker: Callable[..., Worker], client: Client,
                                                  server: FakeServer, raised: Exception, retryable: bool,
                                                  error_type: str) -> None:
    @task(kind="breaks")
    def breaks(_: Any) -> None:
        raise raised

    make_worker(tasks=[breaks])
    created = client.create_task("breaks").task_execution_id
    wait_until(lambda: len(task_requests(server, created, "fail")) == 1, what="the failure report")
    body = task_requests(server, created, "fail")[0].body
    assert body["retryable"] is retryable
    assert body["error"] == {"type": error_type, "message": str(raised)}
    assert server.tasks[created].status == "FAILED"


def test_a_task_output_that_is_not_json_fails_without_retry(make_worker: Callable[..., Worker], client: Client,
                                                            server: FakeServer) -> None:
    @task(kind="opaque")
    def opaque(_: Any) -> object:
        return object()

    make_worker(tasks=[opaque])
    created = client.create_task("opaque", max_retries=3).task_execution_id
    wait_until(lambda: len(task_requests(server, created, "fail")) == 1, what="the failure report")
    body = task_requests(server, created, "fail")[0].body
    assert body["retryable"] is False and body["error"]["type"] == "TypeError"


def test_task_context_describes_the_running_attempt(make_worker: Callable[..., Worker], client: Client,
                                                    server: FakeServer) -> None:
    @task(kind="introspect")
    def introspect(value: Any) -> dict[str, Any]:
        context = task_context()
        return {"id": context.task_execution_id, "attempt": context.attempt, "kind": context.kind,
                "input": value, "workflow": context.workflow_execution_id}

    make_worker(tasks=[introspect])
    created = client.create_task("introspect", {"a": 1}).task_execution_id
    wait_until(lambda: server.tasks[created].status == "COMPLETED", what="the task")
    assert server.tasks[created].output == {"id": created, "attempt": 1, "kind": "introspect", "input": {"a": 1},
                                            "workflow": None}


def test_task_context_outside_a_task_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="only available inside a task"):
        task_context()


# --- shutdown ----------------------------------------------------------------------------------------------------


def test_stop_lets_running_tasks_finish(client: Client, server: FakeServer) -> None:
    started, gate = threading.Event(), threading.Event()

    @task(kind="gated")
    def gated(_: Any) -> str:
        started.set()
        assert gate.wait(5)
        return "finished"

    worker = Worker(client, tasks=[gated], poll_interval=0.005, heartbeat_interval=0.02)
    worker.start()
    created = client.create_task("gated").task_execution_id
    assert started.wait(5)
    stopper = threading.Thread(target=worker.stop, kwargs={"grace": 5})
    stopper.start()
    wait_until(lambda: not worker.running, what="polling to stop")
    assert server.tasks[created].status == "RUNNING"  # shutting down, the task still runs
    gate.set()
    stopper.join(5)
    assert not stopper.is_alive()
    assert (server.tasks[created].status, server.tasks[created].output) == ("COMPLETED", "finished")


def test_stop_releases_tasks_still_running_after_the_grace_period(client: Client, server: FakeServer) -> None:
    started, done = threading.Event(), threading.Event()

    @task(kind="slow")
    def slow(_: Any) -> str:
        started.set()
        deadline = time.monotonic() + 5
        while not task_context().cancel_requested and time.monotonic() < deadline:
            threading.Event().wait(0.005)
        done.set()
        return "too late"

    worker = Worker(client, tasks=[slow], poll_interval=0.005, heartbeat_interval=0.02)
    worker.start()
    created = client.create_task("slow", max_retries=1).task_execution_id
    assert started.wait(5)
    worker.stop(grace=0.05)
    (release,) = task_requests(server, created, "fail")
    assert release.body["retryable"] is True
    assert release.body["error"]["type"] == "WorkerShutdown"
    assert server.tasks[created].status == "PENDING"  # back in the queue for another worker
    assert done.wait(5)  # the task code saw cancel_requested and stopped
    assert task_requests(server, created, "complete") == []


def test_run_stops_gracefully_on_sigterm_and_restores_the_handlers(client: Client) -> None:
    before = signal.getsignal(signal.SIGTERM)
    worker = Worker(client, tasks=[double], poll_interval=0.005)

    def send_sigterm() -> None:
        wait_until(lambda: worker.running, what="the worker to run")
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_sigterm)
    sender.start()
    worker.run()
    sender.join(5)
    assert not worker.running
    assert signal.getsignal(signal.SIGTERM) is before


def test_run_raises_the_fatal_error_of_a_bad_token(server: FakeServer) -> None:
    worker = Worker(Client(BASE_URL, "wrong", transport=FakeTransport(server)), tasks=[double], poll_interval=0.005)
    with pytest.raises(UnauthenticatedError):
        worker.run()
    assert isinstance(worker.error, UnauthenticatedError)


def test_worker_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="token is required"):
        Worker("http://127.0.0.1:3000", tasks=[double])
    with pytest.raises(ValueError, match="at least one workflow or task"):
        Worker("http://127.0.0.1:3000", "tok")
    with pytest.raises(ValueError, match="1000-300000"):
        Worker("http://127.0.0.1:3000", "tok", tasks=[double], task_lease_ms=10)
    worker = Worker("http://127.0.0.1:3000/", "tok", "q-1", tasks=[double])
    assert (worker.client.base_url, worker.queue) == ("http://127.0.0.1:3000", "q-1")


def test_two_functions_for_one_kind_are_refused() -> None:
    @workflow(kind="join-all")
    async def other(ctx: WorkflowContext, _: Any) -> None:
        return None

    with pytest.raises(ValueError, match="two functions are registered for kind 'join-all'"):
        registry([join_all_workflow, other], workflow_definition)


# --- waiting for work --------------------------------------------------------------------------------------------
# A poll interval far longer than the bounds below: these pass only if the worker polls at once for work that it
# made ready itself, instead of waiting out its poll interval.

SLOW_POLL = 30.0


@workflow(kind="three-steps")
async def three_steps(ctx: WorkflowContext, value: int) -> int:
    for _ in range(3):
        value = await ctx.schedule_task("double", value)
    return value


@workflow(kind="nap")
async def nap(ctx: WorkflowContext, seconds: float) -> str:
    await ctx.sleep(seconds)
    return "rested"


def polls(server: FakeServer, what: str) -> int:
    return len(server.requests_to("POST", f"/v1/worker/{what}/poll"))


def test_scheduled_tasks_and_their_results_are_polled_for_at_once(make_worker: Callable[..., Worker],
                                                                  client: Client, server: FakeServer) -> None:
    run = client.start_workflow("three-steps", 1).workflow_execution_id
    make_worker(workflows=[three_steps], tasks=[double], poll_interval=SLOW_POLL)
    assert client.result(run, timeout=5, poll_interval=0.005) == 8
    # one claim per activation plus the poll right after it, one claim per task plus the polls right after them
    assert polls(server, "workflows") <= 2 * 4 + 1
    assert polls(server, "tasks") <= 2 * 3 + 1


def test_a_retried_task_is_polled_for_again_at_once(make_worker: Callable[..., Worker], client: Client,
                                                   server: FakeServer) -> None:
    @task(kind="flaky")
    def flaky(_: Any) -> str:
        if task_context().attempt == 1:
            # fail once the poller has made the empty poll that follows a claim: it is waiting by then
            wait_until(lambda: polls(server, "tasks") >= 2, what="the poll after the claim")
            raise RuntimeError("first attempt fails")
        return "second attempt"

    created = client.create_task("flaky", max_retries=1).task_execution_id
    make_worker(tasks=[flaky], poll_interval=SLOW_POLL)
    wait_until(lambda: server.tasks[created].status == "COMPLETED", what="the retried task to complete")
    assert server.tasks[created].attempt == 2


def test_the_workflow_poller_polls_when_a_timer_it_started_is_due(make_worker: Callable[..., Worker],
                                                                 client: Client, server: FakeServer) -> None:
    run = client.start_workflow("nap", 0.2).workflow_execution_id
    make_worker(workflows=[nap], poll_interval=SLOW_POLL)
    # the timer is started, and the worker has made the empty poll that follows an activation: it now waits
    wait_until(lambda: server.started_timers(run) and polls(server, "workflows") >= 2, what="the worker to wait")
    (timer,) = server.started_timers(run)
    assert server.fire_timer(run, timer.timer_id)
    assert client.result(run, timeout=5, poll_interval=0.005) == "rested"


def test_stop_does_not_wait_out_the_poll_interval(client: Client, server: FakeServer) -> None:
    worker = Worker(client, workflows=[three_steps], tasks=[double], poll_interval=SLOW_POLL)
    worker.start()
    wait_until(lambda: polls(server, "workflows") >= 1 and polls(server, "tasks") >= 1, what="the first polls")
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    stopper.join(5)
    assert not stopper.is_alive()


# --- refused polls -----------------------------------------------------------------------------------------------


class OddAnswers(FakeTransport):
    """Answers the first ``count`` polls of ``route`` with ``status`` (as a confused proxy might), then serves."""

    def __init__(self, server: FakeServer, route: str, status: int, count: int) -> None:
        super().__init__(server)
        self.route, self.status, self.left = route, status, count
        self.lock = threading.Lock()

    def request(self, method: str, url: str, **kwargs: Any) -> TransportResponse:
        with self.lock:
            odd = url.endswith(self.route) and self.left > 0
            if odd:
                self.left -= 1
        if odd:
            body = {"error": {"code": "NOT_FOUND", "message": "odd answer"}}
            return TransportResponse(status=self.status, body=body, text=json.dumps(body))
        return super().request(method, url, **kwargs)


@pytest.mark.parametrize("route", ["/v1/worker/workflows/poll", "/v1/worker/tasks/poll"])
def test_a_single_refused_poll_does_not_stop_the_worker(server: FakeServer, route: str) -> None:
    client = Client(BASE_URL, "tok", transport=OddAnswers(server, route, 404, count=2))
    run = client.start_workflow("join-all", [1, 2]).workflow_execution_id
    worker = Worker(client, workflows=[join_all_workflow], tasks=[double], poll_interval=0.005)
    worker.start()
    try:
        assert client.result(run, timeout=5, poll_interval=0.005) == 6
        assert worker.running and worker.error is None
    finally:
        worker.stop(grace=0)


def test_polls_refused_again_and_again_stop_the_worker(server: FakeServer) -> None:
    client = Client(BASE_URL, "tok", transport=OddAnswers(server, "/v1/worker/tasks/poll", 404, count=100))
    worker = Worker(client, tasks=[double], poll_interval=0.005)
    with pytest.raises(NotFoundError):
        worker.run()
    assert len(server.requests_to("POST", "/v1/worker/tasks/poll")) == 0  # every poll was answered 404
    assert isinstance(worker.error, NotFoundError)
