"""Dispatch: polls, leases (I7) and releases, and no lost wake-up (I5)."""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow import commands, executions
from stratoflow.errors import FailedPrecondition, LeaseLost

from tests.support.domain import Engine

T0 = "2100-01-01T00:00:00.000Z"
T0_MS = 4_102_444_800_000


def dispatch(engine: Engine, wid: str) -> dict[str, Any]:
    item = engine.execution_item(wid)
    return {key: item.get(key) for key in ("status", "dispatchPk", "dispatchAt", "leaseId", "lastSeq", "seenSeq")}


def waiting_with_task(engine: Engine, task_id: str = "t1") -> str:
    """Given a WAITING workflow whose task t1 is RUNNING in a worker; returns the workflow id."""
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "k"}])
    assert engine.status(wid) == "WAITING"
    return wid


# ---------------------------------------------------------------------- polls


def test_a_poll_claims_the_oldest_ready_execution_with_its_history(engine: Engine) -> None:
    first = engine.start(input_value=1)["workflowExecutionId"]
    engine.clock.advance(5)
    engine.start(input_value=2)
    claimed = engine.poll(lease_ms=30_000)
    assert claimed is not None
    assert claimed == {
        "workflowExecution": {
            "workflowExecutionId": first,
            "kind": "order-saga",
            "queue": "default",
            "status": "RUNNING",
            "input": 1,
            "output": None,
            "error": None,
            "cancelReason": None,
            "parentWorkflowExecutionId": None,
            "childExecutionName": None,
            "cleanupDeadline": None,
            "terminatedReason": None,
            "cancelOn": [],
            "createdAt": T0,
            "updatedAt": "2100-01-01T00:00:00.005Z",
        },
        "events": [{"sequence": 1, "type": "WORKFLOW_STARTED", "data": {"input": 1}, "createdAt": T0}],
        "nextAfterSequence": None,
        "leaseId": "id-0003",
        "leaseExpiresAt": "2100-01-01T00:00:30.005Z",
    }
    assert dispatch(engine, first) == {
        "status": "RUNNING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 5 + 30_000,
        "leaseId": "id-0003",
        "lastSeq": 1,
        "seenSeq": 1,
    }


def test_a_poll_honours_queue_and_kinds_and_answers_none_when_nothing_is_ready(engine: Engine) -> None:
    engine.start(kind="a", queue="q1")
    b = engine.start(kind="b", queue="q1")["workflowExecutionId"]
    assert engine.poll("q2") is None
    claimed = engine.poll("q1", kinds=["b", "c"])
    assert claimed is not None and claimed["workflowExecution"]["workflowExecutionId"] == b
    assert engine.poll("q1", kinds=["b"]) is None


