"""Tasks: polls, heartbeats, completion and failure, retries, timeouts and lease expiry (the sweeper), and flow 1."""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow import tasks
from stratoflow.errors import FailedPrecondition, LeaseLost, NotFound, PayloadTooLarge

from tests.support.domain import Engine

T0 = "2100-01-01T00:00:00.000Z"
T0_MS = 4_102_444_800_000


def workflow_with_task(engine: Engine, task_id: str = "t1", **fields: Any) -> str:
    """Given a WAITING workflow that scheduled `task_id`; returns the workflow id."""
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "charge", "input": 1, **fields}])
    return wid


def unchanged(engine: Engine, before: list[dict[str, Any]]) -> None:
    assert engine.items() == before, "a refused call changed stored state"


# ---------------------------------------------------------------------- standalone tasks and polls


def test_a_standalone_task_is_created_pending_and_claimed_running(engine: Engine) -> None:
    created = engine.create_task("resize", {"px": 64}, "images", max_retries=3, timeout_ms=9000)
    assert created == {
        "taskExecutionId": "id-0001",
        "workflowExecutionId": None,
        "kind": "resize",
        "queue": "images",
        "status": "PENDING",
        "input": {"px": 64},
        "output": None,
        "error": None,
        "attempt": 0,
        "maxRetries": 3,
        "timeoutMs": 9000,
        "cancelReason": None,
        "createdAt": T0,
        "updatedAt": T0,
    }
    assert engine.poll_task("default") is None
    engine.clock.advance(2)
    claimed = engine.poll_task("images", kinds=["resize"], lease_ms=20_000)
    assert claimed == {
        "task": {**created, "status": "RUNNING", "attempt": 1, "updatedAt": "2100-01-01T00:00:00.002Z"},
        "leaseId": "id-0002",
        "leaseExpiresAt": "2100-01-01T00:00:20.002Z",
    }
    stored = engine.task_item("id-0001")
    # the sweep is due at the earlier of lease expiry and the attempt's deadline
    assert (stored["leaseExpiresAt"], stored["attemptDeadline"], stored["sweepAt"]) == (
        T0_MS + 20_002,
        T0_MS + 9_002,
        T0_MS + 9_002,
    )
    assert "dispatchPk" not in stored
    assert engine.poll_task("images") is None


def test_task_polls_honour_kinds(engine: Engine) -> None:
    engine.create_task("a")
    b = engine.create_task("b")["taskExecutionId"]
    claimed = engine.poll_task(kinds=["b"])
    assert claimed is not None and claimed["task"]["taskExecutionId"] == b
    assert engine.poll_task(kinds=["b"]) is None


def test_regression_a_task_claim_increments_the_version_so_a_stale_completion_is_refused(engine: Engine) -> None:
    """Bug: the claim SET the task's version to 1. A worker whose lease expired and which had read the task at version
    1 could complete it over the next worker's claim; with the version incremented its write is refused."""
    task_id = engine.create_task(max_retries=1)["taskExecutionId"]
    first = engine.poll_task(lease_ms=1000)
    assert first is not None
    stale = tasks.get_task_record(engine.rt.repo, "acme", task_id)  # the first worker reads the task, then stalls
    assert stale is not None
    engine.clock.advance(1000)
    assert engine.sweep() == {"task:PENDING": 1}
    second = engine.poll_task()
    assert second is not None
    assert engine.task_item(task_id)["ver"] == stale.ver + 2  # expiry and the new claim

    calls = {"n": 0}
    real = tasks.require_task

    def stale_then_real(repo: Any, tenant: str, tid: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            stale.lease_expires_at = engine.clock.now_ms() + 1  # as the stalled worker saw it
            return stale
        return real(repo, tenant, tid)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks, "require_task", stale_then_real)
        with pytest.raises(LeaseLost):
            engine.complete_task(task_id, str(first["leaseId"]), "stale result")
    stored = engine.task_item(task_id)
    assert (stored["status"], stored["leaseId"], stored.get("output")) == ("RUNNING", second["leaseId"], None)


# ---------------------------------------------------------------------- heartbeats


def test_a_heartbeat_extends_the_lease_by_its_length(engine: Engine) -> None:
    task_id = engine.create_task()["taskExecutionId"]
    claimed = engine.poll_task(lease_ms=10_000)
    assert claimed is not None
    engine.clock.advance(8000)
    assert engine.heartbeat(task_id, claimed["leaseId"], {"progress": 0.5}) == {
        "cancelRequested": False,
        "leaseExpiresAt": "2100-01-01T00:00:18.000Z",
    }
    engine.clock.advance(9000)  # past the first expiry, within the extended one
    assert engine.sweep() == {}
    assert engine.complete_task(task_id, claimed["leaseId"], 1) == {"status": "COMPLETED"}


