"""Children (flows 4-7, I4, I6): outcomes reported to the parent, child-cancel requests, cascades and parent close.

Stream-driven steps are carried out by calling the outbox functions on the outbox items directly, each item twice,
so every test also proves that a redelivered record changes nothing more (I6).
"""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow import outbox

from tests.support.domain import Engine

T0 = "2100-01-01T00:00:00.000Z"


def child(name: str, child_id: str | None = None, policy: str | None = None) -> dict[str, Any]:
    command = {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id or name,
        "workflowKind": "step",
        "input": {"n": name},
    }
    if policy:
        command["parentClosePolicy"] = policy
    return command


def parent_with(engine: Engine, *commands: dict[str, Any]) -> str:
    """Given a WAITING parent that submitted `commands`; returns its id."""
    pid = engine.start(kind="parent")["workflowExecutionId"]
    engine.run(pid, list(commands))
    return pid


def end(engine: Engine, wid: str, command: dict[str, Any]) -> None:
    engine.run(wid, [command])


def process_twice(engine: Engine, expected_first: str) -> tuple[str, str]:
    """Carry out the one pending outbox item twice; the second delivery must change nothing."""
    pending = engine.outbox_keys()
    assert len(pending) == 1, pending
    pk, sk = pending[0]
    first = outbox.process_outbox_item(engine.rt, pk, sk)
    after_first = engine.items()
    second = outbox.process_outbox_item(engine.rt, pk, sk)
    assert engine.items() == after_first, "a redelivered outbox record changed state (I6)"
    assert (first, second) == (expected_first, "done")
    return pk, sk


# ---------------------------------------------------------------------- flow 5: a child's outcome


@pytest.mark.parametrize(
    ("command", "kind", "data", "link_status"),
    [
        (
            {"type": "COMPLETE_WORKFLOW", "output": {"paid": True}},
            "CHILD_WORKFLOW_COMPLETED",
            {"output": {"paid": True}},
            "COMPLETED",
        ),
        (
            {"type": "FAIL_WORKFLOW", "error": {"code": "DECLINED"}},
            "CHILD_WORKFLOW_FAILED",
            {"error": {"code": "DECLINED"}, "cancelled": False, "terminated": False},
            "FAILED",
        ),
        (
            {"type": "CANCEL_WORKFLOW", "reason": "gave up"},
            "CHILD_WORKFLOW_FAILED",
            {"error": {"code": "CANCELLED", "message": "gave up"}, "cancelled": True, "terminated": False},
            "CANCELLED",
        ),
    ],
)
def test_a_child_s_outcome_reaches_its_parent_once(
    engine: Engine, command: dict[str, Any], kind: str, data: dict[str, Any], link_status: str
) -> None:
    pid = parent_with(engine, child("pay", "pay-1"))
    engine.clock.advance(7)
    end(engine, "pay-1", command)
    assert engine.history(pid)[-1] == {
        "sequence": 3,
        "type": kind,
        "data": {"childExecutionName": "pay", "childWorkflowExecutionId": "pay-1", **data},
        "createdAt": "2100-01-01T00:00:00.007Z",
    }
    assert engine.status(pid) == "PENDING"
    link = engine.item(f"T#acme#WF#{pid}", "CHILD#pay")
    assert link is not None and link["status"] == link_status
    engine.drain_outbox()
    engine.check()


def test_a_child_that_ends_after_its_parent_is_recorded_on_the_link_only(engine: Engine) -> None:
    pid = parent_with(engine, child("c", policy="ABANDON"))
    engine.cancel(pid, cascade=False)
    end(engine, pid, {"type": "CANCEL_WORKFLOW"})
    engine.drain_outbox()
    end(engine, "c", {"type": "COMPLETE_WORKFLOW", "output": 1})
    assert engine.types(pid)[-1] == "WORKFLOW_CANCELLED"
    assert engine.item(f"T#acme#WF#{pid}", "CHILD#c")["status"] == "COMPLETED"  # type: ignore[index]
    engine.check()


# ---------------------------------------------------------------------- flow 4: child-cancel requests


