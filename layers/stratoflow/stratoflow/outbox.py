"""Carrying out the follow-ups that transactions recorded as outbox items (flows 4, 6 with cascade, and 7).

Every follow-up is conditioned on its outbox item still existing and deletes it in the same transaction, or
is idempotent and deletes it last; so a record delivered twice, concurrently or after a crash, changes nothing
more (I4, I6). The stream delivers the items, each with its NewImage, which is the item as its writer committed it:
the item is not read again. The sweeper re-drives any left behind; its index projects keys only, so a re-drive reads
the item (and finds nothing when a delivery did the work meanwhile).
"""

from __future__ import annotations

from typing import Any

from stratoflow.batches import OUTBOX_BATCH, BatchQueue, start_batch
from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.images import record_from_image
from stratoflow.dal.repository import PartitionQuery, commit_or_retry
from stratoflow.dal.unit_of_work import (
    EXISTS,
    Contention,
    FieldIs,
    TransactionConflict,
    UnitOfWork,
    run_optimistic,
    status_is,
    version_is,
)
from stratoflow.deadlines import CASCADE_TIMER_DELAY_MS
from stratoflow.event_delivery import OUTBOX_EVENT, deliver_recorded_event
from stratoflow.executions import HistoryWriter, get_execution, is_live, wake
from stratoflow.lifecycle import (
    CLOSE_OPEN_TASKS,
    CLOSE_SUBSCRIBED,
    CLOSE_TASK_REFS,
    OUTBOX_CASCADE,
    OUTBOX_CHILD_CANCEL,
    OUTBOX_CLOSE,
    delete_outbox,
    request_workflow_cancel,
    stage_outbox,
)
from stratoflow.records import ChildLink, OutboxEntry, TaskRef, Timer
from stratoflow.runtime import Runtime
from stratoflow.states import ChildCancelState, ChildStatus, ParentClosePolicy, TimerStatus, WorkflowStatus
from stratoflow.subscriptions import delete_subscriptions
from stratoflow.tasks import cancel_open_task
from stratoflow.terminate import CLOSE_TERMINATES, terminate_child
from stratoflow.timers import cancel_started_timer, on_timer_closed, on_timer_started
from stratoflow.values import loads

PARENT_CLOSED = "parent closed"
OUTBOX_LABEL = "outbox"
LINK_LABEL = "link"


class _Done(Exception):
    """The outbox item is gone: a delivery or a re-drive carried it out already."""


class _LinkDisagrees(Exception):
    """The parent's link names another child than the one the request and the child name (never written so)."""


def _outbox_entry(rt: Runtime, pk: str, sk: str, image: dict[str, Any] | None) -> OutboxEntry | None:
    """The item as the stream record carries it, or, without an image of the whole item (a re-drive, a keys-only
    record), as stored (None: done)."""
    entry = record_from_image(OutboxEntry, image) if image else None
    return entry if entry is not None else rt.repo.get(OutboxEntry, pk, sk)


def process_outbox_item(
    rt: Runtime, pk: str, sk: str, batch_queue: BatchQueue | None = None, image: dict[str, Any] | None = None
) -> str:
    """Carry out one outbox item, whatever its kind; `image` is the stream record's NewImage of it, if any.

    Returns what happened (for logs and tests).
    """
    kind = sk.removeprefix(keys.OUTBOX_PREFIX).split("#", 1)[0]
    if kind == OUTBOX_EVENT:
        return deliver_recorded_event(rt, pk, sk)
    if kind == OUTBOX_BATCH:
        if batch_queue is None:
            raise RuntimeError("a batch's start needs the batch queue")
        return start_batch(rt, batch_queue, pk, sk)
    if kind == OUTBOX_CHILD_CANCEL:
        return propagate_child_cancel(rt, pk, sk, image)
    if kind == OUTBOX_CASCADE:
        return cascade_cancel(rt, pk, sk, image)
    if kind == OUTBOX_CLOSE:
        return close_parent(rt, pk, sk, image)
    return "unknown"


