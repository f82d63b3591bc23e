"""`make pytest`'s runner: targets run a few at a time, their outputs printed whole and in the given order, any failure
fails the run, and "no test collected" fails a directory but not a module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ONLY_SLOW = "import pytest\n\n@pytest.mark.slow\ndef test_soak():\n    pass\n"


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_outputs_come_whole_in_the_given_order_and_failures_fail_the_run(tmp_path: Path) -> None:
    slow = write(tmp_path / "test_slow.py", "import time\n\ndef test_slow():\n    time.sleep(2)\n    print('SLOW')\n")
    failing = write(tmp_path / "test_failing.py", "def test_failing():\n    assert 1 == 2, 'BROKEN'\n")
    only_slow_module = write(tmp_path / "test_only_slow.py", ONLY_SLOW)
    write(tmp_path / "suite" / "test_only_slow.py", ONLY_SLOW)
    only_slow_suite = str(tmp_path / "suite")
    targets = [slow, failing, only_slow_module, only_slow_suite]

    command = [sys.executable, "-m", "tests.support.run_modules", "--jobs", "4", *targets]
    completed = subprocess.run(
        [*command, "--", "-s", "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 1, completed.stdout + completed.stderr
    sections = [section.removeprefix("== ") for section in completed.stdout.split("\n== ")]
    headers = [section.splitlines()[0] for section in sections]
    # the slow one finished last but comes first; each header says how its target ended
    assert [header.split(" (")[0] for header in headers[:4]] == targets
    assert [header.split(" (")[1].split(",")[:2] for header in headers[:4]] == [
        ["passed", " exit 0"],
        ["FAILED", " exit 1"],
        ["passed", " exit 5"],  # a module whose tests are all slow
        ["FAILED", " exit 5"],  # a suite that collected nothing
    ]
    assert "SLOW" in sections[0] and "BROKEN" in sections[1]
    assert completed.stdout.splitlines()[-1] == f"== FAILED: {failing} {only_slow_suite}"


def test_the_shared_stack_modules_share_a_few_processes_and_the_others_run_alone() -> None:
    from tests.support.run_modules import (  # noqa: PLC0415
        SAME_SETTINGS,
        SHARED_PROCESSES,
        SHARED_STACK,
        expected_seconds,
        targets_of,
    )

    shared = sorted(f"tests/integration/{name}" for name in SHARED_STACK)
    same = sorted(f"tests/integration/{name}" for name in SAME_SETTINGS[0])
    alone = ["tests/integration/test_races.py", "tests/integration/test_cold_start.py"]
    paths = ["tests/unit", alone[0], *shared, alone[1], *same]

    targets = targets_of(paths)

    assert sorted(path for target in targets for path in target.paths) == sorted(paths)  # each path once
    firsts = [paths.index(target.paths[0]) for target in targets]
    assert firsts == sorted(firsts)  # each in the place of its first module
    assert all(target.paths == sorted(target.paths, key=paths.index) for target in targets)  # in the given order
    groups = [target for target in targets if set(target.paths) <= set(shared)]
    assert len(groups) == SHARED_PROCESSES
    loads = [group.expected_seconds for group in groups]  # balanced: apart by no more than their longest module
    assert max(loads) - min(loads) <= max(expected_seconds(path) for path in shared)
    assert [target.paths for target in targets if target not in groups] == [["tests/unit"], alone[:1], alone[1:], same]
