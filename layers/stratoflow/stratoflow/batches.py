"""Batches (operators.md): cancel or terminate every execution a filter selects, at a bounded rate, exactly once each.

How a batch runs (docs/design.md, "Batches"):

- Creating one writes the batch item and an outbox item in one transaction (with its Idempotency-Key). The outbox
  dispatcher turns the outbox item into the first message of the batch queue (SQS FIFO, one message group per
  batch, deduplication id `<batchId>:<slice>`, a one-second delivery delay), and the batch-runner function runs one
  *slice* per message: at most `maxPerSecond` executions, then the message of the next slice.
- Listing is a Query of the tenant's list index over the snapshot (`createdAfter <= createdAt < min(createdBefore,
  the batch's createdAt)`), filtered on status, kind and queue; the cursor and the ids found but not yet handled are
  saved on the batch item before any of them is handled, so each index entry is read once. The index projects keys
  only and the repository reads the listed items with it (BatchGetItem), so the listing is also the first read of each
  execution it found.
- Each execution is handled in one transaction with its outcome item (`attribute_not_exists`: a redelivered slice
  skips what it handled already) and an update of the batch's counters conditioned on `status = RUNNING AND
  slice = <this slice>`: a stopped batch handles nothing more, and counts always add up (I11).
- Rate: a slice reaches at most `maxPerSecond` executions; the next slice reaches none before one second after the
  previous slice ended (its `notBefore`), so no window of one second holds more than `maxPerSecond` of them.
- The batch item sits in the sweep index while it runs: the sweeper re-sends the current slice's message if the chain
  of messages stalled (a poisoned message left for the queue's dead-letter queue, say).
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.keys import BATCH_OUTCOME_PREFIX, BATCH_SK, batch_list_pk, batch_outcome_sk, batch_pk
from stratoflow.dal.repository import BadPageToken, IndexQuery, Page, Repository
from stratoflow.dal.unit_of_work import (
    MAX_TRANSACTION_ITEMS,
    NEW,
    AllOf,
    Contention,
    FieldIn,
    FieldIs,
    Requirement,
    TransactionConflict,
    UnitOfWork,
    raise_for_conflict,
    run_optimistic,
    status_is,
    version_is,
)
from stratoflow.errors import FailedPrecondition, InvalidArgument, StratoflowError
from stratoflow.executions import get_execution, is_live
from stratoflow.idempotency import commit_once
from stratoflow.lifecycle import delete_outbox, request_workflow_cancel
from stratoflow.lookup import find, require
from stratoflow.records import Batch, BatchOutcome, Execution, OutboxEntry
from stratoflow.runtime import Runtime
from stratoflow.states import LIVE_WORKFLOW, WorkflowStatus
from stratoflow.terminate import stage_terminate
from stratoflow.values import dumps, loads

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


def get_batch_record(repo: Repository, tenant: str, batch_id: str) -> Batch | None:
    return find(repo, Batch, tenant, batch_id)


def batch_view(batch: Batch) -> dict[str, Any]:
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


def get_batch(rt: Runtime, tenant: str, batch_id: str) -> dict[str, Any]:
    return batch_view(require(rt.repo, Batch, tenant, batch_id))


def list_batches(rt: Runtime, tenant: str, *, limit: int, next_token: str | None) -> dict[str, Any]:
    """Newest first, by Query on the tenant's batches in the list index."""
    page: Page[Batch] = _page_or_refuse(
        lambda: rt.repo.index_page(Batch, IndexQuery(batch_list_pk(tenant), where=None, limit=limit, token=next_token))
    )
    return {"batches": [batch_view(batch) for batch in page.items], "nextToken": page.next_token}


def list_items(
    rt: Runtime, tenant: str, batch_id: str, *, outcome: str | None, limit: int, next_token: str | None
) -> dict[str, Any]:
    """The batch's outcome per execution, by execution id; an `outcome` filter may leave a page short."""
    require(rt.repo, Batch, tenant, batch_id)
    pk = batch_pk(tenant, batch_id)
    where = FieldIs("outcome", outcome) if outcome else None
    page: Page[BatchOutcome] = _page_or_refuse(
        lambda: rt.repo.page(BatchOutcome, pk, BATCH_OUTCOME_PREFIX, where=where, limit=limit, token=next_token)
    )
    items = [
        {"workflowExecutionId": item.workflow_id, "outcome": item.outcome, "error": loads(item.error), "at": item.at}
        for item in page.items
    ]
    return {"items": items, "nextToken": page.next_token}


