"""`make local` keeps its state across restarts: killed mid-load, the stack comes back with every acknowledged write,
and its workflows go on — a timer due while it was down fires, a lease that ran out is handed out again, and a
follow-up that the table's stream still owed (a child's cancel request) is carried out.

The stack runs as `python -m stratoflow_local serve --state-dir …` in a subprocess and is stopped with SIGKILL, the
way a closed laptop lid or a `kill -9` stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-state"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


class ServedStack:
    def __init__(self, state_dir: Path, log: Path) -> None:
        self.state_dir = state_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._offset = 0  # where this run's output starts in the log

    def start(self, *extra: str) -> str:
        environment = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
        environment["STRATOFLOW_TOKENS"] = f"acme:{TOKEN}"
        environment["PYTHONPATH"] = os.pathsep.join(str(REPO / part) for part in ("layers/stratoflow", "local"))
        command = [sys.executable, "-m", "stratoflow_local", "serve", "--port", "0", "--quiet", "--state-dir",
                   str(self.state_dir), *extra]
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
        self.url = wait_for(self._ready_url, 60, "the stack to be ready")
        return self.url

    def _ready_url(self) -> str | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the stack exited: {self.log.read_text()[-2000:]}")
        lines = [line for line in self.output().splitlines() if line.startswith("ready on ")]
        return lines[-1].removeprefix("ready on ") if lines else None

    def output(self) -> str:
        """What this run printed."""
        return self.log.read_bytes()[self._offset :].decode("utf-8", errors="replace")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedStack]:
    stack = ServedStack(tmp_path / "state", tmp_path / "serve.log")
    yield stack
    stack.stop()


def post(url: str, path: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(url + path, json=body, headers=HEADERS, timeout=30, **kwargs)


def events(url: str, workflow_id: str) -> list[str]:
    page = requests.get(f"{url}/v1/workflows/{workflow_id}/events?limit=1000", headers=HEADERS, timeout=30)
    page.raise_for_status()
    return [event["type"] for event in page.json()["events"]]


def claim(url: str, queue: str, lease_ms: int = 60_000) -> dict[str, Any] | None:
    response = post(url, "/v1/worker/workflows/poll", {"queue": queue, "workerId": "w", "leaseMs": lease_ms})
    return response.json() if response.status_code == 200 else None


def test_a_killed_stack_restarts_with_every_acknowledged_write_and_its_workflows_go_on(served: ServedStack) -> None:
    url = served.start()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    timer_workflow = post(url, "/v1/workflows", {"kind": "timer", "queue": f"{queue}-timer"}).json()
    parent = post(url, "/v1/workflows", {"kind": "parent", "queue": f"{queue}-parent"}).json()["workflowExecutionId"]
    # A workflow claimed with a 1 s lease that its worker never releases.
    leased = post(url, "/v1/workflows", {"kind": "leased", "queue": f"{queue}-leased"}).json()["workflowExecutionId"]
    assert claim(url, f"{queue}-leased", lease_ms=1000) is not None

    # Load from four writers; the kill lands in the middle of it.
    acknowledged: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                response = session.post(url + "/v1/workflows", json={"kind": "load", "queue": f"{queue}-load"},
                                        headers=HEADERS, timeout=10)
            except requests.RequestException:
                return  # the stack is gone: whatever was not answered was not acknowledged
            if response.status_code == 201:
                acknowledged.append(response.json()["workflowExecutionId"])

    writers = [threading.Thread(target=writer) for _ in range(4)]
    for thread in writers:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 40, 60, "40 acknowledged starts")

    # Just before the kill: a 1 s timer that comes due while the stack is down, and a child created and asked to
    # cancel in one submission, so the stream most likely still owes the child its request when the stack dies.
    timer_workflow_id = timer_workflow["workflowExecutionId"]
    lease = claim(url, f"{queue}-timer")
    assert lease is not None
    timer = [{"type": "START_TIMER", "timerId": "t", "durationMs": 1000}]
    answer = post(url, f"/v1/worker/workflows/{timer_workflow_id}/commands",
                  {"leaseId": lease["leaseId"], "commands": timer})
    assert answer.status_code == 200
    lease = claim(url, f"{queue}-parent")
    assert lease is not None
    child_id = f"child-{uuid.uuid4().hex[:8]}"
    commands = [
        {"type": "SCHEDULE_CHILD_WORKFLOW", "childExecutionName": "c", "childWorkflowExecutionId": child_id,
         "workflowKind": "child", "queue": f"{queue}-children"},
        {"type": "REQUEST_CANCEL_CHILD_WORKFLOW", "childExecutionName": "c", "childWorkflowExecutionId": child_id,
         "reason": "before the kill"},
    ]
    answer = post(url, f"/v1/worker/workflows/{parent}/commands", {"leaseId": lease["leaseId"], "commands": commands})
    assert answer.status_code == 200
    served.kill()
    stop.set()
    for thread in writers:
        thread.join(30)
    time.sleep(1.5)  # the downtime itself: the timer comes due and the lease runs out while nothing runs

    url = served.start()
    assert "earlier requests replayed" in served.output()
    for workflow_id in acknowledged:
        response = requests.get(f"{url}/v1/workflows/{workflow_id}", headers=HEADERS, timeout=30)
        assert response.status_code == 200, workflow_id
    listed: set[str] = set()
    token: str | None = None
    while True:
        params = {"limit": "100"} if token is None else {"limit": "100", "nextToken": token}
        page = requests.get(f"{url}/v1/workflows", params=params, headers=HEADERS, timeout=30).json()
        listed |= {workflow["workflowExecutionId"] for workflow in page["workflows"]}
        token = page["nextToken"]
        if token is None:
            break
    assert set(acknowledged) <= listed

    wait_for(lambda: "TIMER_FIRED" in events(url, timer_workflow_id), 10, "the overdue timer to fire")
    status = requests.get(f"{url}/v1/workflows/{timer_workflow_id}", headers=HEADERS, timeout=30).json()["status"]
    assert status == "PENDING"
    wait_for(lambda: "CANCELLATION_REQUESTED" in events(url, child_id), 10, "the child's cancel request")
    assert events(url, child_id).count("CANCELLATION_REQUESTED") == 1
    again = wait_for(lambda: claim(url, f"{queue}-leased"), 10, "the expired lease's workflow to be handed out")
    assert again["workflowExecution"]["workflowExecutionId"] == leased


def test_reset_starts_from_a_clean_state(served: ServedStack) -> None:
    url = served.start()
    workflow_id = post(url, "/v1/workflows", {"kind": "k"}).json()["workflowExecutionId"]
    served.stop()
    url = served.start("--reset")
    response = requests.get(f"{url}/v1/workflows/{workflow_id}", headers=HEADERS, timeout=30)
    assert response.status_code == 404
    assert "(0 earlier requests replayed)" in served.output()


def test_a_busy_port_is_one_line_with_the_way_out(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environment = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
        environment["PYTHONPATH"] = os.pathsep.join(str(REPO / part) for part in ("layers/stratoflow", "local"))
        finished = subprocess.run(
            [sys.executable, "-m", "stratoflow_local", "serve", "--port", str(port), "--in-memory", "--quiet"],
            cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False,
        )
    assert finished.returncode == 2
    assert finished.stderr.splitlines()[-1] == (
        f"port {port} is already in use (another `make local`?); pick another one: PORT=3001 make local"
    )
    assert "Traceback" not in finished.stderr