def propagate_child_cancel(rt: Runtime, pk: str, sk: str, image: dict[str, Any] | None = None) -> str:
    """Flow 4: deliver a child-cancel request, or report to the parent why it could not be delivered.

    Reads the child only: the record carries the request, and the child's own parent id and name prove whose child
    it is (a child and its link are written together), so the link is updated, not read. The transaction deletes
    the outbox item under `attribute_exists`: a redelivered record, or a re-drive racing the stream, is refused.
    Returns "delivered", "already-cancelling", "failed" or "done" (nothing left to do).
    """
    outbox = _outbox_entry(rt, pk, sk, image)
    if outbox is None:
        return "done"
    payload = loads(outbox.payload)
    name, child_id, reason = payload["childExecutionName"], payload["childWorkflowExecutionId"], payload["reason"]
    tenant, parent_id = outbox.tenant, outbox.workflow_id
    link = (outbox.pk, keys.child_sk(name))  # the parent's link to the child, updated by key under `child_id`
    link_disagrees = False  # set when the link names another child: then it is left as it is

    def attempt() -> str:
        nonlocal link_disagrees
        now = rt.now_ms()
        uow = UnitOfWork()
        uow.delete(outbox, EXISTS, label=OUTBOX_LABEL)
        child = get_execution(rt.repo, tenant, child_id)
        ours = child is not None and child.parent_id == parent_id and child.child_execution_name == name
        if not ours or link_disagrees:
            child, ours = None, False
        if child is not None and is_live(child):
            if child.status == WorkflowStatus.CANCELLING:
                outcome = "already-cancelling"
                uow.check(child, version_is(child.ver), label="child")
            else:
                outcome = "delivered"
                request_workflow_cancel(
                    rt, uow, child, reason=reason, requested_by=f"workflow:{parent_id}", cascade_root=None
                )
            _set_cancel_state(uow, link, child_id, ChildCancelState.DELIVERED, now)
        else:
            outcome = "failed"
            if child is not None:
                error = {
                    "code": "FAILED_PRECONDITION",
                    "message": f"child workflow execution is {child.status}",
                    "currentStatus": child.status,
                }
            else:
                error = {"code": "NOT_FOUND", "message": f"{child_id} is not a child {name!r} of this execution"}
            if ours:
                _set_cancel_state(uow, link, child_id, ChildCancelState.FAILED, now)
            parent = get_execution(rt.repo, tenant, parent_id)
            if parent is not None and is_live(parent):
                history = HistoryWriter(parent, now)
                history.append(
                    "CHILD_WORKFLOW_CANCELLATION_FAILED",
                    {"childExecutionName": name, "childWorkflowExecutionId": child_id, "error": error},
                )
                wake(parent, now)
                history.stage(uow, label="parent")
        try:
            commit_or_retry(rt.repo, uow, {OUTBOX_LABEL: _Done(), LINK_LABEL: _LinkDisagrees()})
        except _Done:
            return "done"
        except _LinkDisagrees:
            link_disagrees = True
            raise Contention() from None
        return outcome

    return run_optimistic(attempt)


def _set_cancel_state(uow: UnitOfWork, link: tuple[str, str], child_id: str, state: ChildCancelState, now: int) -> None:
    changes = {"cancel_state": state, "updated_at": iso_ms(now)}
    uow.update_key(ChildLink, link, changes, FieldIs("child_id", child_id), label=LINK_LABEL)


def _open_children(rt: Runtime, pk: str) -> list[ChildLink]:
    return list(rt.repo.query(ChildLink, PartitionQuery(pk, keys.CHILD_PREFIX, where=status_is(ChildStatus.INITIATED))))


def cascade_cancel(rt: Runtime, pk: str, sk: str, image: dict[str, Any] | None = None) -> str:
    """Flow 6 with cascade: every live child goes CANCELLING and carries the cascade on to its own children.

    A redelivered record finds the children it reached CANCELLING: a leaf needs nothing more, and a child with
    children of its own gets its cascade item again only while this record's item still exists (the check in that
    write), so a record delivered again after the cascade was done changes nothing.
    """
    outbox = _outbox_entry(rt, pk, sk, image)
    if outbox is None:
        return "done"
    payload: dict[str, Any] = loads(outbox.payload)
    for link in _open_children(rt, pk):
        _cascade_to(rt, outbox, link.child_id, payload)
    _delete_outbox(rt, outbox)
    return "cascaded"


def _cascade_to(rt: Runtime, outbox: OutboxEntry, child_id: str, payload: dict[str, Any]) -> None:
    def attempt() -> None:
        child = get_execution(rt.repo, outbox.tenant, child_id)
        if child is None or not is_live(child):
            return
        already_cancelling = child.status == WorkflowStatus.CANCELLING
        uow = UnitOfWork()
        request_workflow_cancel(
            rt,
            uow,
            child,
            reason=payload["reason"],
            requested_by=payload["requestedBy"],
            cascade_root=payload["root"],
            cascade_request=payload["request"],
            cleanup_deadline=payload.get("cleanupDeadline"),
            deadline_timer_at=_cascaded_timer_at(payload.get("cleanupDeadline")),
        )
        if already_cancelling and uow.operations:  # only the child's own cascade item: not once the cascade is done
            uow.check(outbox, EXISTS, label=OUTBOX_LABEL)
        try:
            commit_or_retry(rt.repo, uow, {OUTBOX_LABEL: _Done()})
        except _Done:
            return

    run_optimistic(attempt)


