"""Workflow executions: reading them, appending to their history, and keeping them dispatchable.

Every change to an execution is saved under the version it was read at, so a writer that read a stale execution
fails its write and recomputes (see `dal.unit_of_work.run_optimistic`). Events are new records (they must not
exist), numbered from the execution's `lastSeq`: two writers can never take the same sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.repository import Repository
from stratoflow.dal.unit_of_work import NEW, UnitOfWork
from stratoflow.errors import FailedPrecondition, LeaseLost
from stratoflow.lookup import find, require
from stratoflow.records import Event, Execution, StoredValue, Task
from stratoflow.states import TERMINAL_WORKFLOW, WorkflowStatus
from stratoflow.values import INLINE_VALUE_BYTES, dumps, encoded_size, loads

# A stored value that lives in its own item; JSON text never starts with "@".
_OUT_OF_LINE = "@VALUE"
_VALUE_FIELDS = ("input", "output", "error")


def get_execution(repo: Repository, tenant: str, workflow_id: str) -> Execution | None:
    return find(repo, Execution, tenant, workflow_id)


def require_execution(repo: Repository, tenant: str, workflow_id: str) -> Execution:
    return require(repo, Execution, tenant, workflow_id)


def is_live(execution: Execution) -> bool:
    return execution.status not in TERMINAL_WORKFLOW


def has_valid_lease(execution: Execution, now_ms: int) -> bool:
    return execution.lease_id is not None and (execution.lease_expires_at or 0) > now_ms


def check_lease(execution: Execution, lease_id: str, now_ms: int) -> None:
    """Refuse a lease holder's write: FAILED_PRECONDITION when the execution ended, LEASE_LOST otherwise (I7)."""
    if not is_live(execution):
        raise FailedPrecondition(f"workflow execution is {execution.status}", execution.status)
    if execution.lease_id != lease_id or not has_valid_lease(execution, now_ms):
        raise LeaseLost("the lease is expired or was taken over", currentStatus=execution.status)


def make_ready(execution: Execution, now_ms: int) -> None:
    """Put the execution in the dispatch index, keeping an earlier ready time (first come, first served)."""
    execution.dispatch_pk = keys.workflow_dispatch_pk(execution.tenant, execution.queue)
    if execution.dispatch_at is None or execution.dispatch_at > now_ms or execution.lease_id is not None:
        execution.dispatch_at = now_ms


def clear_dispatch(execution: Execution) -> None:
    execution.dispatch_pk = None
    execution.dispatch_at = None


def clear_lease(execution: Execution) -> None:
    execution.lease_id = None
    execution.lease_expires_at = None


def wake(execution: Execution, now_ms: int) -> None:
    """Someone other than the lease holder appended an event: leave the execution dispatchable (I5).

    A leased execution is left alone: its holder's release sees `lastSeq > seenSeq` and makes it ready.
    An expired lease is already in the dispatch index (its `dispatchAt` is the past expiry).
    """
    if has_valid_lease(execution, now_ms):
        return
    if execution.status == WorkflowStatus.WAITING:
        execution.status = WorkflowStatus.PENDING
    if execution.lease_id is not None:
        # An expired lease: it is ready already, but its holder must not be able to come back.
        clear_lease(execution)
        if execution.status == WorkflowStatus.RUNNING:
            execution.status = WorkflowStatus.PENDING
    make_ready(execution, now_ms)


