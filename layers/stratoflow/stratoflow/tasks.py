"""Tasks: standalone or scheduled by a workflow; leased to workers, retried, timed out and cancelled.

A task reaches exactly one terminal state (I3): every change is saved under the task's version, and the event it
produces in its workflow is written in the same transaction, conditioned on the workflow being live. A cancel is the
one exception: it is saved under the status and attempt it was decided on (`stage_cancelled`), so that heartbeats,
which only extend the lease it voids, cannot refuse it.
"""

from __future__ import annotations

from typing import Any

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.repository import Repository, TaskLease, commit_or_retry
from stratoflow.dal.unit_of_work import NEW, AllOf, FieldIs, UnitOfWork, run_optimistic
from stratoflow.dispatch import claim_first
from stratoflow.errors import FailedPrecondition, LeaseLost
from stratoflow.executions import HistoryWriter, get_execution, is_live, new_work, stage_value, wake, work_view
from stratoflow.idempotency import commit_once
from stratoflow.lookup import find, require
from stratoflow.records import Candidate, Execution, Task, TaskRef
from stratoflow.runtime import Runtime
from stratoflow.states import OPEN_TASK, TERMINAL_TASK, TaskStatus
from stratoflow.values import encode_value

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
) -> Task:
    return Task(
        keys.task_pk(tenant, task_id),
        keys.TASK_SK,
        **new_work(tenant, kind, queue, TaskStatus.PENDING, now_ms),
        task_id=task_id,
        workflow_id=workflow_id,
        attempt=0,
        max_retries=max_retries,
        timeout_ms=timeout_ms,
        dispatch_pk=keys.task_dispatch_pk(tenant, queue),
        dispatch_at=now_ms,
    )


def task_cancelled_event(task: Task, reason: str | None) -> dict[str, Any]:
    return {"taskExecutionId": task.task_id, "taskType": task.kind, "reason": reason}


def close_task_attempt(task: Task, now_ms: int) -> None:
    """The task leaves dispatch and sweeping, and its lease (if any) is void."""
    task.lease_id = None
    task.lease_expires_at = None
    task.attempt_deadline = None
    task.dispatch_pk = None
    task.dispatch_at = None
    task.sweep_pk = None
    task.sweep_at = None
    task.updated_at = iso_ms(now_ms)


# What cancelling an open task changes (`mark_cancelled`); the rest of the stored item is left as it is.
CANCEL_FIELDS = (
    "status",
    "cancel_reason",
    "lease_id",
    "lease_expires_at",
    "attempt_deadline",
    "dispatch_pk",
    "dispatch_at",
    "sweep_pk",
    "sweep_at",
    "updated_at",
)


def mark_cancelled(task: Task, reason: str | None, now_ms: int) -> str:
    """An open task → CANCELLED, its attempt closed; returns the status it had, for `stage_cancelled`."""
    was = task.status
    task.status = TaskStatus.CANCELLED
    task.cancel_reason = reason
    close_task_attempt(task, now_ms)
    return was


def stage_cancelled(uow: UnitOfWork, task: Task, was: str, label: str = "task") -> None:
    """Write a task `mark_cancelled` ended, under the status and attempt it was cancelled in rather than its version.

    A heartbeat committed since the read extended a lease this cancel voids: under the version, each one would refuse
    the cancel, and a submission cancelling many running tasks would be retried for as long as any of them keeps
    heartbeating. A claim, a completion, a failure or an expired lease changes the status or the attempt, and does
    refuse it (the caller re-reads and decides again); the version still increases, so a heartbeat read before the
    cancel is refused and, re-read, tells its worker `cancelRequested`.
    """
    requires = AllOf((FieldIs("status", was), FieldIs("attempt", task.attempt)))
    uow.update(task, CANCEL_FIELDS, requires, label=label, under_version=False)


def get_task_record(repo: Repository, tenant: str, task_id: str) -> Task | None:
    return find(repo, Task, tenant, task_id)


