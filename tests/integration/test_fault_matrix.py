"""The fault matrix: every handler that writes, every AWS call k it makes, every fault kind at that call.

For each scenario (one handler and the state it acts on), a clean reference run records the AWS calls the handler
makes. Then for every call k and every fault kind that call can meet (tests/support/fault_matrix.py), a case builds
the same state, makes the k-th call fail during one invocation, and retries as the caller would: the HTTP client
repeats a request that got a 5xx (with the same Idempotency-Key and lease), the stream mapping redelivers a record
whose batch failed, Scheduler re-invokes fire-timer, the sweeper's schedule runs it again. Then every case must end in
exactly the reference's state (histories, statuses of executions, tasks, timers and child links, timer schedules):
nothing lost, nothing doubled. The client must only ever see the success, a 5xx, or a 4xx that api.md gives for a
repeated request; every error body has api.md's shape. Finally I1-I4 hold over every history and item of the tenant.

The stack's event sources are replaced by `AsyncSources` for the module, so each stream record, due schedule and
sweep is delivered by the test (with or without a fault) rather than by a background thread.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from stratoflow.services import runtime
from stratoflow.timers import schedule_name
from stratoflow.tokens import put_token
from stratoflow_local.runtime import FunctionError
from stratoflow_local.stack import LocalStack

from tests.support.domain import scan_items
from tests.support.fault_matrix import (
    CONDITION,
    FAULT_KINDS,
    NETWORK,
    THROTTLE,
    TIMEOUT_AFTER,
    AsyncSources,
    Call,
    FaultInjector,
    FaultPlan,
    ScheduleWork,
    StreamWork,
    Work,
    applicable,
    async_sources,
    fast_sdk_retries,
    fault_injector,
    record_figures,
)
from tests.support.invariants import check_invariants

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
TENANT = "faults"
TOKEN = "tok-faults-matrix"
LONG_LEASE_MS = 300_000
SHORT_LEASE_MS = 1_000
HOUR_MS = 3_600_000
OUTBOX = "OutboxDispatcherFunction"
PROPAGATE = "PropagateChildCancelFunction"

# ---------------------------------------------------------------- the world


class Http:
    """API Gateway in process (the front door's own code path minus the socket), as one tenant's client."""

    def __init__(self, stack: LocalStack, token: str) -> None:
        self.stack = stack
        self.token = token

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        assert self.stack.gateway is not None
        all_headers = [("Authorization", f"Bearer {self.token}"), ("Content-Type", "application/json")]
        all_headers += list((headers or {}).items())
        raw = None if body is None else json.dumps(body).encode()
        result = self.stack.gateway.handle(method, path, all_headers, raw)
        payload = json.loads(result.body) if result.body else None
        if result.status >= 400:
            assert_error_shape(result.status, payload)
        return result.status, payload

    def ok(self, method: str, path: str, body: Any = None, expect: int = 200, **kwargs: Any) -> Any:
        status, payload = self.call(method, path, body, **kwargs)
        assert status == expect, (method, path, status, payload)
        return payload


ERROR_CODES = {
    400: {"INVALID_ARGUMENT"},
    404: {"NOT_FOUND"},
    409: {"FAILED_PRECONDITION", "LEASE_LOST", "CONFLICT"},
    413: {"PAYLOAD_TOO_LARGE"},
    502: {"INTERNAL"},
    503: {"UNAVAILABLE"},
}


def assert_error_shape(status: int, payload: Any) -> None:
    assert isinstance(payload, dict) and set(payload) == {"error"}, (status, payload)
    error = payload["error"]
    assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), (status, payload)
    assert error["code"] in ERROR_CODES.get(status, set()), (status, payload)


@dataclass
class Case:
    scenario: str
    index: int
    kind: str | None
    k: int
    ids: dict[str, str] = field(default_factory=dict)
    held: list[Work] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)
    deliveries: list[list[str]] = field(default_factory=list)
    plan: FaultPlan | None = None
    lease: str | None = None

    def __post_init__(self) -> None:
        self.ids["cid"] = self.cid

    @property
    def cid(self) -> str:
        return f"{self.scenario}-{self.index:03d}"

    def tag(self, name: str) -> str:
        """A worker- or caller-chosen id (or kind, queue, key) of this case; normalized away in signatures."""
        value = f"{self.cid}.{name}"
        self.ids.setdefault(name, value)
        return value

    @property
    def queue(self) -> str:
        return self.tag("q")

    @property
    def kind_name(self) -> str:
        return self.tag("k")

    def wf_pk(self, role: str = "W") -> str:
        return f"T#{TENANT}#WF#{self.ids[role]}"

    def __str__(self) -> str:
        return f"{self.cid} ({self.plan or 'no fault'})"


class World:
    def __init__(self, stack: LocalStack, sources: AsyncSources, injector: FaultInjector) -> None:
        self.stack = stack
        self.sources = sources
        self.injector = injector
        self.http = Http(stack, TOKEN)
        self.holding: Callable[[Work], bool] | None = None
        self.held: list[Work] = []

    def drain(self) -> None:
        """Deliver what the event sources recorded, except the work cases hold back for their faulted delivery."""
        self.held += self.sources.drain(hold=self.holding)

    # ------------------------------------------------------------ clean steps of a case's setup and finish

    def start(self, case: Case, role: str = "W") -> str:
        body = {"kind": case.kind_name, "queue": case.queue, "input": {"case": case.cid}}
        wid = str(self.http.ok("POST", "/v1/workflows", body, 201)["workflowExecutionId"])
        case.ids[role] = wid
        return wid

    def poll(self, case: Case, lease_ms: int = LONG_LEASE_MS) -> tuple[int, Any]:
        body = {"queue": case.queue, "workerId": "w-faults", "kinds": [case.kind_name], "leaseMs": lease_ms}
        return self.http.call("POST", "/v1/worker/workflows/poll", body)

    def claim(self, case: Case, role: str = "W", timeout: float = 10.0) -> str:
        """Poll until the case's execution `role` is handed out; returns the lease."""
        deadline = time.monotonic() + timeout
        while True:
            status, claimed = self.poll(case)
            if status == 200:
                assert claimed["workflowExecution"]["workflowExecutionId"] == case.ids[role], claimed
                return str(claimed["leaseId"])
            assert status == 204, (status, claimed)
            assert time.monotonic() < deadline, f"{case}: {role} never became ready"
            time.sleep(0.05)

    def submit(self, case: Case, commands: list[dict[str, Any]], role: str = "W", lease: str | None = None) -> Any:
        lease = lease or self.claim(case, role)
        body = {"leaseId": lease, "commands": commands}
        return self.http.ok("POST", f"/v1/worker/workflows/{case.ids[role]}/commands", body)

    def poll_task(self, case: Case, lease_ms: int = LONG_LEASE_MS) -> tuple[int, Any]:
        body = {"queue": case.tag("tq"), "workerId": "w-faults", "leaseMs": lease_ms}
        return self.http.call("POST", "/v1/worker/tasks/poll", body)

    def claim_task(self, case: Case, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status, claimed = self.poll_task(case)
            if status == 200:
                assert claimed["task"]["taskExecutionId"] == case.ids["t1"], claimed
                return str(claimed["leaseId"])
            assert status == 204, (status, claimed)
            assert time.monotonic() < deadline, f"{case}: the task was never handed out"
            time.sleep(0.05)

    def schedule_task(self, case: Case, max_retries: int = 0, **extra: Any) -> dict[str, Any]:
        return {
            "type": "SCHEDULE_TASK",
            "taskExecutionId": case.tag("t1"),
            "kind": case.tag("tk"),
            "queue": case.tag("tq"),
            "input": {"case": case.cid},
            "maxRetries": max_retries,
            **extra,
        }

    # ------------------------------------------------------------ faulted steps

    def request(
        self,
        case: Case,
        function: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        done: Callable[[int, Any], bool],
        retry_safe: Callable[[int, Any], bool] = lambda status, payload: False,
        attempts: int = 4,
    ) -> tuple[int, Any]:
        """Send a request whose function runs under the case's fault; repeat it as an HTTP client would.

        `done` says the answer is the operation's success; a 5xx is repeated; `retry_safe` says which 4xx a repeated
        request may get (the first attempt had taken effect). Anything else fails the case.
        """
        case.plan = self.injector.arm(function, FaultPlan(case.kind, case.k))
        try:
            for attempt in range(attempts):
                status, payload = self.http.call(method, path, body, headers=headers)
                case.answers.append((status, payload))
                if done(status, payload) or (attempt > 0 and retry_safe(status, payload)):
                    return status, payload
                assert status >= 500, f"{case}: {method} {path} answered {status} {payload}"
                assert case.plan.injected is not None, f"{case}: {status} without a fault"
            raise AssertionError(f"{case}: still failing after {attempts} attempts: {case.answers}")
        finally:
            self.injector.disarm(function)

    def deliver_held(self, case: Case) -> None:
        """Deliver the case's held stream record or schedule under its fault, retried as its source would."""
        assert len(case.held) == 1, f"{case}: held {case.held}"
        work = case.held.pop()
        case.plan = self.injector.arm(work.function, FaultPlan(case.kind, case.k))
        try:
            delivery = self.sources.deliver(work)
        finally:
            self.injector.disarm(work.function)
        case.deliveries.append(delivery.outcomes)
        assert delivery.delivered, f"{case}: not delivered after retries: {delivery.outcomes}"
        if delivery.outcomes != ["ok"]:
            assert case.plan.injected is not None, f"{case}: failed without a fault: {delivery.outcomes}"

    def sweep_under_fault(self, case: Case) -> None:
        case.plan = self.injector.arm("SweeperFunction", FaultPlan(case.kind, case.k))
        outcomes: list[str] = []
        try:
            for _ in range(4):
                try:
                    self.sources.sweep()
                except Exception:
                    outcomes.append("error")
                    continue
                outcomes.append("ok")
                break
        finally:
            self.injector.disarm("SweeperFunction")
        case.deliveries.append(outcomes)
        assert outcomes[-1] == "ok", f"{case}: {outcomes}"


# ---------------------------------------------------------------- what a case ends with


@dataclass
class Snapshot:
    items: list[dict[str, Any]]
    schedules: set[str]
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for item in self.items:
            pk, sk = item["pk"], item["sk"]
            self.by_key[(pk, sk)] = item
            if sk == "WF":
                self.executions[item["workflowExecutionId"]] = item
            elif sk.startswith("EV#"):
                wid = pk.split("#WF#", 1)[1]
                event = {"sequence": int(item["seq"]), "type": item["type"], "data": json.loads(item["data"])}
                self.histories[wid].append(event)
            elif sk == "TASK":
                self.tasks[item["taskExecutionId"]] = item
        for events in self.histories.values():
            events.sort(key=lambda event: event["sequence"])

    def workflow(self, wid: str) -> dict[str, Any]:
        events = [
            [event["type"], {key: value for key, value in event["data"].items() if key != "fireAt"}]
            for event in self.histories.get(wid, [])
        ]
        execution = self.executions.get(wid) or {}
        outbox = sorted(sk for (pk, sk) in self.by_key if pk == f"T#{TENANT}#WF#{wid}" and sk.startswith("OUTBOX#"))
        return {"status": execution.get("status"), "events": events, "outbox": outbox}

    def status(self, pk: str, sk: str, *fields: str) -> list[Any]:
        item = self.by_key.get((pk, sk)) or {}
        return [item.get(name) for name in ("status", *fields)]

    def schedule(self, case: Case, timer: str, role: str = "W") -> bool:
        return schedule_name(TENANT, case.ids[role], case.ids[timer]) in self.schedules


def snapshot(stack: LocalStack) -> Snapshot:
    items = [item for item in scan_items(stack.client("dynamodb"), os.environ["TABLE_NAME"])]
    items = [item for item in items if str(item["pk"]).startswith(f"T#{TENANT}#")]
    scheduler = stack.client("scheduler")
    names: set[str] = set()
    kwargs: dict[str, Any] = {"GroupName": os.environ["TIMER_SCHEDULE_GROUP"], "MaxResults": 100}
    while True:
        page = scheduler.list_schedules(**kwargs)
        names.update(schedule["Name"] for schedule in page["Schedules"])
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return Snapshot(items, names)


def normalized(case: Case, signature: Any) -> str:
    text = json.dumps(signature, sort_keys=True, default=str)
    for role, value in sorted(case.ids.items(), key=lambda pair: -len(pair[1])):
        text = text.replace(value, f"<{role}>")
    return text


# ---------------------------------------------------------------- scenarios


def created(status: int, payload: Any) -> bool:
    return status == 201


def ok(status: int, payload: Any) -> bool:
    return status == 200


def precondition(current: str) -> Callable[[int, Any], bool]:
    def check(status: int, payload: Any) -> bool:
        error = (payload or {}).get("error") or {}
        return status == 409 and error.get("code") == "FAILED_PRECONDITION" and error.get("currentStatus") == current

    return check


def lease_lost(status: int, payload: Any) -> bool:
    return status == 409 and ((payload or {}).get("error") or {}).get("code") == "LEASE_LOST"


class Scenario:
    name: ClassVar[str]
    function: ClassVar[str]

    def setup(self, world: World, case: Case) -> None:
        """Build the state the handler acts on (clean), through the API."""

    def setup_after_drain(self, world: World, case: Case) -> None:
        """A second step of the setup, once what the first one caused has been delivered."""

    def before_acts(self, world: World) -> None:
        """Run once before the cases act."""

    def hold(self, case: Case, work: Work) -> bool:
        """Whether `work` is the record or schedule this case delivers itself, under its fault."""
        return False

    def act(self, world: World, case: Case) -> None:
        raise NotImplementedError

    def finish(self, world: World, case: Case) -> None:
        """Carry the case on to the common end state (clean)."""

    def signature(self, snap: Snapshot, case: Case) -> Any:
        return {"W": snap.workflow(case.ids["W"])}


def outbox_record(case: Case, function: str, prefix: str, role: str = "W") -> Callable[[Work], bool]:
    def match(work: Work) -> bool:
        return (
            isinstance(work, StreamWork)
            and work.function == function
            and work.event_name == "INSERT"
            and work.keys[0] == case.wf_pk(role)
            and work.keys[1].startswith(prefix)
        )

    return match


class StartWorkflow(Scenario):
    name, function = "start", "CallerApiFunction"

    def act(self, world: World, case: Case) -> None:
        body = {"kind": case.kind_name, "queue": case.queue, "input": {"case": case.cid}}
        _, payload = world.request(
            case,
            self.function,
            "POST",
            "/v1/workflows",
            body,
            headers={"Idempotency-Key": case.tag("key")},
            done=created,
        )
        case.ids["W"] = payload["workflowExecutionId"]

    def signature(self, snap: Snapshot, case: Case) -> Any:
        mine = sorted(wid for wid, item in snap.executions.items() if item["kind"] == case.kind_name)
        return {"executions": mine, "W": snap.workflow(case.ids["W"])}


class CreateTask(Scenario):
    name, function = "create-task", "CallerApiFunction"

    def act(self, world: World, case: Case) -> None:
        body = {"kind": case.kind_name, "queue": case.queue, "input": {"case": case.cid}, "maxRetries": 1}
        _, payload = world.request(
            case, self.function, "POST", "/v1/tasks", body, headers={"Idempotency-Key": case.tag("key")}, done=created
        )
        case.ids["T"] = payload["taskExecutionId"]

    def signature(self, snap: Snapshot, case: Case) -> Any:
        mine = sorted(tid for tid, item in snap.tasks.items() if item["kind"] == case.kind_name)
        return {"tasks": mine, "T": snap.status(f"T#{TENANT}#TASK#{case.ids['T']}", "TASK", "attempt")}


class CancelWorkflow(Scenario):
    name, function = "cancel-workflow", "CallerApiFunction"

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        child = {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "c1",
            "childWorkflowExecutionId": case.tag("c1"),
            "workflowKind": case.tag("ck"),
            "queue": case.tag("cq"),
        }
        world.submit(case, [child])

    def act(self, world: World, case: Case) -> None:
        path = f"/v1/workflows/{case.ids['W']}/cancel"
        world.request(
            case, self.function, "POST", path, {"reason": "stop", "cascade": True}, done=lambda s, p: s == 202
        )

    def signature(self, snap: Snapshot, case: Case) -> Any:
        return {"W": snap.workflow(case.ids["W"]), "c1": snap.workflow(case.ids["c1"])}


class CancelTask(Scenario):
    name, function = "cancel-task", "CancelTaskFunction"

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(case, [world.schedule_task(case)])

    def act(self, world: World, case: Case) -> None:
        path = f"/v1/tasks/{case.ids['t1']}/cancel"
        world.request(
            case, self.function, "POST", path, {"reason": "no"}, done=ok, retry_safe=precondition("CANCELLED")
        )

    def signature(self, snap: Snapshot, case: Case) -> Any:
        task = snap.status(f"T#{TENANT}#TASK#{case.ids['t1']}", "TASK", "cancelReason")
        return {"W": snap.workflow(case.ids["W"]), "t1": task}


class PollWorkflow(Scenario):
    """A claim whose answer is lost leaves the execution leased by nobody: it is ready again when the lease ends."""

    name, function = "poll-workflow", "WorkerApiFunction"

    def setup(self, world: World, case: Case) -> None:
        world.start(case)

    def act(self, world: World, case: Case) -> None:
        body = {"queue": case.queue, "workerId": "w-faults", "kinds": [case.kind_name], "leaseMs": SHORT_LEASE_MS}
        status, payload = world.request(
            case, self.function, "POST", "/v1/worker/workflows/poll", body, done=lambda s, p: s in (200, 204)
        )
        if status == 200:
            assert payload["workflowExecution"]["workflowExecutionId"] == case.ids["W"], payload
            assert [event["type"] for event in payload["events"]] == ["WORKFLOW_STARTED"], payload
            case.lease = payload["leaseId"]

    def finish(self, world: World, case: Case) -> None:
        complete = [{"type": "COMPLETE_WORKFLOW", "output": {"done": True}}]
        path = f"/v1/worker/workflows/{case.ids['W']}/commands"
        if case.lease is not None:
            status, payload = world.http.call("POST", path, {"leaseId": case.lease, "commands": complete})
            if status == 200:
                return
            assert lease_lost(status, payload), (status, payload)  # the short lease ran out meanwhile
        lease = world.claim(case, timeout=5 * SHORT_LEASE_MS / 1000)
        world.http.ok("POST", path, {"leaseId": lease, "commands": complete})


class SubmitCommands(Scenario):
    """A mix of every command kind that writes elsewhere: tasks, timers, children, and cancels of each."""

    name, function = "submit-commands", "SubmitWorkflowCommandsFunction"

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        first = [
            {**world.schedule_task(case), "taskExecutionId": case.tag("t0")},
            {"type": "START_TIMER", "timerId": case.tag("tm0"), "durationMs": HOUR_MS},
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c0",
                "childWorkflowExecutionId": case.tag("c0"),
                "workflowKind": case.tag("ck"),
                "queue": case.tag("cq"),
            },
            {"type": "START_TIMER", "timerId": case.tag("wake"), "durationMs": 1},
        ]
        world.submit(case, first)

    def act(self, world: World, case: Case) -> None:
        lease = world.claim(case)
        commands = [
            world.schedule_task(case),
            {"type": "START_TIMER", "timerId": case.tag("tm1"), "durationMs": HOUR_MS},
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c1",
                "childWorkflowExecutionId": case.tag("c1"),
                "workflowKind": case.tag("ck"),
                "queue": case.tag("cq"),
                "input": {"n": 1},
            },
            {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": case.ids["t0"], "reason": "mix"},
            {"type": "CANCEL_TIMER", "timerId": case.ids["tm0"]},
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": "c0",
                "childWorkflowExecutionId": case.ids["c0"],
                "reason": "mix",
            },
            {"type": "RECORD_OPERATION", "operationName": "op", "result": [1, 2]},
            {"type": "SET_STATE", "key": "k", "value": {"v": True}},
        ]
        path = f"/v1/worker/workflows/{case.ids['W']}/commands"
        world.request(
            case, self.function, "POST", path, {"leaseId": lease, "commands": commands}, done=ok, retry_safe=lease_lost
        )

    def signature(self, snap: Snapshot, case: Case) -> Any:
        pk = case.wf_pk()
        return {
            "W": snap.workflow(case.ids["W"]),
            "c0": snap.workflow(case.ids["c0"]),
            "c1": snap.workflow(case.ids["c1"]),
            "tasks": [snap.status(f"T#{TENANT}#TASK#{case.ids[t]}", "TASK") for t in ("t0", "t1")],
            "timers": [snap.status(pk, f"TIMER#{case.ids[t]}") for t in ("tm0", "tm1", "wake")],
            "links": [snap.status(pk, f"CHILD#{name}", "cancelState") for name in ("c0", "c1")],
            "schedules": [snap.schedule(case, t) for t in ("tm0", "tm1", "wake")],
        }