def test_heartbeat_refusals(engine: Engine) -> None:
    task_id = engine.create_task()["taskExecutionId"]
    lease = engine.claim_task(task_id)
    before = engine.items()
    with pytest.raises(LeaseLost):
        engine.heartbeat(task_id, "other")
    with pytest.raises(PayloadTooLarge):
        engine.heartbeat(task_id, lease, "d" * (256 * 1024))
    unchanged(engine, before)
    engine.complete_task(task_id, lease, 1)
    with pytest.raises(FailedPrecondition) as refused:
        engine.heartbeat(task_id, lease)
    assert refused.value.details == {"currentStatus": "COMPLETED"}


def test_a_cancelled_task_tells_any_heartbeat_to_stop(engine: Engine) -> None:
    task_id = engine.create_task()["taskExecutionId"]
    lease = engine.claim_task(task_id)
    engine.cancel_task(task_id, "stop")
    before = engine.items()
    for any_lease in (lease, "someone-else"):
        assert engine.heartbeat(task_id, any_lease) == {"cancelRequested": True, "leaseExpiresAt": None}
    unchanged(engine, before)


# ---------------------------------------------------------------------- completion and failure


def test_completion_appends_task_completed_and_wakes_the_workflow(engine: Engine) -> None:
    wid = workflow_with_task(engine)
    lease = engine.claim_task("t1")
    engine.clock.advance(3)
    assert engine.complete_task("t1", lease, {"receipt": "r-1"}) == {"status": "COMPLETED"}
    assert engine.history(wid)[-1] == {
        "sequence": 3,
        "type": "TASK_COMPLETED",
        "data": {"taskExecutionId": "t1", "result": {"receipt": "r-1"}},
        "createdAt": "2100-01-01T00:00:00.003Z",
    }
    assert engine.status(wid) == "PENDING"
    view = engine.task("t1")
    assert (view["status"], view["output"], view["attempt"]) == ("COMPLETED", {"receipt": "r-1"}, 1)
    engine.check()


def test_completion_refusals_change_nothing(engine: Engine) -> None:
    workflow_with_task(engine)
    lease = engine.claim_task("t1")
    before = engine.items()
    with pytest.raises(LeaseLost) as lost:
        engine.complete_task("t1", "not-mine", 1)
    assert lost.value.details == {"currentStatus": "RUNNING"}
    with pytest.raises(PayloadTooLarge):
        engine.complete_task("t1", lease, "o" * (256 * 1024))
    engine.clock.advance(60_000)
    with pytest.raises(LeaseLost):
        engine.complete_task("t1", lease, 1)  # expired, not yet swept
    unchanged(engine, before)
    engine.sweep()  # maxRetries is 0: the expired attempt fails the task
    with pytest.raises(FailedPrecondition) as refused:
        engine.complete_task("t1", lease, 1)
    assert refused.value.details == {"currentStatus": "FAILED"}


def test_failures_are_retried_while_attempt_is_at_most_max_retries(engine: Engine) -> None:
    wid = workflow_with_task(engine, maxRetries=2)
    outcomes = []
    for attempt in (1, 2, 3):
        claimed = engine.poll_task()
        assert claimed is not None and claimed["task"]["attempt"] == attempt
        outcomes.append(engine.fail_task("t1", claimed["leaseId"], {"code": f"E{attempt}"}, retryable=True))
    assert outcomes == [{"status": "PENDING"}, {"status": "PENDING"}, {"status": "FAILED"}]
    assert engine.history(wid)[-1]["data"] == {"taskExecutionId": "t1", "error": {"code": "E3"}}
    assert engine.types(wid).count("TASK_FAILED") == 1
    assert engine.task("t1")["error"] == {"code": "E3"}
    engine.check()


def test_a_non_retryable_failure_fails_at_once(engine: Engine) -> None:
    wid = workflow_with_task(engine, maxRetries=5)
    assert engine.fail_task("t1", engine.claim_task("t1"), "fatal", retryable=False) == {"status": "FAILED"}
    assert engine.types(wid)[-1] == "TASK_FAILED"


def test_a_retried_attempt_s_lease_is_void(engine: Engine) -> None:
    workflow_with_task(engine, maxRetries=1)
    lease = engine.claim_task("t1")
    engine.fail_task("t1", lease, "e")
    before = engine.items()
    with pytest.raises(LeaseLost) as lost:
        engine.complete_task("t1", lease, 1)
    assert lost.value.details == {"currentStatus": "PENDING"}
    unchanged(engine, before)


# ---------------------------------------------------------------------- timeouts and lease expiry (the sweeper)


def test_an_attempt_that_outlives_timeout_ms_fails_with_timeout(engine: Engine) -> None:
    wid = workflow_with_task(engine, maxRetries=1, timeoutMs=5000)
    engine.claim_task("t1")
    engine.clock.advance(4999)
    assert engine.sweep() == {}
    engine.clock.advance(1)
    assert engine.sweep() == {"task:PENDING": 1}
    assert engine.task("t1")["error"] == {"code": "TIMEOUT", "message": "attempt 1 outlived timeoutMs"}
    engine.claim_task("t1")
    engine.clock.advance(5000)
    assert engine.sweep() == {"task:FAILED": 1}
    assert engine.history(wid)[-1]["data"] == {
        "taskExecutionId": "t1",
        "error": {"code": "TIMEOUT", "message": "attempt 2 outlived timeoutMs"},
    }
    engine.check()


