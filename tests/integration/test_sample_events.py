"""Every sample event under events/, invoked on the real stack as `make invoke FN=<LogicalId> EVENT=...` invokes it.

Given the exact state a sample refers to - tenant `acme`, the order saga 8f14e45f-... whose worker holds lease
5d41402a-..., its `order-42.charge` task, `reminder` timer and `shipping` child, or the outbox item a stream sample
names - written fresh before the sample with the domain's own item constructors, When the sample is invoked on its
function, Then it answers and changes exactly what the API contract and docs/design.md say.

A stream sample *is* the stream's delivery of the item the seeding writes, and a seeded state stands for commits made
before the sample: so the stack's own deliveries of the samples' partitions are held back while the state is written
(`seeding`). What a sample writes reaches the streams as usual; those effects are awaited with `wait_idle()`.

The stack runs without the timers' last mile, so the timer samples show Scheduler's schedules; the last mile's own
samples (a timer queue batch, a hand-over) do the same whatever the setting (tests/integration/test_timers_last_mile.py
covers the dispatcher's side of it).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from stratoflow.batches import batch_view
from stratoflow.cancel_on import CancelOnEntry
from stratoflow.clock import iso_ms, parse_iso_ms
from stratoflow.dal import keys
from stratoflow.dal.dynamodb import DynamoRepository
from stratoflow.dal.items import BaseItem, to_model
from stratoflow.dal.keys import (
    BATCH_SK,
    EVENT_SK,
    batch_list_pk,
    batch_outcome_sk,
    batch_pk,
    event_pk,
    subscription_pk,
)
from stratoflow.dal.repository import PartitionQuery
from stratoflow.dal.unit_of_work import UnitOfWork
from stratoflow.deadlines import DEADLINE_TIMER_ID
from stratoflow.executions import HistoryWriter, get_execution, new_execution, stage_value
from stratoflow.lifecycle import OUTBOX_CHILD_CANCEL, end_execution, request_workflow_cancel, stage_outbox
from stratoflow.records import (
    Batch,
    BatchOutcome,
    ChildLink,
    Execution,
    OutboxEntry,
    ReceivedEvent,
    Record,
    Task,
    TaskRef,
    Timer,
)
from stratoflow.services import runtime
from stratoflow.states import ChildCancelState, ChildStatus, ParentClosePolicy, TaskStatus, TimerStatus, WorkflowStatus
from stratoflow.subscriptions import partition, stage_subscriptions
from stratoflow.tasks import new_task, note_open_task
from stratoflow.timers import fire_timer, new_timer, schedule_name, timer_schedule
from stratoflow.tokens import revoke_token
from stratoflow.values import dumps, loads
from stratoflow_local.scheduler import PeriodicTicker
from stratoflow_local.stack import LocalStack

from tests.integration.conftest import REPO

pytestmark = pytest.mark.stack_environment(TIMER_LAST_MILE_S="0")

EVENTS = sorted((REPO / "events").glob("*.json"))
FOLDER_TO_FUNCTION = {
    "caller_api": "CallerApiFunction",
    "cancel_task": "CancelTaskFunction",
    "console": "ConsoleFunction",
    "worker_api": "WorkerApiFunction",
    "submit_workflow_commands": "SubmitWorkflowCommandsFunction",
    "propagate_child_cancel": "PropagateChildCancelFunction",
    "outbox_dispatcher": "OutboxDispatcherFunction",
    "fire_timer": "FireTimerFunction",
    "sweeper": "SweeperFunction",
    "operator_api": "OperatorApiFunction",
    "batch_runner": "BatchRunnerFunction",
    "cancel_on_event": "CancelOnEventFunction",
}

# What the samples name.
TENANT = "acme"
WID = "8f14e45f-ceea-467f-a0e6-b9ea7c1e0c31"
LEASE = "5d41402a-bc4b-4a76-b971-9d911017c592"
TASK = "order-42.charge"
TIMER = "reminder"
CHILD = "child-8f14e45f"
CHILD_NAME = "shipping"
CASCADE_REQUEST = "16fd2706-8baf-433b-82eb-8c7fada847da"
ORDERS = "orders"  # the saga's queue: of all the samples, only the workflow poll polls it
PAYMENTS = "payments"  # the charge task's queue: of all the samples, only the task poll polls it
ORDER = {"orderId": "42", "amount": 1999}
CHARGE = {"amount": 1999}
SHIPMENT = {"orderId": "42"}
LEASE_MS = 60_000
REMINDER_MS = 60_000
# Not named by a sample: the shipping child's own child, so that the cascade sample shows the cascade carrying on.
GRANDCHILD = "label-8f14e45f"
GRANDCHILD_NAME = "label"
LABEL = {"orderId": "42", "carrier": "ups"}

# The operator controls' samples: a batch, an event, and the saga's cancel-on-event subscription.
BATCH = "b1c2d3e4-0000-4f00-8000-0000000000b1"
EVENT_ID = "e1f2a3b4-0000-4f00-8000-0000000000e1"
CANCELLED_EVENT = "order.cancelled"
SAMPLE_PKS = frozenset(
    {
        keys.workflow_pk(TENANT, WID),
        keys.workflow_pk(TENANT, CHILD),
        keys.workflow_pk(TENANT, GRANDCHILD),
        keys.task_pk(TENANT, TASK),
        batch_pk(TENANT, BATCH),
        event_pk(TENANT, EVENT_ID),
        subscription_pk(TENANT, partition(CANCELLED_EVENT, "orderId", "42")),
    }
)
SCHEDULE = schedule_name(TENANT, WID, TIMER)


def _function_of(event_file: Path) -> str:
    folder = next(
        folder
        for folder in sorted(FOLDER_TO_FUNCTION, key=len, reverse=True)
        if event_file.stem.startswith(folder + "_")
    )
    return FOLDER_TO_FUNCTION[folder]


# ---------------------------------------------------------------- the state the samples refer to


class FixedClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


class Story:
    """The order saga's items as its commits would have written them at `at` (epoch ms), written by `write()`.

    It starts as the saga's first commit left it: PENDING on queue `orders`, history WORKFLOW_STARTED {input}.
    """

    def __init__(self, at: int | None = None) -> None:
        base = runtime()
        self.at = base.now_ms() if at is None else at
        self.rt = replace(base, clock=FixedClock(self.at))
        self.tx = UnitOfWork()
        self.writers: list[HistoryWriter] = []
        self.history = self._execution(WID, "order-saga", ORDER)
        self.saga = self.history.execution
        self.task: Task | None = None
        self.timer: Timer | None = None
        self.links: dict[str, ChildLink] = {}

    def _execution(self, wid: str, kind: str, input_value: Any, parent: HistoryWriter | None = None) -> HistoryWriter:
        name = None if parent is None else {CHILD: CHILD_NAME, GRANDCHILD: GRANDCHILD_NAME}[wid]
        execution = new_execution(
            tenant=TENANT,
            workflow_id=wid,
            kind=kind,
            queue=ORDERS,
            now_ms=self.at,
            parent_id=None if parent is None else parent.execution.workflow_id,
            child_execution_name=name,
            parent_close_policy=None if parent is None else ParentClosePolicy.REQUEST_CANCEL.value,
        )
        stage_value(self.tx, execution, "input", dumps(input_value))
        history = HistoryWriter(execution, self.at)
        history.append("WORKFLOW_STARTED", {"input": input_value})
        self.writers.append(history)
        return history

    def schedule_charge(self) -> Task:
        """SCHEDULE_TASK order-42.charge (charge-card on `payments`, 2 retries): the task is PENDING."""
        self.saga.spawned = True
        task = new_task(
            tenant=TENANT,
            task_id=TASK,
            workflow_id=WID,
            kind="charge-card",
            queue=PAYMENTS,
            max_retries=2,
            timeout_ms=None,
            now_ms=self.at,
        )
        stage_value(self.tx, task, "input", dumps(CHARGE))
        self.tx.put(task)
        if note_open_task(self.saga, TASK):  # as the submission does: a short id is kept on the execution
            self.tx.put(TaskRef(self.saga.pk, keys.taskref_sk(TASK), task_id=TASK))
        self.history.append("TASK_SCHEDULED", {"taskExecutionId": TASK, "kind": "charge-card", "input": CHARGE})
        self.task = task
        return task

    def run_charge(self) -> Task:
        """The charge task scheduled and polled: RUNNING, attempt 1, under lease 5d41402a-... for 60 s."""
        task = self.schedule_charge()
        task.status = TaskStatus.RUNNING
        task.attempt = 1
        task.lease_id = LEASE
        task.lease_ms = LEASE_MS
        task.lease_expires_at = self.at + LEASE_MS
        task.dispatch_pk = None
        task.dispatch_at = None
        task.sweep_pk = keys.sweep_pk(task.pk)
        task.sweep_at = self.at + LEASE_MS
        return task

    def start_reminder(self) -> Timer:
        """START_TIMER reminder, 60 s."""
        self.saga.spawned = True
        timer = new_timer(self.saga, TIMER, REMINDER_MS, self.at, self.rt.settings)
        self.tx.put(timer)
        self.history.append("TIMER_STARTED", {"timerId": TIMER, "durationMs": REMINDER_MS, "fireAt": timer.fire_at})
        self.timer = timer
        return timer

    def start_child(self, parent: HistoryWriter, wid: str, kind: str, input_value: Any) -> HistoryWriter:
        """SCHEDULE_CHILD_WORKFLOW (policy REQUEST_CANCEL): the child starts PENDING, the link is INITIATED."""
        parent.execution.spawned = True
        child = self._execution(wid, kind, input_value, parent)
        name = child.execution.child_execution_name
        assert name is not None
        link = ChildLink(
            parent.execution.pk,
            keys.child_sk(name),
            tenant=TENANT,
            parent_id=parent.execution.workflow_id,
            child_execution_name=name,
            child_id=wid,
            child_kind=kind,
            status=ChildStatus.INITIATED,
            cancel_state=ChildCancelState.NONE,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL.value,
            created_at=iso_ms(self.at),
            updated_at=iso_ms(self.at),
        )
        self.tx.put(link)
        self.links[name] = link
        parent.append(
            "CHILD_WORKFLOW_INITIATED",
            {"childExecutionName": name, "childWorkflowKind": kind, "childWorkflowExecutionId": wid},
        )
        return child

    def start_shipping(self) -> HistoryWriter:
        return self.start_child(self.history, CHILD, "ship-order", SHIPMENT)

    def request_shipping_cancel(self) -> None:
        """REQUEST_CANCEL_CHILD_WORKFLOW shipping: the event, its CHILD_CANCEL outbox item, the link REQUESTED."""
        payload = {"childExecutionName": CHILD_NAME, "childWorkflowExecutionId": CHILD, "reason": "customer asked"}
        event = self.history.append("CHILD_WORKFLOW_CANCELLATION_REQUESTED", payload)
        stage_outbox(self.rt, self.tx, self.saga, OUTBOX_CHILD_CANCEL, f"{event['sequence']:010d}", payload)
        self.links[CHILD_NAME].cancel_state = ChildCancelState.REQUESTED

    def claim(self) -> None:
        """The saga's worker polled it last, at `at`: RUNNING under lease 5d41402a-... for 60 s, all events seen."""
        saga = self.saga
        saga.status = WorkflowStatus.RUNNING
        saga.lease_id = LEASE
        saga.lease_expires_at = self.at + LEASE_MS
        saga.dispatch_at = self.at + LEASE_MS
        saga.seen_seq = saga.last_seq

    @staticmethod
    def release(history: HistoryWriter) -> None:
        """The execution's worker submitted its commands and let go: WAITING, out of the dispatch index."""
        execution = history.execution
        execution.status = WorkflowStatus.WAITING
        execution.lease_id = None
        execution.lease_expires_at = None
        execution.dispatch_pk = None
        execution.dispatch_at = None
        execution.seen_seq = execution.last_seq

    def complete(self, output: Any) -> None:
        """COMPLETE_WORKFLOW: WORKFLOW_COMPLETED, the lease released, and (spawned) the OUTBOX#CLOSE#close item."""
        end_execution(self.rt, self.tx, self.history, WorkflowStatus.COMPLETED, value=output, value_text=dumps(output))

    def write(self) -> None:
        for history in self.writers:
            history.stage(self.tx)
        self.rt.repo.commit(self.tx)