class TaskScenario(Scenario):
    """A workflow's task, claimed by a worker (except for the poll itself)."""

    max_retries = 0

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(case, [world.schedule_task(case, self.max_retries)])

    def signature(self, snap: Snapshot, case: Case) -> Any:
        task = snap.status(f"T#{TENANT}#TASK#{case.ids['t1']}", "TASK", "output", "error")
        return {"W": snap.workflow(case.ids["W"]), "t1": task}


class PollTask(TaskScenario):
    """A claim whose answer is lost: the attempt's lease expires, the sweeper puts the task back, it is claimed."""

    name, function = "poll-task", "WorkerApiFunction"
    max_retries = 1

    def act(self, world: World, case: Case) -> None:
        body = {"queue": case.tag("tq"), "workerId": "w-faults", "leaseMs": SHORT_LEASE_MS}
        status, payload = world.request(
            case, self.function, "POST", "/v1/worker/tasks/poll", body, done=lambda s, p: s in (200, 204)
        )
        if status == 200:
            assert payload["task"]["taskExecutionId"] == case.ids["t1"], payload
            case.lease = payload["leaseId"]

    def finish(self, world: World, case: Case) -> None:
        path = f"/v1/worker/tasks/{case.ids['t1']}/complete"
        if case.lease is not None:
            status, payload = world.http.call("POST", path, {"leaseId": case.lease, "output": {"done": True}})
            if status == 200:
                return
            assert lease_lost(status, payload), (status, payload)  # the short lease ran out meanwhile
        lease = None
        deadline = time.monotonic() + 10
        while lease is None:
            world.sources.sweep()  # an expired lease counts as a failed attempt: back to PENDING (one retry left)
            status, claimed = world.poll_task(case)
            if status == 200:
                lease = claimed["leaseId"]
                break
            assert time.monotonic() < deadline, f"{case}: the task never came back"
            time.sleep(0.1)
        world.http.ok("POST", path, {"leaseId": lease, "output": {"done": True}})

    def signature(self, snap: Snapshot, case: Case) -> Any:
        task = snap.status(f"T#{TENANT}#TASK#{case.ids['t1']}", "TASK", "output")
        return {"W": snap.workflow(case.ids["W"]), "t1": task}


