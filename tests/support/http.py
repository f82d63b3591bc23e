"""A caller and a worker of the HTTP API, for tests through the local stack.

`Client` wraps anything with `get(path, **kw)` / `post(path, **kw)` returning a `requests.Response` (the `api` fixture
of tests/integration/conftest.py). Every client works in a queue of its own, so tests sharing one stack never claim
each other's work; give workflows distinct kinds to claim a particular one (`claim(wid, kind)`).

Waiting is always bounded: `wait_until` polls a condition until a deadline and fails with what it last saw.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from tests.support.domain import stored_items_of
from tests.support.invariants import check_invariants

T = TypeVar("T")


class Response(Protocol):
    status_code: int

    def json(self) -> Any: ...


class ApiLike(Protocol):
    def get(self, path: str, **kwargs: Any) -> Any: ...

    def post(self, path: str, **kwargs: Any) -> Any: ...


class StackLike(Protocol):
    def wait_idle(self, timeout: float = 10.0) -> None: ...

    def client(self, service: str) -> Any: ...


def body_of(response: Response) -> Any:
    return None if response.status_code == 204 else response.json()


def wait_until(condition: Callable[[], T | None], timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last saw {last!r}")
        time.sleep(0.05)


class Client:
    def __init__(self, api: ApiLike, stack: StackLike | None = None, *, tenant: str = "acme") -> None:
        self.api = api
        self.stack = stack
        self.tenant = tenant
        self.queue = f"q-{uuid.uuid4().hex[:12]}"

    # ------------------------------------------------------------------ raw calls

    def post(self, path: str, body: Any = None, expect: int | None = None, **kwargs: Any) -> Any:
        response = self.api.post(path, json=body, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text)
        return response

    def get(self, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        response = self.api.get(path, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (path, response.status_code, response.text)
        return response

    # ------------------------------------------------------------------ caller

    def start(self, kind: str, input_value: Any = None) -> str:
        body = self.post("/v1/workflows", {"kind": kind, "input": input_value, "queue": self.queue}, 201).json()
        return str(body["workflowExecutionId"])

    def workflow(self, wid: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/v1/workflows/{wid}", 200).json()
        return result

    def status(self, wid: str) -> str:
        return str(self.workflow(wid)["status"])

    def history(self, wid: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.get(f"/v1/workflows/{wid}/events?afterSequence={after}&limit=1000", 200).json()
            events.extend(page["events"])
            if page["nextAfterSequence"] is None:
                return events
            after = page["nextAfterSequence"]

    def types(self, wid: str) -> list[str]:
        return [event["type"] for event in self.history(wid)]

    def cancel(self, wid: str, reason: str | None = None, *, cascade: bool = True, expect: int = 202) -> Any:
        return self.post(f"/v1/workflows/{wid}/cancel", {"reason": reason, "cascade": cascade}, expect)

    def task(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/v1/tasks/{task_id}", 200).json()
        return result

    def cancel_task(self, task_id: str, reason: str | None = None, expect: int | None = None) -> Any:
        return self.post(f"/v1/tasks/{task_id}/cancel", {"reason": reason}, expect)

    # ------------------------------------------------------------------ worker

    def poll(self, kind: str | None = None, lease_ms: int | None = None) -> dict[str, Any] | None:
        body: dict[str, Any] = {"queue": self.queue, "workerId": "w-test"}
        if kind is not None:
            body["kinds"] = [kind]
        if lease_ms is not None:
            body["leaseMs"] = lease_ms
        response = self.post("/v1/worker/workflows/poll", body)
        assert response.status_code in (200, 204), response.text
        claimed: dict[str, Any] | None = body_of(response)
        return claimed

    def claim(self, wid: str, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """Poll for `kind` until `wid` is claimed (it is ready, or about to be); returns the poll's answer."""
        claimed = wait_until(lambda: self.poll(kind), timeout, f"{wid} ({kind}) to be ready")
        assert claimed["workflowExecution"]["workflowExecutionId"] == wid, claimed["workflowExecution"]
        return claimed

    def submit(self, wid: str, lease: str, commands: list[dict[str, Any]], expect: int | None = 200) -> Any:
        return self.post(f"/v1/worker/workflows/{wid}/commands", {"leaseId": lease, "commands": commands}, expect)

    def run(self, wid: str, kind: str, commands: list[dict[str, Any]]) -> dict[str, Any]:
        """Claim `wid` and submit one batch; returns the submission's answer."""
        lease = self.claim(wid, kind)["leaseId"]
        result: dict[str, Any] = self.submit(wid, lease, commands).json()
        return result

    def poll_task(self, kind: str, lease_ms: int | None = None) -> dict[str, Any] | None:
        body: dict[str, Any] = {"queue": self.queue, "workerId": "w-test", "kinds": [kind]}
        if lease_ms is not None:
            body["leaseMs"] = lease_ms
        response = self.post("/v1/worker/tasks/poll", body)
        assert response.status_code in (200, 204), response.text
        claimed: dict[str, Any] | None = body_of(response)
        return claimed

    def claim_task(self, task_id: str, kind: str) -> str:
        claimed = wait_until(lambda: self.poll_task(kind), 10.0, f"task {task_id} to be handed out")
        assert claimed["task"]["taskExecutionId"] == task_id, claimed["task"]
        return str(claimed["leaseId"])

    def heartbeat(self, task_id: str, lease: str, expect: int | None = None) -> Any:
        return self.post(f"/v1/worker/tasks/{task_id}/heartbeat", {"leaseId": lease}, expect)

    def complete_task(self, task_id: str, lease: str, output: Any = None, expect: int | None = None) -> Any:
        return self.post(f"/v1/worker/tasks/{task_id}/complete", {"leaseId": lease, "output": output}, expect)

    def fail_task(
        self, task_id: str, lease: str, error: Any = None, retryable: bool = True, expect: int | None = None
    ) -> Any:
        body = {"leaseId": lease, "error": error, "retryable": retryable}
        return self.post(f"/v1/worker/tasks/{task_id}/fail", body, expect)

    # ------------------------------------------------------------------ waiting and checking

    def settle(self, timeout: float = 10.0) -> None:
        """Every stream record written so far delivered (and what it wrote), every due schedule fired."""
        assert self.stack is not None
        self.stack.wait_idle(timeout)
        self.stack.wait_idle(timeout)

    def wait_for_event(self, wid: str, event_type: str, timeout: float = 10.0) -> dict[str, Any]:
        return wait_until(
            lambda: next((e for e in self.history(wid) if e["type"] == event_type), None),
            timeout,
            f"{event_type} in {wid}",
        )

    def family(self, root: str) -> dict[str, list[dict[str, Any]]]:
        """The histories of `root` and all its descendants."""
        histories: dict[str, list[dict[str, Any]]] = {}
        pending = [root]
        while pending:
            wid = pending.pop()
            histories[wid] = self.history(wid)
            for event in histories[wid]:
                if event["type"] == "CHILD_WORKFLOW_INITIATED":
                    pending.append(event["data"]["childWorkflowExecutionId"])
        return histories

    def stored_items(self, histories: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The stored items of these executions and of the tasks they scheduled."""
        assert self.stack is not None
        return stored_items_of(self.stack.client("dynamodb"), table_name(self.stack), self.tenant, histories)

    def check(self, *roots: str, settled: bool = True) -> dict[str, list[dict[str, Any]]]:
        """I1-I4 over the families of `roots`, histories read through the API, against their stored items."""
        if settled:
            self.settle()
        histories: dict[str, list[dict[str, Any]]] = {}
        for root in roots:
            histories.update(self.family(root))
        check_invariants(histories, stored_items=self.stored_items(histories), tenant=self.tenant, settled=settled)
        return histories


def table_name(stack: Any) -> str:
    """The name of the stack's one table."""
    tables = list(stack.template.tables.values())
    assert len(tables) == 1, tables
    return str(tables[0].name)


def event_data(events: Iterable[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [event["data"] for event in events if event["type"] == event_type]
