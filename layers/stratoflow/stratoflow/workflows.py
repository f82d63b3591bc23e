"""The caller's view of workflow executions: start, read, list, history, and dispatch to workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.repository import BadPageToken, ExecutionLease, IndexQuery, commit_or_retry, list_filter
from stratoflow.dal.unit_of_work import UnitOfWork, run_optimistic
from stratoflow.dispatch import claim_first
from stratoflow.errors import InvalidArgument
from stratoflow.executions import (
    HistoryWriter,
    execution_view,
    new_execution,
    require_execution,
    stage_value,
)
from stratoflow.idempotency import commit_once
from stratoflow.lifecycle import request_workflow_cancel
from stratoflow.records import Candidate, Execution
from stratoflow.runtime import Runtime
from stratoflow.states import WorkflowStatus
from stratoflow.subscriptions import stage_subscriptions
from stratoflow.values import encode_value, loads

if TYPE_CHECKING:
    from stratoflow.cancel_on import CancelOnEntry

# A history page stops once it holds about this much event data (DynamoDB reads 1 MB per query page).
PAGE_DATA_BYTES = 1_000_000
DEFAULT_LEASE_MS = 60_000


def start_workflow(
    rt: Runtime,
    tenant: str,
    *,
    kind: str,
    queue: str,
    input_value: Any,
    idempotency_key: str | None = None,
    cancel_on: list[CancelOnEntry] | None = None,
) -> dict[str, Any]:
    """Create a PENDING execution whose history starts with WORKFLOW_STARTED {input}."""
    input_text = encode_value("input", input_value)
    now = rt.now_ms()
    workflow_id = rt.ids.new_id()
    execution = new_execution(tenant=tenant, workflow_id=workflow_id, kind=kind, queue=queue, now_ms=now)
    uow = UnitOfWork()
    stage_value(uow, execution, "input", input_text)
    stage_subscriptions(uow, execution, cancel_on or [], now)
    history = HistoryWriter(execution, now)
    history.append("WORKFLOW_STARTED", {"input": input_value})
    history.stage(uow)
    view = execution_view(rt.repo, execution, input=input_value, output=None, error=None)
    request: dict[str, Any] = {"kind": kind, "queue": queue, "input": input_value}
    if cancel_on:  # absent when none, so keys recorded before cancelOn existed still match their retries
        request["cancelOn"] = [entry.view() for entry in cancel_on]
    return commit_once(rt.repo, uow, tenant, idempotency_key, request, view, now)


def get_workflow(rt: Runtime, tenant: str, workflow_id: str) -> dict[str, Any]:
    return execution_view(rt.repo, require_execution(rt.repo, tenant, workflow_id))


def list_workflows(
    rt: Runtime, tenant: str, *, status: str | None, kind: str | None, limit: int, next_token: str | None
) -> dict[str, Any]:
    """Newest first, one page of the tenant's list index; filters may leave a page short."""
    try:
        where = list_filter(status=status, kind=kind)
        page = rt.repo.index_page(
            Execution, IndexQuery(keys.list_pk(tenant), where=where, limit=limit, token=next_token)
        )
    except BadPageToken as exc:
        raise InvalidArgument("nextToken is not a token this endpoint returned", parameter="nextToken") from exc
    return {"workflows": [execution_view(rt.repo, item) for item in page.items], "nextToken": page.next_token}