def request_cancel(engine: Engine, pid: str, name: str, child_id: str, reason: str = "not needed") -> None:
    engine.cancel(pid, "parent cancelling", cascade=False)  # wakes the parent so its code can ask
    engine.run(
        pid,
        [
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": name,
                "childWorkflowExecutionId": child_id,
                "reason": reason,
            }
        ],
    )


def test_a_request_is_delivered_to_a_live_child(engine: Engine) -> None:
    pid = parent_with(engine, child("c"))
    request_cancel(engine, pid, "c", "c")
    engine.clock.advance(3)
    process_twice(engine, "delivered")
    assert engine.history("c")[-1] == {
        "sequence": 2,
        "type": "CANCELLATION_REQUESTED",
        "data": {"reason": "not needed", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None},
        "createdAt": "2100-01-01T00:00:00.003Z",
    }
    view = engine.get("c")
    assert (view["status"], view["cancelReason"]) == ("CANCELLING", "not needed")
    claimed = engine.poll()
    assert claimed is not None and claimed["workflowExecution"]["workflowExecutionId"] == "c"
    assert engine.item(f"T#acme#WF#{pid}", "CHILD#c")["cancelState"] == "DELIVERED"  # type: ignore[index]
    assert engine.types(pid)[-1] == "CHILD_WORKFLOW_CANCELLATION_REQUESTED"  # the parent is not woken
    engine.check()


def test_a_request_to_a_child_already_cancelling_appends_nothing(engine: Engine) -> None:
    pid = parent_with(engine, child("c"))
    engine.cancel("c", "by the api")
    request_cancel(engine, pid, "c", "c")
    before = engine.history("c")
    process_twice(engine, "already-cancelling")
    assert engine.history("c") == before
    assert engine.item(f"T#acme#WF#{pid}", "CHILD#c")["cancelState"] == "DELIVERED"  # type: ignore[index]
    engine.check()


def test_a_request_to_a_finished_child_fails_back_to_the_parent(engine: Engine) -> None:
    pid = parent_with(engine, child("c"))
    end(engine, "c", {"type": "COMPLETE_WORKFLOW", "output": 1})
    engine.run(
        pid,
        [
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": "c",
                "reason": "late",
            }
        ],
    )
    process_twice(engine, "failed")
    assert engine.history(pid)[-1]["type"] == "CHILD_WORKFLOW_CANCELLATION_FAILED"
    assert engine.history(pid)[-1]["data"] == {
        "childExecutionName": "c",
        "childWorkflowExecutionId": "c",
        "error": {
            "code": "FAILED_PRECONDITION",
            "message": "child workflow execution is COMPLETED",
            "currentStatus": "COMPLETED",
        },
    }
    assert engine.status(pid) == "PENDING"
    assert engine.item(f"T#acme#WF#{pid}", "CHILD#c")["cancelState"] == "FAILED"  # type: ignore[index]
    engine.check()


@pytest.mark.parametrize(("name", "child_id"), [("nobody", "nobody"), ("c", "someone-else"), ("c", "stranger")])
def test_a_request_for_a_stranger_fails_with_not_found(engine: Engine, name: str, child_id: str) -> None:
    pid = parent_with(engine, child("c"))
    stranger = engine.start()  # an execution that is not this parent's child
    if child_id == "stranger":
        child_id = stranger["workflowExecutionId"]
    request_cancel(engine, pid, name, child_id)
    process_twice(engine, "failed")
    assert engine.history(pid)[-1]["data"] == {
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id,
        "error": {"code": "NOT_FOUND", "message": f"{child_id} is not a child {name!r} of this execution"},
    }
    assert engine.status(stranger["workflowExecutionId"]) == "PENDING"
    engine.check()


def test_a_request_that_arrives_after_the_parent_ended_touches_only_the_link(engine: Engine) -> None:
    pid = parent_with(engine, child("c", policy="ABANDON"))
    end(engine, "c", {"type": "COMPLETE_WORKFLOW"})
    lease = engine.claim(pid)
    engine.submit(
        pid,
        lease,
        [
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": "c",
                "reason": "r",
            },
            {"type": "COMPLETE_WORKFLOW"},
        ],
    )
    keys = [key for key in engine.outbox_keys() if "CHILD_CANCEL" in key[1]]
    assert len(keys) == 1
    assert outbox.propagate_child_cancel(engine.rt, *keys[0]) == "failed"
    assert engine.types(pid)[-1] == "WORKFLOW_COMPLETED"
    engine.drain_outbox()
    engine.check()


