"""The Client against the in-memory transport: routes, bodies, paging and typed errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sdk_fake_server import FakeServer, FakeTransport
from sdk_harness import BASE_URL, Harness
from stratoflow_sdk import (
    ApiError,
    Client,
    ConflictError,
    FailedPreconditionError,
    InvalidArgumentError,
    LeaseLostError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    TaskStatus,
    TransportError,
    TransportResponse,
    UnauthenticatedError,
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowStatus,
)
from stratoflow_sdk._errors import API_ERROR_CLASSES, api_error_from_response


class ScriptedTransport:
    """Answers every request with one fixed response and records what was asked."""

    def __init__(self, response: TransportResponse | Exception) -> None:
        self.response = response
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
                json_body: Any = None, timeout: float | None = None) -> TransportResponse:
        self.calls.append({"method": method, "url": url, "headers": dict(headers), "params": params,
                           "body": json_body, "timeout": timeout})
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


# --- errors ------------------------------------------------------------------------------------------------------

API_CODES = {  # api.md's error table
    "INVALID_ARGUMENT": (400, InvalidArgumentError),
    "UNAUTHENTICATED": (401, UnauthenticatedError),
    "PERMISSION_DENIED": (403, PermissionDeniedError),
    "NOT_FOUND": (404, NotFoundError),
    "FAILED_PRECONDITION": (409, FailedPreconditionError),
    "LEASE_LOST": (409, LeaseLostError),
    "CONFLICT": (409, ConflictError),
    "PAYLOAD_TOO_LARGE": (413, PayloadTooLargeError),
}


def test_there_is_one_exception_class_per_api_error_code() -> None:
    assert {code: cls for code, (_, cls) in API_CODES.items()} == dict(API_ERROR_CLASSES)
    assert len(set(API_ERROR_CLASSES.values())) == len(API_CODES)
    assert all(issubclass(cls, ApiError) for cls in API_ERROR_CLASSES.values())


@pytest.mark.parametrize("code", sorted(API_CODES))
def test_an_error_body_raises_its_class_with_code_message_status_and_details(code: str) -> None:
    status, cls = API_CODES[code]
    body = {"error": {"code": code, "message": "it went wrong", "currentStatus": "CANCELLED"}}
    client = Client(BASE_URL, "tok", transport=ScriptedTransport(TransportResponse(status, body)))
    with pytest.raises(cls) as caught:
        client.get_workflow("wf-1")
    assert (caught.value.code, caught.value.message, caught.value.status) == (code, "it went wrong", status)
    assert caught.value.details == {"currentStatus": "CANCELLED"}


def test_failed_precondition_exposes_the_current_status() -> None:
    error = api_error_from_response(409, {"error": {"code": "FAILED_PRECONDITION", "message": "task is CANCELLED",
                                                    "currentStatus": "CANCELLED"}})
    assert isinstance(error, FailedPreconditionError)
    assert error.current_status == "CANCELLED"


def test_a_response_without_an_api_error_body_is_still_an_api_error() -> None:
    client = Client(BASE_URL, "tok", transport=ScriptedTransport(TransportResponse(502, None, "Bad Gateway")))
    with pytest.raises(ApiError) as caught:
        client.get_workflow("wf-1")
    assert type(caught.value) is ApiError
    assert (caught.value.code, caught.value.message, caught.value.status) == ("HTTP_502", "Bad Gateway", 502)


def test_transport_failures_propagate_as_transport_errors() -> None:
    client = Client(BASE_URL, "tok", transport=ScriptedTransport(TransportError("connection refused")))
    with pytest.raises(TransportError, match="connection refused"):
        client.health()


def test_requests_carry_the_token_json_and_escaped_ids() -> None:
    transport = ScriptedTransport(TransportResponse(200, {"workflowExecutionId": "a/b", "kind": "k",
                                                          "queue": "default", "status": "PENDING"}))
    client = Client(BASE_URL + "/", "tok-a", transport=transport, timeout=7.5)
    client.get_workflow("a/b")
    call = transport.calls[0]
    assert call["url"] == f"{BASE_URL}/v1/workflows/a%2Fb"
    assert call["headers"]["Authorization"] == "Bearer tok-a"
    assert call["timeout"] == 7.5


def test_an_unknown_token_is_unauthenticated_and_a_missing_scope_is_denied() -> None:
    server = FakeServer(tokens={"tok": ("acme", {"client", "worker"}), "ro": ("acme", {"client"})})
    with pytest.raises(UnauthenticatedError):
        Client(BASE_URL, "nope", transport=FakeTransport(server)).start_workflow("k")
    with pytest.raises(PermissionDeniedError):
        Client(BASE_URL, "ro", transport=FakeTransport(server)).poll_workflow("default", "w")


# --- caller API --------------------------------------------------------------------------------------------------


def test_start_sends_kind_input_queue_and_the_idempotency_key() -> None:
    h = Harness()
    first = h.client.start_workflow("order", {"sku": 1}, queue="q1", idempotency_key="key-1")
    again = h.client.start_workflow("order", {"sku": 1}, queue="q1", idempotency_key="key-1")
    (request, *_) = h.server.requests_to("POST", "/v1/workflows")
    assert request.body == {"kind": "order", "input": {"sku": 1}, "queue": "q1"}
    assert first.workflow_execution_id == again.workflow_execution_id
    assert first.status is WorkflowStatus.PENDING
    assert (first.kind, first.queue, first.input) == ("order", "q1", {"sku": 1})
    with pytest.raises(ConflictError):
        h.client.start_workflow("order", {"sku": 2}, queue="q1", idempotency_key="key-1")


def test_history_reads_every_page() -> None:
    h = Harness()
    run = h.start("fan-out", 30)
    h.activate()
    events = h.client.history(run, page_size=10)
    assert [e.sequence for e in events] == list(range(1, 27))
    pages = h.server.requests_to("GET", f"/v1/workflows/{run}/events")
    assert [r.params["afterSequence"] for r in pages] == ["0", "10", "20"]
    assert events[1].type == "TASK_SCHEDULED"
    assert events[1].data["taskExecutionId"] == f"{run}:task:1"


def test_list_follows_next_tokens_newest_first() -> None:
    h = Harness()
    runs = [h.start("leaf", n) for n in range(5)]
    listed = [e.workflow_execution_id for e in h.client.list_workflows(kind="leaf", page_size=2)]
    assert listed == list(reversed(runs))
    assert len(h.server.requests_to("GET", "/v1/workflows")) == 3
    assert list(h.client.list_workflows(status=WorkflowStatus.COMPLETED)) == []


def test_result_returns_the_output_of_a_completed_execution() -> None:
    h = Harness()
    run = h.start("join-all", [5])
    h.activate()
    (task,) = h.pending_tasks(run)
    h.complete(task.id, 10)
    h.activate()
    assert h.client.result(run, timeout=1) == 10


def test_result_raises_for_failed_and_cancelled_executions() -> None:
    h = Harness()
    failing = h.start("join-all", [5])
    h.activate()
    h.fail(h.pending_tasks(failing)[0].id, {"type": "Boom", "message": "bad"})
    h.activate()
    with pytest.raises(WorkflowFailedError) as failed:
        h.client.result(failing, timeout=1)
    assert failed.value.error == {"type": "TaskFailedError",
                                  "message": f"task {failing}:task:1 (double) failed: Boom: bad"}

    cancelled = h.start("order", {"sku": "x"})
    h.activate()
    assert h.client.cancel_workflow(cancelled, reason="changed my mind") is WorkflowStatus.CANCELLING
    h.activate()
    h.complete(h.pending_tasks(cancelled)[0].id, "released")
    h.activate()
    h.fire(cancelled, h.server.started_timers(cancelled)[0].timer_id)
    h.activate()
    with pytest.raises(WorkflowCancelledError) as stopped:
        h.client.result(cancelled, timeout=1)
    assert stopped.value.reason == "changed my mind"


def test_result_times_out_on_a_running_execution() -> None:
    h = Harness()
    run = h.start("leaf", 1)
    with pytest.raises(TimeoutError, match="still PENDING"):
        h.client.result(run, timeout=0.05, poll_interval=0.01)


def test_cancel_sends_reason_and_cascade_and_a_terminal_execution_refuses() -> None:
    h = Harness()
    run = h.start("leaf", 1)
    h.client.cancel_workflow(run, reason="r", cascade=False)
    (request,) = h.server.requests_to("POST", f"/v1/workflows/{run}/cancel")
    assert request.body == {"cascade": False, "reason": "r"}
    h.activate()
    with pytest.raises(FailedPreconditionError) as caught:
        h.client.cancel_workflow(run)
    assert caught.value.current_status == "CANCELLED"


def test_standalone_tasks_can_be_created_read_and_cancelled() -> None:
    h = Harness()
    task = h.client.create_task("resize", {"w": 10}, queue="images", max_retries=2, timeout_ms=5000)
    assert (task.kind, task.queue, task.status, task.max_retries, task.timeout_ms, task.workflow_execution_id) == (
        "resize", "images", TaskStatus.PENDING, 2, 5000, None)
    assert h.client.cancel_task(task.task_execution_id, reason="not needed") is TaskStatus.CANCELLED
    read = h.client.get_task(task.task_execution_id)
    assert (read.status, read.cancel_reason) == (TaskStatus.CANCELLED, "not needed")
    with pytest.raises(FailedPreconditionError):
        h.client.cancel_task(task.task_execution_id)
    with pytest.raises(NotFoundError):
        h.client.get_task("missing")


def test_worker_routes_round_trip() -> None:
    h = Harness()
    task = h.client.create_task("resize", 1)
    assert h.client.poll_task("default", "w", kinds=["other"]) is None
    claimed = h.client.poll_task("default", "w", kinds=["resize"], lease_ms=5000)
    assert claimed is not None and claimed.task.attempt == 1 and claimed.task.status is TaskStatus.RUNNING
    beat = h.client.heartbeat_task(task.task_execution_id, claimed.lease_id, {"progress": 0.5})
    assert beat.cancel_requested is False and beat.lease_expires_at is not None
    with pytest.raises(LeaseLostError):
        h.client.complete_task(task.task_execution_id, "another-lease", 2)
    assert h.client.complete_task(task.task_execution_id, claimed.lease_id, 2) is TaskStatus.COMPLETED
    assert h.client.get_task(task.task_execution_id).output == 2
    assert h.client.health() is True