def running_saga(at: int | None = None) -> Story:
    """The saga mid-run: its charge task RUNNING, its reminder STARTED, its shipping child PENDING, and its worker
    holding the saga's lease (history: WORKFLOW_STARTED, TASK_SCHEDULED, TIMER_STARTED, CHILD_WORKFLOW_INITIATED)."""
    story = Story(at)
    story.run_charge()
    story.start_reminder()
    story.start_shipping()
    story.claim()
    return story


def saga_events(at: int) -> list[tuple[int, str, Any]]:
    """The history of `running_saga(at)`."""
    return [
        (1, "WORKFLOW_STARTED", {"input": ORDER}),
        (2, "TASK_SCHEDULED", {"taskExecutionId": TASK, "kind": "charge-card", "input": CHARGE}),
        (3, "TIMER_STARTED", {"timerId": TIMER, "durationMs": REMINDER_MS, "fireAt": iso_ms(at + REMINDER_MS)}),
        (
            4,
            "CHILD_WORKFLOW_INITIATED",
            {"childExecutionName": CHILD_NAME, "childWorkflowKind": "ship-order", "childWorkflowExecutionId": CHILD},
        ),
    ]


def saga_requesting_shipping_cancel(at: int | None = None) -> Story:
    """The running saga whose worker submitted REQUEST_CANCEL_CHILD_WORKFLOW shipping (event 5) and polled again."""
    story = Story(at)
    story.run_charge()
    story.start_reminder()
    story.start_shipping()
    story.request_shipping_cancel()
    story.claim()
    return story