@dataclass
class HistoryWriter:
    """Appends events to one execution inside one transaction, numbering them from `lastSeq`."""

    execution: Execution
    now_ms: int
    appended: list[dict[str, Any]] = field(default_factory=list)
    _events: list[Event] = field(default_factory=list)

    def append(self, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        if not is_live(self.execution):
            raise AssertionError("no event may follow a terminal event")  # callers check liveness first (I1)
        sequence = int(self.execution.last_seq) + 1
        self.execution.last_seq = sequence
        created_at = iso_ms(self.now_ms)
        self._events.append(
            Event(
                keys.workflow_pk(self.execution.tenant, self.execution.workflow_id),
                keys.event_sk(sequence),
                seq=sequence,
                type=event_type,
                data=dumps(data),
                created_at=created_at,
            )
        )
        event = {"sequence": sequence, "type": event_type, "data": data, "createdAt": created_at}
        self.appended.append(event)
        return event

    def stage(self, uow: UnitOfWork, label: str = "execution") -> None:
        """Add the events (new) and the execution (under its version) to the unit of work."""
        for event in self._events:
            uow.put(event, NEW, label=label)
        self.execution.updated_at = iso_ms(self.now_ms)
        uow.put(self.execution, label=label)


def stage_value(uow: UnitOfWork, owner: Execution | Task, field_name: str, value_text: str | None) -> None:
    """Store a JSON value on its owner, or in a record of its own when it is too large to sit inline."""
    if value_text is None or encoded_size(value_text) <= INLINE_VALUE_BYTES:
        setattr(owner, field_name, value_text)
        return
    setattr(owner, field_name, _OUT_OF_LINE)
    uow.put(StoredValue(owner.pk, keys.value_sk(owner.sk, field_name), value=value_text), label="value")


def read_value(repo: Repository, owner: Execution | Task, field_name: str) -> Any:
    text = getattr(owner, field_name)
    if text == _OUT_OF_LINE:
        stored = repo.get(StoredValue, owner.pk, keys.value_sk(owner.sk, field_name))
        assert stored is not None, f"the value {field_name} of {owner.pk} is missing"
        text = stored.value
    return loads(text)


def read_values(repo: Repository, owner: Execution | Task, known: dict[str, Any]) -> dict[str, Any]:
    """The owner's input, output and error: those in `known` (just written) as given, the others read."""
    return {name: known[name] if name in known else read_value(repo, owner, name) for name in _VALUE_FIELDS}


def work_view(repo: Repository, owner: Execution | Task, known: dict[str, Any]) -> dict[str, Any]:
    """What the API shows of a workflow execution and of a task alike; `known` values (input, output, error) are
    not read back."""
    return {
        "kind": owner.kind,
        "queue": owner.queue,
        "status": owner.status,
        **read_values(repo, owner, known),  # input, output, error
        "cancelReason": owner.cancel_reason,
        "createdAt": owner.created_at,
        "updatedAt": owner.updated_at,
    }


def execution_view(repo: Repository, execution: Execution, **known: Any) -> dict[str, Any]:
    """The API's WorkflowExecution; values passed in `known` (input, output, error) are not read back."""
    return {
        "workflowExecutionId": execution.workflow_id,
        **work_view(repo, execution, known),
        "parentWorkflowExecutionId": execution.parent_id,
        "childExecutionName": execution.child_execution_name,
        **operator_fields(execution),
    }


def operator_fields(execution: Execution) -> dict[str, Any]:
    """What the operator controls add to a WorkflowExecution (operators.md)."""
    deadline = execution.cleanup_deadline
    return {
        "cleanupDeadline": None if deadline is None else iso_ms(int(deadline)),
        "terminatedReason": execution.terminated_reason,
        "cancelOn": loads(execution.cancel_on) if execution.cancel_on else [],
    }


def new_work(tenant: str, kind: str, queue: str, status: str, now_ms: int) -> dict[str, Any]:
    """The fields a new execution or task starts with (records.Work): its kind of work and queue, its first status,
    created and updated now."""
    created_at = iso_ms(now_ms)
    return {
        "tenant": tenant,
        "kind": kind,
        "queue": queue,
        "status": status,
        "created_at": created_at,
        "updated_at": created_at,
    }


def new_execution(
    *,
    tenant: str,
    workflow_id: str,
    kind: str,
    queue: str,
    now_ms: int,
    parent_id: str | None = None,
    child_execution_name: str | None = None,
    parent_close_policy: str | None = None,
) -> Execution:
    """A PENDING execution, ready for dispatch, with no events yet (the caller appends WORKFLOW_STARTED)."""
    execution = Execution(
        keys.workflow_pk(tenant, workflow_id),
        keys.EXECUTION_SK,
        **new_work(tenant, kind, queue, WorkflowStatus.PENDING, now_ms),
        workflow_id=workflow_id,
        parent_id=parent_id,
        child_execution_name=child_execution_name,
        parent_close_policy=parent_close_policy,
        last_seq=0,
        seen_seq=0,
        list_pk=keys.list_pk(tenant),
        list_sk=keys.list_sk(iso_ms(now_ms), workflow_id),
        task_refs=False,
    )
    make_ready(execution, now_ms)
    return execution