def _page_or_refuse(read: Callable[[], Page[Any]]) -> Page[Any]:
    try:
        return read()
    except BadPageToken as error:
        raise InvalidArgument("nextToken is not a token this endpoint returned", parameter="nextToken") from error


# ---------------------------------------------------------------- what a filter selects


def _snapshot_before(batch_filter: dict[str, Any], created_at: str) -> str:
    before = batch_filter.get("createdBefore")
    return created_at if before is None or before > created_at else str(before)


def _statuses(batch_filter: dict[str, Any]) -> list[str]:
    return list(batch_filter.get("statuses") or sorted(LIVE_WORKFLOW))


def _in_scope(execution: Execution, batch_filter: dict[str, Any], snapshot_before: str) -> bool:
    """Every given field except `statuses` holds (the listed ids of a filter are reached even when terminal)."""
    if batch_filter.get("kind") is not None and execution.kind != batch_filter["kind"]:
        return False
    if batch_filter.get("queue") is not None and execution.queue != batch_filter["queue"]:
        return False
    after = batch_filter.get("createdAfter")
    return (after is None or execution.created_at >= after) and execution.created_at < snapshot_before


def _query_page(
    repo: Repository, tenant: str, batch_filter: dict[str, Any], snapshot_before: str, cursor: str | None, limit: int
) -> tuple[list[Execution], str | None]:
    """One page of the list index over the snapshot; the index filters status, kind and queue. (executions, next
    cursor): the repository reads the listed items with the page, so what it lists is also a first read of each
    execution."""
    parts: list[Requirement] = [FieldIn("status", tuple(_statuses(batch_filter)))]
    for name in ("kind", "queue"):
        if batch_filter.get(name) is not None:
            parts.append(FieldIs(name, batch_filter[name]))
    query = IndexQuery(
        keys.list_pk(tenant),
        where=AllOf(tuple(parts)),
        limit=limit,
        token=cursor,
        ascending=True,
        between=(str(batch_filter.get("createdAfter") or "0"), snapshot_before),
    )
    page = repo.index_page(Execution, query)
    return list(page.items), page.next_token


def _listed_ids(batch_filter: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(batch_filter.get("workflowExecutionIds") or []))


def count_matching(rt: Runtime, tenant: str, request: BatchRequest) -> int:
    """A dry run: how many executions the batch would find now; nothing is written."""
    snapshot = iso_ms(rt.now_ms() + 1)
    ids = _listed_ids(request.filter)
    if ids:
        return sum(1 for wid in ids if _id_counts(rt.repo, tenant, wid, request.filter, snapshot))
    count, cursor = 0, None
    while True:
        found, cursor = _query_page(rt.repo, tenant, request.filter, snapshot, cursor, 1000)
        count += len(found)
        if cursor is None:
            return count


