"""Driving the domain in process: a fake clock and id factory, and a small facade over the domain's services.

`Engine` calls the domain functions exactly as the handlers do (commands are parsed with the same pydantic models),
reads histories through the domain's own paging, and dumps the table's items for exact assertions on stored state:
from the in-memory repository (`items()` of `MemoryRepository`) or, on moto, by Scan and Query - the same shapes.
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from pydantic import TypeAdapter
from stratoflow import commands, executions, outbox, sweeper, tasks, timers, workflows
from stratoflow.config import Settings
from stratoflow.dal.memory import MemoryRepository
from stratoflow.records import Candidate
from stratoflow.runtime import Runtime

from tests.support.invariants import check_invariants

START_MS = 4_102_444_800_000  # 2100-01-01T00:00:00.000Z: far from any real clock (a stack's sweeper)
COMMANDS = TypeAdapter(list[commands.Command])


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start_ms: int = START_MS) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> int:
        with self._lock:
            self._now += ms
            return self._now

    def set(self, ms: int) -> None:
        with self._lock:
            self._now = ms


class SequentialIds:
    """Ids `id-0001`, `id-0002`, ... (thread-safe), so generated ids are predictable."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            return f"{self._prefix}-{next(self._counter):04d}"


def plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as plain JSON-like Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def query_items(dynamodb: Any, table_name: str, pk: str, sk_prefix: str = "") -> list[dict[str, Any]]:
    """Every item of one partition (those whose sort key starts with `sk_prefix`, when given), deserialized."""
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": pk}},
        "ConsistentRead": True,
    }
    if sk_prefix:
        kwargs["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
        kwargs["ExpressionAttributeValues"][":prefix"] = {"S": sk_prefix}
    while True:
        page = dynamodb.query(**kwargs)
        items += [plain({k: deserializer.deserialize(v) for k, v in raw.items()}) for raw in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def stored_items_of(
    dynamodb: Any, table_name: str, tenant: str, histories: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The stored items of these executions and of the tasks they scheduled (Queries, no Scan)."""
    return [item for pk in partitions_of(tenant, histories) for item in query_items(dynamodb, table_name, pk)]


def partitions_of(tenant: str, histories: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The partitions of these executions and of the tasks they scheduled."""
    keys = [f"T#{tenant}#WF#{wid}" for wid in histories]
    for events in histories.values():
        keys += [f"T#{tenant}#TASK#{e['data']['taskExecutionId']}" for e in events if e["type"] == "TASK_SCHEDULED"]
    return keys


def scan_items(dynamodb: Any, table_name: str) -> list[dict[str, Any]]:
    """Every item of the table, deserialized, sorted by key."""
    deserializer = TypeDeserializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        for raw in page["Items"]:
            items.append(plain({k: deserializer.deserialize(v) for k, v in raw.items()}))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(items, key=lambda item: (item["pk"], item["sk"]))


class Engine:
    """The domain's services for one tenant by default, with a fake clock and predictable ids."""

    def __init__(self, rt: Runtime, dynamodb: Any = None, tenant: str = "acme", batch_queue: Any = None) -> None:
        """`dynamodb`: a client of the table's endpoint, to read stored items when the repository is DynamoDB's."""
        self.rt = rt
        self.dynamodb = dynamodb
        self.tenant = tenant
        self.memory = rt.repo if isinstance(rt.repo, MemoryRepository) else None
        self.batch_queue = batch_queue  # where a batch's start sends its first slice (stratoflow.batches)

    @property
    def clock(self) -> FakeClock:
        clock = self.rt.clock
        assert isinstance(clock, FakeClock)
        return clock

    @property
    def settings(self) -> Settings:
        return self.rt.settings

    def _t(self, tenant: str | None) -> str:
        return tenant or self.tenant

    # ------------------------------------------------------------------ caller API

    def start(
        self,
        kind: str = "order-saga",
        input_value: Any = None,
        queue: str = "default",
        *,
        tenant: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        return workflows.start_workflow(
            self.rt, self._t(tenant), kind=kind, queue=queue, input_value=input_value, idempotency_key=idempotency_key
        )

    def get(self, workflow_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        return workflows.get_workflow(self.rt, self._t(tenant), workflow_id)

    def status(self, workflow_id: str, *, tenant: str | None = None) -> str:
        return str(self.get(workflow_id, tenant=tenant)["status"])

    def cancel(
        self, workflow_id: str, reason: str | None = None, *, cascade: bool = True, tenant: str | None = None
    ) -> dict[str, Any]:
        return workflows.cancel_workflow(self.rt, self._t(tenant), workflow_id, reason=reason, cascade=cascade)

    def history(self, workflow_id: str, *, tenant: str | None = None) -> list[dict[str, Any]]:
        """The whole history, read page by page as a client would."""
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = workflows.read_history(self.rt, self._t(tenant), workflow_id, after_sequence=after, limit=1000)
            events.extend(page["events"])
            if page["nextAfterSequence"] is None:
                return events
            after = page["nextAfterSequence"]

    def types(self, workflow_id: str, *, tenant: str | None = None) -> list[str]:
        return [event["type"] for event in self.history(workflow_id, tenant=tenant)]

    def create_task(
        self,
        kind: str = "charge",
        input_value: Any = None,
        queue: str = "default",
        *,
        max_retries: int = 0,
        timeout_ms: int | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        return tasks.create_task(
            self.rt,
            self._t(tenant),
            kind=kind,
            queue=queue,
            input_value=input_value,
            max_retries=max_retries,
            timeout_ms=timeout_ms,
        )

    def task(self, task_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        return tasks.get_task(self.rt, self._t(tenant), task_id)

    def cancel_task(self, task_id: str, reason: str | None = None, *, tenant: str | None = None) -> dict[str, Any]:
        return tasks.cancel_task(self.rt, self._t(tenant), task_id, reason)

    # ------------------------------------------------------------------ worker API

    def poll(
        self,
        queue: str = "default",
        *,
        kinds: list[str] | None = None,
        lease_ms: int | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any] | None:
        return workflows.poll_workflow(
            self.rt, self._t(tenant), queue=queue, worker_id="w-1", kinds=kinds, lease_ms=lease_ms
        )

    def claim(self, workflow_id: str, *, lease_ms: int | None = None, tenant: str | None = None) -> str:
        """Claim this (ready) execution, as a poll would, whatever else is ready; returns the lease id.

        Uses the same conditional claim as `poll` on this one execution, so tests need not arrange which execution is
        the oldest ready one.
        """
        execution = executions.get_execution(self.rt.repo, self._t(tenant), workflow_id)
        assert execution is not None, f"no execution {workflow_id}"
        now = self.rt.now_ms()
        assert execution.dispatch_at is not None and int(execution.dispatch_at) <= now, (
            f"{workflow_id} is not ready ({execution.status}, dispatchAt {execution.dispatch_at})"
        )
        candidate = Candidate(execution.pk, execution.sk, execution.status, execution.kind)
        claimed = workflows.claim(self.rt, candidate, lease_ms or workflows.DEFAULT_LEASE_MS, now)
        assert claimed is not None, f"{workflow_id} could not be claimed"
        return str(claimed.lease_id)

    def submit(
        self, workflow_id: str, lease_id: str, batch: list[dict[str, Any]], *, tenant: str | None = None
    ) -> dict[str, Any]:
        parsed = COMMANDS.validate_python(batch)
        return commands.submit_commands(self.rt, self._t(tenant), workflow_id, lease_id, parsed)

    def run(self, workflow_id: str, batch: list[dict[str, Any]], *, tenant: str | None = None) -> dict[str, Any]:
        """Claim the (ready) execution and submit one batch of commands."""
        lease = self.claim(workflow_id, tenant=tenant)
        return self.submit(workflow_id, lease, batch, tenant=tenant)

    def poll_task(
        self,
        queue: str = "default",
        *,
        kinds: list[str] | None = None,
        lease_ms: int | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any] | None:
        return tasks.poll_task(self.rt, self._t(tenant), queue=queue, kinds=kinds, lease_ms=lease_ms)

    def claim_task(self, task_id: str, *, lease_ms: int | None = None, tenant: str | None = None) -> str:
        """Claim this PENDING task, as a poll would, whatever else is pending; returns the lease id."""
        task = tasks.get_task_record(self.rt.repo, self._t(tenant), task_id)
        assert task is not None, f"no task {task_id}"
        now = self.rt.now_ms()
        assert task.status == "PENDING" and task.dispatch_at is not None and int(task.dispatch_at) <= now, (
            f"task {task_id} is not ready ({task.status})"
        )
        candidate = Candidate(task.pk, task.sk, task.status, task.kind, task.timeout_ms)
        claimed = tasks.claim_task(self.rt, candidate, lease_ms or tasks.DEFAULT_LEASE_MS, now)
        assert claimed is not None, f"task {task_id} could not be claimed"
        return str(claimed.lease_id)

    def heartbeat(self, task_id: str, lease_id: str, details: Any = None, *, tenant: str | None = None) -> Any:
        return tasks.heartbeat_task(self.rt, self._t(tenant), task_id, lease_id, details)

    def complete_task(self, task_id: str, lease_id: str, output: Any = None, *, tenant: str | None = None) -> Any:
        return tasks.complete_task(self.rt, self._t(tenant), task_id, lease_id, output)

    def fail_task(
        self, task_id: str, lease_id: str, error: Any = None, retryable: bool = True, *, tenant: str | None = None
    ) -> Any:
        return tasks.fail_task(self.rt, self._t(tenant), task_id, lease_id, error, retryable)

    # ------------------------------------------------------------------ platform

    def fire(self, workflow_id: str, timer_id: str, *, tenant: str | None = None) -> str:
        return timers.fire_timer(self.rt, self._t(tenant), workflow_id, timer_id)

    def sweep(self) -> dict[str, int]:
        return sweeper.sweep(self.rt, self.batch_queue)

    def outbox_keys(self) -> list[tuple[str, str]]:
        return [(item["pk"], item["sk"]) for item in self.items() if item["sk"].startswith("OUTBOX#")]

    def drain_outbox(self, deliveries: int = 2, max_rounds: int = 20) -> list[str]:
        """Carry out every pending outbox item, each delivered `deliveries` times, until none is left: first as the
        stream delivers it (with its NewImage), then as the sweeper re-drives it (keys only)."""
        outcomes: list[str] = []
        for _ in range(max_rounds):
            pending = self.outbox_keys()
            if not pending:
                return outcomes
            for pk, sk in pending:
                image = self.item(pk, sk)
                for delivery in range(deliveries):
                    outcomes.append(
                        outbox.process_outbox_item(self.rt, pk, sk, self.batch_queue, image if delivery == 0 else None)
                    )
        raise AssertionError(f"the outbox did not drain in {max_rounds} rounds: {self.outbox_keys()}")

    # ------------------------------------------------------------------ stored state

    def items(self) -> list[dict[str, Any]]:
        if self.memory is not None:
            return self.memory.items()
        return scan_items(self.dynamodb, self.settings.table_name)

    def partition(self, pk: str) -> list[dict[str, Any]]:
        """Every stored item of one partition (a Query on DynamoDB)."""
        if self.memory is not None:
            return self.memory.partition(pk)
        return query_items(self.dynamodb, self.settings.table_name, pk)

    def item(self, pk: str, sk: str) -> dict[str, Any] | None:
        for item in self.items():
            if item["pk"] == pk and item["sk"] == sk:
                return item
        return None

    def execution_item(self, workflow_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        item = self.item(f"T#{self._t(tenant)}#WF#{workflow_id}", "WF")
        assert item is not None, f"no execution {workflow_id}"
        return item

    def item_of(self, workflow_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        """The stored execution item, read by key (no Scan)."""
        pk = f"T#{self._t(tenant)}#WF#{workflow_id}"
        found = [item for item in self.partition(pk) if item["sk"] == "WF"]
        assert found, f"no execution {workflow_id}"
        return found[0]

    def task_item_of(self, task_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        """The stored task item, read by key (no Scan)."""
        found = self.partition(f"T#{self._t(tenant)}#TASK#{task_id}")
        assert found, f"no task {task_id}"
        return found[0]

    def task_item(self, task_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        item = self.item(f"T#{self._t(tenant)}#TASK#{task_id}", "TASK")
        assert item is not None, f"no task {task_id}"
        return item

    def workflow_ids(self, *, tenant: str | None = None) -> list[str]:
        prefix = f"T#{self._t(tenant)}#WF#"
        return [
            item["workflowExecutionId"] for item in self.items() if item["sk"] == "WF" and item["pk"].startswith(prefix)
        ]

    def histories(self, *, tenant: str | None = None) -> dict[str, list[dict[str, Any]]]:
        return {wid: self.history(wid, tenant=tenant) for wid in self.workflow_ids(tenant=tenant)}

    def family(self, root: str, *, tenant: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """The histories of `root` and of all its descendants."""
        histories: dict[str, list[dict[str, Any]]] = {}
        pending = [root]
        while pending:
            wid = pending.pop()
            histories[wid] = self.history(wid, tenant=tenant)
            pending += [
                e["data"]["childWorkflowExecutionId"] for e in histories[wid] if e["type"] == "CHILD_WORKFLOW_INITIATED"
            ]
        return histories

    def check_families(self, *roots: str, settled: bool = True, tenant: str | None = None) -> None:
        """I1-I4 over the families of `roots` against their stored items (read by Query, for large tables)."""
        histories: dict[str, list[dict[str, Any]]] = {}
        for root in roots:
            histories.update(self.family(root, tenant=tenant))
        stored = self.stored_items_of(self._t(tenant), histories)
        check_invariants(histories, stored_items=stored, tenant=self._t(tenant), settled=settled)

    def stored_items_of(self, tenant: str, histories: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The stored items of these executions and of the tasks they scheduled (Queries, no Scan)."""
        return [item for pk in partitions_of(tenant, histories) for item in self.partition(pk)]

    def check(self, *, settled: bool = True, tenant: str | None = None) -> None:
        """I1-I4 over every history of the tenant and the stored items."""
        check_invariants(
            self.histories(tenant=tenant), stored_items=self.items(), tenant=self._t(tenant), settled=settled
        )
