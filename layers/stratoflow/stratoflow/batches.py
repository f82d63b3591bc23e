"""Batches (operators.md): cancel or terminate every execution a filter selects, at a bounded rate, exactly once each.

How a batch runs (docs/design.md, "Batches"):

- Creating one writes the batch item and an outbox item in one transaction (with its Idempotency-Key). The outbox
  dispatcher turns the outbox item into the first message of the batch queue (SQS FIFO, one message group per
  batch, deduplication id `<batchId>:<slice>`, a one-second delivery delay), and the batch-runner function runs one
  *slice* per message: at most `maxPerSecond` executions, then the message of the next slice.
- Listing is a Query of the tenant's list index over the snapshot (`createdAfter <= createdAt < min(createdBefore,
  the batch's createdAt)`), filtered by DynamoDB on status, kind and queue; the cursor and the ids found but not yet
  handled are saved on the batch item before any of them is handled, so each index entry is read once.
- Each execution is handled in one transaction with its outcome item (`attribute_not_exists`: a redelivered slice
  skips what it handled already) and an update of the batch's counters conditioned on `status = RUNNING AND
  slice = <this slice>`: a stopped batch handles nothing more, and counts always add up (I11).
- Rate: a slice reaches at most `maxPerSecond` executions; the next slice reaches none before one second after the
  previous slice ended (its `notBefore`), so no window of one second holds more than `maxPerSecond` of them.
- The batch item sits in the sweep index while it runs: the sweeper re-sends the current slice's message if the chain
  of messages stalled (a poisoned message left for the queue's dead-letter queue, say).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pynamodb.expressions.update import Action

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.items import ExecutionItem, OutboxItem
from stratoflow.dal.operator_items import (
    BATCH_OUTCOME_PREFIX,
    BATCH_SK,
    BatchItem,
    BatchOutcomeItem,
    batch_list_pk,
    batch_outcome_sk,
    batch_pk,
)
from stratoflow.dal.transactions import Transaction, TransactionConflict, run_optimistic
from stratoflow.errors import FailedPrecondition, InvalidArgument, NotFound, StratoflowError
from stratoflow.executions import get_execution, is_live, raise_for_conflict
from stratoflow.lifecycle import request_workflow_cancel
from stratoflow.runtime import Runtime
from stratoflow.states import LIVE_WORKFLOW, WorkflowStatus
from stratoflow.terminate import stage_terminate
from stratoflow.values import dumps, loads
from stratoflow.workflows import commit_once

DEFAULT_MAX_PER_SECOND = 50
OUTBOX_BATCH = "BATCH"
LIST_PAGE_SIZE = 100
# A slice's message is re-sent by the sweeper when the batch made no progress for this long.
STALL_REDRIVE_MS = 300_000
SLICE_GAP_MS = 1_000


class BatchQueue(Protocol):
    """Sends the message that runs one slice of a batch; sending the same slice twice must be harmless."""

    def send(self, tenant: str, batch_id: str, slice_number: int) -> None: ...


@dataclass(frozen=True)
class BatchRequest:
    operation: str
    filter: dict[str, Any]
    reason: str | None
    cascade: bool
    cleanup_timeout_ms: int | None
    max_per_second: int

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": "createBatch",
            "batchOperation": self.operation,
            "filter": self.filter,
            "reason": self.reason,
            "cascade": self.cascade,
            "cleanupTimeoutMs": self.cleanup_timeout_ms,
            "maxPerSecond": self.max_per_second,
        }


# ---------------------------------------------------------------- reading


def get_batch_item(tenant: str, batch_id: str) -> BatchItem | None:
    if not batch_id or len(batch_id) > keys.MAX_PATH_ID_LENGTH:
        return None
    try:
        return BatchItem.get(batch_pk(tenant, batch_id), BATCH_SK, consistent_read=True)
    except BatchItem.DoesNotExist:
        return None


def _require(tenant: str, batch_id: str) -> BatchItem:
    batch = get_batch_item(tenant, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} not found")
    return batch


def batch_view(batch: BatchItem) -> dict[str, Any]:
    return {
        "batchId": batch.batch_id,
        "operation": batch.operation,
        "filter": loads(batch.filter_json),
        "reason": batch.reason,
        "cascade": bool(batch.cascade),
        "cleanupTimeoutMs": None if batch.cleanup_timeout_ms is None else int(batch.cleanup_timeout_ms),
        "status": batch.status,
        "matched": None if batch.matched is None else int(batch.matched),
        "succeeded": int(batch.succeeded or 0),
        "failed": int(batch.failed or 0),
        "skipped": int(batch.skipped or 0),
        "createdAt": batch.created_at,
        "updatedAt": batch.updated_at,
        "completedAt": batch.completed_at,
    }


def get_batch(tenant: str, batch_id: str) -> dict[str, Any]:
    return batch_view(_require(tenant, batch_id))


def list_batches(tenant: str, *, limit: int, next_token: str | None) -> dict[str, Any]:
    """Newest first, by Query on the tenant's batches in the list index."""
    start = _decode_token(next_token, "listPk", batch_list_pk(tenant)) if next_token else None
    results = BatchItem.list_index.query(
        batch_list_pk(tenant), scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=start
    )
    page, last = _one_page(results)
    return {
        "batches": [batch_view(BatchItem.from_raw_data(raw)) for raw in page],
        "nextToken": _encode_token(last) if last else None,
    }


