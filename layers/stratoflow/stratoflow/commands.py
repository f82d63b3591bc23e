"""Workflow commands: what a lease holder submits, validated, then written in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from stratoflow.cancel_on import CancelOn
from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.repository import commit_or_retry
from stratoflow.dal.unit_of_work import NEW, FieldIs, UnitOfWork, run_optimistic
from stratoflow.errors import Conflict, FailedPrecondition, InvalidArgument, LeaseLost
from stratoflow.executions import (
    HistoryWriter,
    check_lease,
    clear_dispatch,
    clear_lease,
    is_live,
    make_ready,
    new_execution,
    require_execution,
    stage_value,
)
from stratoflow.lifecycle import OUTBOX_CHILD_CANCEL, end_execution, stage_outbox
from stratoflow.records import ChildLink, Execution, Task, Timer
from stratoflow.runtime import Runtime
from stratoflow.states import (
    OPEN_TASK,
    ChildCancelState,
    ChildStatus,
    ParentClosePolicy,
    TimerStatus,
    WorkflowStatus,
)
from stratoflow.subscriptions import stage_subscriptions
from stratoflow.tasks import (
    forget_open_task,
    get_task_record,
    mark_cancelled,
    new_task,
    note_open_task,
    stage_cancelled,
    task_cancelled_event,
    task_reference,
)
from stratoflow.timers import end_timer, new_timer, stage_ended_timer
from stratoflow.values import encode_value

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Reason = Annotated[str, StringConstraints(max_length=1024)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MAX_DURATION_MS = 365 * 24 * 3600 * 1000
MAX_COMMANDS = 25


class _Command(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ScheduleTask(_Command):
    type: Literal["SCHEDULE_TASK"]
    taskExecutionId: Id
    kind: Name
    input: Any = None
    queue: Name | None = None
    maxRetries: StrictInt = Field(default=0, ge=0, le=1000)
    timeoutMs: StrictInt | None = Field(default=None, ge=1, le=MAX_DURATION_MS)


class RequestCancelTask(_Command):
    type: Literal["REQUEST_CANCEL_TASK"]
    taskExecutionId: Id
    reason: Reason | None = None


class StartTimer(_Command):
    type: Literal["START_TIMER"]
    timerId: Id
    durationMs: StrictInt = Field(ge=1, le=MAX_DURATION_MS)


class CancelTimer(_Command):
    type: Literal["CANCEL_TIMER"]
    timerId: Id


class ScheduleChildWorkflow(_Command):
    type: Literal["SCHEDULE_CHILD_WORKFLOW"]
    childExecutionName: Key
    childWorkflowExecutionId: Id
    workflowKind: Name
    input: Any = None
    queue: Name | None = None
    parentClosePolicy: ParentClosePolicy = ParentClosePolicy.REQUEST_CANCEL
    cancelOn: CancelOn = Field(default_factory=list)


class RequestCancelChildWorkflow(_Command):
    type: Literal["REQUEST_CANCEL_CHILD_WORKFLOW"]
    childExecutionName: Key
    childWorkflowExecutionId: Id
    reason: Reason | None = None


class RecordOperation(_Command):
    type: Literal["RECORD_OPERATION"]
    operationName: Key
    result: Any = None


class SetState(_Command):
    type: Literal["SET_STATE"]
    key: Key
    value: Any = None


class ClearState(_Command):
    type: Literal["CLEAR_STATE"]
    key: Key


class CompleteWorkflow(_Command):
    type: Literal["COMPLETE_WORKFLOW"]
    output: Any = None


class FailWorkflow(_Command):
    type: Literal["FAIL_WORKFLOW"]
    error: Any = None


class CancelWorkflow(_Command):
    type: Literal["CANCEL_WORKFLOW"]
    reason: Reason | None = None


class SuspendWorkflow(_Command):
    type: Literal["SUSPEND_WORKFLOW"]
    reason: Reason | None = None


Command = Annotated[
    ScheduleTask
    | RequestCancelTask
    | StartTimer
    | CancelTimer
    | ScheduleChildWorkflow
    | RequestCancelChildWorkflow
    | RecordOperation
    | SetState
    | ClearState
    | CompleteWorkflow
    | FailWorkflow
    | CancelWorkflow
    | SuspendWorkflow,
    Field(discriminator="type"),
]

TERMINAL_COMMANDS = (CompleteWorkflow, FailWorkflow, CancelWorkflow)


def validate_batch(commands: list[Any]) -> dict[int, str]:
    """Rules that span commands; returns the encoded large values by command index (413 if any is too big)."""
    if len(commands) > MAX_COMMANDS:
        raise InvalidArgument(f"at most {MAX_COMMANDS} commands per submission", count=len(commands))
    encoded: dict[int, str] = {}
    task_ids: set[str] = set()
    child_ids: set[str] = set()
    child_names: set[str] = set()
    timer_ids: set[str] = set()
    for index, command in enumerate(commands):
        if index > 0 and isinstance(commands[index - 1], TERMINAL_COMMANDS):
            raise InvalidArgument("no command may follow a terminal command", commandIndex=index)
        if isinstance(command, SuspendWorkflow) and index != len(commands) - 1:
            raise InvalidArgument("SUSPEND_WORKFLOW must be the last command", commandIndex=index)
        if isinstance(command, ScheduleTask):
            if command.taskExecutionId in task_ids:
                raise Conflict(f"task id {command.taskExecutionId} appears twice in this submission")
            task_ids.add(command.taskExecutionId)
            encoded[index] = encode_value(f"commands[{index}].input", command.input)
        elif isinstance(command, ScheduleChildWorkflow):
            if command.childWorkflowExecutionId in child_ids:
                raise Conflict(f"child id {command.childWorkflowExecutionId} appears twice in this submission")
            if command.childExecutionName in child_names:
                raise InvalidArgument(f"childExecutionName {command.childExecutionName} is not unique")
            child_ids.add(command.childWorkflowExecutionId)
            child_names.add(command.childExecutionName)
            encoded[index] = encode_value(f"commands[{index}].input", command.input)
        elif isinstance(command, StartTimer):
            if command.timerId in timer_ids:
                raise InvalidArgument(f"timer id {command.timerId} is used twice in this submission")
            timer_ids.add(command.timerId)
        elif isinstance(command, RecordOperation):
            encoded[index] = encode_value(f"commands[{index}].result", command.result)
        elif isinstance(command, SetState):
            encoded[index] = encode_value(f"commands[{index}].value", command.value)
        elif isinstance(command, CompleteWorkflow):
            encoded[index] = encode_value(f"commands[{index}].output", command.output)
        elif isinstance(command, FailWorkflow):
            encoded[index] = encode_value(f"commands[{index}].error", command.error)
    return encoded


@dataclass
class _Batch:
    """What one submission writes besides the execution's own history."""

    rt: Runtime
    uow: UnitOfWork
    history: HistoryWriter
    tasks: dict[str, Task] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    new_timers: set[str] = field(default_factory=set)
    cancelled_timers: set[str] = field(default_factory=set)
    new_tasks: set[str] = field(default_factory=set)
    # Tasks cancelled by this submission → the status each was cancelled in (see stratoflow.tasks.stage_cancelled).
    cancelled_tasks: dict[str, str] = field(default_factory=dict)
    # Tasks whose open-task record is a reference item (see stratoflow.tasks.note_open_task), not the execution.
    referenced_tasks: set[str] = field(default_factory=set)
    links: dict[str, ChildLink | None] = field(default_factory=dict)
    new_links: set[str] = field(default_factory=set)
    refusals: dict[str, Exception] = field(default_factory=dict)

    @property
    def execution(self) -> Execution:
        return self.history.execution

    @property
    def now(self) -> int:
        return self.history.now_ms