def read_history(
    rt: Runtime, tenant: str, workflow_id: str, *, after_sequence: int, limit: int, up_to: int | None = None
) -> dict[str, Any]:
    """One page of history after `after_sequence`: at most `limit` events and about 1 MB of data."""
    pk = keys.workflow_pk(tenant, workflow_id)
    first = after_sequence + 1
    if up_to is not None and up_to < first:
        return {"events": [], "nextAfterSequence": None}
    upper = keys.event_sk(up_to) if up_to is not None else keys.EVENT_PREFIX + "~"
    events: list[dict[str, Any]] = []
    size = 0
    cut_short = False
    for item in rt.repo.events(pk, keys.event_sk(first), upper, limit):
        events.append(
            {"sequence": int(item.seq), "type": item.type, "data": loads(item.data), "createdAt": item.created_at}
        )
        size += len(item.data)
        if len(events) >= limit:
            break
        if size >= PAGE_DATA_BYTES:
            cut_short = True
            break
    full = len(events) >= limit
    next_after = events[-1]["sequence"] if events and (full or cut_short) else None
    if next_after is not None and up_to is not None and next_after >= up_to:
        next_after = None
    return {"events": events, "nextAfterSequence": next_after}


def poll_workflow(
    rt: Runtime, tenant: str, *, queue: str, worker_id: str, kinds: list[str] | None, lease_ms: int | None
) -> dict[str, Any] | None:
    """Claim one ready execution with a conditional write (I7), or None when nothing is ready."""
    dispatch_pk = keys.workflow_dispatch_pk(tenant, queue)
    claimed = claim_first(rt, Execution, dispatch_pk, kinds, lease_ms or DEFAULT_LEASE_MS, claim)
    if claimed is None:
        return None
    page = read_history(rt, tenant, claimed.workflow_id, after_sequence=0, limit=1000, up_to=int(claimed.last_seq))
    _ = worker_id  # recorded in logs by the handler; the lease id is what proves ownership
    return {
        "workflowExecution": execution_view(rt.repo, claimed),
        "events": page["events"],
        "nextAfterSequence": page["nextAfterSequence"],
        "leaseId": claimed.lease_id,
        "leaseExpiresAt": iso_ms(int(claimed.lease_expires_at or 0)),
    }


def claim(rt: Runtime, candidate: Candidate, lease_ms: int, now: int) -> Execution | None:
    """Lease one ready execution: PENDING becomes RUNNING, RUNNING and CANCELLING stay; seenSeq = lastSeq."""
    seen_status = candidate.status
    if seen_status == WorkflowStatus.PENDING:
        new_status = WorkflowStatus.RUNNING
    elif seen_status in (WorkflowStatus.RUNNING, WorkflowStatus.CANCELLING):
        new_status = WorkflowStatus(seen_status)
    else:
        return None
    lease = ExecutionLease(new_status, rt.ids.new_id(), expires=now + lease_ms, now=now, updated_at=iso_ms(now))
    return rt.repo.claim_execution(candidate, lease)


def cancel_workflow(
    rt: Runtime,
    tenant: str,
    workflow_id: str,
    *,
    reason: str | None,
    cascade: bool,
    cleanup_timeout_ms: int | None = None,
    requested_by: str = "api",
) -> dict[str, Any]:
    """Flow 6: make a live execution CANCELLING (idempotent), and ask its descendants too when cascading.

    With `cleanup_timeout_ms`, an execution this call makes CANCELLING is terminated if still live that long after
    (stratoflow.deadlines); one already CANCELLING keeps its deadline, or its lack of one.
    """

    def attempt() -> dict[str, Any]:
        execution = require_execution(rt.repo, tenant, workflow_id)
        uow = UnitOfWork()
        deadline = None if cleanup_timeout_ms is None else rt.now_ms() + cleanup_timeout_ms
        request_workflow_cancel(
            rt,
            uow,
            execution,
            reason=reason,
            requested_by=requested_by,
            cascade_root=workflow_id if cascade else None,
            cleanup_deadline=deadline,
        )
        commit_or_retry(rt.repo, uow)
        return {"workflowExecutionId": workflow_id, "status": WorkflowStatus.CANCELLING.value}

    return run_optimistic(attempt)


def require_workflow(rt: Runtime, tenant: str, workflow_id: str) -> None:
    """404 unless the tenant has this execution."""
    require_execution(rt.repo, tenant, workflow_id)
