"""Concurrency soak: worker and caller threads run random workflows on the local stack, then every invariant is checked.

Two tenants run side by side. In each, caller threads start workflows (some with Idempotency-Keys, repeated), cancel
workflows (cascading or not) and tasks (sometimes twice at once), and read; workflow workers claim executions and
submit random batches decided from the history (tasks with retries and timeouts, timers of a few ms, children two
levels deep, cancels of each, operations, state, and every way to end); task workers complete, fail, heartbeat or
abandon their tasks (the sweeper expires those). After a bounded time the callers stop, every live workflow is
cancelled with cascade, and the workers carry everything to its end. Then:

- I1-I4: the invariant checker over every history and stored item of each tenant, settled;
- I5: every execution ended (a lost wake-up would leave one waiting forever);
- I3: no task was handed out after its cancellation was committed;
- I7: no lease was used while another worker held the execution, and no two polls got the same lease;
- I8: every workflow and task a tenant's worker received, and every workflow it listed, is that tenant's own;
- the API: no 5xx (but 503 UNAVAILABLE, which says nothing was written), no unexpected 4xx; a repeated
  Idempotency-Key returns the first execution; two simultaneous cancels of a task are never both 200.

The fast profile runs on the session's stack for a few seconds; `make soak` runs longer, with more threads, on a stack
that delivers every stream batch and every schedule twice and reorders stream records (I6 under load).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from stratoflow.services import runtime
from stratoflow.tokens import put_token
from stratoflow_local.stack import LocalStack

from tests.integration.conftest import TEMPLATE
from tests.support.domain import scan_items
from tests.support.fault_matrix import record_figures
from tests.support.invariants import TERMINAL_EVENTS, check_invariants

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: float  # of load
    workflow_workers: int  # per tenant
    task_workers: int
    callers: int
    drain_seconds: float


FAST = Profile("fast", seconds=4, workflow_workers=3, task_workers=2, callers=3, drain_seconds=60)
SLOW = Profile("slow", seconds=30, workflow_workers=4, task_workers=3, callers=3, drain_seconds=240)
IDLE_POLL_SECONDS = 0.05  # a worker that found nothing waits this long before it polls again


# ---------------------------------------------------------------- what the clients saw


@dataclass
class Claim:
    tenant: str
    workflow: str
    lease: str
    sent: float
    received: float


@dataclass
class Submission:
    workflow: str
    lease: str
    sent: float
    received: float
    status: int


@dataclass
class Journal:
    lock: threading.Lock = field(default_factory=threading.Lock)
    operations: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    submissions: list[Submission] = field(default_factory=list)
    task_claims: list[tuple[str, str, float]] = field(default_factory=list)  # tenant, task id, sent
    # task id → when the first answer saying it was cancelled (a 200 cancel, or a submission's TASK_CANCELLED) arrived
    cancels_answered: dict[str, float] = field(default_factory=dict)
    workflows: dict[str, set[str]] = field(default_factory=dict)  # per tenant
    tasks: dict[str, set[str]] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (tenant, key) -> (body, id)
    received: list[tuple[str, str, str]] = field(default_factory=list)  # tenant, workflow | task, id
    succeeded: int = 0
    inflight: int = 0
    max_inflight: int = 0

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def own(self, tenant: str, kind: str, identifier: str) -> None:
        with self.lock:
            (self.workflows if kind == "workflow" else self.tasks).setdefault(tenant, set()).add(identifier)

    def cancel_answered(self, task_id: str, received: float) -> None:
        with self.lock:
            self.cancels_answered[task_id] = min(received, self.cancels_answered.get(task_id, received))

    def owns(self, tenant: str, kind: str, identifier: str) -> bool:
        with self.lock:
            return identifier in (self.workflows if kind == "workflow" else self.tasks).get(tenant, set())


class Client:
    """One tenant's HTTP client; counts operations and in-flight requests, flags 5xx and malformed error bodies."""

    def __init__(self, stack: LocalStack, tenant: str, token: str, journal: Journal) -> None:
        self.url = stack.url
        self.tenant = tenant
        self.token = token
        self.journal = journal
        self.local = threading.local()

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        journal = self.journal
        with journal.lock:
            journal.inflight += 1
            journal.max_inflight = max(journal.max_inflight, journal.inflight)
        try:
            response = session.request(
                method,
                self.url + path,
                data=None if body is None else json.dumps(body),
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                    **(headers or {}),
                },
                timeout=120,
            )
        finally:
            with journal.lock:
                journal.inflight -= 1
        payload = json.loads(response.text) if response.text else None
        label = f"{method} {path.split('/')[2] if path.count('/') > 1 else path} {response.status_code}"
        with journal.lock:
            journal.operations[label] += 1
            journal.succeeded += response.status_code < 400
        if response.status_code >= 500 and not (response.status_code == 503 and _code(payload) == "UNAVAILABLE"):
            journal.violation(f"{method} {path}: {response.status_code} {response.text[:200]}")
        if response.status_code >= 400 and not (isinstance(payload, dict) and isinstance(_code(payload), str)):
            journal.violation(f"{method} {path}: error body not api.md's: {response.text[:200]}")
        return response.status_code, payload


