"""The caller's view of workflow executions: start, read, list, history, and dispatch to workers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from pynamodb.exceptions import UpdateError

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.items import EventItem, ExecutionItem, IdempotencyItem
from stratoflow.dal.transactions import Transaction, TransactionConflict, aws_error_code, run_optimistic
from stratoflow.errors import Conflict, InvalidArgument
from stratoflow.executions import (
    HistoryWriter,
    execution_view,
    new_execution,
    operator_fields,
    raise_for_conflict,
    require_execution,
    stage_value,
)
from stratoflow.lifecycle import request_workflow_cancel
from stratoflow.runtime import Runtime
from stratoflow.states import WorkflowStatus
from stratoflow.subscriptions import CancelOnEntry, stage_subscriptions
from stratoflow.values import dumps, encode_value, loads

IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000
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
    tx = Transaction()
    stage_value(tx, execution, "input", input_text)
    stage_subscriptions(tx, execution, cancel_on or [], now)
    history = HistoryWriter(execution, now)
    history.append("WORKFLOW_STARTED", {"input": input_value})
    history.stage(tx)
    view = execution_view_from_values(execution, input_value)
    request: dict[str, Any] = {"kind": kind, "queue": queue, "input": input_value}
    if cancel_on:  # absent when none, so keys recorded before cancelOn existed still match their retries
        request["cancelOn"] = [entry.view() for entry in cancel_on]
    return commit_once(tx, tenant, idempotency_key, request, view, now)


def commit_once(
    tx: Transaction,
    tenant: str,
    idempotency_key: str | None,
    request: dict[str, Any],
    response: dict[str, Any],
    now_ms: int,
) -> dict[str, Any]:
    """Commit a creation; with an Idempotency-Key, the same key and request within 24 h return the first response.

    The key is recorded in the creation's own transaction: a retry after a lost answer or a crash cannot create a
    second resource. The same key with another request is 409 CONFLICT.
    """
    if idempotency_key is None:
        tx.commit()
        return response
    request_hash = hashlib.sha256(dumps(request).encode()).hexdigest()
    key_pk = keys.idempotency_pk(tenant, hashlib.sha256(idempotency_key.encode()).hexdigest())
    record = IdempotencyItem(
        key_pk,
        keys.IDEMPOTENCY_SK,
        request_hash=request_hash,
        response=dumps(response),
        expires_at=(now_ms // 1000) + 86400,
    )
    tx.put(
        record,
        condition=IdempotencyItem.pk.does_not_exist() | (IdempotencyItem.expires_at < now_ms // 1000),
        label="idempotency",
    )
    try:
        tx.commit()
        return response
    except TransactionConflict as conflict:
        if "idempotency" not in conflict.labels:
            raise
    existing = IdempotencyItem.get(key_pk, keys.IDEMPOTENCY_SK, consistent_read=True)
    if existing.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was used with a different request body") from None
    first_response: dict[str, Any] = loads(existing.response)
    return first_response


def execution_view_from_values(execution: ExecutionItem, input_value: Any) -> dict[str, Any]:
    view = execution_view_without_values(execution)
    view["input"] = input_value
    return view


def execution_view_without_values(execution: ExecutionItem) -> dict[str, Any]:
    return {
        "workflowExecutionId": execution.workflow_id,
        "kind": execution.kind,
        "queue": execution.queue,
        "status": execution.status,
        "input": None,
        "output": None,
        "error": None,
        "cancelReason": execution.cancel_reason,
        "parentWorkflowExecutionId": execution.parent_id,
        "childExecutionName": execution.child_execution_name,
        **operator_fields(execution),
        "createdAt": execution.created_at,
        "updatedAt": execution.updated_at,
    }


def get_workflow(tenant: str, workflow_id: str) -> dict[str, Any]:
    return execution_view(require_execution(tenant, workflow_id))


def list_workflows(
    tenant: str, *, status: str | None, kind: str | None, limit: int, next_token: str | None
) -> dict[str, Any]:
    """Newest first, by Query on the tenant's list index; filters may leave a page short."""
    start_key = _decode_token(tenant, next_token) if next_token else None
    condition = None
    if status is not None:
        condition = ExecutionItem.status == status
    if kind is not None:
        condition = (ExecutionItem.kind == kind) if condition is None else condition & (ExecutionItem.kind == kind)
    results = ExecutionItem.list_index.query(
        keys.list_pk(tenant),
        filter_condition=condition,
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=start_key,
    )
    workflows = [execution_view(item) for item in _one_page(results)]
    last_key = results.page_iter.last_evaluated_key
    return {"workflows": workflows, "nextToken": _encode_token(last_key) if last_key else None}