def submit_commands(rt: Runtime, tenant: str, workflow_id: str, lease_id: str, commands: list[Any]) -> dict[str, Any]:
    """Write a lease holder's commands and their events atomically, then release the lease (or end)."""
    encoded = validate_batch(commands)

    def attempt() -> dict[str, Any]:
        execution = require_execution(rt.repo, tenant, workflow_id)
        now = rt.now_ms()
        try:
            check_lease(execution, lease_id, now)
        except (FailedPrecondition, LeaseLost):
            # A bad command (400) outranks a lost lease (409): resolve the commands as if the lease held, on a copy,
            # and write nothing. Only references to what never existed fail there (a timer never started, a task of
            # another execution); an id already used may be this holder's own earlier submission, whose answer was
            # lost, so a repeated submission is refused as stale (I7), not as invalid.
            _stage_commands(_Batch(rt, UnitOfWork(), HistoryWriter(_as_live(execution), now)), commands, encoded)
            raise
        # Events someone else appended since the poll: the release must leave the execution ready (I5).
        unseen_before = int(execution.last_seq) > int(execution.seen_seq)
        batch = _Batch(rt, UnitOfWork(), HistoryWriter(execution, now))
        if not _stage_commands(batch, commands, encoded):
            _release(execution, now, unseen_before)
        for item in list(batch.tasks.values()) + list(batch.timers.values()):
            _stage_child_item(batch, item)
        batch.history.stage(batch.uow)
        commit_or_retry(rt.repo, batch.uow, batch.refusals)
        return {"status": execution.status, "events": batch.history.appended}

    return run_optimistic(attempt)