def _code(payload: Any) -> Any:
    return ((payload or {}).get("error") or {}).get("code") if isinstance(payload, dict) else None


def expect(journal: Journal, what: str, status: int, payload: Any, allowed: dict[int, set[str] | None]) -> None:
    """Record a violation unless `status` (and for errors, the code) is among the allowed answers."""
    if status >= 500:
        return  # flagged by the client already
    if status not in allowed or (allowed[status] is not None and _code(payload) not in allowed[status]):
        journal.violation(f"{what}: unexpected {status} {json.dumps(payload)[:200]}")


# ---------------------------------------------------------------- workflow code, decided from the history


@dataclass
class View:
    cancel_requested: bool = False
    tasks: dict[str, str] = field(default_factory=dict)  # id -> open | closed
    timers: dict[str, str] = field(default_factory=dict)
    children: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (id, open | asked | closed)
    scheduled: int = 0


def read(history: list[dict[str, Any]]) -> View:
    view = View()
    for event in history:
        kind, data = event["type"], event["data"]
        if kind == "CANCELLATION_REQUESTED":
            view.cancel_requested = True
        elif kind == "TASK_SCHEDULED":
            view.tasks[data["taskExecutionId"]] = "open"
        elif kind in ("TASK_COMPLETED", "TASK_FAILED", "TASK_CANCELLED"):
            view.tasks[data["taskExecutionId"]] = "closed"
        elif kind == "TIMER_STARTED":
            view.timers[data["timerId"]] = "open"
        elif kind in ("TIMER_FIRED", "TIMER_CANCELLED"):
            view.timers[data["timerId"]] = "closed"
        elif kind == "CHILD_WORKFLOW_INITIATED":
            view.children[data["childExecutionName"]] = (data["childWorkflowExecutionId"], "open")
        elif kind == "CHILD_WORKFLOW_CANCELLATION_REQUESTED":
            child_id, state = view.children[data["childExecutionName"]]
            view.children[data["childExecutionName"]] = (child_id, "asked" if state == "open" else state)
        elif kind in ("CHILD_WORKFLOW_COMPLETED", "CHILD_WORKFLOW_FAILED"):
            view.children[data["childExecutionName"]] = (data["childWorkflowExecutionId"], "closed")
    view.scheduled = len(view.tasks) + len(view.timers) + len(view.children)
    return view