def _one_page(results: Any) -> list[ExecutionItem]:
    """Exactly one DynamoDB page: a filtered page may be short, even empty, while more remain."""
    try:
        page = next(results.page_iter)
    except StopIteration:
        return []
    return [ExecutionItem.from_raw_data(raw) for raw in page.get("Items", [])]


def _encode_token(last_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode()


def _decode_token(tenant: str, token: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(decoded, dict) or decoded.get("listPk") != {"S": keys.list_pk(tenant)}:
            raise ValueError("not a page token of this list")
        return decoded
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidArgument("nextToken is not a token this endpoint returned", parameter="nextToken") from exc


def read_history(
    tenant: str, workflow_id: str, *, after_sequence: int, limit: int, up_to: int | None = None
) -> dict[str, Any]:
    """One page of history after `after_sequence`: at most `limit` events and about 1 MB of data."""
    pk = keys.workflow_pk(tenant, workflow_id)
    first = after_sequence + 1
    if up_to is not None and up_to < first:
        return {"events": [], "nextAfterSequence": None}
    upper = keys.event_sk(up_to) if up_to is not None else keys.EVENT_PREFIX + "~"
    results = EventItem.query(
        pk,
        EventItem.sk.between(keys.event_sk(first), upper),
        consistent_read=True,
        limit=limit,
        page_size=min(limit, 1000),
    )
    events: list[dict[str, Any]] = []
    size = 0
    cut_short = False
    for item in results:
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
    lease_ms = lease_ms or DEFAULT_LEASE_MS
    now = rt.now_ms()
    condition = ExecutionItem.kind.is_in(*kinds) if kinds else None
    candidates = ExecutionItem.dispatch_index.query(
        keys.workflow_dispatch_pk(tenant, queue),
        ExecutionItem.dispatch_at <= now,
        filter_condition=condition,
        limit=10,
        page_size=25,
    )
    for candidate in candidates:
        claimed = _claim(rt, candidate, lease_ms, worker_id, now)
        if claimed is not None:
            page = read_history(tenant, claimed.workflow_id, after_sequence=0, limit=1000, up_to=int(claimed.last_seq))
            return {
                "workflowExecution": execution_view(claimed),
                "events": page["events"],
                "nextAfterSequence": page["nextAfterSequence"],
                "leaseId": claimed.lease_id,
                "leaseExpiresAt": iso_ms(int(claimed.lease_expires_at or 0)),
            }
    return None


def _claim(rt: Runtime, candidate: ExecutionItem, lease_ms: int, worker_id: str, now: int) -> ExecutionItem | None:
    seen_status = candidate.status
    if seen_status == WorkflowStatus.PENDING:
        new_status = WorkflowStatus.RUNNING
    elif seen_status in (WorkflowStatus.RUNNING, WorkflowStatus.CANCELLING):
        new_status = WorkflowStatus(seen_status)
    else:
        return None
    expires = now + lease_ms
    item = ExecutionItem(candidate.pk, candidate.sk)
    # A non-null version makes PynamoDB increment the stored one (ADD 1) instead of resetting it to 1, which would
    # let a writer holding a copy read at version 1 commit over this claim. No condition is put on it.
    item.ver = 0
    try:
        item.update(
            actions=[
                ExecutionItem.status.set(new_status),
                ExecutionItem.lease_id.set(rt.ids.new_id()),
                ExecutionItem.lease_expires_at.set(expires),
                ExecutionItem.dispatch_at.set(expires),
                ExecutionItem.seen_seq.set(ExecutionItem.last_seq),
                ExecutionItem.updated_at.set(iso_ms(now)),
            ],
            condition=(ExecutionItem.dispatch_at <= now) & (ExecutionItem.status == seen_status),
            add_version_condition=False,
        )
    except UpdateError as exc:
        if aws_error_code(exc) == "ConditionalCheckFailedException":
            return None  # another poller won it, or it changed since the index was read
        raise
    _ = worker_id  # recorded in logs by the handler; the lease id is what proves ownership
    return item


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
        execution = require_execution(tenant, workflow_id)
        tx = Transaction()
        deadline = None if cleanup_timeout_ms is None else rt.now_ms() + cleanup_timeout_ms
        request_workflow_cancel(
            rt,
            tx,
            execution,
            reason=reason,
            requested_by=requested_by,
            cascade_root=workflow_id if cascade else None,
            cleanup_deadline=deadline,
        )
        try:
            tx.commit()
        except TransactionConflict as conflict:
            raise_for_conflict(conflict)
        return {"workflowExecutionId": workflow_id, "status": WorkflowStatus.CANCELLING.value}

    return run_optimistic(attempt)


def require_workflow(tenant: str, workflow_id: str) -> None:
    """404 unless the tenant has this execution."""
    require_execution(tenant, workflow_id)