def require_task(repo: Repository, tenant: str, task_id: str) -> Task:
    return require(repo, Task, tenant, task_id)


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
    uow = UnitOfWork()
    stage_value(uow, task, "input", input_text)
    uow.put(task, NEW, label="new-task")
    view = task_view(rt.repo, task, input=input_value, output=None, error=None)
    request = {
        "operation": "createTask",
        "kind": kind,
        "queue": queue,
        "input": input_value,
        "maxRetries": max_retries,
        "timeoutMs": timeout_ms,
    }
    return commit_once(rt.repo, uow, tenant, idempotency_key, request, view, rt.now_ms())


def task_view(repo: Repository, task: Task, **known: Any) -> dict[str, Any]:
    """The API's Task; values passed in `known` (input, output, error) are not read back."""
    return {
        "taskExecutionId": task.task_id,
        "workflowExecutionId": task.workflow_id,
        **work_view(repo, task, known),
        "attempt": int(task.attempt),
        "maxRetries": int(task.max_retries),
        "timeoutMs": None if task.timeout_ms is None else int(task.timeout_ms),
    }


def get_task(rt: Runtime, tenant: str, task_id: str) -> dict[str, Any]:
    return task_view(rt.repo, require_task(rt.repo, tenant, task_id))


def poll_task(
    rt: Runtime, tenant: str, *, queue: str, kinds: list[str] | None, lease_ms: int | None
) -> dict[str, Any] | None:
    """Claim one PENDING task: RUNNING, attempt + 1, leased. A cancelled task is never in the index (I3)."""
    dispatch_pk = keys.task_dispatch_pk(tenant, queue)
    claimed = claim_first(rt, Task, dispatch_pk, kinds, lease_ms or DEFAULT_LEASE_MS, claim_task)
    if claimed is None:
        return None
    return {
        "task": task_view(rt.repo, claimed),
        "leaseId": claimed.lease_id,
        "leaseExpiresAt": iso_ms(int(claimed.lease_expires_at or 0)),
    }


def claim_task(rt: Runtime, candidate: Candidate, lease_ms: int, now: int) -> Task | None:
    """Lease one PENDING task: RUNNING, attempt + 1, due for the sweeper at its lease's or its timeout's end."""
    expires = now + lease_ms
    deadline = now + int(candidate.timeout_ms) if candidate.timeout_ms is not None else None
    lease = TaskLease(
        lease_id=rt.ids.new_id(),
        lease_ms=lease_ms,
        expires=expires,
        deadline=deadline,
        sweep_pk=keys.sweep_pk(candidate.pk),
        sweep_at=expires if deadline is None else min(expires, deadline),
        now=now,
        updated_at=iso_ms(now),
    )
    return rt.repo.claim_task(candidate, lease)


def _check_task_lease(task: Task, lease_id: str, now: int) -> None:
    if task.status in TERMINAL_TASK:
        raise FailedPrecondition(f"task is {task.status}", task.status)
    if task.status != TaskStatus.RUNNING or task.lease_id != lease_id or int(task.lease_expires_at or 0) <= now:
        raise LeaseLost("the lease is expired or was taken over", currentStatus=task.status)


def heartbeat_task(rt: Runtime, tenant: str, task_id: str, lease_id: str, details: Any) -> dict[str, Any]:
    """Extend the lease; tell the worker when its task was cancelled (cooperative cancellation)."""
    if details is not None:
        encode_value("details", details)  # accepted for size only: the API does not return heartbeat details

    def attempt() -> dict[str, Any]:
        task = require_task(rt.repo, tenant, task_id)
        if task.status == TaskStatus.CANCELLED:
            return {"cancelRequested": True, "leaseExpiresAt": None}
        now = rt.now_ms()
        _check_task_lease(task, lease_id, now)
        expires = now + int(task.lease_ms or DEFAULT_LEASE_MS)
        task.lease_expires_at = expires
        deadline = task.attempt_deadline
        task.sweep_at = expires if deadline is None else min(expires, int(deadline))
        task.updated_at = iso_ms(now)
        uow = UnitOfWork()
        uow.put(task, label="task")
        commit_or_retry(rt.repo, uow)
        return {"cancelRequested": False, "leaseExpiresAt": iso_ms(expires)}

    return run_optimistic(attempt)