# ---------------------------------------------------------------------- flow 6: cascading cancel


def family(engine: Engine) -> str:
    """root → a (→ a1, a2), b (→ b1), c (already COMPLETED)."""
    root = parent_with(engine, child("a"), child("b"), child("c"))
    engine.run("a", [child("a1"), child("a2")])
    engine.run("b", [child("b1")])
    end(engine, "c", {"type": "COMPLETE_WORKFLOW"})
    for wid in ("a1", "a2", "b1"):
        engine.run(wid, [])  # claimed and released: WAITING
    return root


def test_a_cascading_cancel_reaches_every_live_descendant(engine: Engine) -> None:
    root = family(engine)
    assert engine.cancel(root, "shutdown") == {"workflowExecutionId": root, "status": "CANCELLING"}
    outcomes = engine.drain_outbox(deliveries=2)
    assert sorted(outcomes) == sorted(["cascaded", "done"] * 3)  # root, a, b (leaves spawned nothing)
    for wid in ("a", "b", "a1", "a2", "b1"):
        expected = {"reason": "shutdown", "requestedBy": f"workflow:{root}", "cleanupDeadline": None}
        assert engine.history(wid)[-1]["data"] == expected, wid
        assert engine.status(wid) == "CANCELLING"
    assert engine.status("c") == "COMPLETED"
    assert engine.history(root)[-1]["data"] == {"reason": "shutdown", "requestedBy": "api", "cleanupDeadline": None}
    engine.check()


def test_a_cascade_through_an_already_cancelling_child_still_reaches_its_children(engine: Engine) -> None:
    root = family(engine)
    engine.cancel("a", "earlier", cascade=False)
    engine.cancel(root, "shutdown")
    engine.drain_outbox()
    assert engine.history("a")[-1]["data"] == {"reason": "earlier", "requestedBy": "api", "cleanupDeadline": None}
    assert engine.types("a").count("CANCELLATION_REQUESTED") == 1
    expected = {"reason": "shutdown", "requestedBy": f"workflow:{root}", "cleanupDeadline": None}
    assert engine.history("a1")[-1]["data"] == expected
    engine.check()


def test_a_non_cascading_cancel_leaves_descendants_alone(engine: Engine) -> None:
    root = family(engine)
    engine.cancel(root, "only me", cascade=False)
    assert engine.outbox_keys() == []
    assert {engine.status(w) for w in ("a", "b", "a1", "a2", "b1")} <= {"PENDING", "WAITING"}


def test_a_repeated_cascading_cancel_carries_the_cascade_again_with_its_reason(engine: Engine) -> None:
    root = family(engine)
    engine.cancel(root, "first", cascade=False)
    engine.cancel(root, "second")  # already CANCELLING: nothing appended, the cascade is carried out
    assert engine.types(root).count("CANCELLATION_REQUESTED") == 1
    engine.drain_outbox()
    expected = {"reason": "second", "requestedBy": f"workflow:{root}", "cleanupDeadline": None}
    assert engine.history("b1")[-1]["data"] == expected
    engine.check()


def test_children_scheduled_by_a_cancelling_execution_are_cleanup_work(engine: Engine) -> None:
    root = parent_with(engine, child("a"))
    engine.cancel(root, "stop")
    engine.drain_outbox()
    engine.run(root, [child("cleanup")])
    engine.drain_outbox()
    assert engine.status("a") == "CANCELLING"
    assert engine.status("cleanup") == "PENDING"


# ---------------------------------------------------------------------- flow 7: parent close


