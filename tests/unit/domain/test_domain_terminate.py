"""Terminate and cleanup deadlines (operators.md, I10, I12), on the domain with a fake clock.

Stream-driven steps are carried out by draining the outbox, each item delivered twice (I6); timers are fired by
calling fire-timer as the schedule (or the sweeper) would.
"""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow import terminate, timers, workflows
from stratoflow.deadlines import DEADLINE_TIMER_ID
from stratoflow.errors import FailedPrecondition

from tests.support.domain import Engine

T0 = "2100-01-01T00:00:00.000Z"


def child(name: str, policy: str = "REQUEST_CANCEL") -> dict[str, Any]:
    return {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": name,
        "workflowKind": "step",
        "parentClosePolicy": policy,
    }


def family(engine: Engine) -> str:
    """root → a (REQUEST_CANCEL) → a1, and root → b (ABANDON); root has an open task and timer. All WAITING."""
    root = engine.start(kind="root")["workflowExecutionId"]
    engine.run(
        root,
        [
            child("a"),
            child("b", "ABANDON"),
            {"type": "SCHEDULE_TASK", "taskExecutionId": "root-task", "kind": "work"},
            {"type": "START_TIMER", "timerId": "root-timer", "durationMs": 60_000},
        ],
    )
    engine.run("a", [child("a1")])
    return root


def terminate_call(engine: Engine, wid: str, reason: str = "stuck", cascade: bool = True) -> dict[str, Any]:
    return terminate.terminate_workflow(engine.rt, engine.tenant, wid, reason=reason, cascade=cascade)


def last(engine: Engine, wid: str) -> dict[str, Any]:
    event: dict[str, Any] = engine.history(wid)[-1]
    return event


# ---------------------------------------------------------------------- terminate


def test_terminate_ends_a_live_execution_at_once_in_one_transaction(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.clock.advance(5)
    assert terminate_call(engine, wid, "runaway") == {"workflowExecutionId": wid, "status": "TERMINATED"}
    assert engine.types(wid) == ["WORKFLOW_STARTED", "WORKFLOW_TERMINATED"]
    assert last(engine, wid)["data"] == {"reason": "runaway", "requestedBy": "api"}
    view = engine.get(wid)
    assert (view["status"], view["terminatedReason"], view["cleanupDeadline"], view["cancelOn"]) == (
        "TERMINATED",
        "runaway",
        None,
        [],
    )
    item = engine.item_of(wid)
    assert "dispatchPk" not in item and "leaseId" not in item  # never handed out again
    assert engine.poll() is None
    assert workflows.list_workflows(engine.rt, "acme", status="TERMINATED", kind=None, limit=10, next_token=None)[
        "workflows"
    ] == [view]


@pytest.mark.parametrize("status_command", [{"type": "COMPLETE_WORKFLOW"}, {"type": "CANCEL_WORKFLOW"}])
def test_terminate_of_an_ended_execution_is_refused_with_its_status(
    engine: Engine, status_command: dict[str, Any]
) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [status_command])
    before = engine.items()
    with pytest.raises(FailedPrecondition) as refused:
        terminate_call(engine, wid)
    assert refused.value.details == {"currentStatus": engine.status(wid)}
    assert engine.items() == before
    terminate_call(engine, engine.start()["workflowExecutionId"])