def complete_task(rt: Runtime, tenant: str, task_id: str, lease_id: str, output: Any) -> dict[str, Any]:
    output_text = encode_value("output", output)

    def attempt() -> dict[str, Any]:
        task = require_task(rt.repo, tenant, task_id)
        now = rt.now_ms()
        _check_task_lease(task, lease_id, now)
        uow, workflow = _close_attempt(rt, task, now)
        _end_task(
            rt,
            uow,
            task,
            workflow,
            TaskStatus.COMPLETED,
            "output",
            output_text,
            "TASK_COMPLETED",
            {"result": output},
            now,
        )
        return {"status": TaskStatus.COMPLETED.value}

    return run_optimistic(attempt)


def fail_task(rt: Runtime, tenant: str, task_id: str, lease_id: str, error: Any, retryable: bool) -> dict[str, Any]:
    error_text = encode_value("error", error)

    def attempt() -> dict[str, Any]:
        task = require_task(rt.repo, tenant, task_id)
        now = rt.now_ms()
        _check_task_lease(task, lease_id, now)
        status = _fail_attempt(rt, task, error, error_text, retryable, now)
        return {"status": status}

    return run_optimistic(attempt)


def _fail_attempt(rt: Runtime, task: Task, error: Any, error_text: str, retryable: bool, now: int) -> str:
    """A failed attempt: back to PENDING while retries remain, else FAILED with TASK_FAILED."""
    uow, workflow = _close_attempt(rt, task, now)
    if retryable and int(task.attempt) <= int(task.max_retries):
        task.status = TaskStatus.PENDING
        task.dispatch_pk = keys.task_dispatch_pk(task.tenant, task.queue)
        task.dispatch_at = now
        stage_value(uow, task, "error", error_text)
        uow.put(task, label="task")
        commit_or_retry(rt.repo, uow)
        return TaskStatus.PENDING.value
    _end_task(rt, uow, task, workflow, TaskStatus.FAILED, "error", error_text, "TASK_FAILED", {"error": error}, now)
    return TaskStatus.FAILED.value


def _close_attempt(rt: Runtime, task: Task, now: int) -> tuple[UnitOfWork, Execution | None]:
    """Start the write that ends an attempt; refused (the task CANCELLED) when its workflow has ended."""
    uow = UnitOfWork()
    workflow = _live_owner_or_cancel(rt, task, uow, now)
    close_task_attempt(task, now)
    if workflow is None and task.status == TaskStatus.CANCELLED:
        commit_or_retry(rt.repo, uow)
        raise FailedPrecondition("task is CANCELLED: its workflow execution has ended", task.status)
    return uow, workflow


def _end_task(
    rt: Runtime,
    uow: UnitOfWork,
    task: Task,
    workflow: Execution | None,
    status: TaskStatus,
    field_name: str,
    value_text: str,
    event_type: str,
    event_data: dict[str, Any],
    now: int,
) -> None:
    """The task's terminal state and, in the same write, its event in the live workflow, which is woken."""
    task.status = status
    stage_value(uow, task, field_name, value_text)
    uow.put(task, label="task")
    if workflow is not None:
        _tell_workflow(uow, workflow, event_type, {"taskExecutionId": task.task_id, **event_data}, now)
    commit_or_retry(rt.repo, uow)


def _tell_workflow(uow: UnitOfWork, workflow: Execution, event_type: str, data: dict[str, Any], now: int) -> None:
    """Append a task's outcome to its live workflow and wake it, in the task's own write, which also forgets the
    task as open: the workflow's close then cancels only the tasks still open."""
    history = HistoryWriter(workflow, now)
    history.append(event_type, data)
    wake(workflow, now)
    if forget_open_task(workflow, data["taskExecutionId"]):
        uow.delete(task_reference(workflow, data["taskExecutionId"]), label="taskref")
    history.stage(uow)