SHIPPING_CANCEL_REQUESTED = (
    5,
    "CHILD_WORKFLOW_CANCELLATION_REQUESTED",
    {"childExecutionName": CHILD_NAME, "childWorkflowExecutionId": CHILD, "reason": "customer asked"},
)


def schedule_reminder(stack: LocalStack, story: Story) -> None:
    """The reminder's schedule, as the outbox dispatcher creates it for the timer's INSERT (it is not due yet)."""
    assert story.timer is not None and story.timer.fire_at_ms > time.time() * 1000
    runtime().scheduler.create(timer_schedule(story.rt.settings, TENANT, WID, TIMER, int(story.timer.fire_at_ms)))
    assert schedule_of(stack) is not None


def repository() -> DynamoRepository:
    """The process's repository, the one the stack's functions use: DynamoDB's."""
    repo = runtime().repo
    assert isinstance(repo, DynamoRepository)
    return repo


def save(record: Record) -> None:
    """Write one record as it is (a seed), through the stack's repository."""
    uow = UnitOfWork()
    uow.put(record, label="seed")
    repository().commit(uow)


def forget(*pks: str) -> None:
    """Delete every item of these partitions (their stream records are REMOVEs, which no mapping's filter takes)."""
    for pk in pks:
        for item in repository().models[BaseItem].query(pk, consistent_read=True):
            item.delete()


def reset(stack: LocalStack) -> None:
    """No item in the samples' partitions, and no schedule of the reminder."""
    forget(*sorted(SAMPLE_PKS))
    client = stack.client("scheduler")
    with suppress(client.exceptions.ResourceNotFoundException):
        client.delete_schedule(Name=SCHEDULE, GroupName=runtime().settings.timer_schedule_group)


@contextmanager
def seeding(stack: LocalStack) -> Iterator[None]:
    """Empty the samples' partitions, then write a state there that no stream function sees while it is written.

    Everything written before is delivered first. Inside, the stack's deliveries of records of the samples'
    partitions are dropped (a stream sample is itself that delivery); on leaving, the rest is delivered.
    """
    stack.wait_idle()
    poller = stack.streams
    assert poller is not None
    deliver = poller.invoke

    def held_back(function: str, event: dict[str, Any]) -> Any:
        records = [record for record in event["Records"] if record["dynamodb"]["Keys"]["pk"]["S"] not in SAMPLE_PKS]
        return deliver(function, {**event, "Records": records}) if records else {"batchItemFailures": []}

    poller.invoke = held_back
    try:
        reset(stack)
        yield
        stack.wait_idle()
    finally:
        poller.invoke = deliver


@contextmanager
def no_periodic_sweeps(stack: LocalStack) -> Iterator[None]:
    """Stop the stack's own sweeps (waiting for one under way), so that the sample's sweep is the one that sweeps."""
    assert stack.periodic is not None
    stack.periodic.stop()
    try:
        yield
    finally:
        period = stack.sweep_seconds if stack.sweep_seconds > 0 else None
        stack.periodic = PeriodicTicker(stack.template, stack.invoke, period)
        if period is not None:
            stack.periodic.start()


# ---------------------------------------------------------------- reading what happened


def history(wid: str) -> list[tuple[int, str, Any]]:
    items = repository().events(keys.workflow_pk(TENANT, wid), keys.event_sk(1), keys.EVENT_PREFIX + "~", 100_000)
    return [(int(item.seq), item.type, loads(item.data)) for item in items]


def _stored(record_type: Any, pk: str, sk: str) -> Any:
    record = repository().get(record_type, pk, sk)
    assert record is not None, (pk, sk)
    return record


def execution_of(wid: str) -> Execution:
    execution = get_execution(repository(), TENANT, wid)
    assert execution is not None, wid
    return execution


def task_item() -> Task:
    return _stored(Task, keys.task_pk(TENANT, TASK), keys.TASK_SK)  # type: ignore[no-any-return]


def timer_item() -> Timer:
    return _stored(Timer, keys.workflow_pk(TENANT, WID), keys.timer_sk(TIMER))  # type: ignore[no-any-return]


def link_of(parent: str, name: str) -> ChildLink:
    return _stored(ChildLink, keys.workflow_pk(TENANT, parent), keys.child_sk(name))  # type: ignore[no-any-return]


def outbox_of(wid: str) -> list[OutboxEntry]:
    return list(repository().query(OutboxEntry, PartitionQuery(keys.workflow_pk(TENANT, wid), keys.OUTBOX_PREFIX)))


def schedule_of(stack: LocalStack) -> dict[str, Any] | None:
    client = stack.client("scheduler")
    try:
        schedule: dict[str, Any] = client.get_schedule(Name=SCHEDULE, GroupName=runtime().settings.timer_schedule_group)
    except client.exceptions.ResourceNotFoundException:
        return None
    return schedule


def the_named_item_is_seeded(event: dict[str, Any]) -> None:
    """The outbox item the stream sample's record names exists, and the record's image is what the domain wrote."""
    (record,) = event["Records"]
    named = record["dynamodb"]["Keys"]["sk"]["S"]
    stored = {item.sk: to_model(repository().models, item).to_dynamodb_dict() for item in outbox_of(WID)}
    assert named in stored, f"the sample names {named}; the saga's outbox holds {sorted(stored)}"
    image, item = dict(record["dynamodb"]["NewImage"]), stored[named]
    for name in ("createdAt", "sweepAt"):  # when it was written: the sample's day, or just now
        del image[name], item[name]
    payloads = json.loads(image.pop("payload")["S"]), json.loads(item.pop("payload")["S"])
    assert image == item
    assert payloads[0] == payloads[1]


def api_call(stack: LocalStack, function: str, event: dict[str, Any]) -> tuple[int, Any]:
    response = stack.invoke(function, event)
    body = response["body"]
    return response["statusCode"], json.loads(body) if body else None


def saga_view(at: int, **changes: Any) -> dict[str, Any]:
    view = {
        "workflowExecutionId": WID,
        "kind": "order-saga",
        "queue": ORDERS,
        "status": "RUNNING",
        "input": ORDER,
        "output": None,
        "error": None,
        "cancelReason": None,
        "parentWorkflowExecutionId": None,
        "childExecutionName": None,
        "cleanupDeadline": None,
        "terminatedReason": None,
        "cancelOn": [],
        "createdAt": iso_ms(at),
        "updatedAt": iso_ms(at),
    }
    return {**view, **changes}


def charge_view(at: int, **changes: Any) -> dict[str, Any]:
    view = {
        "taskExecutionId": TASK,
        "workflowExecutionId": WID,
        "kind": "charge-card",
        "queue": PAYMENTS,
        "status": "RUNNING",
        "input": CHARGE,
        "output": None,
        "error": None,
        "attempt": 1,
        "maxRetries": 2,
        "timeoutMs": None,
        "cancelReason": None,
        "createdAt": iso_ms(at),
        "updatedAt": iso_ms(at),
    }
    return {**view, **changes}


Event = tuple[int, str, Any]