def test_a_closed_parent_cancels_its_open_work_without_events_after_its_end(engine: Engine) -> None:
    pid = parent_with(
        engine,
        child("asked"),
        child("abandoned", policy="ABANDON"),
        child("done"),
        {"type": "SCHEDULE_TASK", "taskExecutionId": "pending-task", "kind": "k"},
        {"type": "SCHEDULE_TASK", "taskExecutionId": "running-task", "kind": "k"},
        {"type": "START_TIMER", "timerId": "later", "durationMs": 60_000},
    )
    end(engine, "done", {"type": "COMPLETE_WORKFLOW"})
    claimed = engine.poll_task()
    assert claimed is not None
    running_id, running_lease = claimed["task"]["taskExecutionId"], str(claimed["leaseId"])
    engine.run(pid, [{"type": "COMPLETE_WORKFLOW", "output": "ok"}])
    history_at_end = engine.history(pid)

    engine.clock.advance(11)
    process_twice(engine, "closed")  # the CLOSE item; it asks the REQUEST_CANCEL child through its own item
    process_twice(engine, "delivered")
    assert engine.history(pid) == history_at_end
    expected = {"reason": "parent closed", "requestedBy": f"workflow:{pid}", "cleanupDeadline": None}
    assert engine.history("asked")[-1]["data"] == expected
    assert engine.status("asked") == "CANCELLING"
    assert engine.status("abandoned") == "PENDING"
    for task_id in ("pending-task", "running-task"):
        view = engine.task(task_id)
        assert (view["status"], view["cancelReason"]) == ("CANCELLED", "parent closed"), task_id
    assert engine.item(f"T#acme#WF#{pid}", "TIMER#later")["status"] == "CANCELLED"  # type: ignore[index]
    assert engine.heartbeat(running_id, running_lease) == {"cancelRequested": True, "leaseExpiresAt": None}
    engine.check()


def test_a_parent_that_never_spawned_anything_has_nothing_to_close(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "COMPLETE_WORKFLOW"}])
    assert engine.outbox_keys() == []


def test_the_sweeper_re_drives_an_outbox_item_the_stream_left_behind(engine: Engine) -> None:
    pid = parent_with(engine, child("c"))
    request_cancel(engine, pid, "c", "c")
    redrive = engine.settings.outbox_redrive_after_seconds * 1000
    engine.clock.advance(redrive - 1)
    assert engine.sweep() == {}
    engine.clock.advance(1)
    assert engine.sweep() == {"outbox:delivered": 1}
    assert engine.outbox_keys() == []
    assert engine.status("c") == "CANCELLING"
    engine.check()


def test_each_outbox_step_called_directly_twice_has_one_effect(engine: Engine) -> None:
    """propagate_child_cancel, cascade_cancel and close_parent on their own items, each delivered twice (I6)."""
    pid = parent_with(
        engine,
        child("asked"),
        child("kept", policy="ABANDON"),
        {"type": "SCHEDULE_TASK", "taskExecutionId": "t", "kind": "k"},
    )
    engine.run("asked", [child("grandchild")])
    engine.cancel(pid, "stop")
    [(pk, cascade_sk)] = engine.outbox_keys()
    assert [outbox.cascade_cancel(engine.rt, pk, cascade_sk) for _ in range(2)] == ["cascaded", "done"]
    for key in engine.outbox_keys():  # the children's own cascade items
        assert [outbox.cascade_cancel(engine.rt, *key) for _ in range(2)] == ["cascaded", "done"]
    assert [engine.types(w).count("CANCELLATION_REQUESTED") for w in ("asked", "kept", "grandchild")] == [1, 1, 1]
    lease = engine.claim(pid)
    engine.submit(
        pid,
        lease,
        [
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "asked",
                "childWorkflowExecutionId": "asked",
                "reason": "again",
            },
            {"type": "CANCEL_WORKFLOW", "reason": "stop"},
        ],
    )
    keys = dict((sk.split("#")[1], (key_pk, sk)) for key_pk, sk in engine.outbox_keys())
    assert sorted(keys) == ["CHILD_CANCEL", "CLOSE"]
    assert [outbox.propagate_child_cancel(engine.rt, *keys["CHILD_CANCEL"]) for _ in range(2)] == [
        "already-cancelling",
        "done",
    ]
    assert [outbox.close_parent(engine.rt, *keys["CLOSE"]) for _ in range(2)] == ["closed", "done"]
    assert engine.task("t")["status"] == "CANCELLED"
    assert engine.outbox_keys() == []  # both children were CANCELLING already: nothing more to ask
    engine.check()
