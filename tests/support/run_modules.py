"""Run pytest targets in processes of their own, a few at a time, and print each one's output whole, in order.

    python -m tests.support.run_modules [--jobs 3] tests/unit tests/integration/test_*.py [-- PYTEST_ARGS...]

Each target (a test directory or an integration module) gets a pytest process of its own (`-m "not slow" -q`), as
each integration module starts background stacks whose leftovers must not reach the next one. Much of a module's time
is spent waiting (on containers, streams, schedules), so running a few at once fills the cores the others leave idle.
The modules are isolated from each other: every stack takes a free port and an in-memory or temporary state, and
its settings live in its own process's environment.

Each target's output goes to a file and is printed whole once it and every target before it have finished, so the log
reads as if they had run one after another. The longest targets start first (`EXPECTED_SECONDS`), so that none of
them is left running alone at the end. A failure fails the run, with its output shown; the other targets still run,
and the failed ones are named at the end. pytest's exit 5 (no test collected) fails a directory (a suite that must
have tests) but not a module (one whose tests are all `slow`, such as the soak).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

NO_TESTS_COLLECTED = 5
# Seconds each target took on two idle cores: the longest start first. A target not listed counts as a short one.
EXPECTED_SECONDS = {
    "test_races.py": 170,
    "test_fault_matrix.py": 105,
    "test_cold_start.py": 70,
    "test_local_stack.py": 65,
    "test_sample_events.py": 60,
    "test_sdk_examples.py": 55,
    "test_local_state.py": 50,
    "unit": 50,
    "test_fuzz.py": 40,
    "test_sdk_end_to_end.py": 35,
}
DEFAULT_SECONDS = 20


@dataclass
class Target:
    path: str
    output: IO[bytes] = field(default_factory=tempfile.TemporaryFile)  # closed once printed
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the pytest process's and every process it reaped (its containers), user + system
    returncode: int | None = None

    @property
    def expected_seconds(self) -> int:
        return EXPECTED_SECONDS.get(Path(self.path).name, DEFAULT_SECONDS)

    @property
    def failed(self) -> bool:
        if self.returncode == NO_TESTS_COLLECTED:
            return Path(self.path).is_dir()
        return self.returncode != 0

    def start(self, pytest_args: list[str]) -> None:
        command = [sys.executable, "-m", "pytest", "-m", "not slow", "-q", self.path, *pytest_args]
        self.started = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT)

    def poll(self) -> bool:
        """True once the process has finished."""
        if self.returncode is None and self.process is not None:
            # wait4 rather than Popen.poll: it also says how much CPU the process and what it reaped used
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.process.returncode = self.returncode = os.waitstatus_to_exitcode(status)
                self.seconds = time.monotonic() - self.started
                self.cpu_seconds = usage.ru_utime + usage.ru_stime
        return self.returncode is not None

    def print(self) -> None:
        verdict = "FAILED" if self.failed else "passed"
        print(
            f"== {self.path} ({verdict}, exit {self.returncode}, {self.seconds:.0f} s, {self.cpu_seconds:.0f} CPU-s)",
            flush=True,
        )
        self.output.seek(0)
        sys.stdout.buffer.write(self.output.read())
        sys.stdout.buffer.flush()
        self.output.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run(paths: list[str], jobs: int, pytest_args: list[str]) -> int:
    targets = [Target(path) for path in paths]
    waiting = sorted(targets, key=lambda target: -target.expected_seconds)  # stable: ties keep the given order
    running: list[Target] = []
    printed = 0
    began = time.monotonic()
    try:
        while printed < len(targets):
            while waiting and len(running) < jobs:
                target = waiting.pop(0)
                target.start(pytest_args)
                running.append(target)
            running = [target for target in running if not target.poll()]
            while printed < len(targets) and targets[printed].returncode is not None:
                targets[printed].print()
                printed += 1
            time.sleep(0.1)
    except KeyboardInterrupt:
        for target in targets:
            target.stop()
        return 130
    failed = [target for target in targets if target.failed]
    slowest = ", ".join(
        f"{Path(target.path).name} {target.seconds:.0f} s" for target in sorted(targets, key=lambda t: -t.seconds)[:5]
    )
    cpu = sum(target.cpu_seconds for target in targets)
    print(
        f"== {len(targets)} targets in {time.monotonic() - began:.0f} s ({cpu:.0f} CPU-s), {jobs} at a time; "
        f"slowest: {slowest}"
    )
    if failed:
        print("== FAILED: " + " ".join(target.path for target in failed), flush=True)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, pytest_args = arguments[:split], arguments[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS") or 3))
    parser.add_argument("paths", nargs="+")
    options = parser.parse_args(arguments)
    return run(options.paths, max(1, options.jobs), pytest_args)


if __name__ == "__main__":
    sys.exit(main())