def decide(wid: str, history: list[dict[str, Any]], rng: random.Random, task_queue: str) -> list[dict[str, Any]]:
    view = read(history)
    open_tasks = [t for t, state in view.tasks.items() if state == "open"]
    open_timers = [t for t, state in view.timers.items() if state == "open"]
    open_children = [(name, c) for name, (c, state) in view.children.items() if state == "open"]
    if view.cancel_requested:  # clean up, then end (mostly as cancelled)
        commands: list[dict[str, Any]] = [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": t} for t in open_tasks]
        commands += [{"type": "CANCEL_TIMER", "timerId": t} for t in open_timers]
        commands += [
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": name,
                "childWorkflowExecutionId": c,
                "reason": "cleanup",
            }
            for name, c in open_children
        ]
        end = rng.choice([{"type": "CANCEL_WORKFLOW", "reason": "asked"}] * 4 + [{"type": "COMPLETE_WORKFLOW"}])
        return [*commands[:24], end]
    depth = wid.count(":c")
    budget = 6 - 2 * depth
    commands = []
    if view.scheduled < budget and rng.random() < 0.8:
        for _ in range(rng.randint(0, 2)):
            commands.append(
                {
                    "type": "SCHEDULE_TASK",
                    "taskExecutionId": f"{wid}:t{len(view.tasks) + len(commands)}",
                    "kind": "soak-task",
                    "queue": task_queue,
                    "input": {"n": rng.randint(0, 9)},
                    "maxRetries": rng.choice([0, 0, 1, 2]),
                    "timeoutMs": rng.choice([None, None, None, 300]),
                }
            )
        if rng.random() < 0.5:
            commands.append(
                {"type": "START_TIMER", "timerId": f"tm{len(view.timers)}", "durationMs": rng.randint(1, 150)}
            )
        if depth < 2 and rng.random() < 0.35:
            name = f"c{len(view.children)}"
            commands.append(
                {
                    "type": "SCHEDULE_CHILD_WORKFLOW",
                    "childExecutionName": name,
                    "childWorkflowExecutionId": f"{wid}:{name}",
                    "workflowKind": "soak",
                    "parentClosePolicy": rng.choice(["REQUEST_CANCEL", "REQUEST_CANCEL", "ABANDON"]),
                }
            )
    if open_tasks and rng.random() < 0.15:
        commands.append({"type": "REQUEST_CANCEL_TASK", "taskExecutionId": rng.choice(open_tasks), "reason": "race"})
    if open_timers and rng.random() < 0.15:
        commands.append({"type": "CANCEL_TIMER", "timerId": rng.choice(open_timers)})
    if open_children and rng.random() < 0.15:
        name, child = rng.choice(open_children)
        commands.append(
            {
                "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                "childExecutionName": name,
                "childWorkflowExecutionId": child,
                "reason": "race",
            }
        )
    if rng.random() < 0.3:
        commands.append({"type": "RECORD_OPERATION", "operationName": f"op{len(history)}", "result": len(history)})
    if rng.random() < 0.3:
        commands.append({"type": "SET_STATE", "key": "k", "value": len(history)})
    still_open = bool(open_tasks or open_timers or open_children) or any(
        c["type"] in ("SCHEDULE_TASK", "START_TIMER", "SCHEDULE_CHILD_WORKFLOW") for c in commands
    )
    if not still_open or (view.scheduled >= budget and rng.random() < 0.3):
        commands.append(
            rng.choice(
                [{"type": "COMPLETE_WORKFLOW", "output": {"events": len(history)}}] * 6
                + [{"type": "FAIL_WORKFLOW", "error": {"why": "chance"}}] * 2
                + [{"type": "CANCEL_WORKFLOW", "reason": "chance"}]
            )
        )
    return commands


# ---------------------------------------------------------------- the threads


@dataclass
class Tenant:
    name: str
    client: Client
    queue: str
    task_queue: str