# The open task ids an execution keeps on itself, in bytes: a few ids, so that the item stays small (each KB of it
# is one more write unit, twice in a transaction); the rest are TASKREF# items.
INLINE_OPEN_TASK_BYTES = 200


def note_open_task(workflow: Execution, task_id: str) -> bool:
    """Remember a newly scheduled task of `workflow` for its close, in the write that schedules it: on the execution
    while the ids fit, else as a reference item, which the caller then writes (True)."""
    inline = workflow.open_tasks or set()
    if sum(len(known) for known in inline) + len(task_id) <= INLINE_OPEN_TASK_BYTES:
        workflow.open_tasks = inline | {task_id}
        return False
    workflow.task_refs = True
    return True


def forget_open_task(workflow: Execution, task_id: str) -> bool:
    """The task has ended, in this write of `workflow`: drop it from the execution's open tasks, or say that its
    reference item is to be deleted (True)."""
    if workflow.open_tasks and task_id in workflow.open_tasks:
        workflow.open_tasks = (workflow.open_tasks - {task_id}) or None
        return False
    return workflow.task_refs is not False


def task_reference(workflow: Execution, task_id: str) -> TaskRef:
    """The workflow's reference item to one of its open tasks (tasks live in partitions of their own)."""
    return TaskRef(workflow.pk, keys.taskref_sk(task_id), task_id=task_id)


def _live_owner_or_cancel(rt: Runtime, task: Task, uow: UnitOfWork, now: int) -> Execution | None:
    """The task's live workflow, or None; a task whose workflow has ended becomes CANCELLED (see "after the end")."""
    if task.workflow_id is None:
        return None
    workflow = get_execution(rt.repo, task.tenant, task.workflow_id)
    if workflow is not None and is_live(workflow):
        return workflow
    mark_cancelled(task, task.cancel_reason or "workflow execution ended", now)
    uow.put(task, label="task")
    return None


def cancel_task(rt: Runtime, tenant: str, task_id: str, reason: str | None) -> dict[str, Any]:
    """Flow 1: a PENDING or RUNNING task → CANCELLED, TASK_CANCELLED in its live workflow, which is woken."""

    def attempt() -> dict[str, Any]:
        task = require_task(rt.repo, tenant, task_id)
        if task.status not in OPEN_TASK:
            raise FailedPrecondition(f"task is {task.status}", task.status)
        now = rt.now_ms()
        uow = UnitOfWork()
        workflow = get_execution(rt.repo, tenant, task.workflow_id) if task.workflow_id else None
        stage_cancelled(uow, task, mark_cancelled(task, reason, now))
        if workflow is not None and is_live(workflow):
            _tell_workflow(uow, workflow, "TASK_CANCELLED", task_cancelled_event(task, reason), now)
        commit_or_retry(rt.repo, uow)
        return {"taskExecutionId": task_id, "status": TaskStatus.CANCELLED.value}

    return run_optimistic(attempt)


def expire_task_attempt(rt: Runtime, tenant: str, task_id: str) -> str | None:
    """The sweeper's half of leases: an attempt whose lease or timeout ran out counts as a failed attempt."""

    def attempt() -> str | None:
        task = get_task_record(rt.repo, tenant, task_id)
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
            return _fail_attempt(rt, task, error, encode_value("error", error), True, now)
        except FailedPrecondition:
            return TaskStatus.CANCELLED.value

    return run_optimistic(attempt)


def cancel_open_task(rt: Runtime, tenant: str, task_id: str, reason: str) -> bool:
    """Parent close: an open task of an ended workflow → CANCELLED, with no event (the workflow has ended)."""

    def attempt() -> bool:
        task = get_task_record(rt.repo, tenant, task_id)
        if task is None or task.status not in OPEN_TASK:
            return False
        uow = UnitOfWork()
        stage_cancelled(uow, task, mark_cancelled(task, reason, rt.now_ms()))
        commit_or_retry(rt.repo, uow)
        return True

    return run_optimistic(attempt)