def list_items(
    tenant: str, batch_id: str, *, outcome: str | None, limit: int, next_token: str | None
) -> dict[str, Any]:
    """The batch's outcome per execution, by execution id; an `outcome` filter may leave a page short."""
    _require(tenant, batch_id)
    pk = batch_pk(tenant, batch_id)
    start = _decode_token(next_token, "pk", pk) if next_token else None
    results = BatchOutcomeItem.query(
        pk,
        BatchOutcomeItem.sk.startswith(BATCH_OUTCOME_PREFIX),
        filter_condition=(BatchOutcomeItem.outcome == outcome) if outcome else None,
        consistent_read=True,
        limit=limit,
        page_size=limit,
        last_evaluated_key=start,
    )
    page, last = _one_page(results)
    items = []
    for raw in page:
        item = BatchOutcomeItem.from_raw_data(raw)
        items.append(
            {
                "workflowExecutionId": item.workflow_id,
                "outcome": item.outcome,
                "error": loads(item.error),
                "at": item.at,
            }
        )
    return {"items": items, "nextToken": _encode_token(last) if last else None}


def _one_page(results: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    try:
        page = next(results.page_iter)
    except StopIteration:
        return [], None
    return page.get("Items", []), results.page_iter.last_evaluated_key


def _encode_token(last_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode()


def _decode_token(token: str, attribute: str, expected: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(decoded, dict) or decoded.get(attribute) != {"S": expected}:
            raise ValueError("not a page token of this list")
        return decoded
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidArgument("nextToken is not a token this endpoint returned", parameter="nextToken") from error


# ---------------------------------------------------------------- what a filter selects


def _snapshot_before(batch_filter: dict[str, Any], created_at: str) -> str:
    before = batch_filter.get("createdBefore")
    return created_at if before is None or before > created_at else str(before)


def _statuses(batch_filter: dict[str, Any]) -> list[str]:
    return list(batch_filter.get("statuses") or sorted(LIVE_WORKFLOW))


def _in_scope(execution: ExecutionItem, batch_filter: dict[str, Any], snapshot_before: str) -> bool:
    """Every given field except `statuses` holds (the listed ids of a filter are reached even when terminal)."""
    if batch_filter.get("kind") is not None and execution.kind != batch_filter["kind"]:
        return False
    if batch_filter.get("queue") is not None and execution.queue != batch_filter["queue"]:
        return False
    after = batch_filter.get("createdAfter")
    return (after is None or execution.created_at >= after) and execution.created_at < snapshot_before


def _query_page(
    tenant: str, batch_filter: dict[str, Any], snapshot_before: str, cursor: dict[str, Any] | None, limit: int
) -> tuple[list[str], dict[str, Any] | None]:
    """One page of the list index over the snapshot; DynamoDB filters status, kind and queue. (ids, next cursor)."""
    condition = ExecutionItem.status.is_in(*_statuses(batch_filter))
    if batch_filter.get("kind") is not None:
        condition &= ExecutionItem.kind == batch_filter["kind"]
    if batch_filter.get("queue") is not None:
        condition &= ExecutionItem.queue == batch_filter["queue"]
    results = ExecutionItem.list_index.query(
        keys.list_pk(tenant),
        ExecutionItem.list_sk.between(str(batch_filter.get("createdAfter") or "0"), snapshot_before),
        filter_condition=condition,
        scan_index_forward=True,
        limit=limit,
        page_size=limit,
        last_evaluated_key=cursor,
    )
    page, last = _one_page(results)
    return [str(raw["workflowExecutionId"]["S"]) for raw in page], last


def _listed_ids(batch_filter: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(batch_filter.get("workflowExecutionIds") or []))


def count_matching(rt: Runtime, tenant: str, request: BatchRequest) -> int:
    """A dry run: how many executions the batch would find now; nothing is written."""
    snapshot = iso_ms(rt.now_ms() + 1)
    ids = _listed_ids(request.filter)
    if ids:
        return sum(1 for wid in ids if _id_counts(tenant, wid, request.filter, snapshot))
    count, cursor = 0, None
    while True:
        found, cursor = _query_page(tenant, request.filter, snapshot, cursor, 1000)
        count += len(found)
        if cursor is None:
            return count


def _id_counts(tenant: str, workflow_id: str, batch_filter: dict[str, Any], snapshot_before: str) -> bool:
    execution = get_execution(tenant, workflow_id)
    if execution is None:
        return True  # reached and counted as FAILED (NOT_FOUND)
    if not _in_scope(execution, batch_filter, snapshot_before):
        return False
    return not is_live(execution) or execution.status in _statuses(batch_filter)


# ---------------------------------------------------------------- creating and stopping


def create_batch(
    rt: Runtime, tenant: str, request: BatchRequest, *, idempotency_key: str | None = None
) -> dict[str, Any]:
    now = rt.now_ms()
    batch_id = rt.ids.new_id()
    created_at = iso_ms(now)
    pk = batch_pk(tenant, batch_id)
    ids = _listed_ids(request.filter)
    batch = BatchItem(
        pk,
        BATCH_SK,
        tenant=tenant,
        batch_id=batch_id,
        operation=request.operation,
        filter_json=dumps(request.filter),
        reason=request.reason,
        cascade=request.cascade,
        cleanup_timeout_ms=request.cleanup_timeout_ms,
        max_per_second=request.max_per_second,
        status="RUNNING",
        matched=None,
        found=0,
        succeeded=0,
        failed=0,
        skipped=0,
        snapshot_before=_snapshot_before(request.filter, created_at),
        cursor=None,
        pending=dumps(ids) if ids else None,
        listed=bool(ids),
        slice_number=1,
        not_before=0,
        created_at=created_at,
        updated_at=created_at,
        list_pk=batch_list_pk(tenant),
        list_sk=f"{created_at}#{batch_id}",
        sweep_pk=keys.sweep_pk(pk),
        sweep_at=now + STALL_REDRIVE_MS,
    )
    tx = Transaction()
    tx.put(batch, condition=BatchItem.pk.does_not_exist(), label="new-batch")
    tx.put(
        OutboxItem(
            pk,
            keys.outbox_sk(OUTBOX_BATCH, "start"),
            tenant=tenant,
            workflow_id=batch_id,  # the owner of this follow-up is the batch, not an execution
            kind=OUTBOX_BATCH,
            payload=dumps({"batchId": batch_id}),
            created_at=created_at,
            sweep_pk=keys.sweep_pk(pk),
            sweep_at=now + rt.settings.outbox_redrive_after_seconds * 1000,
        ),
        label="new-outbox",
    )
    return commit_once(tx, tenant, idempotency_key, request.as_json(), batch_view(batch), now)


def stop_batch(rt: Runtime, tenant: str, batch_id: str) -> dict[str, Any]:
    """RUNNING → STOPPED; executions not yet reached are left alone (every handling is conditioned on RUNNING)."""
    batch = _require(tenant, batch_id)
    now = iso_ms(rt.now_ms())
    tx = Transaction()
    tx.update(
        batch,
        [
            BatchItem.status.set("STOPPED"),
            BatchItem.completed_at.set(now),
            BatchItem.updated_at.set(now),
            BatchItem.sweep_pk.remove(),
            BatchItem.sweep_at.remove(),
        ],
        condition=BatchItem.status == "RUNNING",
        label="batch",
    )
    try:
        tx.commit()
    except TransactionConflict:
        current = _require(tenant, batch_id)
        raise FailedPrecondition(f"batch is {current.status}", current.status) from None
    return get_batch(tenant, batch_id)


def start_batch(queue: BatchQueue, pk: str, sk: str) -> str:
    """The outbox follow-up of a new batch: the message of its first slice (sent twice, it is deduplicated)."""
    try:
        outbox = OutboxItem.get(pk, sk, consistent_read=True)
    except OutboxItem.DoesNotExist:
        return "done"
    queue.send(outbox.tenant, outbox.workflow_id, 1)
    try:
        outbox.delete(condition=OutboxItem.pk.exists())
    except Exception as error:  # a concurrent delivery deleted it first: the work is done either way
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    return "started"


def redrive(rt: Runtime, queue: BatchQueue, tenant: str, batch_id: str) -> str:
    """The sweeper's safety net: a running batch that made no progress for a while gets its slice's message again."""
    batch = get_batch_item(tenant, batch_id)
    if batch is None or batch.status != "RUNNING":
        return "finished"
    queue.send(tenant, batch_id, int(batch.slice_number))
    tx = Transaction()
    tx.update(
        batch,
        [BatchItem.sweep_at.set(rt.now_ms() + STALL_REDRIVE_MS)],
        condition=BatchItem.status == "RUNNING",
        label="batch",
    )
    try:
        tx.commit()
    except TransactionConflict:
        return "finished"
    return "redriven"


# ---------------------------------------------------------------- running a slice


def run_slice(
    rt: Runtime,
    queue: BatchQueue,
    tenant: str,
    batch_id: str,
    slice_number: int,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """One message of the batch queue: handle the next `maxPerSecond` executions, then send the next slice's.

    Safe to run again after a crash at any step, or for a duplicate message: what was handled has its outcome item.
    """
    batch = get_batch_item(tenant, batch_id)
    if batch is None or batch.status != "RUNNING":
        return "finished"
    current = int(batch.slice_number)
    if slice_number < current:
        # An older message, redelivered after its runner advanced the batch but perhaps before it sent the next one.
        queue.send(tenant, batch_id, current)
        return "stale"
    if slice_number > current:
        return "ahead"
    wait_ms = int(batch.not_before) - rt.now_ms()
    if wait_ms > 0:
        sleep(min(wait_ms, 2 * SLICE_GAP_MS) / 1000)
    budget = int(batch.max_per_second)
    if not _list_until(batch, current, budget):
        return "finished"
    pending: list[str] = loads(batch.pending) or []
    take, rest = pending[:budget], pending[budget:]
    for workflow_id in take:
        if _handle(rt, batch, current, workflow_id) == "stopped":
            return "finished"
    done = not rest and bool(batch.listed)
    if not _advance(rt, batch, current, rest, done):
        return "finished"
    if done:
        return "completed"
    queue.send(tenant, batch_id, current + 1)
    return "continued"


def _list_until(batch: BatchItem, slice_number: int, budget: int) -> bool:
    """Fill the pending ids up to `budget` from the index and save the listing's progress before handling any."""
    pending: list[str] = loads(batch.pending) or []
    if len(pending) >= budget or batch.listed:
        return True
    batch_filter = loads(batch.filter_json)
    cursor = loads(batch.cursor)
    found = int(batch.found or 0)
    listed = False
    while len(pending) < budget:
        ids, cursor = _query_page(batch.tenant, batch_filter, batch.snapshot_before, cursor, LIST_PAGE_SIZE)
        pending += ids
        found += len(ids)
        if cursor is None:
            listed = True
            break
    actions: list[Action] = [
        BatchItem.pending.set(dumps(pending)),
        BatchItem.cursor.set(dumps(cursor)) if cursor is not None else BatchItem.cursor.remove(),
        BatchItem.found.set(found),
        BatchItem.listed.set(listed),
    ]
    tx = Transaction()
    tx.update(batch, actions, condition=_running_slice(slice_number), label="batch")
    try:
        tx.commit()
    except TransactionConflict:
        return False
    batch.pending, batch.found, batch.listed = dumps(pending), found, listed
    batch.cursor = dumps(cursor) if cursor is not None else None
    return True


def _running_slice(slice_number: int) -> Any:
    return (BatchItem.status == "RUNNING") & (BatchItem.slice_number == slice_number)


def _advance(rt: Runtime, batch: BatchItem, slice_number: int, rest: list[str], done: bool) -> bool:
    now = rt.now_ms()
    actions: list[Action] = [
        BatchItem.pending.set(dumps(rest)) if rest else BatchItem.pending.remove(),
        BatchItem.slice_number.set(slice_number + 1),
        BatchItem.not_before.set(now + SLICE_GAP_MS),
        BatchItem.updated_at.set(iso_ms(now)),
    ]
    if done:
        fresh = get_batch_item(batch.tenant, batch.batch_id)
        assert fresh is not None
        ids_mode = bool(_listed_ids(loads(batch.filter_json)))
        reached = int(fresh.succeeded or 0) + int(fresh.failed or 0) + int(fresh.skipped or 0)
        actions += [
            BatchItem.status.set("COMPLETED"),
            BatchItem.matched.set(reached if ids_mode else int(batch.found or 0)),
            BatchItem.completed_at.set(iso_ms(now)),
            BatchItem.sweep_pk.remove(),
            BatchItem.sweep_at.remove(),
        ]
    else:
        actions.append(BatchItem.sweep_at.set(now + STALL_REDRIVE_MS))
        if batch.listed and batch.matched is None and not _listed_ids(loads(batch.filter_json)):
            actions.append(BatchItem.matched.set(int(batch.found or 0)))
    tx = Transaction()
    tx.update(batch, actions, condition=_running_slice(slice_number), label="batch")
    try:
        tx.commit()
    except TransactionConflict:
        return False
    return True


def _handle(rt: Runtime, batch: BatchItem, slice_number: int, workflow_id: str) -> str:
    """Reach one execution: its change, its outcome item and the batch's count in one transaction.

    Returns "SUCCEEDED", "SKIPPED", "FAILED", "excluded" (a listed id outside the filter), "already" (handled by an
    earlier run of this slice) or "stopped".
    """
    batch_filter = loads(batch.filter_json)
    ids_mode = bool(_listed_ids(batch_filter))

    def attempt() -> str:
        now = rt.now_ms()
        execution = get_execution(batch.tenant, workflow_id)
        tx = Transaction()
        error: dict[str, Any] | None = None
        if execution is None:
            outcome = "FAILED"
            error = {"code": "NOT_FOUND", "message": f"workflow execution {workflow_id} not found"}
        elif ids_mode and not _in_scope(execution, batch_filter, batch.snapshot_before):
            return "excluded"
        elif not is_live(execution) or (
            batch.operation == "CANCEL" and execution.status == WorkflowStatus.CANCELLING
        ):
            outcome = "SKIPPED"  # left exactly as it was: only checked not to have changed since it was read
            tx.check(ExecutionItem, execution.pk, execution.sk, ExecutionItem.ver == execution.ver, label="execution")
        elif ids_mode and execution.status not in _statuses(batch_filter):
            return "excluded"
        else:
            outcome = "SUCCEEDED"
            _change(rt, tx, batch, execution, now)
        _stage_outcome(tx, batch, slice_number, workflow_id, outcome, error, now)
        return _commit(tx, outcome)

    try:
        return run_optimistic(attempt)
    except StratoflowError as refused:  # contention exhausted, a value too large: reported, the batch goes on
        tx = Transaction()
        error = {"code": refused.code, "message": refused.message}
        _stage_outcome(tx, batch, slice_number, workflow_id, "FAILED", error, rt.now_ms())
        return _commit(tx, "FAILED")


def _change(rt: Runtime, tx: Transaction, batch: BatchItem, execution: ExecutionItem, now: int) -> None:
    requested_by = f"batch:{batch.batch_id}"
    root = execution.workflow_id if batch.cascade else None
    if batch.operation == "TERMINATE":
        stage_terminate(rt, tx, execution, reason=batch.reason or "", requested_by=requested_by, cascade_root=root)
        return
    timeout = batch.cleanup_timeout_ms
    request_workflow_cancel(
        rt,
        tx,
        execution,
        reason=batch.reason,
        requested_by=requested_by,
        cascade_root=root,
        cleanup_deadline=None if timeout is None else now + int(timeout),
    )


def _stage_outcome(
    tx: Transaction,
    batch: BatchItem,
    slice_number: int,
    workflow_id: str,
    outcome: str,
    error: dict[str, Any] | None,
    now: int,
) -> None:
    tx.put(
        BatchOutcomeItem(
            batch.pk,
            batch_outcome_sk(workflow_id),
            workflow_id=workflow_id,
            outcome=outcome,
            error=None if error is None else dumps(error),
            at=iso_ms(now),
        ),
        condition=BatchOutcomeItem.pk.does_not_exist(),
        label="outcome",
    )
    counter = {"SUCCEEDED": BatchItem.succeeded, "FAILED": BatchItem.failed, "SKIPPED": BatchItem.skipped}[outcome]
    tx.update(
        BatchItem(batch.pk, BATCH_SK),
        [counter.add(1), BatchItem.updated_at.set(iso_ms(now))],
        condition=_running_slice(slice_number),
        label="batch",
    )


def _commit(tx: Transaction, outcome: str) -> str:
    try:
        tx.commit()
    except TransactionConflict as conflict:
        if "batch" in conflict.labels:
            return "stopped"
        if "outcome" in conflict.labels:
            return "already"
        raise_for_conflict(conflict)
    return outcome