class Heartbeat(TaskScenario):
    name, function = "heartbeat", "WorkerApiFunction"

    def setup(self, world: World, case: Case) -> None:
        super().setup(world, case)
        case.lease = world.claim_task(case)

    def act(self, world: World, case: Case) -> None:
        path = f"/v1/worker/tasks/{case.ids['t1']}/heartbeat"
        _, payload = world.request(case, self.function, "POST", path, {"leaseId": case.lease}, done=ok)
        assert payload["cancelRequested"] is False, payload

    def finish(self, world: World, case: Case) -> None:
        path = f"/v1/worker/tasks/{case.ids['t1']}/complete"
        world.http.ok("POST", path, {"leaseId": case.lease, "output": {"done": True}})


class CompleteTask(Heartbeat):
    name, function = "complete-task", "WorkerApiFunction"

    def act(self, world: World, case: Case) -> None:
        path = f"/v1/worker/tasks/{case.ids['t1']}/complete"
        body = {"leaseId": case.lease, "output": {"done": True}}
        world.request(case, self.function, "POST", path, body, done=ok, retry_safe=precondition("COMPLETED"))

    def finish(self, world: World, case: Case) -> None:
        pass


class FailTask(Heartbeat):
    name, function = "fail-task", "WorkerApiFunction"

    def act(self, world: World, case: Case) -> None:
        path = f"/v1/worker/tasks/{case.ids['t1']}/fail"
        body = {"leaseId": case.lease, "error": {"why": "boom"}, "retryable": True}
        _, payload = world.request(case, self.function, "POST", path, body, done=ok, retry_safe=precondition("FAILED"))
        if payload.get("status") is not None:
            assert payload == {"status": "FAILED"}, payload

    def finish(self, world: World, case: Case) -> None:
        pass


