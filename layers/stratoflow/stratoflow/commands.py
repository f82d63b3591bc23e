"""Workflow commands: what a lease holder submits, validated, then written in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.items import ChildLinkItem, ExecutionItem, TaskItem, TaskRefItem, TimerItem
from stratoflow.dal.transactions import Transaction, TransactionConflict, run_optimistic
from stratoflow.errors import Conflict, FailedPrecondition, InvalidArgument, LeaseLost
from stratoflow.executions import (
    HistoryWriter,
    check_lease,
    clear_dispatch,
    clear_lease,
    make_ready,
    new_execution,
    raise_for_conflict,
    require_execution,
    stage_value,
)
from stratoflow.lifecycle import OUTBOX_CHILD_CANCEL, end_execution, stage_outbox
from stratoflow.runtime import Runtime
from stratoflow.states import (
    OPEN_TASK,
    ChildCancelState,
    ChildStatus,
    ParentClosePolicy,
    TaskStatus,
    TimerStatus,
    WorkflowStatus,
)
from stratoflow.subscriptions import CancelOn, stage_subscriptions
from stratoflow.tasks import close_task_attempt, get_task_item, new_task, task_cancelled_event
from stratoflow.timers import new_timer
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
    tx: Transaction
    history: HistoryWriter
    tasks: dict[str, TaskItem] = field(default_factory=dict)
    timers: dict[str, TimerItem] = field(default_factory=dict)
    new_timers: set[str] = field(default_factory=set)
    cancelled_timers: set[str] = field(default_factory=set)
    new_tasks: set[str] = field(default_factory=set)
    links: dict[str, ChildLinkItem | None] = field(default_factory=dict)
    new_links: set[str] = field(default_factory=set)
    refusals: dict[str, Exception] = field(default_factory=dict)

    @property
    def execution(self) -> ExecutionItem:
        return self.history.execution

    @property
    def now(self) -> int:
        return self.history.now_ms


def submit_commands(rt: Runtime, tenant: str, workflow_id: str, lease_id: str, commands: list[Any]) -> dict[str, Any]:
    """Write a lease holder's commands and their events atomically, then release the lease (or end)."""
    encoded = validate_batch(commands)

    def attempt() -> dict[str, Any]:
        execution = require_execution(tenant, workflow_id)
        now = rt.now_ms()
        try:
            check_lease(execution, lease_id, now)
        except (FailedPrecondition, LeaseLost):
            _check_references(execution, commands)  # a bad command (400) outranks a lost lease (409)
            raise
        # Events someone else appended since the poll: the release must leave the execution ready (I5).
        unseen_before = int(execution.last_seq) > int(execution.seen_seq)
        batch = _Batch(rt, Transaction(), HistoryWriter(execution, now))
        ended = False
        for index, command in enumerate(commands):
            ended = _apply(batch, index, command, encoded.get(index)) or ended
        if not ended:
            _release(execution, now, unseen_before)
        for item in list(batch.tasks.values()) + list(batch.timers.values()):
            _stage_child_item(batch, item)
        batch.history.stage(batch.tx)
        try:
            batch.tx.commit()
        except TransactionConflict as conflict:
            raise_for_conflict(conflict, batch.refusals)
        return {"status": execution.status, "events": batch.history.appended}

    return run_optimistic(attempt)


def _check_references(execution: ExecutionItem, commands: list[Any]) -> None:
    """The command checks that need reads, on their own: only run when the submission is refused anyway.

    Only references to what never existed are checked (a timer never started, a task of another execution). An id
    that is already used is no mistake of a stale lease holder: it may be its own earlier submission, which landed
    although its answer was lost, so a repeated submission is refused as stale (I7), not as invalid.
    """
    started: set[str] = set()
    scheduled: set[str] = set()
    for index, command in enumerate(commands):
        if isinstance(command, StartTimer):
            started.add(command.timerId)
        elif isinstance(command, CancelTimer) and command.timerId not in started:
            if not _exists(TimerItem, execution.pk, keys.timer_sk(command.timerId)):
                raise InvalidArgument(f"timer {command.timerId} was never started in this workflow execution")
        elif isinstance(command, ScheduleTask):
            scheduled.add(command.taskExecutionId)
        elif isinstance(command, RequestCancelTask) and command.taskExecutionId not in scheduled:
            task = get_task_item(execution.tenant, command.taskExecutionId)
            if task is None or task.workflow_id != execution.workflow_id:
                raise InvalidArgument(
                    f"task {command.taskExecutionId} was not scheduled by this workflow execution", commandIndex=index
                )