def test_terminate_twice_is_refused_with_terminated(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    terminate_call(engine, wid)
    with pytest.raises(FailedPrecondition) as refused:
        terminate_call(engine, wid)
    assert refused.value.details == {"currentStatus": "TERMINATED"}


def test_the_lease_holder_s_next_submit_is_refused_and_changes_nothing(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    terminate_call(engine, wid)
    before = engine.items()
    with pytest.raises(FailedPrecondition) as refused:
        engine.submit(wid, lease, [{"type": "COMPLETE_WORKFLOW", "output": 1}])
    assert refused.value.details == {"currentStatus": "TERMINATED"}
    assert engine.items() == before


def test_terminate_with_cascade_terminates_every_descendant_whatever_its_policy(engine: Engine) -> None:
    root = family(engine)
    terminate_call(engine, root, "operator stop")
    engine.drain_outbox()
    for wid in ("a", "a1", "b"):
        assert engine.status(wid) == "TERMINATED", wid
        assert last(engine, wid)["data"] == {"reason": "operator stop", "requestedBy": f"workflow:{root}"}
        assert "CANCELLATION_REQUESTED" not in engine.types(wid), wid
    # the root's own work ended as on any end (flow 7), with nothing appended after its terminal event
    assert engine.types(root)[-1] == "WORKFLOW_TERMINATED"
    assert engine.task("root-task")["status"] == "CANCELLED"
    assert engine.item(f"T#acme#WF#{root}", "TIMER#root-timer")["status"] == "CANCELLED"
    # the links keep the outcome (the parents ended: no event)
    assert engine.item(f"T#acme#WF#{root}", "CHILD#a")["status"] == "TERMINATED"
    engine.check()


def test_terminate_without_cascade_leaves_children_to_their_close_policy(engine: Engine) -> None:
    root = family(engine)
    terminate_call(engine, root, cascade=False)
    engine.drain_outbox()
    assert engine.status("a") == "CANCELLING"
    assert last(engine, "a")["data"] == {
        "reason": "parent closed",
        "requestedBy": f"workflow:{root}",
        "cleanupDeadline": None,
    }
    assert (engine.status("b"), engine.types("b")) == ("PENDING", ["WORKFLOW_STARTED"])  # ABANDON: left alone
    assert engine.status("a1") == "PENDING"
    engine.check()


def test_a_terminated_child_is_reported_to_its_live_parent_once(engine: Engine) -> None:
    root = family(engine)
    engine.clock.advance(3)
    terminate_call(engine, "a", "bad input")
    engine.drain_outbox()
    reports = [e for e in engine.history(root) if e["type"] == "CHILD_WORKFLOW_FAILED"]
    assert [e["data"] for e in reports] == [
        {
            "childExecutionName": "a",
            "childWorkflowExecutionId": "a",
            "error": {"code": "TERMINATED", "message": "bad input"},
            "cancelled": False,
            "terminated": True,
        }
    ]
    assert engine.status(root) == "PENDING"  # woken
    assert last(engine, "a1")["data"]["requestedBy"] == "workflow:a"
    engine.check(settled=True)


def test_terminate_ends_a_cancelling_execution(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.cancel(wid, "please")
    terminate_call(engine, wid)
    assert engine.types(wid) == ["WORKFLOW_STARTED", "CANCELLATION_REQUESTED", "WORKFLOW_TERMINATED"]


# ---------------------------------------------------------------------- cleanup deadlines


def cancel_with_deadline(engine: Engine, wid: str, ms: int, reason: str = "shutdown") -> dict[str, Any]:
    return workflows.cancel_workflow(
        engine.rt, engine.tenant, wid, reason=reason, cascade=True, cleanup_timeout_ms=ms
    )


def test_a_cleanup_deadline_is_shown_on_the_execution_and_in_its_event(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    assert cancel_with_deadline(engine, wid, 5_000) == {"workflowExecutionId": wid, "status": "CANCELLING"}
    deadline = "2100-01-01T00:00:05.000Z"
    assert last(engine, wid)["data"] == {"reason": "shutdown", "requestedBy": "api", "cleanupDeadline": deadline}
    assert engine.get(wid)["cleanupDeadline"] == deadline
    timer = engine.item(f"T#acme#WF#{wid}", f"TIMER#{DEADLINE_TIMER_ID}")
    assert timer is not None and (timer["status"], timer["fireAtMs"]) == ("STARTED", engine.clock.now_ms() + 5_000)


def test_an_execution_still_live_at_its_deadline_is_terminated_with_its_descendants(engine: Engine) -> None:
    root = family(engine)
    cancel_with_deadline(engine, root, 2_000)
    engine.drain_outbox()  # the cascade carries the deadline on
    for wid in ("a", "a1", "b"):
        assert engine.get(wid)["cleanupDeadline"] == "2100-01-01T00:00:02.000Z", wid
    engine.clock.advance(1_999)
    assert engine.fire(root, DEADLINE_TIMER_ID) == "ignored"  # not due yet: never early
    engine.clock.advance(1)
    assert engine.fire(root, DEADLINE_TIMER_ID) == "terminated"
    assert engine.fire(root, DEADLINE_TIMER_ID) == "ignored"  # a second invocation changes nothing (I6)
    assert last(engine, root)["data"] == {"reason": "cleanup timeout", "requestedBy": "cleanup-timeout"}
    engine.drain_outbox()
    for wid in ("a", "a1", "b"):
        assert last(engine, wid)["data"] == {"reason": "cleanup timeout", "requestedBy": f"workflow:{root}"}, wid
    # the descendants' own deadline timers were cancelled by their close: they never fire
    engine.clock.advance(10_000)
    assert engine.fire("a", DEADLINE_TIMER_ID) == "ignored"
    engine.check()


def test_an_execution_that_ends_first_is_left_alone_by_its_deadline(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    cancel_with_deadline(engine, wid, 1_000)
    engine.run(wid, [{"type": "CANCEL_WORKFLOW", "reason": "cleaned up"}])
    engine.drain_outbox()  # its close cancels the deadline's timer (and the stream deletes its schedule)
    assert engine.item(f"T#acme#WF#{wid}", f"TIMER#{DEADLINE_TIMER_ID}")["status"] == "CANCELLED"
    engine.clock.advance(5_000)
    assert engine.fire(wid, DEADLINE_TIMER_ID) == "ignored"
    assert engine.types(wid)[-1] == "WORKFLOW_CANCELLED"
    assert engine.get(wid)["cleanupDeadline"] == "2100-01-01T00:00:01.000Z"  # it stays after the end
    engine.check()


def test_an_already_cancelling_execution_keeps_its_deadline_or_its_lack_of_one(engine: Engine) -> None:
    without = engine.start()["workflowExecutionId"]
    engine.cancel(without, "first")
    cancel_with_deadline(engine, without, 1_000)
    assert engine.get(without)["cleanupDeadline"] is None
    assert engine.types(without).count("CANCELLATION_REQUESTED") == 1
    with_one = engine.start()["workflowExecutionId"]
    cancel_with_deadline(engine, with_one, 1_000)
    engine.clock.advance(10)
    cancel_with_deadline(engine, with_one, 60_000)
    assert engine.get(with_one)["cleanupDeadline"] == "2100-01-01T00:00:01.000Z"


def test_the_sweeper_terminates_an_execution_whose_deadline_schedule_was_lost(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    cancel_with_deadline(engine, wid, 1_000)
    engine.clock.advance(1_000 + engine.settings.timer_sweep_grace_seconds * 1000)
    assert engine.sweep() == {"timer:terminated": 1}
    assert engine.status(wid) == "TERMINATED"


def test_a_deadline_terminate_racing_the_workflow_s_own_cancel_yields_one_end(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    cancel_with_deadline(engine, wid, 1_000)
    lease = engine.claim(wid)
    engine.clock.advance(1_000)
    assert timers.fire_timer(engine.rt, "acme", wid, DEADLINE_TIMER_ID) == "terminated"
    with pytest.raises(FailedPrecondition):
        engine.submit(wid, lease, [{"type": "CANCEL_WORKFLOW"}])
    assert [t for t in engine.types(wid) if t.startswith("WORKFLOW_") and t != "WORKFLOW_STARTED"] == [
        "WORKFLOW_TERMINATED"
    ]