class HeldScenario(Scenario):
    """The handler is a stream consumer or the scheduler's target: its record (or schedule) is held back by the
    setup's drain and delivered by the case under its fault."""

    def act(self, world: World, case: Case) -> None:
        world.deliver_held(case)


class PropagateDelivered(HeldScenario):
    name, function = "propagate-delivered", PROPAGATE

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        child = {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "c0",
            "childWorkflowExecutionId": case.tag("c0"),
            "workflowKind": case.tag("ck"),
            "queue": case.tag("cq"),
        }
        ask = {
            "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
            "childExecutionName": "c0",
            "childWorkflowExecutionId": case.ids["c0"],
            "reason": "please",
        }
        world.submit(case, [child, ask])

    def hold(self, case: Case, work: Work) -> bool:
        return outbox_record(case, PROPAGATE, "OUTBOX#CHILD_CANCEL#")(work)

    def signature(self, snap: Snapshot, case: Case) -> Any:
        link = snap.status(case.wf_pk(), "CHILD#c0", "cancelState")
        return {"W": snap.workflow(case.ids["W"]), "c0": snap.workflow(case.ids["c0"]), "link": link}


class PropagateFailed(HeldScenario):
    name, function = "propagate-failed", PROPAGATE

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        ask = {
            "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
            "childExecutionName": "nobody",
            "childWorkflowExecutionId": case.tag("ghost"),
            "reason": "please",
        }
        world.submit(case, [ask])

    def hold(self, case: Case, work: Work) -> bool:
        return outbox_record(case, PROPAGATE, "OUTBOX#CHILD_CANCEL#")(work)