class Soak:
    def __init__(self, stack: LocalStack, profile: Profile, seed: int) -> None:
        self.stack = stack
        self.profile = profile
        self.journal = Journal()
        self.seed = seed
        self.loading = threading.Event()
        self.stopping = threading.Event()
        self.tenants = []
        run = uuid.uuid4().hex[:6]
        for name in ("soak-a", "soak-b"):
            token = f"tok-{name}-{run}"
            put_token(runtime(), name, token, frozenset({"client", "worker"}))
            self.tenants.append(
                Tenant(name, Client(stack, name, token, self.journal), f"{name}-{run}", f"{name}-{run}-t")
            )

    # ------------------------------------------------------------ workflow workers

    def workflow_worker(self, tenant: Tenant, rng: random.Random) -> None:
        journal, client = self.journal, tenant.client
        while not self.stopping.is_set():
            sent = time.time()
            status, claimed = client.call(
                "POST", "/v1/worker/workflows/poll", {"queue": tenant.queue, "leaseMs": 120_000}
            )
            received = time.time()
            if status != 200:
                expect(journal, "poll", status, claimed, {204: None})
                self.stopping.wait(IDLE_POLL_SECONDS)
                continue
            execution = claimed["workflowExecution"]
            wid, lease = execution["workflowExecutionId"], claimed["leaseId"]
            with journal.lock:
                journal.claims.append(Claim(tenant.name, wid, lease, sent, received))
                journal.received.append((tenant.name, "workflow", wid))
            history = self.history(client, wid, claimed)
            commands = decide(wid, history, rng, tenant.task_queue)
            sent = time.time()
            status, answer = client.call(
                "POST", f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": commands}
            )
            received = time.time()
            with journal.lock:
                journal.submissions.append(Submission(wid, lease, sent, received, status))
            if status == 200:
                for event in answer["events"]:
                    if event["type"] == "TASK_CANCELLED":
                        journal.cancel_answered(event["data"]["taskExecutionId"], received)
            expect(journal, f"submit {wid} {commands}", status, answer, {200: None, 409: {"LEASE_LOST"}})
            if status == 200:  # what the tenant now has (a refused submission created nothing)
                for command in commands:
                    if command["type"] == "SCHEDULE_TASK":
                        journal.own(tenant.name, "task", command["taskExecutionId"])
                    elif command["type"] == "SCHEDULE_CHILD_WORKFLOW":
                        journal.own(tenant.name, "workflow", command["childWorkflowExecutionId"])

    def history(self, client: Client, wid: str, claimed: dict[str, Any]) -> list[dict[str, Any]]:
        events = list(claimed["events"])
        after = claimed["nextAfterSequence"]
        while after is not None:
            _, page = client.call("GET", f"/v1/workflows/{wid}/events?afterSequence={after}&limit=1000")
            events += page["events"]
            after = page["nextAfterSequence"]
        return events

    # ------------------------------------------------------------ task workers

    def task_worker(self, tenant: Tenant, rng: random.Random) -> None:
        journal, client = self.journal, tenant.client
        done_statuses: dict[int, set[str] | None] = {200: None, 409: {"FAILED_PRECONDITION", "LEASE_LOST"}}
        while not self.stopping.is_set():
            sent = time.time()
            status, claimed = client.call(
                "POST", "/v1/worker/tasks/poll", {"queue": tenant.task_queue, "leaseMs": 1000}
            )
            if status != 200:
                expect(journal, "task poll", status, claimed, {204: None})
                self.stopping.wait(IDLE_POLL_SECONDS)
                continue
            task = claimed["task"]
            with journal.lock:
                journal.task_claims.append((tenant.name, task["taskExecutionId"], sent))
                journal.received.append((tenant.name, "task", task["taskExecutionId"]))
            path, lease = f"/v1/worker/tasks/{task['taskExecutionId']}", claimed["leaseId"]
            choice = rng.random()
            if choice < 0.05:
                continue  # abandoned: the lease expires and the sweeper counts a failed attempt
            if choice < 0.2:
                status, answer = client.call("POST", f"{path}/heartbeat", {"leaseId": lease, "details": {"at": sent}})
                expect(journal, "heartbeat", status, answer, done_statuses)
            if choice < 0.3:
                status, answer = client.call(
                    "POST", f"{path}/fail", {"leaseId": lease, "error": {"n": 1}, "retryable": rng.random() < 0.7}
                )
                expect(journal, "fail", status, answer, done_statuses)
            else:
                status, answer = client.call("POST", f"{path}/complete", {"leaseId": lease, "output": {"ok": True}})
                expect(journal, "complete", status, answer, done_statuses)

    # ------------------------------------------------------------ callers

    def caller(self, tenant: Tenant, rng: random.Random) -> None:
        journal, client = self.journal, tenant.client
        keys: list[tuple[str, dict[str, Any]]] = []
        while self.loading.is_set():
            action = rng.random()
            if action < 0.45 or not journal.workflows.get(tenant.name):
                self.start(tenant, rng, keys)
            elif action < 0.6:
                wid = rng.choice(sorted(journal.workflows.get(tenant.name, set())))
                status, answer = client.call(
                    "POST", f"/v1/workflows/{wid}/cancel", {"reason": "caller", "cascade": rng.random() < 0.7}
                )
                expect(journal, "cancel", status, answer, {202: None, 409: {"FAILED_PRECONDITION"}})
            elif action < 0.75 and journal.tasks.get(tenant.name):
                self.cancel_task(tenant, rng.choice(sorted(journal.tasks[tenant.name])), twice=rng.random() < 0.3)
            elif action < 0.8:
                status, answer = client.call(
                    "POST", "/v1/tasks", {"kind": "soak-task", "queue": tenant.task_queue, "maxRetries": 1}
                )
                expect(journal, "create task", status, answer, {201: None})
                if status == 201:
                    journal.own(tenant.name, "task", answer["taskExecutionId"])
            else:
                status, page = client.call("GET", "/v1/workflows?limit=20")
                expect(journal, "list", status, page, {200: None})
                with journal.lock:
                    journal.received += [
                        (tenant.name, "workflow", workflow["workflowExecutionId"])
                        for workflow in (page or {}).get("workflows", [])
                    ]

    def start(self, tenant: Tenant, rng: random.Random, keys: list[tuple[str, dict[str, Any]]]) -> None:
        journal, client = self.journal, tenant.client
        body = {"kind": "soak", "queue": tenant.queue, "input": {"n": rng.randint(0, 1000)}}
        headers = {}
        if keys and rng.random() < 0.15:  # repeat a key: the same body gets the first execution, another gets 409
            key, first = rng.choice(keys)
            same = rng.random() < 0.7
            status, answer = client.call("POST", "/v1/workflows", first if same else body, {"Idempotency-Key": key})
            if same:
                expect(journal, "repeated start", status, answer, {201: None})
                first_id = journal.keys.get((tenant.name, key), ("", ""))[1]
                if status == 201 and answer["workflowExecutionId"] != first_id:
                    journal.violation(f"Idempotency-Key {key} started a second execution")
            else:
                expect(journal, "start, key reused", status, answer, {409: {"CONFLICT"}})
            return
        if rng.random() < 0.3:
            key = uuid.uuid4().hex
            headers["Idempotency-Key"] = key
            keys.append((key, body))
        status, answer = client.call("POST", "/v1/workflows", body, headers)
        expect(journal, "start", status, answer, {201: None})
        if status == 201:
            journal.own(tenant.name, "workflow", answer["workflowExecutionId"])
            if headers:
                journal.keys[(tenant.name, headers["Idempotency-Key"])] = (
                    json.dumps(body),
                    answer["workflowExecutionId"],
                )

    def cancel_task(self, tenant: Tenant, task_id: str, twice: bool) -> None:
        results: list[tuple[int, Any]] = []

        def one() -> None:
            results.append(tenant.client.call("POST", f"/v1/tasks/{task_id}/cancel", {"reason": "caller"}))
            if results[-1][0] == 200:
                self.journal.cancel_answered(task_id, time.time())

        threads = [threading.Thread(target=one) for _ in range(2 if twice else 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for status, answer in results:
            expect(self.journal, "cancel task", status, answer, {200: None, 409: {"FAILED_PRECONDITION"}})
        if sum(1 for status, _ in results if status == 200) > 1:
            self.journal.violation(f"I3: two cancels of task {task_id} were both 200")

    # ------------------------------------------------------------ running

    def run(self) -> dict[str, Any]:
        rng = random.Random(self.seed)
        threads: list[threading.Thread] = []

        def spawn(target: Callable[[Tenant, random.Random], None], tenant: Tenant) -> None:
            thread = threading.Thread(target=self._guard, args=(target, tenant, random.Random(rng.random())))
            threads.append(thread)
            thread.start()

        self.loading.set()
        started = time.monotonic()
        for tenant in self.tenants:
            for _ in range(self.profile.callers):
                spawn(self.caller, tenant)
        workers: list[threading.Thread] = []
        for tenant in self.tenants:
            for _ in range(self.profile.workflow_workers):
                spawn(self.workflow_worker, tenant)
            for _ in range(self.profile.task_workers):
                spawn(self.task_worker, tenant)
        workers = threads[len(self.tenants) * self.profile.callers :]
        self.stopping.wait(self.profile.seconds)
        self.loading.clear()
        for thread in threads[: len(self.tenants) * self.profile.callers]:
            thread.join()
        load_seconds = time.monotonic() - started
        self.cancel_everything_live()
        unfinished = self.wait_until_everything_ended()
        self.stopping.set()
        for thread in workers:
            thread.join()
        self.stack.wait_idle(self.profile.drain_seconds)
        self.stack.wait_idle(self.profile.drain_seconds)
        return {
            "load_seconds": round(load_seconds, 1),
            "unfinished": unfinished,
            "seconds": round(time.monotonic() - started, 1),
        }

    def _guard(self, target: Callable[[Tenant, random.Random], None], tenant: Tenant, rng: random.Random) -> None:
        try:
            target(tenant, rng)
        except Exception as error:  # a thread that dies is a finding, not a hang
            self.journal.violation(f"{target.__name__} of {tenant.name} died: {error!r}")
            self.stopping.set()
            self.loading.clear()

    def executions(self) -> dict[str, list[dict[str, Any]]]:
        items = scan_items(self.stack.client("dynamodb"), os.environ["TABLE_NAME"])
        return {
            tenant.name: [i for i in items if str(i["pk"]).startswith(f"T#{tenant.name}#")] for tenant in self.tenants
        }

    def cancel_everything_live(self) -> None:
        for tenant in self.tenants:
            for wid in sorted(self.journal.workflows.get(tenant.name, set())):
                if ":c" in wid:
                    continue  # children follow their root's cascade
                status, answer = tenant.client.call("POST", f"/v1/workflows/{wid}/cancel", {"reason": "drain"})
                expect(self.journal, "drain cancel", status, answer, {202: None, 409: {"FAILED_PRECONDITION"}})

    def live(self) -> list[str]:
        """Every execution of the tenants that has not ended, by the list endpoint (its index, not a Scan)."""
        found = []
        for tenant in self.tenants:
            for status in ("PENDING", "RUNNING", "WAITING", "CANCELLING"):
                token = ""
                while True:
                    _, page = tenant.client.call("GET", f"/v1/workflows?status={status}&limit=100{token}")
                    found += [f"{w['workflowExecutionId']} {w['status']}" for w in page["workflows"]]
                    if page["nextToken"] is None:
                        break
                    token = f"&nextToken={page['nextToken']}"
        return found

    def wait_until_everything_ended(self) -> list[str]:
        deadline = time.monotonic() + self.profile.drain_seconds
        while True:
            live = self.live()
            if not live or time.monotonic() > deadline or self.stopping.is_set():
                return live
            self.stopping.wait(0.5)


# ---------------------------------------------------------------- checks


def histories_of(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    histories: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item["sk"] == "WF":
            histories.setdefault(item["workflowExecutionId"], [])
    for item in items:
        if str(item["sk"]).startswith("EV#"):
            wid = str(item["pk"]).split("#WF#", 1)[1]
            histories[wid].append(
                {
                    "sequence": int(item["seq"]),
                    "type": item["type"],
                    "data": json.loads(item["data"]),
                    "createdAt": item["createdAt"],
                }
            )
    for events in histories.values():
        events.sort(key=lambda event: event["sequence"])
    return histories


def lease_violations(journal: Journal) -> list[str]:
    """I7 from the clients' clocks: a lease handed out must not overlap another worker's lease that later wrote."""
    found = []
    leases = Counter(claim.lease for claim in journal.claims)
    found += [f"I7: lease {lease} handed out {count} times" for lease, count in leases.items() if count > 1]
    by_workflow: dict[str, list[Claim]] = {}
    for claim in journal.claims:
        by_workflow.setdefault(claim.workflow, []).append(claim)
    accepted = {(s.workflow, s.lease): s for s in journal.submissions if s.status == 200}
    for wid, claims in by_workflow.items():
        for holder in claims:
            wrote = accepted.get((wid, holder.lease))
            if wrote is None:
                continue
            for other in claims:
                # `other` was claimed (request sent and answered) strictly while `holder` held its lease (from its
                # poll's answer to its accepted write's request): two workers held the execution at once.
                if other is not holder and other.sent > holder.received and other.received < wrote.sent:
                    found.append(f"I7: {wid} claimed with {other.lease} while {holder.lease} held it and then wrote")
    return found


def cancelled_task_violations(journal: Journal, histories: dict[str, list[dict[str, Any]]]) -> list[str]:
    """I3: a task is never handed out by a poll sent after its cancellation was answered (so committed).

    Both times are the clients' own clock. The event's `createdAt` is no bound: the server reads its clock before it
    reads the task, and may commit well after (a poll can legitimately claim the task in between, and the cancel then
    ends the RUNNING task). A cancel whose answer was lost is not judged here.
    """
    cancelled = {
        event["data"]["taskExecutionId"]
        for events in histories.values()
        for event in events
        if event["type"] == "TASK_CANCELLED"
    }
    answered = journal.cancels_answered
    return [
        f"I3: task {task} handed out by a poll sent at {sent:.3f}, its cancel answered at {answered[task]:.3f}"
        for _, task, sent in journal.task_claims
        if task in cancelled and task in answered and sent > answered[task]
    ]


def check_soak(soak: Soak, outcome: dict[str, Any]) -> dict[str, Any]:
    journal = soak.journal
    violations = list(journal.violations)
    violations += [f"I5: {entry} never ended" for entry in outcome["unfinished"]]
    per_tenant = soak.executions()
    histories: dict[str, list[dict[str, Any]]] = {}
    for tenant, items in per_tenant.items():
        mine = histories_of(items)
        histories.update(mine)
        try:
            check_invariants(mine, stored_items=items, tenant=tenant, settled=not outcome["unfinished"])
        except AssertionError as failure:
            violations.append(str(failure))
    violations += lease_violations(journal)
    violations += [
        f"I8: {tenant} received {kind} {identifier}, not its own"
        for tenant, kind, identifier in journal.received
        if not journal.owns(tenant, kind, identifier)
    ]
    violations += cancelled_task_violations(journal, histories)
    ended = Counter(
        TERMINAL_EVENTS[events[-1]["type"]]
        for events in histories.values()
        if events and events[-1]["type"] in TERMINAL_EVENTS
    )
    runtime = soak.stack.runtime
    assert runtime is not None
    pools = {name: runtime.pool(name) for name in soak.stack.template.functions}
    figures = {
        **outcome,
        "operations": journal.succeeded,
        "requests": sum(journal.operations.values()),
        "workflows": len(histories),
        "events": sum(len(events) for events in histories.values()),
        "ended": dict(ended),
        "tasks_handed_out": len(journal.task_claims),
        "workflow_claims": len(journal.claims),
        "max_in_flight_requests": journal.max_inflight,
        "max_concurrent_invocations": {name: pool.size for name, pool in pools.items() if pool.size > 1},
        "violations": len(violations),
    }
    assert not violations, "\n".join(violations[:30])
    return figures


# ---------------------------------------------------------------- the tests


def test_soak_fast(local_stack: LocalStack) -> None:
    soak = Soak(local_stack, FAST, seed=8)
    outcome = soak.run()
    figures = check_soak(soak, outcome)
    record_figures("soak", profile=FAST.name, **figures)
    assert figures["workflows"] > 0 and figures["tasks_handed_out"] > 0, figures


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_soak_slow_with_duplicate_and_reordered_deliveries(stack_factory: Any) -> None:
    options = {
        "tokens": [],
        "sweep_seconds": 2.0,
        "duplicate_deliveries": True,
        "duplicate_schedule_invocations": True,
        "reorder": True,
        "seed": 3,
    }
    with stack_factory(TEMPLATE, **options) as stack:
        soak = Soak(stack, SLOW, seed=3)
        outcome = soak.run()
        figures = check_soak(soak, outcome)
    record_figures("soak", profile=SLOW.name, **figures)
    assert figures["workflows"] > 0


def test_the_soak_checks_catch_what_they_look_for() -> None:
    """The lease and cancelled-task checks flag the histories they exist for (and accept their harmless cousins)."""
    journal = Journal()
    journal.claims = [
        Claim("t", "w1", "L1", sent=1.0, received=1.1),
        Claim("t", "w1", "L2", sent=1.2, received=1.3),  # claimed while L1 still held it...
        Claim("t", "w2", "L3", sent=1.0, received=1.1),
        Claim("t", "w2", "L4", sent=2.1, received=2.2),  # ...here only after L3 wrote
        Claim("t", "w3", "L5", sent=1.0, received=1.1),
        Claim("t", "w3", "L5", sent=1.0, received=1.1),
    ]
    journal.submissions = [
        Submission("w1", "L1", sent=1.5, received=1.6, status=200),  # ...and L1 then wrote: two holders
        Submission("w2", "L3", sent=2.0, received=2.05, status=200),
    ]
    assert lease_violations(journal) == [
        "I7: lease L5 handed out 2 times",
        "I7: w1 claimed with L2 while L1 held it and then wrote",
    ]
    journal.task_claims = [("t", "task-1", 10.2), ("t", "task-2", 9.9), ("t", "task-3", 10.5)]
    journal.cancels_answered = {"task-1": 10.1, "task-2": 10.1}  # task-3's cancel was never answered
    histories = {
        "w": [
            {"type": "TASK_CANCELLED", "data": {"taskExecutionId": task}, "createdAt": "1970-01-01T00:00:10.000Z"}
            for task in ("task-1", "task-2", "task-3")
        ]
    }
    assert cancelled_task_violations(journal, histories) == [
        "I3: task task-1 handed out by a poll sent at 10.200, its cancel answered at 10.100"
    ]
