"""Tasks: standalone or scheduled by a workflow; leased to workers, retried, timed out and cancelled.

A task reaches exactly one terminal state (I3): every change is saved under the task's version, and the event it
produces in its workflow is written in the same transaction, conditioned on the workflow being live.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.items import ExecutionItem, TaskItem
from stratoflow.dal.transactions import Transaction, TransactionConflict, aws_error_code, run_optimistic
from stratoflow.errors import FailedPrecondition, LeaseLost, NotFound
from stratoflow.executions import (
    HistoryWriter,
    get_execution,
    is_live,
    raise_for_conflict,
    read_value,
    stage_value,
    wake,
)
from stratoflow.runtime import Runtime
from stratoflow.states import OPEN_TASK, TERMINAL_TASK, TaskStatus
from stratoflow.values import encode_value
from stratoflow.workflows import commit_once

DEFAULT_LEASE_MS = 60_000


def new_task(
    *,
    tenant: str,
    task_id: str,
    workflow_id: str | None,
    kind: str,
    queue: str,
    max_retries: int,
    timeout_ms: int | None,
    now_ms: int,
) -> TaskItem:
    created_at = iso_ms(now_ms)
    return TaskItem(
        keys.task_pk(tenant, task_id),
        keys.TASK_SK,
        tenant=tenant,
        task_id=task_id,
        workflow_id=workflow_id,
        kind=kind,
        queue=queue,
        status=TaskStatus.PENDING,
        attempt=0,
        max_retries=max_retries,
        timeout_ms=timeout_ms,
        created_at=created_at,
        updated_at=created_at,
        dispatch_pk=keys.task_dispatch_pk(tenant, queue),
        dispatch_at=now_ms,
    )


def task_cancelled_event(task: TaskItem, reason: str | None) -> dict[str, Any]:
    return {"taskExecutionId": task.task_id, "taskType": task.kind, "reason": reason}


def close_task_attempt(task: TaskItem, now_ms: int) -> None:
    """The task leaves dispatch and sweeping, and its lease (if any) is void."""
    task.lease_id = None
    task.lease_expires_at = None
    task.attempt_deadline = None
    task.dispatch_pk = None
    task.dispatch_at = None
    task.sweep_pk = None
    task.sweep_at = None
    task.updated_at = iso_ms(now_ms)


def get_task_item(tenant: str, task_id: str) -> TaskItem | None:
    if not task_id or len(task_id) > keys.MAX_PATH_ID_LENGTH:
        return None
    try:
        return TaskItem.get(keys.task_pk(tenant, task_id), keys.TASK_SK, consistent_read=True)
    except TaskItem.DoesNotExist:
        return None


def require_task(tenant: str, task_id: str) -> TaskItem:
    task = get_task_item(tenant, task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def create_task(
    rt: Runtime,
    tenant: str,
    *,
    kind: str,
    queue: str,
    input_value: Any,
    max_retries: int,
    timeout_ms: int | None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """A standalone task, PENDING; with an Idempotency-Key, created once however often the request is repeated."""
    input_text = encode_value("input", input_value)
    task = new_task(
        tenant=tenant,
        task_id=rt.ids.new_id(),
        workflow_id=None,
        kind=kind,
        queue=queue,
        max_retries=max_retries,
        timeout_ms=timeout_ms,
        now_ms=rt.now_ms(),
    )
    tx = Transaction()
    stage_value(tx, task, "input", input_text)
    tx.put(task, condition=TaskItem.pk.does_not_exist(), label="new-task")
    view = task_view_without_values(task)
    view["input"] = input_value
    request = {
        "operation": "createTask",
        "kind": kind,
        "queue": queue,
        "input": input_value,
        "maxRetries": max_retries,
        "timeoutMs": timeout_ms,
    }
    return commit_once(tx, tenant, idempotency_key, request, view, rt.now_ms())


def task_view_without_values(task: TaskItem) -> dict[str, Any]:
    """The Task view from the item alone, for a task just written (its values are known to the caller)."""
    return {
        "taskExecutionId": task.task_id,
        "workflowExecutionId": task.workflow_id,
        "kind": task.kind,
        "queue": task.queue,
        "status": task.status,
        "input": None,
        "output": None,
        "error": None,
        "attempt": int(task.attempt),
        "maxRetries": int(task.max_retries),
        "timeoutMs": None if task.timeout_ms is None else int(task.timeout_ms),
        "cancelReason": task.cancel_reason,
        "createdAt": task.created_at,
        "updatedAt": task.updated_at,
    }


def task_view(task: TaskItem) -> dict[str, Any]:
    """The API's Task."""
    view = task_view_without_values(task)
    view["input"] = read_value(task, "input")
    view["output"] = read_value(task, "output")
    view["error"] = read_value(task, "error")
    return view