def test_two_polls_never_share_an_execution(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    assert engine.poll() is not None
    assert engine.poll() is None
    assert dispatch(engine, wid)["status"] == "RUNNING"


def test_regression_a_claim_increments_the_execution_version_instead_of_resetting_it(engine: Engine) -> None:
    """Bug: the claim's UpdateItem was built on a key-only item, so PynamoDB SET the version to 1 instead of
    incrementing it. A writer holding a copy read at version 1 (e.g. a lease holder stalled past its lease) could then
    commit over the new holder's claim: its lease, and seenSeq, silently replaced."""
    wid = engine.start()["workflowExecutionId"]
    stale_holder = engine.poll(lease_ms=1000)
    assert stale_holder is not None
    stale_copy = executions.get_execution(engine.rt.repo, "acme", wid)  # the holder read it at this version
    assert stale_copy is not None
    engine.clock.advance(1001)  # its lease expires
    new_holder = engine.poll()
    assert new_holder is not None
    assert engine.execution_item(wid)["ver"] == stale_copy.ver + 1

    calls = {"n": 0}
    real = commands.require_execution

    def stale_then_real(repo: Any, tenant: str, workflow_id: str) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:  # the stalled holder's read, from before it lost its lease
            stale_copy.lease_expires_at = engine.clock.now_ms() + 1
            return stale_copy
        return real(repo, tenant, workflow_id)

    old_lease = str(stale_holder["leaseId"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(commands, "require_execution", stale_then_real)
        with pytest.raises(LeaseLost):
            engine.submit(wid, old_lease, [{"type": "RECORD_OPERATION", "operationName": "late", "result": 1}])
    assert engine.types(wid) == ["WORKFLOW_STARTED"]
    assert engine.execution_item(wid)["leaseId"] == new_holder["leaseId"]


# ---------------------------------------------------------------------- leases (I7)


def test_a_wrong_lease_is_lease_lost_and_changes_nothing(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.claim(wid)
    before = engine.items()
    with pytest.raises(LeaseLost) as lost:
        engine.submit(wid, "not-the-lease", [{"type": "COMPLETE_WORKFLOW"}])
    assert lost.value.details == {"currentStatus": "RUNNING"}
    assert engine.items() == before


def test_an_expired_lease_is_lease_lost_and_the_execution_is_ready_again(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    engine.clock.advance(60_000)  # exactly the default lease: expired
    before = engine.items()
    with pytest.raises(LeaseLost):
        engine.submit(wid, lease, [])
    assert engine.items() == before
    second = engine.poll()
    assert second is not None and second["leaseId"] != lease
    assert second["workflowExecution"]["status"] == "RUNNING"
    with pytest.raises(LeaseLost):
        engine.submit(wid, lease, [])
    assert engine.submit(wid, str(second["leaseId"]), [])["status"] == "WAITING"


def test_a_lease_on_an_ended_execution_is_failed_precondition(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    engine.submit(wid, lease, [{"type": "FAIL_WORKFLOW", "error": "boom"}])
    before = engine.items()
    for any_lease in (lease, "other"):
        with pytest.raises(FailedPrecondition) as refused:
            engine.submit(wid, any_lease, [])
        assert refused.value.details == {"currentStatus": "FAILED"}
    assert engine.items() == before


# ---------------------------------------------------------------------- releases and wake-ups (I5)


def test_a_release_without_news_waits_out_of_the_dispatch_index(engine: Engine) -> None:
    wid = waiting_with_task(engine)
    assert dispatch(engine, wid) == {
        "status": "WAITING",
        "dispatchPk": None,
        "dispatchAt": None,
        "leaseId": None,
        "lastSeq": 2,
        "seenSeq": 2,
    }
    assert engine.poll() is None


def test_an_event_for_a_waiting_execution_makes_it_pending_and_ready_at_once(engine: Engine) -> None:
    wid = waiting_with_task(engine)
    lease = engine.claim_task("t1")
    engine.clock.advance(7)
    engine.complete_task("t1", lease, {"done": True})
    assert dispatch(engine, wid) == {
        "status": "PENDING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 7,
        "leaseId": None,
        "lastSeq": 3,
        "seenSeq": 2,
    }
    claimed = engine.poll()
    assert claimed is not None and [e["type"] for e in claimed["events"]][-1] == "TASK_COMPLETED"


def test_an_event_while_running_is_seen_at_release_which_leaves_it_pending(engine: Engine) -> None:
    """The race 'task completes while the workflow is RUNNING', in sequence: it ends PENDING, never WAITING."""
    wid = engine.start()["workflowExecutionId"]
    engine.run(
        wid,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "k"},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 1},
        ],
    )
    task_lease = engine.claim_task("t1")
    engine.fire(wid, "tick")
    lease = engine.claim(wid)
    engine.complete_task("t1", task_lease, 1)  # appended by someone else while the holder works
    assert dispatch(engine, wid) == {
        "status": "RUNNING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 60_000,
        "leaseId": lease,
        "lastSeq": 5,
        "seenSeq": 4,
    }
    engine.clock.advance(9)
    result = engine.submit(wid, lease, [{"type": "RECORD_OPERATION", "operationName": "o", "result": 1}])
    assert result["status"] == "PENDING"
    assert dispatch(engine, wid) == {
        "status": "PENDING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 9,
        "leaseId": None,
        "lastSeq": 6,
        "seenSeq": 4,
    }
    claimed = engine.poll()
    assert claimed is not None
    assert [e["type"] for e in claimed["events"]] == [
        "WORKFLOW_STARTED",
        "TASK_SCHEDULED",
        "TIMER_STARTED",
        "TIMER_FIRED",
        "TASK_COMPLETED",
        "OPERATION_COMPLETED",
    ]
    engine.check()


def test_an_event_for_an_execution_whose_lease_expired_voids_the_lease(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(
        wid,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "k"},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 1},
        ],
    )
    task = engine.poll_task(lease_ms=300_000)
    assert task is not None
    engine.fire(wid, "tick")
    lease = engine.claim(wid)
    engine.clock.advance(60_001)  # the workflow lease expired; the task's did not
    engine.complete_task("t1", str(task["leaseId"]), 1)
    assert dispatch(engine, wid) == {
        "status": "PENDING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 60_000,
        "leaseId": None,
        "lastSeq": 5,
        "seenSeq": 4,
    }
    with pytest.raises(LeaseLost):
        engine.submit(wid, lease, [])
    assert engine.claim(wid) != lease


# ---------------------------------------------------------------------- CANCELLING


def test_cancel_of_a_waiting_execution_makes_it_cancelling_and_ready(engine: Engine) -> None:
    wid = waiting_with_task(engine)
    engine.clock.advance(4)
    assert engine.cancel(wid, "customer asked") == {"workflowExecutionId": wid, "status": "CANCELLING"}
    assert engine.history(wid)[-1] == {
        "sequence": 3,
        "type": "CANCELLATION_REQUESTED",
        "data": {"reason": "customer asked", "requestedBy": "api", "cleanupDeadline": None},
        "createdAt": "2100-01-01T00:00:00.004Z",
    }
    assert dispatch(engine, wid) == {
        "status": "CANCELLING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 4,
        "leaseId": None,
        "lastSeq": 3,
        "seenSeq": 2,
    }
    assert engine.get(wid)["cancelReason"] == "customer asked"
    claimed = engine.poll()
    assert claimed is not None and claimed["workflowExecution"]["status"] == "CANCELLING"
    assert engine.status(wid) == "CANCELLING"


def test_cancel_while_running_keeps_the_holders_lease_and_its_release_leaves_it_ready(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    engine.cancel(wid, "stop")
    assert dispatch(engine, wid) == {
        "status": "CANCELLING",
        "dispatchPk": "T#acme#WQ#default",
        "dispatchAt": T0_MS + 60_000,
        "leaseId": lease,
        "lastSeq": 2,
        "seenSeq": 1,
    }
    assert engine.poll() is None  # the holder keeps it
    result = engine.submit(wid, lease, [{"type": "RECORD_OPERATION", "operationName": "o", "result": 1}])
    assert result["status"] == "CANCELLING"
    assert dispatch(engine, wid)["dispatchAt"] == T0_MS
    claimed = engine.poll()
    assert claimed is not None and claimed["workflowExecution"]["status"] == "CANCELLING"
    assert [e["type"] for e in claimed["events"]][-2:] == ["CANCELLATION_REQUESTED", "OPERATION_COMPLETED"]


def test_a_cancelling_release_without_news_waits_until_an_event_arrives(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.cancel(wid, "stop")
    lease = engine.claim(wid)
    result = engine.submit(wid, lease, [{"type": "SCHEDULE_TASK", "taskExecutionId": "cleanup", "kind": "undo"}])
    assert result["status"] == "CANCELLING"
    assert dispatch(engine, wid) == {
        "status": "CANCELLING",
        "dispatchPk": None,
        "dispatchAt": None,
        "leaseId": None,
        "lastSeq": 3,
        "seenSeq": 3,
    }
    assert engine.poll() is None
    engine.complete_task("cleanup", engine.claim_task("cleanup"), "undone")
    lease = engine.claim(wid)
    assert engine.status(wid) == "CANCELLING"
    assert engine.submit(wid, lease, [{"type": "COMPLETE_WORKFLOW", "output": "cleaned"}])["status"] == "COMPLETED"
    assert engine.drain_outbox() == ["closed", "done"]
    engine.check()


def test_cancel_is_idempotent_and_refused_once_ended(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.cancel(wid, "first")
    before = engine.items()
    assert engine.cancel(wid, "second", cascade=False) == {"workflowExecutionId": wid, "status": "CANCELLING"}
    assert engine.items() == before
    lease = engine.claim(wid)
    engine.submit(wid, lease, [{"type": "CANCEL_WORKFLOW", "reason": "done"}])
    before = engine.items()
    with pytest.raises(FailedPrecondition) as refused:
        engine.cancel(wid, "third")
    assert refused.value.details == {"currentStatus": "CANCELLED"}
    assert engine.items() == before
    assert engine.get(wid)["cancelReason"] == "first"
    engine.check()
