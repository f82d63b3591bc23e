"""Every command of api.md's table: the events it appends (data keys exactly) and what it stores; submission rules."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, get_args

import pytest
from pydantic import ValidationError
from stratoflow import commands, tasks
from stratoflow.errors import Conflict, FailedPrecondition, InvalidArgument, PayloadTooLarge
from stratoflow.records import Task

from tests.support.domain import COMMANDS, Engine

T0 = "2100-01-01T00:00:00.000Z"
BIG = "x" * (256 * 1024 - 2)  # exactly 256 KiB as compact JSON (with its quotes)
TOO_BIG = "x" * (256 * 1024 - 1)  # one byte over


@pytest.fixture
def running(engine: Engine) -> tuple[str, str]:
    """Given a workflow claimed by a worker: (workflow id, lease id)."""
    wid = engine.start(input_value={"order": 7})["workflowExecutionId"]
    return wid, engine.claim(wid)


def event(sequence: int, kind: str, data: dict[str, Any], at: str = T0) -> dict[str, Any]:
    return {"sequence": sequence, "type": kind, "data": data, "createdAt": at}


# ---------------------------------------------------------------------- one command at a time


def test_schedule_task_appends_task_scheduled_and_stores_a_pending_task(
    engine: Engine, running: tuple[str, str]
) -> None:
    wid, lease = running
    result = engine.submit(
        wid,
        lease,
        [
            {
                "type": "SCHEDULE_TASK",
                "taskExecutionId": "charge-1",
                "kind": "charge",
                "input": {"amount": 5},
                "maxRetries": 2,
                "timeoutMs": 30000,
            }
        ],
    )
    assert result == {
        "status": "WAITING",
        "events": [
            event(2, "TASK_SCHEDULED", {"taskExecutionId": "charge-1", "kind": "charge", "input": {"amount": 5}})
        ],
    }
    assert engine.task("charge-1") == {
        "taskExecutionId": "charge-1",
        "workflowExecutionId": wid,
        "kind": "charge",
        "queue": "default",
        "status": "PENDING",
        "input": {"amount": 5},
        "output": None,
        "error": None,
        "attempt": 0,
        "maxRetries": 2,
        "timeoutMs": 30000,
        "cancelReason": None,
        "createdAt": T0,
        "updatedAt": T0,
    }
    # The execution keeps its open task's id for its close, so no reference item is written.
    assert engine.execution_item(wid)["openTasks"] == ["charge-1"]
    assert engine.item(f"T#acme#WF#{wid}", "TASKREF#charge-1") is None
    engine.check()


def test_tasks_and_children_inherit_the_queue_unless_one_is_given(engine: Engine) -> None:
    wid = engine.start(queue="q-main")["workflowExecutionId"]
    engine.run(
        wid,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": "a", "kind": "k"},
            {"type": "SCHEDULE_TASK", "taskExecutionId": "b", "kind": "k", "queue": "q-other"},
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c1",
                "childWorkflowExecutionId": "c1",
                "workflowKind": "w",
            },
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c2",
                "childWorkflowExecutionId": "c2",
                "workflowKind": "w",
                "queue": "q-kids",
            },
        ],
    )
    assert [engine.task(t)["queue"] for t in ("a", "b")] == ["q-main", "q-other"]
    assert [engine.get(c)["queue"] for c in ("c1", "c2")] == ["q-main", "q-kids"]


def test_request_cancel_task_cancels_an_open_task_with_task_cancelled(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    engine.submit(
        wid,
        lease,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "ship"},
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 5},
        ],
    )
    engine.claim_task("t1")  # RUNNING in a worker
    engine.clock.advance(10)
    engine.fire(wid, "tick")  # wakes the workflow
    result = engine.run(wid, [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "t1", "reason": "no longer needed"}])
    assert result["events"] == [
        event(
            5,
            "TASK_CANCELLED",
            {"taskExecutionId": "t1", "taskType": "ship", "reason": "no longer needed"},
            "2100-01-01T00:00:00.010Z",
        )
    ]
    task = engine.task_item("t1")
    assert (task["status"], task["cancelReason"]) == ("CANCELLED", "no longer needed")
    assert not {"leaseId", "dispatchPk", "dispatchAt", "sweepPk", "sweepAt"} & task.keys()
    engine.check()


def heartbeats_before_each_commit(engine: Engine, monkeypatch: pytest.MonkeyPatch, leases: dict[str, str]) -> list[Any]:
    """From now on, every commit is preceded by a heartbeat of each task in `leases`, committed first: each lands
    between what the committing request read and its write. Returns the heartbeats' answers."""
    answers: list[Any] = []
    commit = engine.rt.repo.commit
    beating = False

    def commit_after_heartbeats(uow: Any) -> None:
        nonlocal beating
        if not beating:
            beating = True
            try:
                answers.extend(engine.heartbeat(task_id, lease_id) for task_id, lease_id in leases.items())
            finally:
                beating = False
        commit(uow)

    monkeypatch.setattr(engine.rt.repo, "commit", commit_after_heartbeats)
    return answers