def _stage_commands(batch: _Batch, commands: list[Any], encoded: dict[int, str]) -> bool:
    """The one pass over the commands: each resolves what it names and stages its change; True if one ended it."""
    ended = False
    for index, command in enumerate(commands):
        ended = _STAGERS[type(command)](batch, index, command, encoded.get(index)) or ended
    return ended


def _as_live(execution: Execution) -> Execution:
    """A copy to resolve commands on: events may be staged on it whatever its status (it is never written)."""
    return replace(execution, status=WorkflowStatus.RUNNING if not is_live(execution) else execution.status)


def _release(execution: Execution, now: int, unseen_before: bool) -> None:
    clear_lease(execution)
    if execution.status != WorkflowStatus.CANCELLING:
        execution.status = WorkflowStatus.PENDING if unseen_before else WorkflowStatus.WAITING
    if unseen_before:
        make_ready(execution, now)  # seenSeq stays behind lastSeq: the unseen events are still unseen
    else:
        execution.seen_seq = execution.last_seq
        clear_dispatch(execution)


def _stage_child_item(batch: _Batch, item: Task | Timer) -> None:
    """Tasks and timers are written once each, as the whole submission left them."""
    if isinstance(item, Task):
        # Only open tasks keep a reference item, if they need one (what parent close reads besides the execution):
        # a task cancelled in the submission that scheduled it never gets one, one cancelled later loses it here.
        reference = task_reference(batch.execution, item.task_id)
        referenced = item.task_id in batch.referenced_tasks
        if item.task_id in batch.new_tasks:
            label = f"new-task:{item.task_id}"
            batch.uow.put(item, NEW, label=label)
            batch.refusals[label] = Conflict(f"task id {item.task_id} already exists", taskExecutionId=item.task_id)
            if referenced and item.task_id not in batch.cancelled_tasks:
                batch.uow.put(reference, label="taskref")
        elif item.task_id in batch.cancelled_tasks:
            stage_cancelled(batch.uow, item, batch.cancelled_tasks[item.task_id])
            if referenced:
                batch.uow.delete(reference, label="taskref")
        else:
            batch.uow.put(item, label="task")
    elif item.timer_id in batch.new_timers:
        label = f"new-timer:{item.timer_id}"
        batch.uow.put(item, NEW, label=label)
        batch.refusals[label] = InvalidArgument(f"timer id {item.timer_id} was already used in this execution")
    elif item.timer_id in batch.cancelled_timers:
        stage_ended_timer(batch.uow, item)
    # else: a timer that had already fired or been cancelled; CANCEL_TIMER leaves it as it is


# ---------------------------------------------------------------------- one stager per command type


def _schedule_task(batch: _Batch, index: int, command: ScheduleTask, encoded: str | None) -> bool:
    execution = batch.execution
    execution.spawned = True
    task = new_task(
        tenant=execution.tenant,
        task_id=command.taskExecutionId,
        workflow_id=execution.workflow_id,
        kind=command.kind,
        queue=command.queue or execution.queue,
        max_retries=command.maxRetries,
        timeout_ms=command.timeoutMs,
        now_ms=batch.now,
    )
    batch.tasks[task.task_id] = task
    batch.new_tasks.add(task.task_id)
    if note_open_task(execution, task.task_id):
        batch.referenced_tasks.add(task.task_id)
    stage_value(batch.uow, task, "input", encoded)
    batch.history.append(
        "TASK_SCHEDULED", {"taskExecutionId": command.taskExecutionId, "kind": command.kind, "input": command.input}
    )
    return False