def _cascaded_timer_at(deadline: int | None) -> int | None:
    return None if deadline is None else deadline + CASCADE_TIMER_DELAY_MS


def close_parent(rt: Runtime, pk: str, sk: str, image: dict[str, Any] | None = None) -> str:
    """Flow 7: an ended workflow asks its REQUEST_CANCEL children to cancel and cancels its open tasks and timers.

    No event is appended to the ended workflow; each step is idempotent (conditioned on the status it changes), so
    a redelivery repeats nothing.
    """
    outbox = _outbox_entry(rt, pk, sk, image)
    if outbox is None:
        return "done"
    tenant, workflow_id = outbox.tenant, outbox.workflow_id
    payload = loads(outbox.payload)
    terminating = payload.get(CLOSE_TERMINATES)
    for link in _open_children(rt, pk):
        if terminating is not None:
            terminate_child(rt, link, terminating)  # a terminate's cascade: whatever the policy (operators.md)
        elif link.parent_close_policy == ParentClosePolicy.REQUEST_CANCEL:
            _ask_child_to_cancel_on_close(rt, link)
    if payload.get(CLOSE_SUBSCRIBED):
        delete_subscriptions(rt, tenant, workflow_id)
    # The open tasks as the ending write left them: their ids on the execution, and reference items only if it
    # wrote any (a task's end removes its own, so this reads no finished task; consistent, so a task scheduled in the
    # very write that ended the workflow is seen).
    open_tasks = set(payload.get(CLOSE_OPEN_TASKS, ()))
    if payload.get(CLOSE_TASK_REFS, True):
        open_tasks.update(ref.task_id for ref in rt.repo.query(TaskRef, PartitionQuery(pk, keys.TASKREF_PREFIX)))
    for task_id in sorted(open_tasks):
        cancel_open_task(rt, tenant, task_id, PARENT_CLOSED)
    for timer in rt.repo.query(Timer, PartitionQuery(pk, keys.TIMER_PREFIX, where=status_is(TimerStatus.STARTED))):
        cancel_started_timer(rt, tenant, workflow_id, timer.timer_id)
    _delete_outbox(rt, outbox)
    return "closed"


def _ask_child_to_cancel_on_close(rt: Runtime, link: ChildLink) -> None:
    if link.cancel_state in (ChildCancelState.REQUESTED, ChildCancelState.DELIVERED):
        return  # a request is on its way or was delivered: the child is (or will be) CANCELLING
    execution = get_execution(rt.repo, link.tenant, link.parent_id)
    if execution is None:
        return
    uow = UnitOfWork()
    stage_outbox(
        rt,
        uow,
        execution,
        OUTBOX_CHILD_CANCEL,
        f"close-{link.child_execution_name}",
        {
            "childExecutionName": link.child_execution_name,
            "childWorkflowExecutionId": link.child_id,
            "reason": PARENT_CLOSED,
        },
    )
    seen_state = link.cancel_state
    link.cancel_state = ChildCancelState.REQUESTED
    uow.update(link, ("cancel_state",), FieldIs("cancel_state", seen_state), label="link")
    try:
        rt.repo.commit(uow)
    except TransactionConflict:
        return  # the link changed meanwhile (delivered, or the child ended): nothing left to ask


def _delete_outbox(rt: Runtime, outbox: OutboxEntry) -> None:
    delete_outbox(rt, outbox)


def handle_timer_change(rt: Runtime, old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """A timer item changed: set it on its way when it starts ("queued" or "scheduled"), delete its schedule when it
    leaves STARTED ("unscheduled"; "ignored" when it had none)."""
    if new is not None and new.get("status") == TimerStatus.STARTED and (old is None or old.get("status") is None):
        return on_timer_started(rt, _timer_fields(new))
    if (
        old is not None
        and old.get("status") == TimerStatus.STARTED
        and (new is None or new.get("status") != TimerStatus.STARTED)
    ):
        return on_timer_closed(rt, _timer_fields(old))
    return "ignored"


def _timer_fields(image: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": image["tenant"],
        "workflowExecutionId": image["workflowExecutionId"],
        "timerId": image["timerId"],
        "fireAtMs": int(image["fireAtMs"]),
        "durationMs": int(image["durationMs"]),
    }