class TimerScheduled(HeldScenario):
    name, function = "outbox-timer-started", OUTBOX

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(case, [{"type": "START_TIMER", "timerId": case.tag("tm"), "durationMs": HOUR_MS}])

    def hold(self, case: Case, work: Work) -> bool:
        return outbox_record(case, OUTBOX, "TIMER#")(work)

    def signature(self, snap: Snapshot, case: Case) -> Any:
        timer = snap.status(case.wf_pk(), f"TIMER#{case.ids['tm']}")
        return {"W": snap.workflow(case.ids["W"]), "tm": timer, "schedule": snap.schedule(case, "tm")}


class TimerUnscheduled(HeldScenario):
    name, function = "outbox-timer-cancelled", OUTBOX

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(
            case,
            [
                {"type": "START_TIMER", "timerId": case.tag("tm"), "durationMs": HOUR_MS},
                {"type": "START_TIMER", "timerId": case.tag("wake"), "durationMs": 1},
            ],
        )

    def setup_after_drain(self, world: World, case: Case) -> None:
        # the schedules were created; `wake` fired and the workflow is ready again
        world.submit(case, [{"type": "CANCEL_TIMER", "timerId": case.ids["tm"]}])

    def hold(self, case: Case, work: Work) -> bool:
        return (
            isinstance(work, StreamWork)
            and work.function == OUTBOX
            and work.event_name == "MODIFY"
            and work.keys == (case.wf_pk(), f"TIMER#{case.ids['tm']}")
        )

    def signature(self, snap: Snapshot, case: Case) -> Any:
        timers = [snap.status(case.wf_pk(), f"TIMER#{case.ids[t]}") for t in ("tm", "wake")]
        return {"W": snap.workflow(case.ids["W"]), "timers": timers, "schedule": snap.schedule(case, "tm")}