def get_task(tenant: str, task_id: str) -> dict[str, Any]:
    return task_view(require_task(tenant, task_id))


def poll_task(
    rt: Runtime, tenant: str, *, queue: str, kinds: list[str] | None, lease_ms: int | None
) -> dict[str, Any] | None:
    """Claim one PENDING task: RUNNING, attempt + 1, leased. A cancelled task is never in the index (I3)."""
    lease_ms = lease_ms or DEFAULT_LEASE_MS
    now = rt.now_ms()
    condition = TaskItem.kind.is_in(*kinds) if kinds else None
    candidates = TaskItem.dispatch_index.query(
        keys.task_dispatch_pk(tenant, queue),
        TaskItem.dispatch_at <= now,
        filter_condition=condition,
        limit=10,
        page_size=25,
    )
    for candidate in candidates:
        claimed = _claim_task(rt, candidate, lease_ms, now)
        if claimed is not None:
            return {
                "task": task_view(claimed),
                "leaseId": claimed.lease_id,
                "leaseExpiresAt": iso_ms(int(claimed.lease_expires_at or 0)),
            }
    return None


def _claim_task(rt: Runtime, candidate: TaskItem, lease_ms: int, now: int) -> TaskItem | None:
    expires = now + lease_ms
    timeout_ms = candidate.timeout_ms
    deadline = now + int(timeout_ms) if timeout_ms is not None else None
    due = expires if deadline is None else min(expires, deadline)
    item = TaskItem(candidate.pk, candidate.sk)
    # A non-null version makes PynamoDB increment the stored one (ADD 1) instead of resetting it to 1, which would
    # let a writer holding a copy read at version 1 commit over this claim. No condition is put on it.
    item.ver = 0
    actions: list[Action] = [
        TaskItem.status.set(TaskStatus.RUNNING),
        TaskItem.attempt.add(1),
        TaskItem.lease_id.set(rt.ids.new_id()),
        TaskItem.lease_ms.set(lease_ms),
        TaskItem.lease_expires_at.set(expires),
        TaskItem.dispatch_pk.remove(),
        TaskItem.dispatch_at.remove(),
        TaskItem.sweep_pk.set(keys.sweep_pk(candidate.pk)),
        TaskItem.sweep_at.set(due),
        TaskItem.updated_at.set(iso_ms(now)),
    ]
    if deadline is not None:
        actions.append(TaskItem.attempt_deadline.set(deadline))
    try:
        item.update(
            actions=actions,
            condition=(TaskItem.status == TaskStatus.PENDING) & (TaskItem.dispatch_at <= now),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if aws_error_code(exc) == "ConditionalCheckFailedException":
            return None  # another poller won it, or it was cancelled since the index was read
        raise
    return item


def _check_task_lease(task: TaskItem, lease_id: str, now: int) -> None:
    if task.status in TERMINAL_TASK:
        raise FailedPrecondition(f"task is {task.status}", task.status)
    if task.status != TaskStatus.RUNNING or task.lease_id != lease_id or int(task.lease_expires_at or 0) <= now:
        raise LeaseLost("the lease is expired or was taken over", currentStatus=task.status)


def heartbeat_task(rt: Runtime, tenant: str, task_id: str, lease_id: str, details: Any) -> dict[str, Any]:
    """Extend the lease; tell the worker when its task was cancelled (cooperative cancellation)."""
    if details is not None:
        encode_value("details", details)  # accepted for size only: the API does not return heartbeat details

    def attempt() -> dict[str, Any]:
        task = require_task(tenant, task_id)
        if task.status == TaskStatus.CANCELLED:
            return {"cancelRequested": True, "leaseExpiresAt": None}
        now = rt.now_ms()
        _check_task_lease(task, lease_id, now)
        expires = now + int(task.lease_ms or DEFAULT_LEASE_MS)
        task.lease_expires_at = expires
        deadline = task.attempt_deadline
        task.sweep_at = expires if deadline is None else min(expires, int(deadline))
        task.updated_at = iso_ms(now)
        tx = Transaction()
        tx.put(task, label="task")
        try:
            tx.commit()
        except TransactionConflict as conflict:
            raise_for_conflict(conflict)
        return {"cancelRequested": False, "leaseExpiresAt": iso_ms(expires)}

    return run_optimistic(attempt)


def complete_task(rt: Runtime, tenant: str, task_id: str, lease_id: str, output: Any) -> dict[str, Any]:
    output_text = encode_value("output", output)

    def attempt() -> dict[str, Any]:
        task = require_task(tenant, task_id)
        now = rt.now_ms()
        _check_task_lease(task, lease_id, now)
        tx, workflow = _close_attempt(task, now)
        _end_task(
            tx, task, workflow, TaskStatus.COMPLETED, "output", output_text, "TASK_COMPLETED", {"result": output}, now
        )
        return {"status": TaskStatus.COMPLETED.value}

    return run_optimistic(attempt)


def fail_task(rt: Runtime, tenant: str, task_id: str, lease_id: str, error: Any, retryable: bool) -> dict[str, Any]:
    error_text = encode_value("error", error)

    def attempt() -> dict[str, Any]:
        task = require_task(tenant, task_id)
        now = rt.now_ms()
        _check_task_lease(task, lease_id, now)
        status = _fail_attempt(task, error, error_text, retryable, now)
        return {"status": status}

    return run_optimistic(attempt)


def _fail_attempt(task: TaskItem, error: Any, error_text: str, retryable: bool, now: int) -> str:
    """A failed attempt: back to PENDING while retries remain, else FAILED with TASK_FAILED."""
    tx, workflow = _close_attempt(task, now)
    if retryable and int(task.attempt) <= int(task.max_retries):
        task.status = TaskStatus.PENDING
        task.dispatch_pk = keys.task_dispatch_pk(task.tenant, task.queue)
        task.dispatch_at = now
        stage_value(tx, task, "error", error_text)
        tx.put(task, label="task")
        _commit(tx)
        return TaskStatus.PENDING.value
    _end_task(tx, task, workflow, TaskStatus.FAILED, "error", error_text, "TASK_FAILED", {"error": error}, now)
    return TaskStatus.FAILED.value


def _close_attempt(task: TaskItem, now: int) -> tuple[Transaction, ExecutionItem | None]:
    """Start the transaction that ends an attempt; refused (the task CANCELLED) when its workflow has ended."""
    tx = Transaction()
    workflow = _live_owner_or_cancel(task, tx, now)
    close_task_attempt(task, now)
    if workflow is None and task.status == TaskStatus.CANCELLED:
        _commit(tx)
        raise FailedPrecondition("task is CANCELLED: its workflow execution has ended", task.status)
    return tx, workflow


def _end_task(
    tx: Transaction,
    task: TaskItem,
    workflow: ExecutionItem | None,
    status: TaskStatus,
    field_name: str,
    value_text: str,
    event_type: str,
    event_data: dict[str, Any],
    now: int,
) -> None:
    """The task's terminal state and, in the same transaction, its event in the live workflow, which is woken."""
    task.status = status
    stage_value(tx, task, field_name, value_text)
    tx.put(task, label="task")
    if workflow is not None:
        history = HistoryWriter(workflow, now)
        history.append(event_type, {"taskExecutionId": task.task_id, **event_data})
        wake(workflow, now)
        history.stage(tx)
    _commit(tx)


def _live_owner_or_cancel(task: TaskItem, tx: Transaction, now: int) -> ExecutionItem | None:
    """The task's live workflow, or None; a task whose workflow has ended becomes CANCELLED (see "after the end")."""
    if task.workflow_id is None:
        return None
    workflow = get_execution(task.tenant, task.workflow_id)
    if workflow is not None and is_live(workflow):
        return workflow
    task.status = TaskStatus.CANCELLED
    task.cancel_reason = task.cancel_reason or "workflow execution ended"
    close_task_attempt(task, now)
    tx.put(task, label="task")
    return None


def _commit(tx: Transaction) -> None:
    try:
        tx.commit()
    except TransactionConflict as conflict:
        raise_for_conflict(conflict)


def cancel_task(rt: Runtime, tenant: str, task_id: str, reason: str | None) -> dict[str, Any]:
    """Flow 1: a PENDING or RUNNING task → CANCELLED, TASK_CANCELLED in its live workflow, which is woken."""

    def attempt() -> dict[str, Any]:
        task = require_task(tenant, task_id)
        if task.status not in OPEN_TASK:
            raise FailedPrecondition(f"task is {task.status}", task.status)
        now = rt.now_ms()
        tx = Transaction()
        workflow = get_execution(tenant, task.workflow_id) if task.workflow_id else None
        task.status = TaskStatus.CANCELLED
        task.cancel_reason = reason
        close_task_attempt(task, now)
        tx.put(task, label="task")
        if workflow is not None and is_live(workflow):
            history = HistoryWriter(workflow, now)
            history.append("TASK_CANCELLED", task_cancelled_event(task, reason))
            wake(workflow, now)
            history.stage(tx)
        _commit(tx)
        return {"taskExecutionId": task_id, "status": TaskStatus.CANCELLED.value}

    return run_optimistic(attempt)


def expire_task_attempt(rt: Runtime, tenant: str, task_id: str) -> str | None:
    """The sweeper's half of leases: an attempt whose lease or timeout ran out counts as a failed attempt."""

    def attempt() -> str | None:
        task = get_task_item(tenant, task_id)
        now = rt.now_ms()
        if task is None or task.status != TaskStatus.RUNNING:
            return None
        deadline = task.attempt_deadline
        if deadline is not None and int(deadline) <= now:
            error = {"code": "TIMEOUT", "message": f"attempt {int(task.attempt)} outlived timeoutMs"}
        elif int(task.lease_expires_at or 0) <= now:
            error = {"code": "LEASE_EXPIRED", "message": f"the lease of attempt {int(task.attempt)} expired"}
        else:
            return None  # heartbeated since the sweep index was read
        try:
            return _fail_attempt(task, error, encode_value("error", error), True, now)
        except FailedPrecondition:
            return TaskStatus.CANCELLED.value

    return run_optimistic(attempt)


def cancel_open_task(rt: Runtime, tenant: str, task_id: str, reason: str) -> bool:
    """Parent close: an open task of an ended workflow → CANCELLED, with no event (the workflow has ended)."""

    def attempt() -> bool:
        task = get_task_item(tenant, task_id)
        if task is None or task.status not in OPEN_TASK:
            return False
        task.status = TaskStatus.CANCELLED
        task.cancel_reason = reason
        close_task_attempt(task, rt.now_ms())
        tx = Transaction()
        tx.put(task, label="task")
        _commit(tx)
        return True

    return run_optimistic(attempt)