def _request_cancel_task(batch: _Batch, index: int, command: RequestCancelTask, encoded: str | None) -> bool:
    task = _task_of_this_execution(batch, index, command.taskExecutionId)
    if task.status in OPEN_TASK:
        batch.cancelled_tasks[task.task_id] = mark_cancelled(task, command.reason, batch.now)
        if forget_open_task(batch.execution, task.task_id):
            batch.referenced_tasks.add(task.task_id)
        batch.history.append("TASK_CANCELLED", task_cancelled_event(task, command.reason))
    return False


def _start_timer(batch: _Batch, index: int, command: StartTimer, encoded: str | None) -> bool:
    batch.execution.spawned = True
    timer = new_timer(batch.execution, command.timerId, command.durationMs, batch.now, batch.rt.settings)
    batch.timers[timer.timer_id] = timer
    batch.new_timers.add(timer.timer_id)
    batch.history.append(
        "TIMER_STARTED", {"timerId": timer.timer_id, "durationMs": command.durationMs, "fireAt": timer.fire_at}
    )
    return False


def _cancel_timer(batch: _Batch, index: int, command: CancelTimer, encoded: str | None) -> bool:
    timer = _timer_of_this_execution(batch, index, command.timerId)
    if timer.status == TimerStatus.STARTED:
        batch.cancelled_timers.add(timer.timer_id)
        end_timer(timer, TimerStatus.CANCELLED, batch.now)
        batch.history.append("TIMER_CANCELLED", {"timerId": timer.timer_id})
    return False


def _record_operation(batch: _Batch, index: int, command: RecordOperation, encoded: str | None) -> bool:
    batch.history.append("OPERATION_COMPLETED", {"operationName": command.operationName, "result": command.result})
    return False


def _set_state(batch: _Batch, index: int, command: SetState, encoded: str | None) -> bool:
    batch.history.append("STATE_SET", {"key": command.key, "value": command.value})
    return False


def _clear_state(batch: _Batch, index: int, command: ClearState, encoded: str | None) -> bool:
    batch.history.append("STATE_CLEARED", {"key": command.key})
    return False


def _complete(batch: _Batch, index: int, command: CompleteWorkflow, encoded: str | None) -> bool:
    history = batch.history
    end_execution(batch.rt, batch.uow, history, WorkflowStatus.COMPLETED, value=command.output, value_text=encoded)
    return True


def _fail(batch: _Batch, index: int, command: FailWorkflow, encoded: str | None) -> bool:
    end_execution(batch.rt, batch.uow, batch.history, WorkflowStatus.FAILED, value=command.error, value_text=encoded)
    return True


def _cancel(batch: _Batch, index: int, command: CancelWorkflow, encoded: str | None) -> bool:
    end_execution(batch.rt, batch.uow, batch.history, WorkflowStatus.CANCELLED, value=command.reason)
    return True


def _suspend(batch: _Batch, index: int, command: SuspendWorkflow, encoded: str | None) -> bool:
    return False  # the lease is released, as after any submission that does not end the execution


def _task_of_this_execution(batch: _Batch, index: int, task_id: str) -> Task:
    if task_id in batch.tasks:
        return batch.tasks[task_id]
    execution = batch.execution
    task = get_task_record(batch.rt.repo, execution.tenant, task_id)
    if task is None or task.workflow_id != execution.workflow_id:
        raise InvalidArgument(
            f"task {task_id} was not scheduled by this workflow execution", commandIndex=index, taskExecutionId=task_id
        )
    batch.tasks[task_id] = task
    return task


def _timer_of_this_execution(batch: _Batch, index: int, timer_id: str) -> Timer:
    if timer_id in batch.timers:
        return batch.timers[timer_id]
    timer = batch.rt.repo.get(Timer, batch.execution.pk, keys.timer_sk(timer_id))
    if timer is None:
        raise InvalidArgument(
            f"timer {timer_id} was never started in this workflow execution", commandIndex=index, timerId=timer_id
        )
    batch.timers[timer_id] = timer
    return timer


