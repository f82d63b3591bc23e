"""Crash injection for every cancellation handler: the k-th AWS call fails, for every k and both kinds of fault.

The cases run in a process of their own (`python -m tests.support.crashes`), where the real Lambda handlers are
invoked in process on moto with their table models bound to it (this process hosts the shared local stack of the
test run, whose models and moto backends they must not share). For each handler and scenario: N, the number of AWS
calls of a fault-free invocation; then for each k in 1..N and each fault (`before`: the call never happens; `after`:
it happens and its answer is lost, as in a timeout after a successful write), the invocation with the fault, the
retries its trigger would make until one succeeds, and the stream's follow-ups. Every case must end in the
fault-free end state (nothing lost, nothing doubled) with the invariant checker (I1-I4, settled) holding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.crashes import SCENARIOS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crash_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("crashes") / "results.json"
    paths = (REPO / "layers" / "stratoflow", REPO / "local", REPO / "sdk" / "src", REPO)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in paths)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.crashes", "--out", str(out)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.exists(), f"the crash runner wrote no results (exit {done.returncode}):\n{done.stderr[-5000:]}"
    results: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return results


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_crash_at_any_call_loses_nothing_and_doubles_nothing(crash_results: dict[str, Any], scenario: str) -> None:
    result = crash_results[scenario]
    assert result["failures"] == [], "\n\n".join(result["failures"])
    calls = len(result["calls"])
    assert calls >= 2, result["calls"]  # a read, then at least one write
    assert result["cases"] == 2 * calls
    assert result["by_kind"] == {"before": calls, "after": calls}
    # every injected fault made the invocation fail (none was swallowed), and one retry sufficed
    assert result["crashed"] == result["cases"]
    assert result["retries"] == result["cases"]


@pytest.mark.timeout(1200)
def test_every_cancellation_handler_is_covered(crash_results: dict[str, Any]) -> None:
    assert set(crash_results) == set(SCENARIOS)
    total = sum(result["cases"] for result in crash_results.values())
    # two faults at each call of each scenario (fire timer and child-cancel propagation make two calls each)
    assert total >= 70, {name: result["cases"] for name, result in crash_results.items()}
