"""A caller and a worker driving the API through the harness, one queue each, so polls only see their own work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.harness import Harness


@dataclass
class Lease:
    workflow_id: str
    lease_id: str
    events: list[dict[str, Any]]
    status: str


@dataclass
class Worker:
    harness: Harness
    queue: str

    # ------------------------------------------------------------ caller API

    def start(self, label: str | None = None, kind: str = "order-saga", value: Any = None) -> str:
        body = {
            "kind": kind,
            "queue": self.queue,
            "input": {"orderId": "o-1", "amount": 42} if value is None else value,
        }
        view = self.harness.api("POST", "/v1/workflows", body, label=label, expect=201)
        return str(view["workflowExecutionId"])

    def read(self, workflow_id: str, label: str | None = None) -> Any:
        return self.harness.api("GET", f"/v1/workflows/{workflow_id}", label=label)

    def cancel(self, workflow_id: str, label: str | None = None, cascade: bool = True) -> Any:
        body = {"reason": "benchmark", "cascade": cascade}
        return self.harness.api("POST", f"/v1/workflows/{workflow_id}/cancel", body, label=label, expect=202)

    def cancel_task(self, task_id: str, label: str | None = None) -> Any:
        return self.harness.api("POST", f"/v1/tasks/{task_id}/cancel", {"reason": "benchmark"}, label=label)

    # ------------------------------------------------------------ worker API

    def poll(self, label: str | None = None) -> Lease:
        body = {"queue": self.queue, "workerId": "bench-worker"}
        return _lease(self.harness.api("POST", "/v1/worker/workflows/poll", body, label=label))

    def try_poll(self, label: str | None = None) -> Lease | None:
        body = {"queue": self.queue, "workerId": "bench-worker"}
        answer = self.harness.api("POST", "/v1/worker/workflows/poll", body, label=label, expect=(200, 204))
        return None if answer is None else _lease(answer)

    def poll_nothing(self, label: str | None = None) -> None:
        body = {"queue": self.queue, "workerId": "bench-worker"}
        self.harness.api("POST", "/v1/worker/workflows/poll", body, label=label, expect=204)

    def submit(self, lease: Lease, commands: list[dict[str, Any]], label: str | None = None) -> Any:
        body = {"leaseId": lease.lease_id, "commands": commands}
        return self.harness.api("POST", f"/v1/worker/workflows/{lease.workflow_id}/commands", body, label=label)

    def submit_and_poll(self, lease: Lease, commands: list[dict[str, Any]], label: str | None = None) -> Lease | None:
        """A combined call: the submission, then the next ready execution of this queue (None when none is)."""
        body = {"leaseId": lease.lease_id, "commands": commands, "pollNext": {"queue": self.queue}}
        claimed = self.harness.api("POST", f"/v1/worker/workflows/{lease.workflow_id}/commands", body, label=label)
        return None if claimed["next"] is None else _lease(claimed["next"])

    def poll_task_nothing(self, label: str | None = None) -> None:
        body = {"queue": self.queue, "workerId": "bench-worker"}
        self.harness.api("POST", "/v1/worker/tasks/poll", body, label=label, expect=204)

    def poll_task(self, label: str | None = None, queue: str | None = None) -> tuple[str, str]:
        body = {"queue": queue or self.queue, "workerId": "bench-worker"}
        answer = self.harness.api("POST", "/v1/worker/tasks/poll", body, label=label)
        return str(answer["task"]["taskExecutionId"]), str(answer["leaseId"])

    def heartbeat(self, task_id: str, lease_id: str, label: str | None = None) -> Any:
        path = f"/v1/worker/tasks/{task_id}/heartbeat"
        return self.harness.api("POST", path, {"leaseId": lease_id}, label=label)

    def complete(self, task_id: str, lease_id: str, label: str | None = None) -> Any:
        body = {"leaseId": lease_id, "output": {"ok": True, "receipt": "r-12345"}}
        return self.harness.api("POST", f"/v1/worker/tasks/{task_id}/complete", body, label=label)

    def complete_and_poll(self, task_id: str, lease_id: str, label: str | None = None) -> tuple[str, str] | None:
        """A combined call: the completion, then the next task of this queue (None when none is ready)."""
        body = {"leaseId": lease_id, "output": {"ok": True, "receipt": "r-12345"}, "pollNext": {"queue": self.queue}}
        claimed = self.harness.api("POST", f"/v1/worker/tasks/{task_id}/complete", body, label=label)["next"]
        return None if claimed is None else (str(claimed["task"]["taskExecutionId"]), str(claimed["leaseId"]))

    def run_one_task(self, label_poll: str | None = None, label_complete: str | None = None) -> str:
        task_id, lease = self.poll_task(label_poll)
        self.complete(task_id, lease, label_complete)
        return task_id


def _lease(claim: dict[str, Any]) -> Lease:
    execution = claim["workflowExecution"]
    return Lease(execution["workflowExecutionId"], claim["leaseId"], claim["events"], execution["status"])


def schedule_task(task_id: str, queue: str | None = None) -> dict[str, Any]:
    command: dict[str, Any] = {
        "type": "SCHEDULE_TASK",
        "taskExecutionId": task_id,
        "kind": "charge-card",
        "input": {"orderId": "o-1", "amount": 42},
    }
    if queue is not None:
        command["queue"] = queue
    return command


def start_timer(timer_id: str, duration_ms: int = 3_600_000) -> dict[str, Any]:
    return {"type": "START_TIMER", "timerId": timer_id, "durationMs": duration_ms}


def schedule_child(name: str, child_id: str) -> dict[str, Any]:
    return {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id,
        "workflowKind": "shipment",
        "input": {"orderId": "o-1"},
    }