def _schedule_child(batch: _Batch, index: int, command: ScheduleChildWorkflow, encoded: str | None) -> bool:
    parent = batch.execution
    parent.spawned = True
    now = batch.now
    if command.childWorkflowExecutionId == parent.workflow_id:
        raise Conflict(
            f"workflow execution id {parent.workflow_id} already exists",
            childWorkflowExecutionId=command.childWorkflowExecutionId,
        )
    child = new_execution(
        tenant=parent.tenant,
        workflow_id=command.childWorkflowExecutionId,
        kind=command.workflowKind,
        queue=command.queue or parent.queue,
        now_ms=now,
        parent_id=parent.workflow_id,
        child_execution_name=command.childExecutionName,
        parent_close_policy=command.parentClosePolicy.value,
    )
    stage_value(batch.uow, child, "input", encoded)
    stage_subscriptions(batch.uow, child, command.cancelOn, now)
    child_history = HistoryWriter(child, now)
    child_history.append("WORKFLOW_STARTED", {"input": command.input})
    child_label = f"new-child:{child.workflow_id}"
    batch.refusals[child_label] = Conflict(
        f"workflow execution id {child.workflow_id} already exists", childWorkflowExecutionId=child.workflow_id
    )
    child_history.stage(batch.uow, label=child_label)
    link = ChildLink(
        parent.pk,
        keys.child_sk(command.childExecutionName),
        tenant=parent.tenant,
        parent_id=parent.workflow_id,
        child_execution_name=command.childExecutionName,
        child_id=child.workflow_id,
        child_kind=command.workflowKind,
        status=ChildStatus.INITIATED,
        cancel_state=ChildCancelState.NONE,
        parent_close_policy=command.parentClosePolicy.value,
        created_at=iso_ms(now),
        updated_at=iso_ms(now),
    )
    batch.links[command.childExecutionName] = link
    batch.new_links.add(command.childExecutionName)
    link_label = f"new-link:{command.childExecutionName}"
    batch.refusals[link_label] = InvalidArgument(
        f"childExecutionName {command.childExecutionName} is already used in this execution"
    )
    batch.uow.put(link, NEW, label=link_label)
    batch.history.append(
        "CHILD_WORKFLOW_INITIATED",
        {
            "childExecutionName": command.childExecutionName,
            "childWorkflowKind": command.workflowKind,
            "childWorkflowExecutionId": child.workflow_id,
        },
    )
    return False


def _request_child_cancel(batch: _Batch, index: int, command: RequestCancelChildWorkflow, encoded: str | None) -> bool:
    """Flow 4, first half: the request is an event and an outbox item; delivery follows from the stream."""
    parent = batch.execution
    event = batch.history.append(
        "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
        {
            "childExecutionName": command.childExecutionName,
            "childWorkflowExecutionId": command.childWorkflowExecutionId,
            "reason": command.reason,
        },
    )
    stage_outbox(
        batch.rt,
        batch.uow,
        parent,
        OUTBOX_CHILD_CANCEL,
        f"{event['sequence']:010d}",
        {
            "childExecutionName": command.childExecutionName,
            "childWorkflowExecutionId": command.childWorkflowExecutionId,
            "reason": command.reason,
        },
    )
    # Record the request on the link (cancel sub-state NONE → REQUESTED) in the same transaction.
    name = command.childExecutionName
    link = _link(batch, name)
    if (
        link is not None
        and link.child_id == command.childWorkflowExecutionId
        and link.status == ChildStatus.INITIATED
        and link.cancel_state == ChildCancelState.NONE
    ):
        link.cancel_state = ChildCancelState.REQUESTED
        link.updated_at = iso_ms(batch.now)
        if name not in batch.new_links:  # a link created by this submission is written once, as it ends up
            batch.uow.update(
                link, ("cancel_state", "updated_at"), FieldIs("cancel_state", ChildCancelState.NONE), label="link"
            )
    return False


def _link(batch: _Batch, name: str) -> ChildLink | None:
    if name not in batch.links:
        batch.links[name] = batch.rt.repo.get(ChildLink, batch.execution.pk, keys.child_sk(name))
    return batch.links[name]


_STAGERS: dict[type, Callable[[_Batch, int, Any, str | None], bool]] = {
    ScheduleTask: _schedule_task,
    RequestCancelTask: _request_cancel_task,
    StartTimer: _start_timer,
    CancelTimer: _cancel_timer,
    ScheduleChildWorkflow: _schedule_child,
    RequestCancelChildWorkflow: _request_child_cancel,
    RecordOperation: _record_operation,
    SetState: _set_state,
    ClearState: _clear_state,
    CompleteWorkflow: _complete,
    FailWorkflow: _fail,
    CancelWorkflow: _cancel,
    SuspendWorkflow: _suspend,
}
