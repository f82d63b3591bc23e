"""A smoke test of a running Stratoflow: the README's tour as a script, against any URL and token.

    python -m stratoflow_local.smoke --url https://…/dev --token <token>      (or: make smoke URL=… TOKEN=…)

It plays a caller and a worker on a queue of its own: starts a workflow, claims it, schedules a task and a 2 s timer
in one submission, runs the task (poll, heartbeat, complete), waits for both outcomes to wake the workflow, claims it
again and completes it; then starts a second workflow and cancels it. Every step checks the API's answer; the first
unexpected one stops the run with a one-line reason and exit status 1. Polls and waits retry until `--timeout`, since
in AWS the dispatch index lags writes by about a second and a timer may be up to a minute late.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import requests


class SmokeFailure(Exception):
    """A step got an answer other than the one the API promises."""


class Tour:
    def __init__(self, url: str, token: str, timeout: float, say: Callable[[str], None]) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.say = say
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.queue = f"smoke-{uuid.uuid4().hex[:12]}"

    def call(self, method: str, path: str, expect: int, body: Any = None) -> Any:
        try:
            response = self.session.request(method, self.url + path, json=body, timeout=30)
        except requests.RequestException as error:
            raise SmokeFailure(f"{method} {path}: no answer ({error.__class__.__name__})") from None
        if response.status_code != expect:
            raise SmokeFailure(f"{method} {path}: expected {expect}, got {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def until(self, what: str, attempt: Callable[[], Any]) -> Any:
        """Retry `attempt` until it returns something truthy, or fail after the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            result = attempt()
            if result:
                return result
            if time.monotonic() > deadline:
                raise SmokeFailure(f"timed out after {self.timeout:.0f} s waiting for {what}")
            time.sleep(0.25)

    def poll_workflow(self, workflow_id: str) -> dict[str, Any]:
        def attempt() -> dict[str, Any] | None:
            body = {"queue": self.queue, "workerId": "smoke"}
            response = self.session.post(self.url + "/v1/worker/workflows/poll", json=body, timeout=30)
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                raise SmokeFailure(f"workflow poll: {response.status_code} {response.text[:300]}")
            claimed: dict[str, Any] = response.json()
            if claimed["workflowExecution"]["workflowExecutionId"] != workflow_id:
                raise SmokeFailure("workflow poll handed out another execution on a queue of our own")
            return claimed

        claimed: dict[str, Any] = self.until(f"workflow {workflow_id} to be ready", attempt)
        return claimed

    def event_types(self, workflow_id: str) -> list[str]:
        page = self.call("GET", f"/v1/workflows/{workflow_id}/events?limit=1000", 200)
        return [event["type"] for event in page["events"]]

    def run(self) -> str:
        self.call("GET", "/v1/health", 200)
        started = self.call("POST", "/v1/workflows", 201, {"kind": "smoke", "input": {"n": 1}, "queue": self.queue})
        workflow_id = started["workflowExecutionId"]
        self.say(f"started workflow {workflow_id} on queue {self.queue}")

        lease = self.poll_workflow(workflow_id)["leaseId"]
        task_id = f"smoke-task-{uuid.uuid4().hex[:12]}"
        commands = [
            {"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "smoke-task", "input": {"amount": 42}},
            {"type": "START_TIMER", "timerId": "reminder", "durationMs": 2000},
        ]
        submitted = self.call(
            "POST", f"/v1/worker/workflows/{workflow_id}/commands", 200, {"leaseId": lease, "commands": commands}
        )
        self.say(f"claimed it and scheduled a task and a 2 s timer: {submitted['status']}")

        def poll_task() -> dict[str, Any] | None:
            response = self.session.post(self.url + "/v1/worker/tasks/poll", json={"queue": self.queue}, timeout=30)
            return response.json() if response.status_code == 200 else None

        task = self.until("the task to be handed out", poll_task)
        if task["task"]["taskExecutionId"] != task_id:
            raise SmokeFailure("task poll handed out another task on a queue of our own")
        beat = self.call("POST", f"/v1/worker/tasks/{task_id}/heartbeat", 200, {"leaseId": task["leaseId"]})
        if beat["cancelRequested"]:
            raise SmokeFailure("the heartbeat of a live task says cancelRequested")
        self.call(
            "POST",
            f"/v1/worker/tasks/{task_id}/complete",
            200,
            {"leaseId": task["leaseId"], "output": {"charged": True}},
        )
        self.say("ran the task: poll, heartbeat, complete")

        self.until(
            "TASK_COMPLETED and TIMER_FIRED",
            lambda: {"TASK_COMPLETED", "TIMER_FIRED"} <= set(self.event_types(workflow_id)),
        )
        self.say("the task's result and the timer reached the history")
        lease = self.poll_workflow(workflow_id)["leaseId"]
        done = [{"type": "COMPLETE_WORKFLOW", "output": {"status": "shipped"}}]
        self.call("POST", f"/v1/worker/workflows/{workflow_id}/commands", 200, {"leaseId": lease, "commands": done})
        final = self.call("GET", f"/v1/workflows/{workflow_id}", 200)
        if (final["status"], final["output"]) != ("COMPLETED", {"status": "shipped"}):
            raise SmokeFailure(f"expected COMPLETED with the output, got {final['status']} {final['output']}")
        self.say("completed it")

        other = self.call("POST", "/v1/workflows", 201, {"kind": "smoke", "queue": self.queue})["workflowExecutionId"]
        cancelled = self.call("POST", f"/v1/workflows/{other}/cancel", 202, {"reason": "smoke test"})
        if cancelled["status"] != "CANCELLING":
            raise SmokeFailure(f"cancel answered {cancelled}")
        self.say(f"started {other} and cancelled it: CANCELLING")
        return workflow_id


def run(url: str, token: str, timeout: float = 180.0, say: Callable[[str], None] = print) -> str:
    """Run the tour; returns the completed workflow's id, raises `SmokeFailure` at the first wrong answer."""
    return Tour(url, token, timeout, say).run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stratoflow_local.smoke", description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the API's base URL (the stack's ApiUrl output)")
    parser.add_argument("--token", required=True, help="a token with the client and worker scopes")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each asynchronous step")
    arguments = parser.parse_args(argv)
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.2f}s] {message}", flush=True)

    try:
        run(arguments.url, arguments.token, arguments.timeout, say)
    except SmokeFailure as failure:
        print(f"smoke test failed: {failure}", file=sys.stderr)
        return 1
    say("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