class Cascade(HeldScenario):
    name, function = "outbox-cascade", OUTBOX

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        children = [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": name,
                "childWorkflowExecutionId": case.tag(name),
                "workflowKind": case.tag("ck"),
                "queue": case.tag("cq"),
            }
            for name in ("c1", "c2")
        ]
        world.submit(case, children)
        world.http.ok("POST", f"/v1/workflows/{case.ids['W']}/cancel", {"reason": "all", "cascade": True}, 202)

    def hold(self, case: Case, work: Work) -> bool:
        return outbox_record(case, OUTBOX, "OUTBOX#CASCADE#")(work)

    def signature(self, snap: Snapshot, case: Case) -> Any:
        return {role: snap.workflow(case.ids[role]) for role in ("W", "c1", "c2")}


class ParentClose(HeldScenario):
    """A workflow completes with a task, a timer and a child still open, in the submission that started them."""

    name, function = "outbox-parent-close", OUTBOX

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(
            case,
            [
                world.schedule_task(case),
                {"type": "START_TIMER", "timerId": case.tag("tm"), "durationMs": HOUR_MS},
                {
                    "type": "SCHEDULE_CHILD_WORKFLOW",
                    "childExecutionName": "c1",
                    "childWorkflowExecutionId": case.tag("c1"),
                    "workflowKind": case.tag("ck"),
                    "queue": case.tag("cq"),
                },
                {"type": "COMPLETE_WORKFLOW", "output": {"done": True}},
            ],
        )

    def hold(self, case: Case, work: Work) -> bool:
        return outbox_record(case, OUTBOX, "OUTBOX#CLOSE#")(work)

    def signature(self, snap: Snapshot, case: Case) -> Any:
        pk = case.wf_pk()
        return {
            "W": snap.workflow(case.ids["W"]),
            "c1": snap.workflow(case.ids["c1"]),
            "t1": snap.status(f"T#{TENANT}#TASK#{case.ids['t1']}", "TASK", "cancelReason"),
            "timer": snap.status(pk, f"TIMER#{case.ids['tm']}"),
            "link": snap.status(pk, "CHILD#c1", "cancelState"),
            "schedule": snap.schedule(case, "tm"),
        }


