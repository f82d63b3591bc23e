"""Drives workflows against the fake server step by step, the way a worker would, without threads."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sdk_fake_server import FakeServer, FakeTransport, TaskRecord
from sdk_workflows import ALL_WORKFLOWS
from stratoflow_sdk import Client
from stratoflow_sdk._definitions import registry, workflow_definition
from stratoflow_sdk._types import SubmitResult
from stratoflow_sdk._worker import run_workflow_activation

BASE_URL = "http://127.0.0.1:3999"


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait for a condition, checking every few milliseconds, and fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Harness:
    """A fake server, a client on it, and single-step worker actions."""

    def __init__(self, server: FakeServer | None = None) -> None:
        self.server = server or FakeServer()
        self.client = Client(BASE_URL, "tok", transport=FakeTransport(self.server))
        self.workflows = registry(ALL_WORKFLOWS, workflow_definition)

    def start(self, kind: str, input_value: Any = None) -> str:
        return self.client.start_workflow(kind, input_value).workflow_execution_id

    def activate(self) -> SubmitResult | None:
        """Poll one ready execution and process it like the Worker does; None when nothing is ready."""
        activation = self.client.poll_workflow("default", "harness", kinds=sorted(self.workflows))
        if activation is None:
            return None
        return run_workflow_activation(self.client, activation, self.workflows)

    def settle(self, limit: int = 200) -> int:
        """Activate until nothing is ready; returns how many activations ran."""
        for count in range(limit):
            if self.activate() is None:
                return count
        raise AssertionError("executions kept being ready")

    def pending_tasks(self, execution_id: str | None = None) -> list[TaskRecord]:
        return [t for t in self.server.tasks.values()
                if t.status == "PENDING" and (execution_id is None or t.workflow_id == execution_id)]

    def complete(self, task_id: str, output: Any) -> None:
        lease = self.server.claim_task(task_id)
        self.client.complete_task(task_id, lease, output)

    def fail(self, task_id: str, error: Any) -> None:
        lease = self.server.claim_task(task_id)
        self.client.fail_task(task_id, lease, error, retryable=False)

    def fire(self, execution_id: str, timer_id: str) -> None:
        assert self.server.fire_timer(execution_id, timer_id)

    def history(self, execution_id: str) -> list[dict[str, Any]]:
        return self.server.events(execution_id)

    def activations(self, execution_id: str) -> list[dict[str, Any]]:
        """What each accepted submission of ``execution_id`` was computed from, and what it sent."""
        return [{"historyLength": s.history_length_at_poll, "commands": s.commands}
                for s in self.server.submissions if s.execution_id == execution_id]
