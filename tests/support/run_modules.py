"""Run pytest targets in processes of their own, a few at a time, and print each one's output whole, in order.

    python -m tests.support.run_modules [--jobs 3] tests/unit tests/integration/test_*.py [-- PYTEST_ARGS...]

Each target (a test directory or an integration module) gets a pytest process of its own (`-m "not slow" -q`), as
each integration module starts background stacks whose leftovers must not reach the next one. Much of a module's time
is spent waiting (on containers, streams, schedules), so running a few at once fills the cores the others leave idle.
The modules are isolated from each other: every stack takes a free port and an in-memory or temporary state, and
its settings live in its own process's environment.

The exception is the modules whose tests use nothing but the session's stack on the real template (`SHARED_STACK`):
a process of their own would start that stack, a dozen containers, and pytest with its imports, once per module, for a
few tests each. They run `SHARED_PROCESSES` to a process instead, as one pytest session shares one stack
(tests/integration/conftest.py), balanced by their expected seconds. Modules that ask the same settings of the session's
stack (`stack_environment`) share one process the same way (`SAME_SETTINGS`).

Each target's output goes to a file and is printed whole once it and every target before it have finished, so the log
reads as if they had run one after another; its header gives its wall and CPU seconds (the CPU of pytest and of every
process it reaped: its containers, its race runners). The costliest targets start first (`EXPECTED_SECONDS`), so that
none of them is left running alone at the end. A failure fails the run, with its output shown; the other targets
still run, and the failed ones are named at the end. pytest's exit 5 (no test collected) fails a directory or a group
(which must have tests) but not a module (one whose tests are all `slow`, such as the soak).
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
# CPU-seconds each target used in a run of `make pytest` (the figures run_modules prints, in its own process): the
# costliest start first, so that none of them is left running alone at the end. A target not listed counts as a short
# one; a group, as the sum of its modules.
EXPECTED_SECONDS = {
    "test_races.py": 365,
    "test_fault_matrix.py": 120,
    "unit": 75,
    "test_sample_events.py": 75,
    "test_sdk_end_to_end.py": 65,
    "test_fuzz.py": 60,
    "test_local_stack.py": 60,
    "test_local_state.py": 60,
    "test_soak.py": 55,
    "test_sdk_examples.py": 50,
    "test_cli.py": 50,
    "test_cli_operators.py": 45,
    "test_http_edge.py": 40,
    "test_cold_start.py": 40,
    "test_security.py": 40,
    "test_crash_handlers.py": 40,
    "test_operators.py": 35,
    "test_cancellation_workflows.py": 30,
    "test_console_operators.py": 30,
}
DEFAULT_SECONDS = 25
# Modules whose tests use only the session's `local_stack` (and `api`) and set no `stack_environment`: they share
# processes. A module that starts stacks of its own, or needs other settings on the session's stack, runs alone.
SHARED_STACK = frozenset(
    {
        "test_api_scopes.py",
        "test_cancellation_children.py",
        "test_cancellation_parent_close.py",
        "test_cancellation_tasks.py",
        "test_cancellation_workflows.py",
        "test_cli.py",
        "test_cli_operators.py",
        "test_combined_calls.py",
        "test_console.py",
        "test_console_operators.py",
        "test_fuzz.py",
        "test_http_edge.py",
        "test_operational.py",
        "test_operators.py",
        "test_sdk_end_to_end.py",
        "test_sdk_examples.py",
        "test_security.py",
        "test_smoke.py",
        "test_soak.py",  # its fast profile (the long one, `make soak`, starts its own stack)
    }
)
SHARED_PROCESSES = 3
# Modules that set the same `stack_environment` (conftest refuses two that differ in one session): one process each.
SAME_SETTINGS = (frozenset({"test_cancellation_timers.py", "test_sample_events.py"}),)  # TIMER_LAST_MILE_S=0


@dataclass
class Target:
    paths: list[str]
    output: IO[bytes] = field(default_factory=tempfile.TemporaryFile)  # closed once printed
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the pytest process's and every process it reaped (its containers), user + system
    returncode: int | None = None

    @property
    def name(self) -> str:
        return " ".join(self.paths)

    @property
    def expected_seconds(self) -> int:
        return sum(expected_seconds(path) for path in self.paths)

    @property
    def failed(self) -> bool:
        if self.returncode == NO_TESTS_COLLECTED:
            return len(self.paths) > 1 or Path(self.paths[0]).is_dir()
        return self.returncode != 0

    def start(self, pytest_args: list[str]) -> None:
        command = [sys.executable, "-m", "pytest", "-m", "not slow", "-q", *self.paths, *pytest_args]
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
            f"== {self.name} ({verdict}, exit {self.returncode}, {self.seconds:.0f} s, {self.cpu_seconds:.0f} CPU-s)",
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


def expected_seconds(path: str) -> int:
    return EXPECTED_SECONDS.get(Path(path).name, DEFAULT_SECONDS)


def targets_of(paths: list[str]) -> list[Target]:
    """A target per path, but the `SHARED_STACK` modules packed into `SHARED_PROCESSES` targets of about equal expected
    seconds (the longest first, each to the least loaded) and each set of `SAME_SETTINGS` modules into one; a group
    keeps the given order and takes the place of its first module."""
    shared = [path for path in paths if Path(path).name in SHARED_STACK]
    groups: list[list[str]] = [[] for _ in range(min(SHARED_PROCESSES, len(shared)))]
    for path in sorted(shared, key=lambda path: -expected_seconds(path)):
        min(groups, key=lambda group: sum(expected_seconds(member) for member in group)).append(path)
    groups += [[path for path in paths if Path(path).name in names] for names in SAME_SETTINGS]
    group_of = {path: sorted(group, key=paths.index) for group in groups for path in group}
    return [Target(group_of.get(path, [path])) for path in paths if group_of.get(path, [path])[0] == path]


def run(paths: list[str], jobs: int, pytest_args: list[str]) -> int:
    targets = targets_of(paths)
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
        f"{' '.join(Path(path).name for path in target.paths)} {target.seconds:.0f} s"
        for target in sorted(targets, key=lambda t: -t.seconds)[:5]
    )
    cpu = sum(target.cpu_seconds for target in targets)
    print(
        f"== {len(targets)} targets in {time.monotonic() - began:.0f} s ({cpu:.0f} CPU-s), {jobs} at a time; "
        f"slowest: {slowest}"
    )
    if failed:
        print("== FAILED: " + " ".join(target.name for target in failed), flush=True)
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