def _exists(model: Any, pk: str, sk: str) -> bool:
    try:
        model.get(pk, sk, consistent_read=True, attributes_to_get=["pk"])
    except model.DoesNotExist:
        return False
    return True


def _release(execution: ExecutionItem, now: int, unseen_before: bool) -> None:
    clear_lease(execution)
    if execution.status != WorkflowStatus.CANCELLING:
        execution.status = WorkflowStatus.PENDING if unseen_before else WorkflowStatus.WAITING
    if unseen_before:
        make_ready(execution, now)  # seenSeq stays behind lastSeq: the unseen events are still unseen
    else:
        execution.seen_seq = execution.last_seq
        clear_dispatch(execution)


def _stage_child_item(batch: _Batch, item: TaskItem | TimerItem) -> None:
    if isinstance(item, TaskItem):
        if item.task_id in batch.new_tasks:
            label = f"new-task:{item.task_id}"
            batch.tx.put(item, condition=TaskItem.pk.does_not_exist(), label=label)
            batch.refusals[label] = Conflict(f"task id {item.task_id} already exists", taskExecutionId=item.task_id)
        else:
            batch.tx.put(item, label="task")
    elif item.timer_id in batch.new_timers:
        label = f"new-timer:{item.timer_id}"
        batch.tx.put(item, condition=TimerItem.pk.does_not_exist(), label=label)
        batch.refusals[label] = InvalidArgument(f"timer id {item.timer_id} was already used in this execution")
    elif item.timer_id in batch.cancelled_timers:
        batch.tx.put(item, condition=TimerItem.status == TimerStatus.STARTED, label="timer")
    # else: a timer that had already fired or been cancelled; CANCEL_TIMER leaves it as it is


def _apply(batch: _Batch, index: int, command: Any, encoded: str | None) -> bool:
    """Stage one command; returns True for a terminal command."""
    execution = batch.execution
    history = batch.history
    if isinstance(command, ScheduleTask):
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
        _stage_task_input(batch, task, encoded)
        batch.tx.put(TaskRefItem(execution.pk, keys.taskref_sk(task.task_id), task_id=task.task_id), label="taskref")
        history.append(
            "TASK_SCHEDULED", {"taskExecutionId": command.taskExecutionId, "kind": command.kind, "input": command.input}
        )
    elif isinstance(command, RequestCancelTask):
        task = _task_of_this_execution(batch, index, command.taskExecutionId)
        if task.status in OPEN_TASK:
            task.status = TaskStatus.CANCELLED
            task.cancel_reason = command.reason
            close_task_attempt(task, batch.now)
            history.append("TASK_CANCELLED", task_cancelled_event(task, command.reason))
    elif isinstance(command, StartTimer):
        execution.spawned = True
        timer = new_timer(execution, command.timerId, command.durationMs, batch.now, batch.rt.settings)
        batch.timers[timer.timer_id] = timer
        batch.new_timers.add(timer.timer_id)
        history.append(
            "TIMER_STARTED", {"timerId": timer.timer_id, "durationMs": command.durationMs, "fireAt": timer.fire_at}
        )
    elif isinstance(command, CancelTimer):
        timer = _timer_of_this_execution(batch, index, command.timerId)
        if timer.status == TimerStatus.STARTED:
            batch.cancelled_timers.add(timer.timer_id)
            timer.status = TimerStatus.CANCELLED
            timer.sweep_pk = None
            timer.sweep_at = None
            timer.updated_at = iso_ms(batch.now)
            history.append("TIMER_CANCELLED", {"timerId": timer.timer_id})
    elif isinstance(command, ScheduleChildWorkflow):
        execution.spawned = True
        _schedule_child(batch, command, encoded)
    elif isinstance(command, RequestCancelChildWorkflow):
        _request_child_cancel(batch, command)
    elif isinstance(command, RecordOperation):
        history.append("OPERATION_COMPLETED", {"operationName": command.operationName, "result": command.result})
    elif isinstance(command, SetState):
        history.append("STATE_SET", {"key": command.key, "value": command.value})
    elif isinstance(command, ClearState):
        history.append("STATE_CLEARED", {"key": command.key})
    elif isinstance(command, CompleteWorkflow):
        end_execution(batch.rt, batch.tx, history, WorkflowStatus.COMPLETED, value=command.output, value_text=encoded)
        return True
    elif isinstance(command, FailWorkflow):
        end_execution(batch.rt, batch.tx, history, WorkflowStatus.FAILED, value=command.error, value_text=encoded)
        return True
    elif isinstance(command, CancelWorkflow):
        end_execution(batch.rt, batch.tx, history, WorkflowStatus.CANCELLED, value=command.reason)
        return True
    return False