def test_heartbeats_between_its_read_and_its_write_never_hold_up_a_submission_cancelling_running_tasks(
    engine: Engine, running: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten running tasks whose workers heartbeat all the time: the submission that cancels them all must commit on
    # its first attempt, not be retried until no heartbeat happens to land in between (it would never commit).
    wid, lease = running
    ids = [f"t{number}" for number in range(10)]
    scheduled = [{"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "render"} for task_id in ids]
    engine.submit(wid, lease, [*scheduled, {"type": "START_TIMER", "timerId": "deadline", "durationMs": 5}])
    leases = {task_id: engine.claim_task(task_id) for task_id in ids}
    engine.clock.advance(10)
    engine.fire(wid, "deadline")
    workflow_lease = engine.claim(wid)
    answers = heartbeats_before_each_commit(engine, monkeypatch, leases)
    cancels = [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": task_id, "reason": "deadline"} for task_id in ids]
    result = engine.submit(wid, workflow_lease, cancels)
    assert [e["type"] for e in result["events"]] == ["TASK_CANCELLED"] * 10
    assert len(answers) == 10 and not any(answer["cancelRequested"] for answer in answers)  # one attempt
    monkeypatch.undo()
    for task_id, lease_id in leases.items():
        stored = engine.task_item(task_id)
        assert (stored["status"], stored["cancelReason"]) == ("CANCELLED", "deadline")
        assert not {"leaseId", "leaseExpiresAt", "sweepPk", "sweepAt"} & stored.keys()
        assert engine.heartbeat(task_id, lease_id) == {"cancelRequested": True, "leaseExpiresAt": None}
    engine.check()


def test_a_heartbeat_between_its_read_and_its_write_does_not_refuse_a_cancel_call(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = engine.create_task()["taskExecutionId"]
    lease = engine.claim_task(task_id)
    answers = heartbeats_before_each_commit(engine, monkeypatch, {task_id: lease})
    assert engine.cancel_task(task_id, "not needed")["status"] == "CANCELLED"
    assert len(answers) == 1  # committed on the first attempt
    monkeypatch.undo()
    assert engine.heartbeat(task_id, lease) == {"cancelRequested": True, "leaseExpiresAt": None}


def test_a_cancel_writes_every_field_it_changes(engine: Engine) -> None:
    # The cancel is an update of CANCEL_FIELDS: a field mark_cancelled changed but did not name would not be stored.
    pending_id = engine.create_task(timeout_ms=60_000)["taskExecutionId"]
    running_id = engine.create_task(timeout_ms=60_000)["taskExecutionId"]
    engine.claim_task(running_id)
    engine.clock.advance(5)
    changed: set[str] = set()
    for task_id in (pending_id, running_id):
        read = tasks.get_task_record(engine.rt.repo, "acme", task_id)
        assert read is not None
        cancelled = replace(read)
        tasks.mark_cancelled(cancelled, "not needed", engine.rt.now_ms())
        changed |= {spec.name for spec in fields(Task) if getattr(read, spec.name) != getattr(cancelled, spec.name)}
    assert changed == set(tasks.CANCEL_FIELDS)


def test_request_cancel_task_of_a_finished_task_appends_nothing(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    engine.submit(wid, lease, [{"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "ship"}])
    engine.complete_task("t1", engine.claim_task("t1"), {"ok": True})
    result = engine.run(wid, [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "t1"}])
    assert result == {"status": "WAITING", "events": []}
    assert engine.task("t1")["status"] == "COMPLETED"
    engine.check()


def test_request_cancel_task_in_the_submission_that_schedules_it(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    result = engine.submit(
        wid,
        lease,
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "ship", "input": 1},
            {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "t1", "reason": "changed my mind"},
        ],
    )
    assert [e["type"] for e in result["events"]] == ["TASK_SCHEDULED", "TASK_CANCELLED"]
    assert engine.task("t1")["status"] == "CANCELLED"
    assert engine.poll_task() is None  # never handed out
    engine.check()


def test_start_timer_appends_timer_started_and_stores_the_timer(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    result = engine.submit(wid, lease, [{"type": "START_TIMER", "timerId": "wait-1", "durationMs": 1500}])
    assert result["events"] == [
        event(2, "TIMER_STARTED", {"timerId": "wait-1", "durationMs": 1500, "fireAt": "2100-01-01T00:00:01.500Z"})
    ]
    timer = engine.item(f"T#acme#WF#{wid}", "TIMER#wait-1")
    assert timer is not None
    assert {k: timer[k] for k in ("status", "fireAt", "fireAtMs", "durationMs", "timerId", "workflowExecutionId")} == {
        "status": "STARTED",
        "fireAt": "2100-01-01T00:00:01.500Z",
        "fireAtMs": 4_102_444_801_500,
        "durationMs": 1500,
        "timerId": "wait-1",
        "workflowExecutionId": wid,
    }
    engine.check(settled=False)


@pytest.mark.parametrize("duration", [0, 365 * 24 * 3600 * 1000 + 1])
def test_timer_durations_outside_1ms_to_365_days_are_refused(duration: int) -> None:
    with pytest.raises(ValidationError):
        COMMANDS.validate_python([{"type": "START_TIMER", "timerId": "t", "durationMs": duration}])


def test_cancel_timer_appends_timer_cancelled_unless_it_fired(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    engine.submit(
        wid,
        lease,
        [
            {"type": "START_TIMER", "timerId": "a", "durationMs": 100},
            {"type": "START_TIMER", "timerId": "b", "durationMs": 100},
        ],
    )
    assert engine.fire(wid, "b") == "fired"
    result = engine.run(wid, [{"type": "CANCEL_TIMER", "timerId": "a"}, {"type": "CANCEL_TIMER", "timerId": "b"}])
    assert result["events"] == [event(5, "TIMER_CANCELLED", {"timerId": "a"})]
    assert engine.types(wid)[-3:] == ["TIMER_STARTED", "TIMER_FIRED", "TIMER_CANCELLED"]
    assert engine.item(f"T#acme#WF#{wid}", "TIMER#a")["status"] == "CANCELLED"  # type: ignore[index]
    assert engine.item(f"T#acme#WF#{wid}", "TIMER#b")["status"] == "FIRED"  # type: ignore[index]
    engine.check()


def test_a_timer_started_and_cancelled_in_one_submission(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    result = engine.submit(
        wid, lease, [{"type": "START_TIMER", "timerId": "t", "durationMs": 5}, {"type": "CANCEL_TIMER", "timerId": "t"}]
    )
    assert [e["type"] for e in result["events"]] == ["TIMER_STARTED", "TIMER_CANCELLED"]
    timer = engine.item(f"T#acme#WF#{wid}", "TIMER#t")
    assert timer is not None and timer["status"] == "CANCELLED" and "sweepAt" not in timer
    assert engine.fire(wid, "t") == "ignored"
    engine.check()


def test_schedule_child_workflow_starts_a_pending_child(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    result = engine.submit(
        wid,
        lease,
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "pay",
                "childWorkflowExecutionId": "pay-7",
                "workflowKind": "payment",
                "input": {"amount": 3},
            }
        ],
    )
    assert result["events"] == [
        event(
            2,
            "CHILD_WORKFLOW_INITIATED",
            {"childExecutionName": "pay", "childWorkflowKind": "payment", "childWorkflowExecutionId": "pay-7"},
        )
    ]
    assert engine.get("pay-7") == {
        "workflowExecutionId": "pay-7",
        "kind": "payment",
        "queue": "default",
        "status": "PENDING",
        "input": {"amount": 3},
        "output": None,
        "error": None,
        "cancelReason": None,
        "parentWorkflowExecutionId": wid,
        "childExecutionName": "pay",
        "cleanupDeadline": None,
        "terminatedReason": None,
        "cancelOn": [],
        "createdAt": T0,
        "updatedAt": T0,
    }
    assert engine.history("pay-7") == [event(1, "WORKFLOW_STARTED", {"input": {"amount": 3}})]
    link = engine.item(f"T#acme#WF#{wid}", "CHILD#pay")
    assert link is not None
    assert {k: link[k] for k in ("childWorkflowExecutionId", "status", "cancelState", "parentClosePolicy")} == {
        "childWorkflowExecutionId": "pay-7",
        "status": "INITIATED",
        "cancelState": "NONE",
        "parentClosePolicy": "REQUEST_CANCEL",
    }
    engine.check()


def test_request_cancel_child_workflow_records_the_request_and_an_outbox_item(
    engine: Engine, running: tuple[str, str]
) -> None:
    wid, lease = running
    engine.submit(
        wid,
        lease,
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "pay",
                "childWorkflowExecutionId": "pay-7",
                "workflowKind": "payment",
            },
            {"type": "START_TIMER", "timerId": "tick", "durationMs": 5},
        ],
    )
    engine.fire(wid, "tick")
    result = engine.run(
        wid,
        [
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "pay",
                "childWorkflowExecutionId": "pay-7",
                "reason": "order cancelled",
            }
        ],
    )
    assert result["events"] == [
        event(
            5,
            "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
            {"childExecutionName": "pay", "childWorkflowExecutionId": "pay-7", "reason": "order cancelled"},
        )
    ]
    assert engine.item(f"T#acme#WF#{wid}", "CHILD#pay")["cancelState"] == "REQUESTED"  # type: ignore[index]
    assert engine.outbox_keys() == [(f"T#acme#WF#{wid}", "OUTBOX#CHILD_CANCEL#0000000005")]
    engine.check(settled=False)


def test_record_operation_and_state_commands(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    result = engine.submit(
        wid,
        lease,
        [
            {"type": "RECORD_OPERATION", "operationName": "uuid", "result": "abc"},
            {"type": "SET_STATE", "key": "progress", "value": {"step": 2}},
            {"type": "CLEAR_STATE", "key": "progress"},
        ],
    )
    assert result == {
        "status": "WAITING",
        "events": [
            event(2, "OPERATION_COMPLETED", {"operationName": "uuid", "result": "abc"}),
            event(3, "STATE_SET", {"key": "progress", "value": {"step": 2}}),
            event(4, "STATE_CLEARED", {"key": "progress"}),
        ],
    }


@pytest.mark.parametrize(
    ("command", "kind", "data", "status", "field"),
    [
        (
            {"type": "COMPLETE_WORKFLOW", "output": {"ok": 1}},
            "WORKFLOW_COMPLETED",
            {"output": {"ok": 1}},
            "COMPLETED",
            ("output", {"ok": 1}),
        ),
        (
            {"type": "FAIL_WORKFLOW", "error": {"code": "E"}},
            "WORKFLOW_FAILED",
            {"error": {"code": "E"}},
            "FAILED",
            ("error", {"code": "E"}),
        ),
        (
            {"type": "CANCEL_WORKFLOW", "reason": "bye"},
            "WORKFLOW_CANCELLED",
            {"reason": "bye"},
            "CANCELLED",
            ("output", None),
        ),
    ],
)
def test_terminal_commands_end_the_execution_and_release_the_lease(
    engine: Engine,
    running: tuple[str, str],
    command: dict[str, Any],
    kind: str,
    data: dict[str, Any],
    status: str,
    field: tuple[str, Any],
) -> None:
    wid, lease = running
    result = engine.submit(wid, lease, [command])
    assert result == {"status": status, "events": [event(2, kind, data)]}
    view = engine.get(wid)
    assert (view["status"], view[field[0]]) == (status, field[1])
    stored = engine.execution_item(wid)
    assert not {"leaseId", "leaseExpiresAt", "dispatchPk", "dispatchAt"} & stored.keys()
    assert engine.poll() is None
    with pytest.raises(FailedPrecondition) as refused:
        engine.submit(wid, lease, [])
    assert refused.value.details == {"currentStatus": status}
    engine.check()


def test_suspend_and_an_empty_batch_just_release_the_lease(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    assert (
        engine.submit(
            wid,
            lease,
            [
                {"type": "RECORD_OPERATION", "operationName": "a", "result": 1},
                {"type": "SUSPEND_WORKFLOW", "reason": "sleep"},
            ],
        )["status"]
        == "WAITING"
    )
    assert engine.types(wid) == ["WORKFLOW_STARTED", "OPERATION_COMPLETED"]
    other = engine.start()["workflowExecutionId"]
    assert engine.run(other, []) == {"status": "WAITING", "events": []}
    assert engine.execution_item(other).get("leaseId") is None


# ---------------------------------------------------------------------- submission rules: refused, nothing changes


def refused(engine: Engine, wid: str, lease: str, batch: list[dict[str, Any]], error: type[Exception]) -> Exception:
    before = engine.items()
    with pytest.raises(error) as raised:
        engine.submit(wid, lease, batch)
    assert engine.items() == before, "a refused submission changed stored state"
    return raised.value


def test_more_than_25_commands_are_refused(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    batch = [{"type": "RECORD_OPERATION", "operationName": f"o{i}", "result": i} for i in range(26)]
    assert refused(engine, wid, lease, batch, InvalidArgument).details == {"count": 26}
    assert engine.submit(wid, lease, batch[:25])["status"] == "WAITING"


@pytest.mark.parametrize("terminal", ["COMPLETE_WORKFLOW", "FAIL_WORKFLOW", "CANCEL_WORKFLOW"])
def test_a_command_after_a_terminal_one_is_refused(engine: Engine, running: tuple[str, str], terminal: str) -> None:
    wid, lease = running
    error = refused(
        engine,
        wid,
        lease,
        [{"type": terminal}, {"type": "RECORD_OPERATION", "operationName": "late", "result": 1}],
        InvalidArgument,
    )
    assert error.details == {"commandIndex": 1}


def test_suspend_must_be_last(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    error = refused(
        engine,
        wid,
        lease,
        [{"type": "SUSPEND_WORKFLOW"}, {"type": "RECORD_OPERATION", "operationName": "x", "result": 1}],
        InvalidArgument,
    )
    assert error.details == {"commandIndex": 0}


def test_cancel_of_an_unknown_timer_is_refused(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    error = refused(
        engine,
        wid,
        lease,
        [{"type": "RECORD_OPERATION", "operationName": "x", "result": 1}, {"type": "CANCEL_TIMER", "timerId": "nope"}],
        InvalidArgument,
    )
    assert error.details == {"commandIndex": 1, "timerId": "nope"}


def test_a_reused_timer_id_is_refused(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    twice = [{"type": "START_TIMER", "timerId": "t", "durationMs": 5}] * 2
    refused(engine, wid, lease, twice, InvalidArgument)
    engine.submit(wid, lease, twice[:1])
    assert engine.fire(wid, "t") == "fired"
    lease = engine.claim(wid)
    error = refused(engine, wid, lease, twice[:1], InvalidArgument)
    assert error.message == "timer id t was already used in this execution"


def test_a_duplicate_child_execution_name_is_refused(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running

    def child(child_id: str) -> dict[str, Any]:
        return {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "same",
            "childWorkflowExecutionId": child_id,
            "workflowKind": "k",
        }

    refused(engine, wid, lease, [child("a"), child("b")], InvalidArgument)
    engine.submit(wid, lease, [child("a")])
    lease = engine.claim("a")  # the child is the only ready execution; the parent waits
    engine.submit("a", lease, [{"type": "COMPLETE_WORKFLOW"}])
    lease = engine.claim(wid)
    error = refused(engine, wid, lease, [child("b")], InvalidArgument)
    assert error.message == "childExecutionName same is already used in this execution"


def test_request_cancel_of_a_task_this_execution_did_not_schedule_is_refused(engine: Engine) -> None:
    other = engine.start()["workflowExecutionId"]
    engine.run(other, [{"type": "SCHEDULE_TASK", "taskExecutionId": "theirs", "kind": "k"}])
    standalone = engine.create_task()["taskExecutionId"]
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    for task_id in ("theirs", standalone, "unknown"):
        error = refused(
            engine, wid, lease, [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": task_id}], InvalidArgument
        )
        assert error.details == {"commandIndex": 0, "taskExecutionId": task_id}
    assert engine.task("theirs")["status"] == "PENDING"


def test_duplicate_task_ids_conflict(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    task = {"type": "SCHEDULE_TASK", "taskExecutionId": "dup", "kind": "k"}
    refused(engine, wid, lease, [task, task], Conflict)
    other = engine.start()["workflowExecutionId"]
    engine.run(other, [task])
    error = refused(engine, wid, lease, [task], Conflict)
    assert error.details == {"taskExecutionId": "dup"}


def test_duplicate_child_ids_conflict(engine: Engine, running: tuple[str, str]) -> None:
    wid, lease = running
    existing = engine.start()["workflowExecutionId"]

    def child(name: str, child_id: str) -> dict[str, Any]:
        return {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": name,
            "childWorkflowExecutionId": child_id,
            "workflowKind": "k",
        }

    refused(engine, wid, lease, [child("a", "c"), child("b", "c")], Conflict)
    error = refused(engine, wid, lease, [child("a", existing)], Conflict)
    assert error.details == {"childWorkflowExecutionId": existing}


def test_regression_a_child_id_equal_to_its_parents_id_conflicts_instead_of_failing(
    engine: Engine, running: tuple[str, str]
) -> None:
    """Bug: a child id equal to the submitting execution's own id put the same item twice in one transaction,
    which DynamoDB rejects with a ValidationException (a 5xx for a client mistake); it is an existing id: 409."""
    wid, lease = running
    batch = [
        {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "me",
            "childWorkflowExecutionId": wid,
            "workflowKind": "k",
        }
    ]
    error = refused(engine, wid, lease, batch, Conflict)
    assert error.details == {"childWorkflowExecutionId": wid}


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "SCHEDULE_TASK", "taskExecutionId": "t", "kind": "k", "input": TOO_BIG}, "commands[0].input"),
        (
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": "c",
                "workflowKind": "k",
                "input": TOO_BIG,
            },
            "commands[0].input",
        ),
        ({"type": "RECORD_OPERATION", "operationName": "o", "result": TOO_BIG}, "commands[0].result"),
        ({"type": "SET_STATE", "key": "s", "value": TOO_BIG}, "commands[0].value"),
        ({"type": "COMPLETE_WORKFLOW", "output": TOO_BIG}, "commands[0].output"),
        ({"type": "FAIL_WORKFLOW", "error": TOO_BIG}, "commands[0].error"),
    ],
)
def test_a_value_over_256_kib_is_refused_with_413(
    engine: Engine, running: tuple[str, str], command: dict[str, Any], field: str
) -> None:
    wid, lease = running
    error = refused(engine, wid, lease, [command], PayloadTooLarge)
    assert error.details == {"field": field, "sizeBytes": 256 * 1024 + 1, "limitBytes": 256 * 1024}


def test_a_submission_too_large_for_one_transaction_is_refused_with_413(
    engine: Engine, running: tuple[str, str]
) -> None:
    wid, lease = running
    children = [
        {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": f"c{i}",
            "childWorkflowExecutionId": f"c{i}",
            "workflowKind": "k",
        }
        for i in range(25)
    ]
    error = refused(engine, wid, lease, children, PayloadTooLarge)
    assert error.details == {"items": 101}
    assert engine.submit(wid, lease, children[:24])["status"] == "WAITING"


def test_25_small_schedule_task_start_timer_or_record_operation_commands_always_fit(
    engine: Engine, running: tuple[str, str]
) -> None:
    wid, lease = running
    value = {"blob": "y" * 4000}
    batch = [{"type": "SCHEDULE_TASK", "taskExecutionId": f"t{i}", "kind": "k", "input": value} for i in range(25)]
    assert len(engine.submit(wid, lease, batch)["events"]) == 25
    batch = [{"type": "START_TIMER", "timerId": f"t{i}", "durationMs": 1000} for i in range(25)]
    assert len(engine.run(engine.start()["workflowExecutionId"], batch)["events"]) == 25
    batch = [{"type": "RECORD_OPERATION", "operationName": f"o{i}", "result": value} for i in range(25)]
    assert len(engine.run(engine.start()["workflowExecutionId"], batch)["events"]) == 25
    engine.check(settled=False)


def test_values_of_256_kib_are_accepted_and_stored_out_of_line(engine: Engine) -> None:
    wid = engine.start(input_value=BIG)["workflowExecutionId"]
    result = engine.run(wid, [{"type": "COMPLETE_WORKFLOW", "output": BIG}])
    assert result["status"] == "COMPLETED"
    view = engine.get(wid)
    assert (view["input"], view["output"]) == (BIG, BIG)
    stored = engine.execution_item(wid)
    assert (stored["input"], stored["output"]) == ("@VALUE", "@VALUE")
    assert {item["sk"] for item in engine.items() if item["sk"].startswith("VALUE#")} == {
        "VALUE#WF#input",
        "VALUE#WF#output",
    }
    assert engine.history(wid)[-1]["data"] == {"output": BIG}


def test_a_task_with_256_kib_input_and_output_is_accepted(engine: Engine) -> None:
    task_id = engine.create_task(input_value=BIG)["taskExecutionId"]
    lease = engine.claim_task(task_id)
    assert engine.complete_task(task_id, lease, BIG) == {"status": "COMPLETED"}
    view = engine.task(task_id)
    assert (view["input"], view["output"]) == (BIG, BIG)
    assert engine.task_item(task_id)["output"] == "@VALUE"


def test_every_command_type_has_exactly_one_stager() -> None:
    (union, _) = get_args(commands.Command)
    assert set(commands._STAGERS) == set(get_args(union))