class FireTimer(HeldScenario):
    name, function = "fire-timer", "FireTimerFunction"

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(case, [{"type": "START_TIMER", "timerId": case.tag("tm"), "durationMs": 1}])

    def hold(self, case: Case, work: Work) -> bool:
        return (
            isinstance(work, ScheduleWork)
            and work.payload.get("workflowExecutionId") == case.ids["W"]
            and work.payload.get("timerId") == case.ids["tm"]
        )

    def signature(self, snap: Snapshot, case: Case) -> Any:
        timer = snap.status(case.wf_pk(), f"TIMER#{case.ids['tm']}")
        return {"W": snap.workflow(case.ids["W"]), "tm": timer, "schedule": snap.schedule(case, "tm")}


class Sweeper(TaskScenario):
    """An attempt that outlived its timeoutMs (1 ms): the sweeper fails it (no retries left: TASK_FAILED).

    Each case claims its task just before its sweep, so that the sweep finds that one task due and no other.
    """

    name, function = "sweeper", "SweeperFunction"

    def setup(self, world: World, case: Case) -> None:
        world.start(case)
        world.submit(case, [world.schedule_task(case, 0, timeoutMs=1)])

    def before_acts(self, world: World) -> None:
        world.sources.sweep()  # whatever else is due now

    def act(self, world: World, case: Case) -> None:
        world.claim_task(case)
        world.sweep_under_fault(case)


SCENARIOS: list[Scenario] = [
    StartWorkflow(),
    CancelWorkflow(),
    CreateTask(),
    CancelTask(),
    PollWorkflow(),
    SubmitCommands(),
    PollTask(),
    Heartbeat(),
    CompleteTask(),
    FailTask(),
    PropagateDelivered(),
    PropagateFailed(),
    TimerScheduled(),
    TimerUnscheduled(),
    Cascade(),
    ParentClose(),
    FireTimer(),
    Sweeper(),
]


# ---------------------------------------------------------------- running a scenario


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Timers on Scheduler's path (no last mile): the fire-timer scenario holds and replays schedule invocations.
    # Every API invocation looks its token up (no per-container cache), so that its k-th call is the same in every
    # container, warm or cold.
    environment = {
        **fast_sdk_retries(tmp_path_factory.mktemp("sdk")),
        "TIMER_LAST_MILE_S": "0",
        "TOKEN_CACHE_SECONDS": "0",
    }
    with LocalStack(template_path=TEMPLATE, tokens=[], environment=environment) as stack:
        put_token(runtime(), TENANT, TOKEN, frozenset({"client", "worker"}))
        with async_sources(stack) as sources, fault_injector(stack) as injector:
            yield World(stack, sources, injector)


def holder(scenario: Scenario, cases: list[Case], work: Work) -> list[Case]:
    owners = []
    for case in cases:
        try:
            if scenario.hold(case, work):
                owners.append(case)
        except KeyError:  # the case has not created what this hold looks for yet
            continue
    return owners


def run_setups(world: World, scenario: Scenario, cases: list[Case]) -> None:
    world.holding = lambda work: bool(holder(scenario, cases, work))
    world.held = []
    try:
        for step in (scenario.setup, scenario.setup_after_drain):
            for case in cases:
                step(world, case)
            world.drain()
    finally:
        world.holding = None
    for work in world.held:
        owners = holder(scenario, cases, work)
        assert len(owners) == 1, (work, owners)
        owners[0].held.append(work)


def run_cases(world: World, scenario: Scenario, cases: list[Case]) -> None:
    run_setups(world, scenario, cases)
    scenario.before_acts(world)
    for case in cases:
        scenario.act(world, case)
    world.drain()
    for case in cases:
        scenario.finish(world, case)
    world.drain()