def _stage_task_input(batch: _Batch, task: TaskItem, encoded: str | None) -> None:
    stage_value(batch.tx, task, "input", encoded)


def _task_of_this_execution(batch: _Batch, index: int, task_id: str) -> TaskItem:
    if task_id in batch.tasks:
        return batch.tasks[task_id]
    execution = batch.execution
    try:
        task = TaskItem.get(keys.task_pk(execution.tenant, task_id), keys.TASK_SK, consistent_read=True)
    except TaskItem.DoesNotExist:
        task = None
    if task is None or task.workflow_id != execution.workflow_id:
        raise InvalidArgument(
            f"task {task_id} was not scheduled by this workflow execution", commandIndex=index, taskExecutionId=task_id
        )
    batch.tasks[task_id] = task
    return task


def _timer_of_this_execution(batch: _Batch, index: int, timer_id: str) -> TimerItem:
    if timer_id in batch.timers:
        return batch.timers[timer_id]
    try:
        timer = TimerItem.get(batch.execution.pk, keys.timer_sk(timer_id), consistent_read=True)
    except TimerItem.DoesNotExist:
        raise InvalidArgument(
            f"timer {timer_id} was never started in this workflow execution", commandIndex=index, timerId=timer_id
        ) from None
    batch.timers[timer_id] = timer
    return timer


def _schedule_child(batch: _Batch, command: ScheduleChildWorkflow, encoded: str | None) -> None:
    parent = batch.execution
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
    stage_value(batch.tx, child, "input", encoded)
    stage_subscriptions(batch.tx, child, command.cancelOn, now)
    child_history = HistoryWriter(child, now)
    child_history.append("WORKFLOW_STARTED", {"input": command.input})
    child_label = f"new-child:{child.workflow_id}"
    batch.refusals[child_label] = Conflict(
        f"workflow execution id {child.workflow_id} already exists", childWorkflowExecutionId=child.workflow_id
    )
    child_history.stage(batch.tx, label=child_label)
    link = ChildLinkItem(
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
    batch.tx.put(link, condition=ChildLinkItem.pk.does_not_exist(), label=link_label)
    batch.history.append(
        "CHILD_WORKFLOW_INITIATED",
        {
            "childExecutionName": command.childExecutionName,
            "childWorkflowKind": command.workflowKind,
            "childWorkflowExecutionId": child.workflow_id,
        },
    )


def _request_child_cancel(batch: _Batch, command: RequestCancelChildWorkflow) -> None:
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
        batch.tx,
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
            batch.tx.update(
                link,
                [
                    ChildLinkItem.cancel_state.set(ChildCancelState.REQUESTED),
                    ChildLinkItem.updated_at.set(link.updated_at),
                ],
                condition=ChildLinkItem.cancel_state == ChildCancelState.NONE,
                label="link",
            )


def _link(batch: _Batch, name: str) -> ChildLinkItem | None:
    if name not in batch.links:
        try:
            batch.links[name] = ChildLinkItem.get(batch.execution.pk, keys.child_sk(name), consistent_read=True)
        except ChildLinkItem.DoesNotExist:
            batch.links[name] = None
    return batch.links[name]
