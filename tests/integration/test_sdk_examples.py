"""The workflows of examples/ run against the session's local stack, so the examples cannot rot.

Each example module has `run(url, token, queue, ...)`, which runs a worker and one execution and returns what
happened, and `main()`, which does the same with the settings of `make example` (URL and token from the
environment). Each test works on a queue of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from examples import cleanup_deadline, fanout_deadline, order_saga, provider_race
from tests.support.http import Client as HttpClient

TOKEN = "tok-acme"
REPO = Path(__file__).resolve().parents[2]


def queue() -> str:
    return f"example-{uuid.uuid4().hex[:12]}"


def check(local_stack: Any, api: Any, workflow_id: str) -> None:
    """I1-I4 over the execution's family, once everything asynchronous has landed."""
    HttpClient(api, local_stack).check(workflow_id)


def test_the_order_saga_compensates_in_reverse_order_when_cancelled(local_stack: Any, api: Any) -> None:
    result = order_saga.run(local_stack.url, TOKEN, queue())
    assert (result["status"], result["reason"]) == ("CANCELLED", "customer cancelled the order")
    assert result["tasks"] == {
        "reserve-stock": "COMPLETED",
        "charge-card": "COMPLETED",
        "refund-card": "COMPLETED",
        "release-stock": "COMPLETED",
    }
    assert result["compensations"] == ["refund-card", "release-stock"]
    check(local_stack, api, result["workflowExecutionId"])


def test_the_provider_race_takes_the_first_quote_and_cancels_the_others(local_stack: Any, api: Any) -> None:
    # The losers answer only after a minute: they can only end cancelled.
    providers = {"quick": 0.05, "slow": 60.0, "slower": 60.0}
    result = provider_race.run(local_stack.url, TOKEN, queue(), providers=providers)
    assert result["winner"] == "quick"
    assert result["quote"]["provider"] == "quick"
    assert result["statuses"] == {"quick": "COMPLETED", "slow": "CANCELLED", "slower": "CANCELLED"}
    check(local_stack, api, result["workflowExecutionId"])


def test_a_fan_out_past_its_deadline_cancels_the_renders_still_running(local_stack: Any, api: Any) -> None:
    # The deadline leaves the quick renders ample time on a loaded machine (CI runs a few modules at once, each
    # with its containers starting cold); the huge one can never make it.
    images = {"a.jpg": 0.05, "b.jpg": 0.05, "c.jpg": 0.05, "huge.tiff": 120.0}
    result = fanout_deadline.run(local_stack.url, TOKEN, queue(), images=images, deadline_seconds=20.0)
    assert result["status"] == "deadline exceeded"
    assert result["thumbnails"] == ["thumbs/a.jpg.webp", "thumbs/b.jpg.webp", "thumbs/c.jpg.webp"]
    assert result["cancelled"] == ["huge.tiff"]
    assert result["statuses"] == {"a.jpg": "COMPLETED", "b.jpg": "COMPLETED", "c.jpg": "COMPLETED",
                                  "huge.tiff": "CANCELLED"}
    assert result["timer"] == ["TIMER_FIRED"]
    check(local_stack, api, result["workflowExecutionId"])


def test_a_fan_out_within_its_deadline_cancels_the_timer(local_stack: Any, api: Any) -> None:
    images = {"a.jpg": 0.05, "b.jpg": 0.05}
    result = fanout_deadline.run(local_stack.url, TOKEN, queue(), images=images, deadline_seconds=60.0)
    assert (result["status"], result["cancelled"]) == ("complete", [])
    assert result["thumbnails"] == ["thumbs/a.jpg.webp", "thumbs/b.jpg.webp"]
    assert result["timer"] == ["TIMER_CANCELLED"]
    check(local_stack, api, result["workflowExecutionId"])


def test_a_cleanup_that_overruns_its_deadline_is_terminated(local_stack: Any, api: Any) -> None:
    result = cleanup_deadline.run(local_stack.url, TOKEN, queue(), cleanup_seconds=60.0, cleanup_timeout_ms=2_000)
    assert result["status"] == "TERMINATED"
    assert result["lastEvent"] == {
        "type": "WORKFLOW_TERMINATED",
        "data": {"reason": "cleanup timeout", "requestedBy": "cleanup-timeout"},
    }
    assert result["seenByWorkflow"] is not None  # ctx.cleanup_deadline, as the workflow saw it
    assert result["cleanupTask"] == "CANCELLED"
    check(local_stack, api, result["workflowExecutionId"])


@pytest.mark.parametrize(
    ("main", "printed"),
    [
        (order_saga.main, "compensations run, in order: refund-card, release-stock"),
        (provider_race.main, "winner: "),
        (fanout_deadline.main, "deadline timer: "),
        (cleanup_deadline.main, "last event: WORKFLOW_TERMINATED"),
    ],
    ids=["order_saga", "provider_race", "fanout_deadline", "cleanup_deadline"],
)
def test_each_example_runs_as_make_example_runs_it(
    main: Callable[[], None], printed: str, local_stack: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STRATOFLOW_URL", local_stack.url)
    monkeypatch.setenv("STRATOFLOW_TOKEN", TOKEN)
    main()
    assert printed in capsys.readouterr().out


@pytest.mark.parametrize("example", sorted(path.stem for path in (REPO / "examples").glob("[a-z]*.py")))
def test_an_example_without_a_server_says_so_in_one_line(example: str) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    environment = {**os.environ, "STRATOFLOW_URL": url}
    finished = subprocess.run([sys.executable, str(REPO / "examples" / f"{example}.py")], env=environment,
                              capture_output=True, text=True, timeout=120, check=False)
    assert (finished.returncode, finished.stdout) == (1, "")
    assert finished.stderr == f"cannot reach Stratoflow at {url}: is `make local` running?\n"
