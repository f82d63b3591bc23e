"""Helpers for the tests of the operator surfaces (the `stratoflow` CLI and the web console) on a local stack.

A test plays the worker itself through the SDK Client's worker API, so that an execution has exactly the tasks,
timers and children the test wants, and ends exactly when the test says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stratoflow_sdk import Client
from stratoflow_sdk._types import WorkflowActivation

from tests.support.http import wait_until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-acme"


def new_queue() -> str:
    """A queue of the test's own, so that no other test's worker takes its work."""
    return f"q-{uuid.uuid4().hex[:12]}"


def claim(client: Client, queue: str, timeout: float = 10.0) -> WorkflowActivation:
    """Poll the queue until an execution is handed out."""
    return wait_until(lambda: client.poll_workflow(queue, "operator-test"), timeout, f"an execution on {queue}")


def start_with_open_work(client: Client, queue: str, kind: str = "order-saga") -> str:
    """An execution that is WAITING with one open task, one timer (an hour) and one PENDING child."""
    execution = client.start_workflow(kind, {"sku": "B-1"}, queue=queue)
    workflow_id = execution.workflow_execution_id
    activation = claim(client, queue)
    assert activation.execution.workflow_execution_id == workflow_id
    client.submit_commands(workflow_id, activation.lease_id, [
        {"type": "SCHEDULE_TASK", "taskExecutionId": f"{workflow_id}.reserve", "kind": "reserve-stock",
         "input": {"sku": "B-1"}, "queue": f"{queue}-tasks"},
        {"type": "START_TIMER", "timerId": "payment-window", "durationMs": 3_600_000},
        {"type": "SCHEDULE_CHILD_WORKFLOW", "childExecutionName": "shipping",
         "childWorkflowExecutionId": f"{workflow_id}.shipping", "workflowKind": "shipping", "input": {"sku": "B-1"},
         "queue": f"{queue}-children"},
    ])
    return workflow_id


def finish(client: Client, queue: str, workflow_id: str, timeout: float = 10.0) -> None:
    """Claim the execution again (it is ready once something happened to it) and end it: cancelled when it was
    asked to cancel, else completed."""
    activation = wait_until(
        lambda: (a := client.poll_workflow(queue, "operator-test")) and a.execution.workflow_execution_id == workflow_id
        and a, timeout, f"{workflow_id} ready on {queue}")
    cancelling = activation.execution.status == "CANCELLING"
    command = {"type": "CANCEL_WORKFLOW", "reason": "cleaned up"} if cancelling else \
        {"type": "COMPLETE_WORKFLOW", "output": {"shipped": True}}
    client.submit_commands(workflow_id, activation.lease_id, [command])


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(url: str, *args: str, input: str | None = None, token: str | None = TOKEN,
            timeout: float = 120) -> CliResult:
    """`stratoflow --url URL --token TOKEN ARGS…` in a process of its own (the stack's handlers run in this one and
    print their logs to its stdout), with ``input`` on its standard input."""
    options = ["--url", url] + (["--token", token] if token else [])
    completed = subprocess.run([*cli_command(), *options, *args], input=input or "", capture_output=True, text=True,
                               env=cli_environment(), cwd=REPO, timeout=timeout, check=False)
    return CliResult(completed.returncode, completed.stdout, completed.stderr)


def cli_json(url: str, *args: str) -> Any:
    result = run_cli(url, "-o", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_command() -> list[str]:
    """How to run the installed console script: `.venv/bin/stratoflow` when `make venv` put it there."""
    script = Path(sys.executable).parent / "stratoflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "stratoflow_sdk._cli"]


def cli_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("STRATOFLOW_")}
    paths = [str(REPO / "layers" / "stratoflow"), str(REPO / "local"), str(REPO / "sdk" / "src")]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    environment["COLUMNS"] = "200"  # history lines are cut to the terminal's width
    return environment


def cli_process(arguments: Sequence[str], **options: Any) -> subprocess.Popen[str]:
    """The console script in a process of its own, stdout and stderr piped, as a shell would run it."""
    return subprocess.Popen([*cli_command(), *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, env=cli_environment(), cwd=REPO, **options)
