"""The Client's operator methods against the fake server: terminate, cleanup deadlines, cancel-on-event, batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sdk_fake_server import FakeServer
from sdk_harness import Harness
from stratoflow_sdk import (
    Batch,
    BatchFilter,
    BatchItemOutcome,
    BatchOperation,
    BatchStatus,
    CancelOn,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    WorkflowStatus,
    WorkflowTerminatedError,
    is_cancelled_error,
)


def _types(h: Harness, run: str) -> list[str]:
    return [event.type for event in h.client.history(run)]


# --- terminate ---------------------------------------------------------------------------------------------------


def test_terminate_ends_the_execution_and_its_descendants_and_result_raises() -> None:
    h = Harness()
    parent = h.start("select-child")
    h.activate()
    (child,) = [e.id for e in h.server.executions.values() if e.parent == parent]

    assert h.client.terminate(parent, "stuck on a provider") is WorkflowStatus.TERMINATED

    (request,) = h.server.requests_to("POST", f"/v1/workflows/{parent}/terminate")
    assert request.body == {"reason": "stuck on a provider", "cascade": True}
    read = h.client.get_workflow(parent)
    assert (read.status, read.terminated_reason) == (WorkflowStatus.TERMINATED, "stuck on a provider")
    assert read.status.is_terminal
    assert h.client.history(parent)[-1].data == {"reason": "stuck on a provider", "requestedBy": "api"}
    assert h.client.history(child)[-1].data == {"reason": "stuck on a provider", "requestedBy": f"workflow:{parent}"}
    assert h.activate() is None  # nobody is handed a terminated execution
    with pytest.raises(WorkflowTerminatedError) as caught:
        h.client.result(parent, timeout=1)
    assert (caught.value.workflow_execution_id, caught.value.reason) == (parent, "stuck on a provider")
    assert not is_cancelled_error(caught.value)


def test_terminate_without_cascade_and_on_a_finished_execution() -> None:
    h = Harness()
    run = h.start("leaf", 1)
    h.client.terminate(run, "r", cascade=False)
    assert h.server.requests_to("POST", f"/v1/workflows/{run}/terminate")[0].body == {"reason": "r", "cascade": False}
    with pytest.raises(FailedPreconditionError) as caught:
        h.client.terminate(run, "again")
    assert caught.value.current_status == "TERMINATED"
    with pytest.raises(InvalidArgumentError):
        h.client.terminate(h.start("leaf", 2), "")
    with pytest.raises(NotFoundError):
        h.client.terminate("missing", "r")


# --- cleanup deadlines -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("timeout", "expected_ms"), [(30, 30_000), (1.5, 1_500), (timedelta(minutes=2), 120_000)])
def test_cancel_sends_the_cleanup_timeout_in_milliseconds(timeout: float | timedelta, expected_ms: int) -> None:
    h = Harness()
    run = h.start("leaf", 1)
    assert h.client.cancel(run, reason="r", cleanup_timeout=timeout) is WorkflowStatus.CANCELLING
    (request,) = h.server.requests_to("POST", f"/v1/workflows/{run}/cancel")
    assert request.body == {"cascade": True, "reason": "r", "cleanupTimeoutMs": expected_ms}


def test_a_cleanup_deadline_is_shown_and_terminates_a_run_that_outlives_it() -> None:
    h = Harness()
    run = h.start("leaf", 1)
    now = h.server.clock.peek()
    h.client.cancel_workflow(run, reason="shutting down", cleanup_timeout=60)
    read = h.client.get_workflow(run)
    assert read.status is WorkflowStatus.CANCELLING and read.cleanup_deadline is not None
    assert abs(read.cleanup_deadline - (now + timedelta(seconds=60))) < timedelta(seconds=1)
    requested = h.client.history(run)[-1]
    assert requested.type == "CANCELLATION_REQUESTED"
    assert requested.data["cleanupDeadline"] == read.raw["cleanupDeadline"]

    h.server.advance(61)

    ended = h.client.get_workflow(run)
    assert (ended.status, ended.terminated_reason) == (WorkflowStatus.TERMINATED, "cleanup timeout")
    assert ended.cleanup_deadline == read.cleanup_deadline
    assert h.client.history(run)[-1].data == {"reason": "cleanup timeout", "requestedBy": "cleanup-timeout"}


def test_a_cleanup_timeout_must_be_positive() -> None:
    h = Harness()
    with pytest.raises(ValueError, match="cleanup_timeout must be positive"):
        h.client.cancel_workflow(h.start("leaf", 1), cleanup_timeout=0)


# --- cancel on an event ------------------------------------------------------------------------------------------


def test_start_with_cancel_on_and_an_event_cancels_the_matching_runs() -> None:
    h = Harness()
    matching = h.client.start_workflow(
        "leaf", 1, cancel_on=[CancelOn("order.cancelled", {"orderId": "o-1"}, timeout=timedelta(days=1))])
    other = h.client.start_workflow("leaf", 2, cancel_on=[{"eventType": "order.cancelled", "match": {"orderId": 7}}])
    plain = h.client.start_workflow("leaf", 3)
    first_start = h.server.requests_to("POST", "/v1/workflows")[0]
    assert first_start.body["cancelOn"] == [
        {"eventType": "order.cancelled", "match": {"orderId": "o-1"}, "timeoutMs": 86_400_000}]
    assert "cancelOn" not in h.server.requests_to("POST", "/v1/workflows")[2].body
    assert matching.cancel_on == ({"eventType": "order.cancelled", "match": {"orderId": "o-1"},
                                   "timeoutMs": 86_400_000},)
    assert plain.cancel_on == ()

    event_id = h.client.send_event("order.cancelled", {"orderId": "o-1", "by": "customer"}, idempotency_key="e-1")

    (request,) = h.server.requests_to("POST", "/v1/events")
    assert request.body == {"eventType": "order.cancelled", "data": {"orderId": "o-1", "by": "customer"}}
    assert h.client.get_workflow(matching.workflow_execution_id).status is WorkflowStatus.CANCELLING
    assert h.client.history(matching.workflow_execution_id)[-1].data == {
        "reason": "cancelOn order.cancelled", "requestedBy": f"event:{event_id}", "cleanupDeadline": None}
    assert h.client.get_workflow(other.workflow_execution_id).status is WorkflowStatus.PENDING
    assert h.client.send_event("order.cancelled", {"orderId": "o-1", "by": "customer"},
                               idempotency_key="e-1") == event_id


def test_an_event_without_data_sends_an_empty_object() -> None:
    h = Harness()
    h.client.send_event("tick")
    assert h.server.requests_to("POST", "/v1/events")[0].body == {"eventType": "tick", "data": {}}


# --- batches -----------------------------------------------------------------------------------------------------


def test_a_dry_run_counts_and_changes_nothing() -> None:
    h = Harness()
    runs = [h.start("leaf", n) for n in range(3)]
    h.start("order", {})
    assert h.client.start_batch("CANCEL", BatchFilter(kind="leaf"), dry_run=True) == 3
    (request,) = h.server.requests_to("POST", "/v1/batches")
    assert request.body == {"operation": "CANCEL", "filter": {"kind": "leaf"}, "cascade": True, "dryRun": True}
    assert all(h.client.get_workflow(run).status is WorkflowStatus.PENDING for run in runs)
    assert list(h.client.list_batches()) == []


def test_a_batch_runs_to_completion_and_lists_its_items() -> None:
    h = Harness(FakeServer(batch_step=2))
    runs = [h.start("leaf", n) for n in range(3)]
    h.client.terminate(runs[0], "already gone")
    after = datetime(2026, 1, 1, tzinfo=UTC)

    batch = h.client.start_batch(
        BatchOperation.CANCEL, BatchFilter(kind="leaf", statuses=[WorkflowStatus.PENDING], created_after=after,
                                           workflow_execution_ids=[*runs, "missing"]),
        reason="maintenance", cleanup_timeout=120, max_per_second=10, idempotency_key="b-1")

    assert isinstance(batch, Batch)
    assert (batch.status, batch.matched, batch.reached, batch.operation) == (
        BatchStatus.RUNNING, None, 0, BatchOperation.CANCEL)
    (request,) = h.server.requests_to("POST", "/v1/batches")
    assert request.body == {
        "operation": "CANCEL",
        "filter": {"kind": "leaf", "statuses": ["PENDING"], "createdAfter": "2026-01-01T00:00:00.000Z",
                   "workflowExecutionIds": [*runs, "missing"]},
        "cascade": True, "reason": "maintenance", "cleanupTimeoutMs": 120_000, "maxPerSecond": 10}
    progress = h.client.get_batch(batch.batch_id)
    assert (progress.status, progress.matched, progress.reached) == (BatchStatus.RUNNING, 4, 2)
    done = h.client.get_batch(batch.batch_id)
    assert (done.status, done.succeeded, done.failed, done.skipped) == (BatchStatus.COMPLETED, 2, 1, 1)
    assert done.completed_at is not None and done.matched == done.reached
    assert [b.batch_id for b in h.client.list_batches(page_size=1)] == [batch.batch_id]
    items = list(h.client.batch_items(batch.batch_id, page_size=3))
    assert [(i.workflow_execution_id, i.outcome) for i in items] == [
        (runs[0], BatchItemOutcome.SKIPPED), (runs[1], BatchItemOutcome.SUCCEEDED),
        (runs[2], BatchItemOutcome.SUCCEEDED), ("missing", BatchItemOutcome.FAILED)]
    (failed,) = h.client.batch_items(batch.batch_id, outcome=BatchItemOutcome.FAILED)
    assert failed.error is not None and failed.error["code"] == "NOT_FOUND"
    assert h.client.get_workflow(runs[1]).cleanup_deadline is not None
    assert h.client.history(runs[1])[-1].data["requestedBy"] == f"batch:{batch.batch_id}"


def test_a_batch_can_be_stopped_once() -> None:
    h = Harness(FakeServer(batch_step=1))
    runs = [h.start("leaf", n) for n in range(3)]
    batch = h.client.start_batch("TERMINATE", {"kind": "leaf"}, reason="bad deploy")
    h.client.get_batch(batch.batch_id)
    stopped = h.client.stop_batch(batch.batch_id)
    assert (stopped.status, stopped.reached, stopped.completed_at is not None) == (BatchStatus.STOPPED, 1, True)
    assert [h.client.get_workflow(r).status for r in runs] == [
        WorkflowStatus.TERMINATED, WorkflowStatus.PENDING, WorkflowStatus.PENDING]
    with pytest.raises(FailedPreconditionError) as caught:
        h.client.stop_batch(batch.batch_id)
    assert caught.value.current_status == "STOPPED"
    with pytest.raises(NotFoundError):
        h.client.get_batch("missing")


def test_a_batch_needs_a_reason_unless_it_is_a_dry_run() -> None:
    h = Harness()
    with pytest.raises(InvalidArgumentError):
        h.client.start_batch("CANCEL", BatchFilter(kind="leaf"))
    with pytest.raises(ValueError, match="BOOM"):
        h.client.start_batch("BOOM", BatchFilter(kind="leaf"), reason="r")
    with pytest.raises(ValueError, match="no time zone"):
        BatchFilter(created_before=datetime(2026, 1, 1)).to_json()
