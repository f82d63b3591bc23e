"""How executions end and how they are asked to cancel; both touch parents and children.

Each function adds to a unit of work the caller commits, so the whole change (events, statuses, the parent's
notification, the outbox items of follow-ups) is one atomic write.
"""

from __future__ import annotations

import contextlib
from typing import Any

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.unit_of_work import EXISTS, TransactionConflict, UnitOfWork, status_is
from stratoflow.errors import FailedPrecondition
from stratoflow.executions import (
    HistoryWriter,
    clear_dispatch,
    clear_lease,
    get_execution,
    has_valid_lease,
    is_live,
    make_ready,
    stage_value,
    wake,
)
from stratoflow.records import ChildLink, Execution, OutboxEntry
from stratoflow.runtime import Runtime
from stratoflow.states import ChildStatus, WorkflowStatus
from stratoflow.values import dumps

OUTBOX_CHILD_CANCEL = "CHILD_CANCEL"
OUTBOX_CASCADE = "CASCADE"
OUTBOX_CLOSE = "CLOSE"
# A close payload's flag: the ended execution has `cancelOn` subscriptions to delete (absent: it has none), so the
# close reads the execution only then.
CLOSE_SUBSCRIBED = "subscribed"
# The ended execution's open task ids as it kept them, and whether it wrote any reference item besides (absent, in a
# payload written before these fields: it may have).
CLOSE_OPEN_TASKS = "openTasks"
CLOSE_TASK_REFS = "taskRefs"

_END_EVENTS = {
    WorkflowStatus.COMPLETED: "WORKFLOW_COMPLETED",
    WorkflowStatus.FAILED: "WORKFLOW_FAILED",
    WorkflowStatus.CANCELLED: "WORKFLOW_CANCELLED",
    WorkflowStatus.TERMINATED: "WORKFLOW_TERMINATED",
}


def stage_outbox(
    rt: Runtime, uow: UnitOfWork, execution: Execution, kind: str, unique: str, payload: dict[str, Any]
) -> None:
    """Record a follow-up in the committing write; the stream carries it out, the sweeper re-drives it."""
    now = rt.now_ms()
    pk = execution.pk
    uow.put(
        OutboxEntry(
            pk,
            keys.outbox_sk(kind, unique),
            tenant=execution.tenant,
            workflow_id=execution.workflow_id,
            kind=kind,
            payload=dumps(payload),
            created_at=iso_ms(now),
            sweep_pk=keys.sweep_pk(pk),
            sweep_at=now + rt.settings.outbox_redrive_after_seconds * 1000,
        ),
        label="new-outbox",
    )


def delete_outbox(rt: Runtime, outbox: OutboxEntry) -> None:
    """A follow-up is done: its outbox item goes (a concurrent delivery that deleted it first did the same work)."""
    uow = UnitOfWork()
    uow.delete(outbox, EXISTS, label="outbox")
    with contextlib.suppress(TransactionConflict):
        rt.repo.commit(uow)


def end_execution(
    rt: Runtime,
    uow: UnitOfWork,
    history: HistoryWriter,
    status: WorkflowStatus,
    *,
    value: Any = None,
    value_text: str | None = None,
    close_payload: dict[str, Any] | None = None,
) -> None:
    """Append the terminal event, end the execution, tell a live parent, and schedule the cleanup of open work.

    TERMINATED takes `value = {"reason", "requestedBy"}`; `close_payload` rides on the close follow-up (a
    terminate's cascade to the children, see stratoflow.terminate).
    """
    execution = history.execution
    now = history.now_ms
    if status == WorkflowStatus.TERMINATED:
        history.append(_END_EVENTS[status], {"reason": value["reason"], "requestedBy": value["requestedBy"]})
        execution.terminated_reason = value["reason"]
    elif status == WorkflowStatus.COMPLETED:
        history.append(_END_EVENTS[status], {"output": value})
        stage_value(uow, execution, "output", value_text)
    elif status == WorkflowStatus.FAILED:
        history.append(_END_EVENTS[status], {"error": value})
        stage_value(uow, execution, "error", value_text)
    else:
        history.append(_END_EVENTS[status], {"reason": value})
    execution.status = status
    execution.seen_seq = execution.last_seq
    clear_lease(execution)
    clear_dispatch(execution)
    subscribed = execution.cancel_on not in (None, "[]")
    if execution.spawned or subscribed:  # open work, or subscriptions to delete
        payload = {
            **(close_payload or {}),
            **({CLOSE_SUBSCRIBED: True} if subscribed else {}),
            CLOSE_OPEN_TASKS: sorted(execution.open_tasks or ()),
            CLOSE_TASK_REFS: execution.task_refs is not False,
        }
        stage_outbox(rt, uow, execution, OUTBOX_CLOSE, "close", payload)
    if execution.parent_id:
        _report_to_parent(rt, uow, execution, status, value, now)