def test_an_attempt_whose_lease_expires_fails_with_lease_expired(engine: Engine) -> None:
    wid = workflow_with_task(engine)
    claimed = engine.poll_task(lease_ms=30_000)
    assert claimed is not None
    engine.clock.advance(30_000)
    assert engine.sweep() == {"task:FAILED": 1}
    assert engine.history(wid)[-1]["data"] == {
        "taskExecutionId": "t1",
        "error": {"code": "LEASE_EXPIRED", "message": "the lease of attempt 1 expired"},
    }
    assert engine.sweep() == {}  # nothing left to sweep
    engine.check()


# ---------------------------------------------------------------------- flow 1: task cancel


def test_cancel_of_a_pending_task_appends_task_cancelled_and_wakes_the_workflow(engine: Engine) -> None:
    wid = workflow_with_task(engine)
    engine.clock.advance(5)
    assert engine.cancel_task("t1", "too late") == {"taskExecutionId": "t1", "status": "CANCELLED"}
    assert engine.history(wid)[-1] == {
        "sequence": 3,
        "type": "TASK_CANCELLED",
        "data": {"taskExecutionId": "t1", "taskType": "charge", "reason": "too late"},
        "createdAt": "2100-01-01T00:00:00.005Z",
    }
    assert engine.status(wid) == "PENDING"
    assert (engine.task("t1")["status"], engine.task("t1")["cancelReason"]) == ("CANCELLED", "too late")
    assert engine.poll_task() is None  # never handed out
    engine.check()


def test_cancel_of_a_running_task_is_seen_by_its_worker_which_cannot_record_a_result(engine: Engine) -> None:
    wid = workflow_with_task(engine)
    lease = engine.claim_task("t1")
    engine.cancel_task("t1")
    assert engine.heartbeat("t1", lease) == {"cancelRequested": True, "leaseExpiresAt": None}
    before = engine.items()
    for refused_call in (
        lambda: engine.complete_task("t1", lease, "late"),
        lambda: engine.fail_task("t1", lease, "late"),
    ):
        with pytest.raises(FailedPrecondition) as refused:
            refused_call()
        assert refused.value.details == {"currentStatus": "CANCELLED"}
    unchanged(engine, before)
    assert engine.types(wid)[-1] == "TASK_CANCELLED"
    engine.check()


@pytest.mark.parametrize("finish", ["complete", "fail", "cancel"])
def test_cancel_of_a_finished_task_is_failed_precondition(engine: Engine, finish: str) -> None:
    workflow_with_task(engine)
    lease = engine.claim_task("t1")
    if finish == "complete":
        engine.complete_task("t1", lease, 1)
    elif finish == "fail":
        engine.fail_task("t1", lease, "e", retryable=False)
    else:
        engine.cancel_task("t1")
    before = engine.items()
    with pytest.raises(FailedPrecondition) as refused:
        engine.cancel_task("t1")
    assert refused.value.details == {
        "currentStatus": {"complete": "COMPLETED", "fail": "FAILED"}.get(finish, "CANCELLED")
    }
    unchanged(engine, before)


def test_cancel_of_an_unknown_task_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound):
        engine.cancel_task("nope")


def test_cancel_of_a_standalone_task(engine: Engine) -> None:
    task_id = engine.create_task()["taskExecutionId"]
    assert engine.cancel_task(task_id, "r") == {"taskExecutionId": task_id, "status": "CANCELLED"}
    assert engine.poll_task() is None


def test_cancel_while_the_workflow_is_running_leaves_it_pending_at_release(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(
        wid,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "k"},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 1},
        ],
    )
    engine.fire(wid, "tick")
    lease = engine.claim(wid)
    engine.cancel_task("t1")
    assert engine.status(wid) == "RUNNING"
    assert engine.submit(wid, lease, [])["status"] == "PENDING"
    engine.check()


def test_a_task_of_an_ended_workflow_is_cancelled_when_its_worker_reports(engine: Engine) -> None:
    """After the end: the completion is refused with currentStatus CANCELLED and no event follows the end."""
    wid = workflow_with_task(engine)
    lease = engine.claim_task("t1")
    engine.cancel(wid, "stop")
    engine.run(wid, [{"type": "CANCEL_WORKFLOW", "reason": "stop"}])
    with pytest.raises(FailedPrecondition) as refused:
        engine.complete_task("t1", lease, "too late")
    assert refused.value.details == {"currentStatus": "CANCELLED"}
    assert (engine.task("t1")["status"], engine.task("t1")["output"]) == ("CANCELLED", None)
    assert engine.types(wid)[-1] == "WORKFLOW_CANCELLED"
    engine.drain_outbox()
    engine.check()
