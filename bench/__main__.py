"""`make bench`: measure Stratoflow against the embedded endpoint; write bench/results.json and docs/benchmarks.md.

    python -m bench            # the full profile (under 10 minutes on 2 cores)
    python -m bench --quick    # fewer samples and sizes, about 2 minutes
    python -m bench --only operations,cascade,parent-close,flows [--quick]   # printed, docs untouched
    python -m bench --cold-start   # just the cold-start part (about 3 minutes), into the last results

Nothing here is a test: no number is asserted, only recorded.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Profile:
    name: str
    iterations: int  # rounds of every operation procedure
    table_every: int  # rounds per table (moto's Query scans the whole table: keep it small)
    history_lengths: tuple[int, ...]
    history_cycles: int
    history_cancels: int
    cascade_sizes: tuple[int, ...]
    close_tasks: tuple[int, ...]
    flow_runs: int
    cold_start_repeats: int
    embedded_sizes: tuple[int, ...]
    embedded_samples: int
    embedded_plain_samples: int


FULL = Profile("full", 40, 2, (10, 100, 1000, 5000), 10, 3, (10, 100, 1000), (1, 10, 100), 5, 3, (100, 20000), 21, 1)
QUICK = Profile("quick", 5, 2, (10, 100, 1000), 3, 1, (10, 100), (1, 10), 1, 1, (100, 20000), 5, 1)


def ensure_matplotlib() -> None:
    """The plot needs matplotlib, which only the benchmark uses: install requirements-bench.txt when it is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(ROOT / "requirements-bench.txt"),
            ],
            check=True,
        )