def cancel_requested_by_saga(input_value: Any, reason: str, *before: Event) -> list[Event]:
    """A child's history once the saga's request reached it."""
    events: list[Event] = [(1, "WORKFLOW_STARTED", {"input": input_value}), *before]
    request = {"reason": reason, "requestedBy": f"workflow:{WID}", "cleanupDeadline": None}
    return [*events, (len(events) + 1, "CANCELLATION_REQUESTED", request)]


# ---------------------------------------------------------------- one check per sample

Check = Callable[[LocalStack, str, dict[str, Any]], None]
CHECKS: dict[str, Check] = {}


def sample(name: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        CHECKS[name] = check
        return check

    return register


@sample("caller_api_unknown_token")
def _unknown_token(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    revoke_token(runtime(), "not-a-known-token")
    body = {"error": {"code": "UNAUTHENTICATED", "message": "missing, malformed or unknown bearer token"}}
    assert api_call(stack, function, event) == (401, body)


@sample("caller_api_unknown_route")
def _unknown_route(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    # The HTTP API's catch-all route: DELETE is no method of /v1/workflows.
    assert api_call(stack, function, event) == (404, {"error": {"code": "NOT_FOUND", "message": "no such route"}})


@sample("caller_api_health")
def _health(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    assert api_call(stack, function, event) == (200, {"status": "ok"})


def console_headers(response: dict[str, Any]) -> dict[str, str]:
    """The response's headers, lower-cased (the resolver answers with multiValueHeaders)."""
    headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = values[-1]
    return headers


@sample("console_page")
def _console_page(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    response = stack.invoke(function, event)
    assert response["statusCode"] == 200
    headers = console_headers(response)
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "<title>Stratoflow console</title>" in response["body"]


@sample("console_asset")
def _console_asset(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    response = stack.invoke(function, event)
    assert response["statusCode"] == 200
    headers = console_headers(response)
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert response["body"] == (REPO / "functions" / "console" / "static" / "console.js").read_text(encoding="utf-8")


@sample("caller_api_openapi")
def _openapi(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    status, document = api_call(stack, function, event)
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Stratoflow API"
    assert {path: sorted(operations) for path, operations in document["paths"].items()} == {
        "/v1/health": ["get"],
        "/v1/openapi.json": ["get"],
        "/v1/workflows": ["get", "post"],
        "/v1/workflows/{id}": ["get"],
        "/v1/workflows/{id}/events": ["get"],
        "/v1/workflows/{id}/cancel": ["post"],
        "/v1/tasks": ["post"],
        "/v1/tasks/{taskExecutionId}": ["get"],
        "/v1/tasks/{taskExecutionId}/cancel": ["post"],
        "/v1/worker/workflows/poll": ["post"],
        "/v1/worker/workflows/{id}/commands": ["post"],
        "/v1/worker/tasks/poll": ["post"],
        "/v1/worker/tasks/{taskExecutionId}/heartbeat": ["post"],
        "/v1/worker/tasks/{taskExecutionId}/complete": ["post"],
        "/v1/worker/tasks/{taskExecutionId}/fail": ["post"],
        "/v1/workflows/{id}/terminate": ["post"],
        "/v1/events": ["post"],
        "/v1/batches": ["get", "post"],
        "/v1/batches/{batchId}": ["get"],
        "/v1/batches/{batchId}/items": ["get"],
        "/v1/batches/{batchId}/stop": ["post"],
    }


@sample("caller_api_start_workflow")
def _start_workflow(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    status, body = api_call(stack, function, event)
    assert status == 201, body
    wid = body["workflowExecutionId"]
    try:
        assert str(uuid.UUID(wid)) == wid
        assert body["createdAt"] == body["updatedAt"]
        assert body == {
            "workflowExecutionId": wid,
            "kind": "order-saga",
            "queue": "default",
            "status": "PENDING",
            "input": ORDER,
            "output": None,
            "error": None,
            "cancelReason": None,
            "parentWorkflowExecutionId": None,
            "childExecutionName": None,
            "cleanupDeadline": None,
            "terminatedReason": None,
            "cancelOn": [],
            "createdAt": body["createdAt"],
            "updatedAt": body["createdAt"],
        }
        assert history(wid) == [(1, "WORKFLOW_STARTED", {"input": ORDER})]
        stored = execution_of(wid)
        assert (stored.status, stored.dispatch_pk) == ("PENDING", keys.workflow_dispatch_pk(TENANT, "default"))
    finally:
        forget(keys.workflow_pk(TENANT, wid))  # nobody is to poll it off the default queue later


@sample("caller_api_start_task")
def _start_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    status, body = api_call(stack, function, event)
    assert status == 201, body
    task_id = body["taskExecutionId"]
    try:
        assert str(uuid.UUID(task_id)) == task_id
        assert body["createdAt"] == body["updatedAt"]
        assert body == {
            "taskExecutionId": task_id,
            "workflowExecutionId": None,
            "kind": "send-email",
            "queue": "default",
            "status": "PENDING",
            "input": {"to": "a@example.com"},
            "output": None,
            "error": None,
            "attempt": 0,
            "maxRetries": 2,
            "timeoutMs": 30000,
            "cancelReason": None,
            "createdAt": body["createdAt"],
            "updatedAt": body["createdAt"],
        }
        stored = _stored(Task, keys.task_pk(TENANT, task_id), keys.TASK_SK)
        assert (stored.status, stored.dispatch_pk) == ("PENDING", keys.task_dispatch_pk(TENANT, "default"))
    finally:
        forget(keys.task_pk(TENANT, task_id))


@sample("caller_api_get_workflow")
def _get_workflow(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    assert api_call(stack, function, event) == (200, saga_view(story.at))


@sample("caller_api_get_workflow_events")
def _get_workflow_events(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    created = iso_ms(story.at)
    events = [
        {"sequence": sequence, "type": kind, "data": data, "createdAt": created}
        for sequence, kind, data in saga_events(story.at)
    ]
    assert api_call(stack, function, event) == (200, {"events": events, "nextAfterSequence": None})


@sample("caller_api_list_workflows")
def _list_workflows(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    status, body = api_call(stack, function, event)
    assert status == 200
    assert set(body) == {"workflows", "nextToken"}
    workflows = body["workflows"]
    assert workflows[0] == saga_view(story.at)  # the tenant's newest RUNNING execution
    assert {workflow["status"] for workflow in workflows} == {"RUNNING"}
    newest_first = [(workflow["createdAt"], workflow["workflowExecutionId"]) for workflow in workflows]
    assert newest_first == sorted(newest_first, reverse=True)
    assert len(workflows) <= 20


@sample("caller_api_get_task")
def _get_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    assert api_call(stack, function, event) == (200, charge_view(story.at))


@sample("caller_api_cancel_workflow")
def _cancel_workflow(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    assert api_call(stack, function, event) == (202, {"workflowExecutionId": WID, "status": "CANCELLING"})
    saga = execution_of(WID)
    assert (saga.status, saga.cancel_reason, saga.lease_id) == ("CANCELLING", "customer asked", LEASE)
    request = {"reason": "customer asked", "requestedBy": "api", "cleanupDeadline": None}
    cancelled = (5, "CANCELLATION_REQUESTED", request)
    assert history(WID) == [*saga_events(story.at), cancelled]
    # cascade: true - the shipping child follows, through the cascade item and the outbox dispatcher
    stack.wait_idle()
    assert history(CHILD) == cancel_requested_by_saga(SHIPMENT, "customer asked")
    assert (execution_of(CHILD).status, execution_of(CHILD).cancel_reason) == ("CANCELLING", "customer asked")
    assert outbox_of(WID) == []
    assert history(WID) == [*saga_events(story.at), cancelled]


@sample("cancel_task_request")
def _cancel_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    assert api_call(stack, function, event) == (200, {"taskExecutionId": TASK, "status": "CANCELLED"})
    task = task_item()
    assert (task.status, task.cancel_reason, task.lease_id) == ("CANCELLED", "no longer needed", None)
    assert (task.dispatch_pk, task.sweep_pk) == (None, None)
    cancelled = {"taskExecutionId": TASK, "taskType": "charge-card", "reason": "no longer needed"}
    assert history(WID) == [*saga_events(story.at), (5, "TASK_CANCELLED", cancelled)]
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id) == ("RUNNING", LEASE)  # its worker keeps the lease, sees it at release


@sample("worker_api_complete_task")
def _complete_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    assert api_call(stack, function, event) == (200, {"status": "COMPLETED"})
    task = task_item()
    assert (task.status, loads(task.output), task.lease_id) == ("COMPLETED", {"chargeId": "ch_1"}, None)
    completed = {"taskExecutionId": TASK, "result": {"chargeId": "ch_1"}}
    assert history(WID) == [*saga_events(story.at), (5, "TASK_COMPLETED", completed)]
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id, saga.seen_seq) == ("RUNNING", LEASE, 4)


@sample("worker_api_complete_task_poll_next")
def _complete_task_poll_next(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    # The complete commits first; the poll part then finds nothing ready on `payments`: next is null.
    assert api_call(stack, function, event) == (200, {"status": "COMPLETED", "next": None})
    task = task_item()
    assert (task.status, loads(task.output), task.lease_id) == ("COMPLETED", {"chargeId": "ch_1"}, None)
    completed = {"taskExecutionId": TASK, "result": {"chargeId": "ch_1"}}
    assert history(WID) == [*saga_events(story.at), (5, "TASK_COMPLETED", completed)]


@sample("worker_api_fail_task")
def _fail_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    # retryable, attempt 1 of 1 + 2 retries: back to PENDING, and nothing in the workflow's history
    assert api_call(stack, function, event) == (200, {"status": "PENDING"})
    task = task_item()
    assert (task.status, task.attempt, task.lease_id) == ("PENDING", 1, None)
    assert loads(task.error) == {"code": "CARD_DECLINED", "message": "declined"}
    assert task.dispatch_pk == keys.task_dispatch_pk(TENANT, PAYMENTS)
    assert history(WID) == saga_events(story.at)


@sample("worker_api_heartbeat_task")
def _heartbeat_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    before = runtime().now_ms()
    status, body = api_call(stack, function, event)
    after = runtime().now_ms()
    assert (status, set(body), body["cancelRequested"]) == (200, {"cancelRequested", "leaseExpiresAt"}, False)
    expires = parse_iso_ms(body["leaseExpiresAt"])
    assert before + LEASE_MS <= expires <= after + LEASE_MS  # extended by the lease's length
    task = task_item()
    assert (task.status, task.lease_id, task.lease_expires_at, task.sweep_at) == ("RUNNING", LEASE, expires, expires)


@sample("worker_api_poll_task")
def _poll_task(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = Story()
        story.schedule_charge()  # the only ready task on `payments`
        story.release(story.history)
        story.write()
    status, body = api_call(stack, function, event)
    assert status == 200, body
    claimed_at = body["task"]["updatedAt"]
    assert body == {
        "task": charge_view(story.at, updatedAt=claimed_at),
        "leaseId": body["leaseId"],
        "leaseExpiresAt": iso_ms(parse_iso_ms(claimed_at) + LEASE_MS),
    }
    assert str(uuid.UUID(body["leaseId"])) == body["leaseId"]
    task = task_item()
    assert (task.status, task.attempt, task.lease_id, task.dispatch_pk) == ("RUNNING", 1, body["leaseId"], None)


@sample("worker_api_poll_workflow")
def _poll_workflow(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = Story()  # just started: PENDING, the only ready execution on `orders`
        story.write()
    status, body = api_call(stack, function, event)
    assert status == 200, body
    claimed_at = body["workflowExecution"]["updatedAt"]
    assert body == {
        "workflowExecution": saga_view(story.at, updatedAt=claimed_at),
        "events": [
            {"sequence": 1, "type": "WORKFLOW_STARTED", "data": {"input": ORDER}, "createdAt": iso_ms(story.at)}
        ],
        "nextAfterSequence": None,
        "leaseId": body["leaseId"],
        "leaseExpiresAt": iso_ms(parse_iso_ms(claimed_at) + LEASE_MS),
    }
    assert str(uuid.UUID(body["leaseId"])) == body["leaseId"]
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id, saga.seen_seq) == ("RUNNING", body["leaseId"], 1)


@sample("submit_workflow_commands_schedule_task")
def _submit_commands(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = Story()
        story.claim()  # polled: RUNNING under lease 5d41402a-..., nothing scheduled yet
        story.write()
    status, body = api_call(stack, function, event)
    assert status == 200, body
    started = body["events"][1]
    fire_at = started["data"]["fireAt"]
    assert parse_iso_ms(fire_at) == parse_iso_ms(started["createdAt"]) + REMINDER_MS
    assert body == {
        "status": "WAITING",
        "events": [
            {
                "sequence": 2,
                "type": "TASK_SCHEDULED",
                "data": {"taskExecutionId": TASK, "kind": "charge-card", "input": CHARGE},
                "createdAt": started["createdAt"],
            },
            {
                "sequence": 3,
                "type": "TIMER_STARTED",
                "data": {"timerId": TIMER, "durationMs": REMINDER_MS, "fireAt": fire_at},
                "createdAt": started["createdAt"],
            },
        ],
    }
    assert [(event["sequence"], event["type"], event["data"]) for event in body["events"]] == history(WID)[1:]
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id, saga.dispatch_pk, saga.spawned) == ("WAITING", None, None, True)
    task = task_item()
    assert (task.status, task.queue, task.max_retries, task.attempt, task.workflow_id) == (
        "PENDING",
        PAYMENTS,
        2,
        0,
        WID,
    )
    # the execution keeps its open task's id, so no reference item
    assert (saga.open_tasks, saga.task_refs) == ({TASK}, False)
    assert repository().get(TaskRef, saga.pk, keys.taskref_sk(TASK)) is None
    timer = timer_item()
    assert (timer.status, timer.fire_at) == ("STARTED", fire_at)
    # the timer's INSERT reaches the outbox dispatcher, which creates its one-time schedule
    stack.wait_idle()
    schedule = schedule_of(stack)
    assert schedule is not None
    due = math.ceil(parse_iso_ms(fire_at) / 1000)
    assert schedule["ScheduleExpression"] == f"at({datetime.fromtimestamp(due, UTC):%Y-%m-%dT%H:%M:%S})"
    assert (schedule["FlexibleTimeWindow"], schedule["ActionAfterCompletion"]) == ({"Mode": "OFF"}, "DELETE")
    target = schedule["Target"]
    fire_timer_function = stack.template.function_by_arn(target["Arn"])
    dead_letters = stack.template.queue_by_arn(target["DeadLetterConfig"]["Arn"])
    assert fire_timer_function is not None and fire_timer_function.logical_id == "FireTimerFunction"
    assert dead_letters is not None and dead_letters.logical_id == "TimerScheduleDLQ"
    payload = {"tenant": TENANT, "workflowExecutionId": WID, "timerId": TIMER, "fireAt": fire_at}
    assert json.loads(target["Input"]) == payload


@sample("fire_timer_due")
def _fire_timer(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
        schedule_reminder(stack, story)
    assert stack.invoke(function, event) == {"outcome": "fired"}
    assert timer_item().status == TimerStatus.FIRED
    assert history(WID) == [*saga_events(story.at), (5, "TIMER_FIRED", {"timerId": TIMER})]
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id) == ("RUNNING", LEASE)
    # the timer left STARTED: the outbox dispatcher deletes its schedule
    stack.wait_idle()
    assert schedule_of(stack) is None


@sample("fire_timer_last_mile")
def _fire_timer_from_the_queue(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    # the message's fireAt has passed: nothing to wait out, the reminder fires; the batch reports no failure
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    assert timer_item().status == TimerStatus.FIRED
    assert history(WID) == [*saga_events(story.at), (5, "TIMER_FIRED", {"timerId": TIMER})]
    # delivered again (SQS delivers at least once): the gate leaves it as it is
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    assert history(WID) == [*saga_events(story.at), (5, "TIMER_FIRED", {"timerId": TIMER})]


@sample("fire_timer_hand_over")
def _fire_timer_hand_over(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    # a hand-over that Scheduler ran after the timer was due (its retries took that long) fires it at once
    assert stack.invoke(function, event) == {"outcome": "fired"}
    assert timer_item().status == TimerStatus.FIRED
    assert history(WID) == [*saga_events(story.at), (5, "TIMER_FIRED", {"timerId": TIMER})]
    assert stack.invoke(function, event) == {"outcome": "ignored"}  # after the timer left STARTED: nothing


@sample("outbox_dispatcher_timer_started")
def _timer_started(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()  # the reminder STARTED; the schedule is made from the record's image, not the item
        story.write()
    assert schedule_of(stack) is None
    invoked = time.time()
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    # The record's fireAt (2026-11-24T06:01:00.000Z) has passed: the schedule is due at once, fires the reminder
    # through FireTimerFunction, and is deleted after completion.
    stack.wait_idle()
    assert stack.scheduler is not None
    fired = [
        (invocation.group, invocation.function, invocation.payload, invocation.outcome)
        for invocation in list(stack.scheduler.invocations)
        if invocation.name == SCHEDULE and invocation.at >= invoked
    ]
    payload = {"tenant": TENANT, "workflowExecutionId": WID, "timerId": TIMER, "fireAt": "2026-11-24T06:01:00.000Z"}
    assert fired == [(runtime().settings.timer_schedule_group, "FireTimerFunction", payload, "ok")]
    assert timer_item().status == TimerStatus.FIRED
    assert history(WID) == [*saga_events(story.at), (5, "TIMER_FIRED", {"timerId": TIMER})]
    assert schedule_of(stack) is None
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id) == ("RUNNING", LEASE)


@sample("outbox_dispatcher_timer_fired")
def _timer_fired(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
        schedule_reminder(stack, story)
        assert fire_timer(story.rt, TENANT, WID, TIMER) == "fired"  # the MODIFY the sample delivers
    assert timer_item().status == TimerStatus.FIRED
    assert schedule_of(stack) is not None
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    assert schedule_of(stack) is None
    assert history(WID) == [*saga_events(story.at), (5, "TIMER_FIRED", {"timerId": TIMER})]


@sample("propagate_child_cancel_request")
def _propagate_child_cancel(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = saga_requesting_shipping_cancel()  # event 5: its outbox item is OUTBOX#CHILD_CANCEL#0000000005
        story.write()
    the_named_item_is_seeded(event)
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    assert history(CHILD) == cancel_requested_by_saga(SHIPMENT, "customer asked")
    child = execution_of(CHILD)
    assert (child.status, child.cancel_reason) == ("CANCELLING", "customer asked")
    assert link_of(WID, CHILD_NAME).cancel_state == ChildCancelState.DELIVERED
    assert outbox_of(WID) == []
    assert history(WID) == [*saga_events(story.at), SHIPPING_CANCEL_REQUESTED]  # delivered: nothing for the parent


@sample("outbox_dispatcher_cascade")
def _cascade(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = Story()
        story.run_charge()
        story.start_reminder()
        shipping = story.start_shipping()
        story.start_child(shipping, GRANDCHILD, "print-label", LABEL)
        story.release(shipping)  # the child ran once: it started its own child and waits
        story.claim()
        story.write()
        # POST /v1/workflows/8f14e45f-.../cancel {"reason": "customer asked", "cascade": true}
        cancel = UnitOfWork()
        request_workflow_cancel(
            story.rt,
            cancel,
            execution_of(WID),
            reason="customer asked",
            requested_by="api",
            cascade_root=WID,
            cascade_request=CASCADE_REQUEST,
        )
        story.rt.repo.commit(cancel)
    the_named_item_is_seeded(event)
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    label = {
        "childExecutionName": GRANDCHILD_NAME,
        "childWorkflowKind": "print-label",
        "childWorkflowExecutionId": GRANDCHILD,
    }
    started_label = (2, "CHILD_WORKFLOW_INITIATED", label)
    assert history(CHILD) == cancel_requested_by_saga(SHIPMENT, "customer asked", started_label)
    assert execution_of(CHILD).status == WorkflowStatus.CANCELLING
    assert all(item.sk != event["Records"][0]["dynamodb"]["Keys"]["sk"]["S"] for item in outbox_of(WID))
    # the child's own cascade item carries the request on to its child, with the same root
    stack.wait_idle()
    assert history(GRANDCHILD) == cancel_requested_by_saga(LABEL, "customer asked")
    assert execution_of(GRANDCHILD).status == WorkflowStatus.CANCELLING
    assert (outbox_of(WID), outbox_of(CHILD)) == ([], [])
    request = {"reason": "customer asked", "requestedBy": "api", "cleanupDeadline": None}
    cancelled = (5, "CANCELLATION_REQUESTED", request)
    assert history(WID) == [*saga_events(story.at), cancelled]


@sample("outbox_dispatcher_parent_close")
def _parent_close(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    output = {"orderId": "42", "charged": True}
    with seeding(stack):
        story = running_saga()
        story.complete(output)  # ends with its charge RUNNING, its reminder STARTED and its child PENDING
        story.write()
        schedule_reminder(stack, story)
    the_named_item_is_seeded(event)
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    task = task_item()
    assert (task.status, task.cancel_reason, task.lease_id) == ("CANCELLED", "parent closed", None)
    assert timer_item().status == TimerStatus.CANCELLED
    # the child-cancel request goes out through the stream; the cancelled timer's schedule is deleted
    stack.wait_idle()
    assert history(CHILD) == cancel_requested_by_saga(SHIPMENT, "parent closed")
    assert execution_of(CHILD).status == WorkflowStatus.CANCELLING
    assert link_of(WID, CHILD_NAME).cancel_state == ChildCancelState.DELIVERED
    assert schedule_of(stack) is None
    assert outbox_of(WID) == []
    # no event after the terminal one
    assert history(WID) == [*saga_events(story.at), (5, "WORKFLOW_COMPLETED", {"output": output})]
    assert execution_of(WID).status == WorkflowStatus.COMPLETED


@sample("sweeper_scheduled")
def _sweeper(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with no_periodic_sweeps(stack):
        stack.invoke(function, event)  # whatever else is overdue, so that only the sample's state is left
        then = runtime().now_ms() - 180_000
        with seeding(stack):
            # Three minutes ago, and nothing delivered since: the charge's lease (60 s) ran out, the reminder (60 s)
            # is past its 90 s grace, and the child-cancel request is past its 120 s re-drive delay.
            story = saga_requesting_shipping_cancel(then)
            story.write()
        assert stack.invoke(function, event) == {"swept": {"task:PENDING": 1, "timer:fired": 1, "outbox:delivered": 1}}
    task = task_item()
    assert (task.status, task.attempt, task.lease_id) == ("PENDING", 1, None)
    assert loads(task.error) == {"code": "LEASE_EXPIRED", "message": "the lease of attempt 1 expired"}
    assert task.dispatch_pk == keys.task_dispatch_pk(TENANT, PAYMENTS)
    assert timer_item().status == TimerStatus.FIRED
    fired = (6, "TIMER_FIRED", {"timerId": TIMER})
    assert history(WID) == [*saga_events(then), SHIPPING_CANCEL_REQUESTED, fired]
    saga = execution_of(WID)
    assert (saga.status, saga.lease_id) == ("PENDING", None)  # its worker's lease had expired: ready for anyone
    assert history(CHILD) == cancel_requested_by_saga(SHIPMENT, "customer asked")
    assert link_of(WID, CHILD_NAME).cancel_state == ChildCancelState.DELIVERED
    assert outbox_of(WID) == []


# ---------------------------------------------------------------- the operator controls' samples


def subscribed_saga() -> Story:
    """The running saga, subscribed to order.cancelled for order 42 (cancelOn)."""
    story = running_saga(runtime().now_ms() - 1_000)
    stage_subscriptions(
        story.tx, story.saga, [CancelOnEntry(eventType=CANCELLED_EVENT, match={"orderId": "42"})], story.at
    )
    return story


def cancelled_by(requested_by: str, reason: str) -> tuple[int, str, Any]:
    return (5, "CANCELLATION_REQUESTED", {"reason": reason, "requestedBy": requested_by, "cleanupDeadline": None})


def seed_batch(at: int, status: str = "RUNNING", **fields: Any) -> Batch:
    """Batch b1c2d3e4-... CANCEL of the saga (listed by id) at `at`; written by the caller."""
    created = iso_ms(at)
    values: dict[str, Any] = {
        "tenant": TENANT,
        "batch_id": BATCH,
        "operation": "CANCEL",
        "filter_json": dumps({"workflowExecutionIds": [WID]}),
        "reason": "maintenance window",
        "cascade": True,
        "cleanup_timeout_ms": None,
        "max_per_second": 10,
        "status": status,
        "matched": None,
        "found": 0,
        "succeeded": 0,
        "failed": 0,
        "skipped": 0,
        "snapshot_before": created,
        "pending": dumps([WID]),
        "listed": True,
        "slice_number": 1,
        "not_before": 0,
        "created_at": created,
        "updated_at": created,
        "list_pk": batch_list_pk(TENANT),
        "list_sk": f"{created}#{BATCH}",
    }
    values.update(fields)
    return Batch(batch_pk(TENANT, BATCH), BATCH_SK, **values)


def batch_of() -> Batch:
    batch = repository().get(Batch, batch_pk(TENANT, BATCH), BATCH_SK)
    assert batch is not None
    return batch


def finished_batch(batch_id: str, timeout: float = 30.0) -> Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = repository().get(Batch, batch_pk(TENANT, batch_id), BATCH_SK)
        assert batch is not None
        if batch.status != "RUNNING" or time.monotonic() > deadline:
            return batch
        time.sleep(0.1)


@sample("operator_api_terminate_workflow")
def _terminate_workflow(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga()
        story.write()
    assert api_call(stack, function, event) == (200, {"workflowExecutionId": WID, "status": "TERMINATED"})
    terminated = (5, "WORKFLOW_TERMINATED", {"reason": "stuck in a loop", "requestedBy": "api"})
    assert history(WID) == [*saga_events(story.at), terminated]
    saga = execution_of(WID)
    assert (saga.status, saga.terminated_reason, saga.lease_id, saga.dispatch_pk) == (
        "TERMINATED",
        "stuck in a loop",
        None,
        None,
    )
    stack.wait_idle()  # the close work: the child terminated (cascade), the task and the timer cancelled
    by_saga = {"reason": "stuck in a loop", "requestedBy": f"workflow:{WID}"}
    assert history(CHILD)[-1] == (2, "WORKFLOW_TERMINATED", by_saga)
    assert task_item().status == TaskStatus.CANCELLED
    assert timer_item().status == TimerStatus.CANCELLED
    assert history(WID) == [*saga_events(story.at), terminated]


@sample("operator_api_send_event")
def _send_event(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = subscribed_saga()
        story.write()
    status, body = api_call(stack, function, event)
    try:
        assert status == 202 and set(body) == {"eventId"}
        stack.wait_idle()  # the outbox dispatcher cancels the subscribers
        assert history(WID)[-1] == cancelled_by(f"event:{body['eventId']}", "cancelOn order.cancelled")
        assert execution_of(WID).status == WorkflowStatus.CANCELLING
    finally:
        forget(event_pk(TENANT, body["eventId"]))


@sample("operator_api_create_batch")
def _create_batch(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga(runtime().now_ms() - 1_000)
        story.write()
    status, body = api_call(stack, function, event)
    try:
        assert status == 202
        assert {k: body[k] for k in ("operation", "filter", "reason", "status", "matched", "succeeded")} == {
            "operation": "CANCEL",
            "filter": {"workflowExecutionIds": [WID]},
            "reason": "maintenance window",
            "status": "RUNNING",
            "matched": None,
            "succeeded": 0,
        }
        batch = finished_batch(body["batchId"])  # started by the outbox dispatcher, run by the batch runner
        assert (batch.status, batch.matched, batch.succeeded) == ("COMPLETED", 1, 1)
        assert history(WID)[-1] == cancelled_by(f"batch:{body['batchId']}", "maintenance window")
    finally:
        forget(batch_pk(TENANT, body["batchId"]))


@sample("operator_api_list_batches")
def _list_batches(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    batch = seed_batch(runtime().now_ms() + 60_000, "COMPLETED", matched=1, succeeded=1)  # the newest
    save(batch)
    status, body = api_call(stack, function, event)
    assert status == 200 and set(body) == {"batches", "nextToken"}
    assert body["batches"][0] == batch_view(batch)
    assert len(body["batches"]) <= 10


@sample("operator_api_get_batch")
def _get_batch(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    batch = seed_batch(runtime().now_ms(), "COMPLETED", matched=1, succeeded=1, completed_at=iso_ms(runtime().now_ms()))
    save(batch)
    assert api_call(stack, function, event) == (200, batch_view(batch))


@sample("operator_api_list_batch_items")
def _list_batch_items(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    at = iso_ms(runtime().now_ms())
    save(seed_batch(runtime().now_ms(), "COMPLETED", matched=1, succeeded=1))
    save(BatchOutcome(batch_pk(TENANT, BATCH), batch_outcome_sk(WID), workflow_id=WID, outcome="SUCCEEDED", at=at))
    assert api_call(stack, function, event) == (
        200,
        {"items": [{"workflowExecutionId": WID, "outcome": "SUCCEEDED", "error": None, "at": at}], "nextToken": None},
    )


@sample("operator_api_stop_batch")
def _stop_batch(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    save(seed_batch(runtime().now_ms()))  # running, its first slice not yet run (no message sent)
    status, body = api_call(stack, function, event)
    assert status == 200 and (body["status"], body["succeeded"]) == ("STOPPED", 0)
    assert body["completedAt"] is not None and batch_of().status == "STOPPED"


@sample("batch_runner_slice")
def _batch_slice(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga(runtime().now_ms() - 1_000)
        story.write()
        save(seed_batch(runtime().now_ms()))
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    batch = batch_of()
    assert (batch.status, batch.matched, batch.succeeded) == ("COMPLETED", 1, 1)
    assert history(WID)[-1] == cancelled_by(f"batch:{BATCH}", "maintenance window")
    outcome = repository().get(BatchOutcome, batch_pk(TENANT, BATCH), batch_outcome_sk(WID))
    assert outcome is not None and outcome.outcome == "SUCCEEDED"


@sample("cancel_on_event_bus_event")
def _bus_event(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = subscribed_saga()
        story.write()
    assert stack.invoke(function, event) == {"eventId": EVENT_ID, "cancelled": 1}
    assert history(WID)[-1] == cancelled_by(f"event:{EVENT_ID}", "cancelOn order.cancelled")
    assert stack.invoke(function, event) == {"eventId": EVENT_ID, "cancelled": 0}  # redelivered: nothing twice
    assert len(history(WID)) == 5


@sample("outbox_dispatcher_event")
def _dispatch_event(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = subscribed_saga()
        story.write()
        now = runtime().now_ms()
        save(
            ReceivedEvent(
                event_pk(TENANT, EVENT_ID),
                EVENT_SK,
                tenant=TENANT,
                event_id=EVENT_ID,
                event_type=CANCELLED_EVENT,
                data=dumps({"orderId": "42", "by": "customer"}),
                arrived_at=now,
                created_at=iso_ms(now),
                expires_at=now // 1000 + 86400,
            )
        )
        save(
            OutboxEntry(
                event_pk(TENANT, EVENT_ID),
                keys.outbox_sk("EVENT", EVENT_ID),
                tenant=TENANT,
                workflow_id=EVENT_ID,
                kind="EVENT",
                payload=dumps({"eventId": EVENT_ID}),
                created_at=iso_ms(now),
            )
        )
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    assert history(WID)[-1] == cancelled_by(f"event:{EVENT_ID}", "cancelOn order.cancelled")
    assert list(repository().query(OutboxEntry, PartitionQuery(event_pk(TENANT, EVENT_ID), keys.OUTBOX_PREFIX))) == []


@sample("outbox_dispatcher_batch_start")
def _dispatch_batch_start(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga(runtime().now_ms() - 1_000)
        story.write()
        save(seed_batch(runtime().now_ms()))
        save(
            OutboxEntry(
                batch_pk(TENANT, BATCH),
                keys.outbox_sk("BATCH", "start"),
                tenant=TENANT,
                workflow_id=BATCH,
                kind="BATCH",
                payload=dumps({"batchId": BATCH}),
                created_at=iso_ms(runtime().now_ms()),
            )
        )
    assert stack.invoke(function, event) == {"batchItemFailures": []}
    # the first slice's message went to the batch queue; the stack's queue emulator runs the batch runner on it
    assert finished_batch(BATCH).status == "COMPLETED"
    assert history(WID)[-1] == cancelled_by(f"batch:{BATCH}", "maintenance window")


@sample("fire_timer_cleanup_deadline")
def _fire_deadline(stack: LocalStack, function: str, event: dict[str, Any]) -> None:
    with seeding(stack):
        story = running_saga(runtime().now_ms() - 31_000)
        story.write()
        # cancelled then with a 30 s cleanup timeout, which ran out a second ago
        cancel = UnitOfWork()
        request_workflow_cancel(
            story.rt,
            cancel,
            execution_of(WID),
            reason="shutdown",
            requested_by="api",
            cascade_root=None,
            cleanup_deadline=story.at + 30_000,
        )
        story.rt.repo.commit(cancel)
    assert stack.invoke(function, event) == {"outcome": "terminated"}
    terminated = (6, "WORKFLOW_TERMINATED", {"reason": "cleanup timeout", "requestedBy": "cleanup-timeout"})
    assert history(WID)[-1] == terminated
    deadline = repository().get(Timer, keys.workflow_pk(TENANT, WID), keys.timer_sk(DEADLINE_TIMER_ID))
    assert deadline is not None and deadline.status == TimerStatus.FIRED
    assert stack.invoke(function, event) == {"outcome": "ignored"}  # a second invocation changes nothing
    stack.wait_idle()
    assert history(CHILD)[-1][1] == "WORKFLOW_TERMINATED"


# ---------------------------------------------------------------- the tests


def test_every_function_has_sample_events() -> None:
    covered = {_function_of(event_file) for event_file in EVENTS}
    assert covered == set(FOLDER_TO_FUNCTION.values())


def test_every_sample_event_has_a_check() -> None:
    assert sorted(CHECKS) == [event_file.stem for event_file in EVENTS]


@pytest.mark.parametrize("event_file", EVENTS, ids=[event.stem for event in EVENTS])
def test_each_sample_event_does_what_it_names(local_stack: LocalStack, event_file: Path) -> None:
    event = json.loads(event_file.read_text(encoding="utf-8"))
    try:
        CHECKS[event_file.stem](local_stack, _function_of(event_file), event)
    finally:
        # Its effects settle and its partitions are emptied: later samples and tests find no sample state.
        local_stack.wait_idle()
        reset(local_stack)