WRITES = {"TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "CreateSchedule", "DeleteSchedule"}


def select_cases(scenario: Scenario, calls: list[Call], full: bool) -> list[Case]:
    """Every (k, kind) in the full profile. The fast one covers every k and every kind: all kinds at the last call
    (the handler's commit, or its last step), the lost answer (and the concurrent writer) at every other write, and
    the failures before a call (network, throttling, in turn) at every read."""
    chosen: list[tuple[int, str]] = []
    reads = 0
    for k, call in enumerate(calls, start=1):
        if full or k == len(calls):
            kinds = list(FAULT_KINDS)
        elif call.operation in WRITES:
            kinds = [TIMEOUT_AFTER, CONDITION]
        else:
            kinds = [(NETWORK, THROTTLE)[reads % 2]]
            reads += 1
        chosen += [(k, kind) for kind in kinds if applicable(kind, call)]
    return [Case(scenario.name, len(calls) * FAULT_KINDS.index(kind) + k, kind, k) for k, kind in chosen]


PROFILES = [pytest.param(scenario, False, id=f"{scenario.name}-covering") for scenario in SCENARIOS] + [
    pytest.param(scenario, True, id=f"{scenario.name}-full", marks=[pytest.mark.slow, pytest.mark.timeout(900)])
    for scenario in SCENARIOS
]


@pytest.mark.parametrize(("scenario", "full"), PROFILES)
def test_every_fault_at_every_call_ends_as_without_faults(world: World, scenario: Scenario, full: bool) -> None:
    started = time.monotonic()
    reference = Case(scenario.name, 0, None, 0)
    run_cases(world, scenario, [reference])
    assert reference.plan is not None and reference.plan.calls, f"{scenario.name}: the handler made no AWS call"
    assert reference.plan.injected is None
    calls = list(reference.plan.calls)
    cases = select_cases(scenario, calls, full)
    run_cases(world, scenario, cases)

    snap = snapshot(world.stack)
    expected = normalized(reference, scenario.signature(snap, reference))
    for case in cases:
        assert case.plan is not None and case.plan.injected is not None, f"{case}: no fault was injected"
        assert normalized(case, scenario.signature(snap, case)) == expected, (
            f"{case}: ended differently from the run without faults; calls {[str(c) for c in case.plan.calls]}, "
            f"answers {case.answers}, deliveries {case.deliveries}"
        )
    check_invariants(dict(snap.histories), stored_items=snap.items, tenant=TENANT, settled=True)

    client_errors = sum(1 for case in cases for status, _ in case.answers if status >= 500)
    record_figures(
        "fault_matrix",
        profile="full" if full else "covering",
        scenario=scenario.name,
        function=scenario.function,
        calls=[str(call) for call in calls],
        cases=len(cases),
        by_kind={kind: sum(1 for case in cases if case.kind == kind) for kind in FAULT_KINDS},
        client_5xx=client_errors,
        redeliveries=sum(len(outcomes) - 1 for case in cases for outcomes in case.deliveries),
        seconds=round(time.monotonic() - started, 1),
    )


# ---------------------------------------------------------------- regressions found by the matrix


def test_regression_a_repeated_submission_that_landed_is_lease_lost_not_invalid_argument(world: World) -> None:
    """Bug: a worker repeating a submission whose answer was lost (it had landed) got 400 INVALID_ARGUMENT
    ("timer id ... was already used") instead of I7's 409 LEASE_LOST, as if its own commands were a mistake."""
    case = Case("regression-resubmit", 0, None, 0)
    world.start(case)
    lease = world.claim(case)
    commands = [
        {"type": "START_TIMER", "timerId": case.tag("tm"), "durationMs": HOUR_MS},
        {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "c1",
            "childWorkflowExecutionId": case.tag("c1"),
            "workflowKind": case.tag("ck"),
            "queue": case.tag("cq"),
        },
    ]
    path = f"/v1/worker/workflows/{case.ids['W']}/commands"
    world.http.ok("POST", path, {"leaseId": lease, "commands": commands})
    world.drain()
    before = snapshot(world.stack).workflow(case.ids["W"])

    status, payload = world.http.call("POST", path, {"leaseId": lease, "commands": commands})

    assert (status, payload["error"]["code"], payload["error"]["currentStatus"]) == (409, "LEASE_LOST", "WAITING")
    assert snapshot(world.stack).workflow(case.ids["W"]) == before


def test_regression_create_task_with_an_idempotency_key_creates_one_task(world: World) -> None:
    """Bug: POST /v1/tasks had no Idempotency-Key, so a client repeating a create whose answer was lost (a 5xx after
    the write) made a second task. The same key and body now return the first task; another body is 409 CONFLICT."""
    case = Case("regression-create-task", 0, None, 0)
    body = {"kind": case.kind_name, "queue": case.queue, "input": {"n": 1}}
    headers = {"Idempotency-Key": case.tag("key")}

    first = world.http.ok("POST", "/v1/tasks", body, 201, headers=headers)
    again = world.http.ok("POST", "/v1/tasks", body, 201, headers=headers)
    status, other = world.http.call("POST", "/v1/tasks", {**body, "input": {"n": 2}}, headers=headers)

    assert again == first
    assert (status, other["error"]["code"]) == (409, "CONFLICT")
    tasks = [item for item in snapshot(world.stack).tasks.values() if item["kind"] == case.kind_name]
    assert [item["taskExecutionId"] for item in tasks] == [first["taskExecutionId"]]


def test_regression_a_lost_connection_fails_the_handler_with_itself_not_an_attribute_error(world: World) -> None:
    """Bug: a transaction that met a network error or a timeout failed the handler with an AttributeError (PynamoDB's
    `cause_response_code` reads `response.get` of a botocore HTTP error, whose `response` is None), so the logs and
    Lambda's error report named a bug in our code instead of the lost connection."""
    event = json.loads((REPO / "events" / "caller_api_start_workflow.json").read_text())
    event["headers"]["authorization"] = f"Bearer {TOKEN}"
    for kind in (NETWORK, TIMEOUT_AFTER):
        plan = world.injector.arm("CallerApiFunction", FaultPlan(kind, 2))  # the token's GetItem, then the start
        with pytest.raises(FunctionError) as raised:
            world.stack.invoke("CallerApiFunction", event)
        assert plan.injected is not None and plan.injected.operation == "TransactWriteItems"
        # Lambda's error report names PynamoDB's error of the transaction whose connection was lost (the cause, a
        # botocore error, stays in the container: the report carries the last exception only), not an AttributeError
        assert raised.value.error_type == "TransactWriteError", raised.value.error_message
        assert raised.value.error_message == "Failed to write transaction items"