def _report_to_parent(
    rt: Runtime, uow: UnitOfWork, child: Execution, status: WorkflowStatus, value: Any, now: int
) -> None:
    """Flow 5: the parent gets exactly one outcome event, in the child's own write (I4)."""
    assert child.parent_id is not None and child.child_execution_name is not None
    parent_pk = keys.workflow_pk(child.tenant, child.parent_id)
    link = rt.repo.get(ChildLink, parent_pk, keys.child_sk(child.child_execution_name))
    if link is None or link.child_id != child.workflow_id or link.status != ChildStatus.INITIATED:
        return
    link.status = ChildStatus(status.value)
    link.updated_at = iso_ms(now)
    uow.update(link, ("status", "updated_at"), status_is(ChildStatus.INITIATED), label="link")
    parent = get_execution(rt.repo, child.tenant, child.parent_id)
    if parent is None or not is_live(parent):
        return  # an ended parent keeps the outcome on the link only: no event after its end
    parent_history = HistoryWriter(parent, now)
    names = {"childExecutionName": child.child_execution_name, "childWorkflowExecutionId": child.workflow_id}
    if status == WorkflowStatus.COMPLETED:
        parent_history.append("CHILD_WORKFLOW_COMPLETED", {**names, "output": value})
    elif status == WorkflowStatus.FAILED:
        parent_history.append(
            "CHILD_WORKFLOW_FAILED", {**names, "error": value, "cancelled": False, "terminated": False}
        )
    elif status == WorkflowStatus.TERMINATED:
        error = {"code": "TERMINATED", "message": value["reason"]}
        parent_history.append(
            "CHILD_WORKFLOW_FAILED", {**names, "error": error, "cancelled": False, "terminated": True}
        )
    else:
        error = {"code": "CANCELLED", "message": value or "the child workflow was cancelled"}
        parent_history.append(
            "CHILD_WORKFLOW_FAILED", {**names, "error": error, "cancelled": True, "terminated": False}
        )
    wake(parent, now)
    parent_history.stage(uow, label="parent")


def request_workflow_cancel(
    rt: Runtime,
    uow: UnitOfWork,
    execution: Execution,
    *,
    reason: str | None,
    requested_by: str,
    cascade_root: str | None,
    cascade_request: str | None = None,
    cleanup_deadline: int | None = None,
    deadline_timer_at: int | None = None,
) -> bool:
    """Make a live execution CANCELLING with CANCELLATION_REQUESTED; idempotent when it already is.

    With `cascade_root`, its children are asked too, through an outbox item carried out after the commit.
    `cleanup_deadline` (epoch ms) is given only to an execution this request makes CANCELLING: it is terminated
    if still live then (stratoflow.deadlines; `deadline_timer_at` delays its timer, see there).
    Returns whether an event was appended.
    """
    if not is_live(execution):
        raise FailedPrecondition(f"workflow execution is {execution.status}", execution.status)
    now = rt.now_ms()
    appended = False
    spawned = bool(execution.spawned)  # before a deadline's timer marks it: only children need the cascade
    if execution.status != WorkflowStatus.CANCELLING:
        history = HistoryWriter(execution, now)
        history.append(
            "CANCELLATION_REQUESTED",
            {
                "reason": reason,
                "requestedBy": requested_by,
                "cleanupDeadline": None if cleanup_deadline is None else iso_ms(cleanup_deadline),
            },
        )
        execution.status = WorkflowStatus.CANCELLING
        execution.cancel_reason = reason
        if cleanup_deadline is not None:
            from stratoflow.deadlines import stage_deadline  # noqa: PLC0415 - deadlines builds on this module

            stage_deadline(rt, uow, execution, cleanup_deadline, deadline_timer_at or cleanup_deadline)
        # A lease holder keeps its lease and sees the request at its next poll; anyone else may take it now.
        if not has_valid_lease(execution, now):
            clear_lease(execution)
            make_ready(execution, now)
        history.stage(uow)
        appended = True
    if cascade_root is not None and spawned:
        request = cascade_request or rt.ids.new_id()
        stage_outbox(
            rt,
            uow,
            execution,
            OUTBOX_CASCADE,
            request,
            {
                "reason": reason,
                "requestedBy": f"workflow:{cascade_root}",
                "root": cascade_root,
                "request": request,
                "cleanupDeadline": cleanup_deadline if appended else None,
            },
        )
    return appended