def _id_counts(
    repo: Repository, tenant: str, workflow_id: str, batch_filter: dict[str, Any], snapshot_before: str
) -> bool:
    execution = get_execution(repo, tenant, workflow_id)
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
    batch = Batch(
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
    uow = UnitOfWork()
    uow.put(batch, NEW, label="new-batch")
    uow.put(
        OutboxEntry(
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
    return commit_once(rt.repo, uow, tenant, idempotency_key, request.as_json(), batch_view(batch), now)


def stop_batch(rt: Runtime, tenant: str, batch_id: str) -> dict[str, Any]:
    """RUNNING → STOPPED; executions not yet reached are left alone (every handling is conditioned on RUNNING)."""
    batch = require(rt.repo, Batch, tenant, batch_id)
    now = iso_ms(rt.now_ms())
    batch.status, batch.completed_at, batch.updated_at = "STOPPED", now, now
    batch.sweep_pk = batch.sweep_at = None
    uow = UnitOfWork()
    uow.update(
        batch,
        ("status", "completed_at", "updated_at", "sweep_pk", "sweep_at"),
        status_is("RUNNING"),
        label="batch",
    )
    try:
        rt.repo.commit(uow)
    except TransactionConflict:
        current = require(rt.repo, Batch, tenant, batch_id)
        raise FailedPrecondition(f"batch is {current.status}", current.status) from None
    return get_batch(rt, tenant, batch_id)


def start_batch(rt: Runtime, queue: BatchQueue, pk: str, sk: str) -> str:
    """The outbox follow-up of a new batch: the message of its first slice (sent twice, it is deduplicated)."""
    outbox = rt.repo.get(OutboxEntry, pk, sk)
    if outbox is None:
        return "done"
    queue.send(outbox.tenant, outbox.workflow_id, 1)
    delete_outbox(rt, outbox)
    return "started"


def redrive(rt: Runtime, queue: BatchQueue, tenant: str, batch_id: str) -> str:
    """The sweeper's safety net: a running batch that made no progress for a while gets its slice's message again."""
    batch = get_batch_record(rt.repo, tenant, batch_id)
    if batch is None or batch.status != "RUNNING":
        return "finished"
    queue.send(tenant, batch_id, int(batch.slice_number))
    batch.sweep_at = rt.now_ms() + STALL_REDRIVE_MS
    uow = UnitOfWork()
    uow.update(batch, ("sweep_at",), status_is("RUNNING"), label="batch")
    try:
        rt.repo.commit(uow)
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
    batch = get_batch_record(rt.repo, tenant, batch_id)
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
    listed = _list_until(rt.repo, batch, current, budget)
    if listed is None:
        return "finished"
    pending: list[str] = loads(batch.pending) or []
    take, rest = pending[:budget], pending[budget:]
    if not _handle_together(rt, batch, current, take, listed):
        return "finished"
    done = not rest and bool(batch.listed)
    if not _advance(rt, batch, current, rest, done):
        return "finished"
    if done:
        return "completed"
    queue.send(tenant, batch_id, current + 1)
    return "continued"


def _list_until(repo: Repository, batch: Batch, slice_number: int, budget: int) -> dict[str, Execution] | None:
    """Fill the pending ids up to `budget` from the index and save the listing's progress before handling any.

    Returns the executions this call listed (their first read), or None when the batch moved on meanwhile. Pages
    ask for no more than the slice still needs, so ids are rarely left pending for the next slice (to be read again).
    """
    pending: list[str] = loads(batch.pending) or []
    if len(pending) >= budget or batch.listed:
        return {}
    batch_filter = loads(batch.filter_json)
    cursor = batch.cursor
    found = int(batch.found or 0)
    listed = False
    executions: dict[str, Execution] = {}
    while len(pending) < budget:
        limit = min(LIST_PAGE_SIZE, budget - len(pending))
        page, cursor = _query_page(repo, batch.tenant, batch_filter, batch.snapshot_before, cursor, limit)
        pending += [execution.workflow_id for execution in page]
        executions.update((execution.workflow_id, execution) for execution in page)
        found += len(page)
        if cursor is None:
            listed = True
            break
    batch.pending, batch.cursor, batch.found, batch.listed = dumps(pending), cursor, found, listed
    uow = UnitOfWork()
    uow.update(batch, ("pending", "cursor", "found", "listed"), _running_slice(slice_number), label="batch")
    try:
        repo.commit(uow)
    except TransactionConflict:
        return None
    return executions


def _running_slice(slice_number: int) -> AllOf:
    return AllOf((status_is("RUNNING"), FieldIs("slice_number", slice_number)))


def _advance(rt: Runtime, batch: Batch, slice_number: int, rest: list[str], done: bool) -> bool:
    now = rt.now_ms()
    changed = ["pending", "slice_number", "not_before", "updated_at"]
    batch.pending = dumps(rest) if rest else None
    batch.slice_number = slice_number + 1
    batch.not_before = now + SLICE_GAP_MS
    batch.updated_at = iso_ms(now)
    if done:
        fresh = get_batch_record(rt.repo, batch.tenant, batch.batch_id)
        assert fresh is not None
        ids_mode = bool(_listed_ids(loads(batch.filter_json)))
        reached = int(fresh.succeeded or 0) + int(fresh.failed or 0) + int(fresh.skipped or 0)
        batch.status = "COMPLETED"
        batch.matched = reached if ids_mode else int(batch.found or 0)
        batch.completed_at = iso_ms(now)
        batch.sweep_pk = batch.sweep_at = None
        changed += ["status", "matched", "completed_at", "sweep_pk", "sweep_at"]
    else:
        batch.sweep_at = now + STALL_REDRIVE_MS
        changed.append("sweep_at")
        if batch.listed and batch.matched is None and not _listed_ids(loads(batch.filter_json)):
            batch.matched = int(batch.found or 0)
            changed.append("matched")
    uow = UnitOfWork()
    # Only these fields: the counters are the executions' transactions' to add to.
    uow.update(batch, tuple(changed), _running_slice(slice_number), label="batch")
    try:
        rt.repo.commit(uow)
    except TransactionConflict:
        return False
    return True


# The items of the executions one transaction handles together (their changes and outcome items), leaving room under
# DynamoDB's 100 for the batch's counters.
GROUP_ITEMS = MAX_TRANSACTION_ITEMS - 10


def _handle_together(
    rt: Runtime, batch: Batch, slice_number: int, workflow_ids: list[str], listed: dict[str, Execution]
) -> bool:
    """Reach these executions, several in one transaction: each one's change (or check) and outcome item, and one
    update of the batch's counters for all of them, under `status = RUNNING AND slice = <this slice>`.

    Every execution is still changed together with its outcome item and its count, so all that holds for one at a
    time holds here; fewer transactions make a slice quick. What a group's transaction refuses sorts itself out: a
    stopped batch ends the slice, an execution handled before (its outcome item exists) is dropped, one that changed
    since it was read (its version) goes to `_handle`, alone, from a fresh read; the rest are tried again. Returns
    False once the batch is no longer this slice's (stopped, or moved on).
    """
    waiting = list(workflow_ids)
    alone: list[str] = []
    while waiting:
        now = rt.now_ms()
        uow, counts, keys_taken = UnitOfWork(), Counter[str](), set[tuple[str, str]]()
        members: list[str] = []
        while waiting:
            workflow_id = waiting[0]
            first = listed.get(workflow_id)
            try:
                staged = _stage_execution(rt, batch, workflow_id, copy.deepcopy(first) if first else None, now)
            except HandleAlone:
                alone.append(waiting.pop(0))
                continue
            if staged is None:  # a listed id outside the filter: not reached, not counted
                waiting.pop(0)
                continue
            part, outcome = staged
            part_keys = {op.key for op in part.operations}
            if members and (part_keys & keys_taken or len(uow.operations) + len(part.operations) > GROUP_ITEMS):
                break  # the next group's (an item may appear only once in a transaction)
            waiting.pop(0)
            uow.operations += [replace(op, label=f"{workflow_id}|{op.label}") for op in part.operations]
            members.append(workflow_id)
            counts[outcome] += 1
            keys_taken |= part_keys
        if not members:
            continue
        _stage_counts(uow, batch, slice_number, counts, now)
        try:
            rt.repo.commit(uow)
        except TransactionConflict as conflict:
            if "batch" in conflict.labels:
                return False
            refused = {label.partition("|")[0]: label.partition("|")[2] for label in conflict.labels}
            if not refused.keys() & set(members):  # no member to blame: each on its own rather than the same again
                alone += members
                continue
            for workflow_id, label in refused.items():
                if label != "outcome":  # (an existing outcome item: handled by an earlier run of this slice)
                    alone.append(workflow_id)
                listed.pop(workflow_id, None)
            waiting = [workflow_id for workflow_id in members if workflow_id not in refused] + waiting
        except (Contention, StratoflowError):  # contended, or too large together: each on its own
            alone += members
    return all(_handle(rt, batch, slice_number, workflow_id) != "stopped" for workflow_id in alone)


class HandleAlone(Exception):
    """Staging an execution with others was refused: it is handled alone (and reported FAILED if it fails again)."""


def _stage_execution(
    rt: Runtime, batch: Batch, workflow_id: str, execution: Execution | None, now: int
) -> tuple[UnitOfWork, str] | None:
    """One execution's change (or, for a skip, a check that it did not change) and its outcome item; None for a
    listed id outside the filter. `execution`: as it was read (None: read it now)."""
    batch_filter = loads(batch.filter_json)
    ids_mode = bool(_listed_ids(batch_filter))
    if execution is None:
        execution = get_execution(rt.repo, batch.tenant, workflow_id)
    uow = UnitOfWork()
    error: dict[str, Any] | None = None
    if execution is None:
        outcome = "FAILED"
        error = {"code": "NOT_FOUND", "message": f"workflow execution {workflow_id} not found"}
    elif ids_mode and not _in_scope(execution, batch_filter, batch.snapshot_before):
        return None
    elif not is_live(execution) or (batch.operation == "CANCEL" and execution.status == WorkflowStatus.CANCELLING):
        outcome = "SKIPPED"  # left exactly as it was: only checked not to have changed since it was read
        uow.check(execution, version_is(execution.ver), label="execution")
    elif ids_mode and execution.status not in _statuses(batch_filter):
        return None
    else:
        outcome = "SUCCEEDED"
        try:
            _change(rt, uow, batch, execution, now)
        except StratoflowError as refused:
            raise HandleAlone() from refused
    _stage_outcome_item(uow, batch, workflow_id, outcome, error, now)
    return uow, outcome


def _handle(rt: Runtime, batch: Batch, slice_number: int, workflow_id: str) -> str:
    """Reach one execution alone, from a fresh read: its change, its outcome item and the batch's count in one
    transaction. Returns "SUCCEEDED", "SKIPPED", "FAILED", "excluded" (a listed id outside the filter), "already"
    (handled by an earlier run of this slice) or "stopped"."""

    def attempt() -> str:
        now = rt.now_ms()
        staged = _stage_execution(rt, batch, workflow_id, None, now)
        if staged is None:
            return "excluded"
        uow, outcome = staged
        _stage_counts(uow, batch, slice_number, Counter({outcome: 1}), now)
        return _commit(rt.repo, uow, outcome)

    try:
        return run_optimistic(attempt)
    except (HandleAlone, StratoflowError) as failure:  # a refusal, contention exhausted: reported, go on
        refused = failure.__cause__ if isinstance(failure, HandleAlone) else failure
        assert isinstance(refused, StratoflowError)
        uow = UnitOfWork()
        now = rt.now_ms()
        _stage_outcome_item(uow, batch, workflow_id, "FAILED", {"code": refused.code, "message": refused.message}, now)
        _stage_counts(uow, batch, slice_number, Counter({"FAILED": 1}), now)
        return _commit(rt.repo, uow, "FAILED")


def _change(rt: Runtime, uow: UnitOfWork, batch: Batch, execution: Execution, now: int) -> None:
    requested_by = f"batch:{batch.batch_id}"
    root = execution.workflow_id if batch.cascade else None
    if batch.operation == "TERMINATE":
        stage_terminate(rt, uow, execution, reason=batch.reason or "", requested_by=requested_by, cascade_root=root)
        return
    timeout = batch.cleanup_timeout_ms
    request_workflow_cancel(
        rt,
        uow,
        execution,
        reason=batch.reason,
        requested_by=requested_by,
        cascade_root=root,
        cleanup_deadline=None if timeout is None else now + int(timeout),
    )


def _stage_outcome_item(
    uow: UnitOfWork, batch: Batch, workflow_id: str, outcome: str, error: dict[str, Any] | None, now: int
) -> None:
    uow.put(
        BatchOutcome(
            batch.pk,
            batch_outcome_sk(workflow_id),
            workflow_id=workflow_id,
            outcome=outcome,
            error=None if error is None else dumps(error),
            at=iso_ms(now),
        ),
        NEW,
        label="outcome",
    )


def _stage_counts(uow: UnitOfWork, batch: Batch, slice_number: int, outcomes: Counter[str], now: int) -> None:
    """Add the outcomes to the batch's counters, on condition that this slice is still the batch's and running."""
    names = {"SUCCEEDED": "succeeded", "FAILED": "failed", "SKIPPED": "skipped"}
    # Only `updated_at` is set from this copy; the counters are added on the stored item, whatever the runner holds.
    stamp = replace(batch, updated_at=iso_ms(now))
    increments = {names[outcome]: number for outcome, number in outcomes.items()}
    uow.update(stamp, ("updated_at",), _running_slice(slice_number), label="batch", increments=increments)


def _commit(repo: Repository, uow: UnitOfWork, outcome: str) -> str:
    try:
        repo.commit(uow)
    except TransactionConflict as conflict:
        if "batch" in conflict.labels:
            return "stopped"
        if "outcome" in conflict.labels:
            return "already"
        raise_for_conflict(conflict)
    return outcome