def _paths() -> None:
    for path in (ROOT, ROOT / "layers" / "stratoflow", ROOT / "local"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def _git() -> dict[str, Any]:
    """The commit measured, and whether the code under test had uncommitted changes."""

    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return completed.stdout.strip()

    changed = git("status", "--porcelain", "--", "layers", "functions", "template.yaml")
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_changes_in_code_under_test": bool(changed)}


def _step(timings: dict[str, float], name: str, started: float) -> None:
    timings[name] = round(time.perf_counter() - started, 1)
    print(f"bench: {name} done in {timings[name]} s", file=sys.stderr, flush=True)


def run(profile: Profile) -> dict[str, Any]:
    from bench import coldstart, costs, flows, operations, scaling  # noqa: PLC0415
    from bench.embedded_dynamodb import measure  # noqa: PLC0415
    from bench.harness import running_harness  # noqa: PLC0415
    from bench.minimums import MINIMUMS  # noqa: PLC0415
    from bench.stats import group, summarize  # noqa: PLC0415

    timings: dict[str, float] = {}
    began = time.perf_counter()
    load_before = os.getloadavg()

    started = time.perf_counter()
    cold = coldstart.measure_cold_start(profile.cold_start_repeats)
    _step(timings, "cold start", started)

    with running_harness() as harness:
        started = time.perf_counter()
        samples = operations.measure_operations(harness, profile.iterations, profile.table_every)
        summaries = {label: summarize(label, items, MINIMUMS.get(label)) for label, items in group(samples).items()}
        _step(timings, "operations", started)

        started = time.perf_counter()
        history = scaling.history(harness, profile.history_lengths, profile.history_cycles, profile.history_cancels)
        _step(timings, "history scaling", started)

        started = time.perf_counter()
        cascade = scaling.cascade(harness, profile.cascade_sizes)
        _step(timings, "cascade scaling", started)

        started = time.perf_counter()
        close = scaling.parent_close(harness, profile.close_tasks)
        _step(timings, "parent close scaling", started)

        started = time.perf_counter()
        measured_flows = flows.measure_flows(harness, profile.flow_runs)
        _step(timings, "cost flows", started)

    started = time.perf_counter()  # after the harness stopped: measure() runs plain moto first, then its own endpoint
    embedded = measure(profile.embedded_sizes, profile.embedded_samples, profile.embedded_plain_samples)
    _step(timings, "embedded endpoint", started)

    import boto3  # noqa: PLC0415
    import moto  # noqa: PLC0415
    import pynamodb  # noqa: PLC0415

    timings["total"] = round(time.perf_counter() - began, 1)
    return {
        "meta": {
            "profile": asdict(profile),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "git": _git(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in os.getloadavg()],
            "versions": {"moto": moto.__version__, "boto3": boto3.__version__, "pynamodb": pynamodb.__version__},
            "capacity_source": "computed from item sizes with DynamoDB's published rules (moto's answers are "
            "constants; see moto_reported_units)",
            "seconds": timings,
        },
        "operations": summaries,
        "scaling": {"history": history, "cascade": cascade, "parent_close": close},
        "cold_start": cold,
        "flows": measured_flows,
        "prices": costs.prices(),
        "cost_model": costs.cost_model(
            measured_flows, flows.TASKS_PER_WORKFLOW, flows.BACKLOG, flows.IDLE_POLL_SECONDS
        ),
        "embedded_endpoint": embedded,
    }


PARTS = ("operations", "cascade", "parent-close", "flows")


def run_parts(profile: Profile, parts: list[str]) -> dict[str, Any]:
    """Only some parts, for checking a change quickly: their request counts and units are exact at any profile."""
    from bench import costs, flows, operations, scaling  # noqa: PLC0415
    from bench.harness import running_harness  # noqa: PLC0415
    from bench.minimums import MINIMUMS  # noqa: PLC0415
    from bench.stats import group, summarize  # noqa: PLC0415

    results: dict[str, Any] = {}
    with running_harness() as harness:
        if "operations" in parts:
            samples = operations.measure_operations(harness, profile.iterations, profile.table_every)
            results["operations"] = {
                label: summarize(label, items, MINIMUMS.get(label)) for label, items in group(samples).items()
            }
        if "cascade" in parts:
            results["cascade"] = scaling.cascade(harness, profile.cascade_sizes)
        if "parent-close" in parts:
            results["parent_close"] = scaling.parent_close(harness, profile.close_tasks)
        if "flows" in parts:
            results["flows"] = flows.measure_flows(harness, profile.flow_runs)
            results["cost_model"] = costs.cost_model(
                results["flows"], flows.TASKS_PER_WORKFLOW, flows.BACKLOG, flows.IDLE_POLL_SECONDS
            )
    return results


def _print_parts(results: dict[str, Any]) -> None:
    def line(label: str, summary: dict[str, Any]) -> str:
        minimum = summary.get("minimum") or {}
        capacity = summary["capacity"]
        return (
            f"{label:48} requests {summary['dynamodb_requests']['mean']:>6} (min {minimum.get('requests', '-')}, "
            f"ratio {minimum.get('request_ratio', '-')}) RRU {capacity['rru']} WRU {capacity['wru']}"
            f"+{capacity['gsi_wru']} extra {minimum.get('extra', [])}"
        )

    for label, summary in results.get("operations", {}).items():
        print(line(label, summary))
    for count, entry in results.get("parent_close", {}).items():
        print(line(f"parent close after {count} tasks", entry["close"]))
    for size, cascade in results.get("cascade", {}).items():
        print(
            f"cascade to {size:>38} descendants: requests {cascade['dynamodb_requests']} "
            f"(min {cascade['minimum_requests']}, ratio {cascade['request_ratio']}) extra {cascade['extra']}"
        )
    for name, flow in results.get("flows", {}).items():
        units = f"RRU {flow['rru']} WRU {flow['wru']} (GSI {flow['gsi_wru']})"
        print(f"flow {name:43} requests {flow['dynamodb_requests']} {units}")
    for name, model in results.get("cost_model", {}).items():
        if isinstance(model, dict) and "stratoflow" in model:
            print(f"{name:48} {model['stratoflow']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 2 minutes)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--report", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks-scaling.png")
    parser.add_argument("--from-results", action="store_true", help="only re-render the report from --results")
    parser.add_argument(
        "--cost-flows", action="store_true", help="only measure the cost flows and print their prices (writes nothing)"
    )
    parser.add_argument(
        "--only", help=f"comma-separated parts ({', '.join(PARTS)}): measure and print them, write nothing else"
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="measure only the cold start and put it into the existing --results (the rest is re-rendered as it was)",
    )
    arguments = parser.parse_args(argv)
    _paths()
    if arguments.cost_flows:
        print(json.dumps(run_parts(QUICK if arguments.quick else FULL, ["flows"]), indent=2))
        return 0
    if arguments.only:
        parts = [part.strip() for part in arguments.only.split(",")]
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
        partial = run_parts(QUICK if arguments.quick else FULL, parts)
        _print_parts(partial)
        out = ROOT / "bench" / "partial_results.json"
        out.write_text(json.dumps(partial, indent=2) + "\n", encoding="utf-8")
        print(f"bench: wrote {out}", file=sys.stderr)
        return 0
    ensure_matplotlib()
    from bench import report  # noqa: PLC0415

    if arguments.from_results:
        results = json.loads(arguments.results.read_text(encoding="utf-8"))
    elif arguments.cold_start:
        from bench import coldstart  # noqa: PLC0415

        results = json.loads(arguments.results.read_text(encoding="utf-8"))
        profile = QUICK if arguments.quick else FULL
        results["cold_start"] = coldstart.measure_cold_start(profile.cold_start_repeats)
        arguments.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    else:
        results = run(QUICK if arguments.quick else FULL)
        arguments.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report.plot(results, arguments.plot)
    kept = report.kept_sections(arguments.report)
    arguments.report.write_text(report.render(results, arguments.plot.name) + "\n" + kept, encoding="utf-8")
    written = (
        [arguments.report, arguments.plot]
        if arguments.from_results
        else [arguments.results, arguments.report, arguments.plot]
    )
    print(f"bench: wrote {', '.join(str(path) for path in written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
