"""Cold start: the import of each built handler, as Lambda imports it, beside importing boto3 alone in the same run.

    python -m bench --only coldstart      # this part alone: updates bench/results.json and docs/benchmarks.md

What is imported is the artifact `sam build` ships (`.aws-sam/build`, rebuilt first when older than the sources): a
fresh `python -S -B` per sample gets on its path only the function's build folder, the `python/` folder of each of
its built layers and the packages the Lambda runtime itself provides (boto3 and its dependencies), in Lambda's order,
with the function's environment from the template and the variables Lambda sets. `-B` stands for Lambda's read-only
`/var/task` and `/opt`: a module shipped without its `.pyc` is compiled again at every cold start, never cached.

Each round measures boto3 alone, then every handler, in each variant: the default deployment, tracing on (the
template's `Tracing` parameter), and the default build with every `.pyc` removed (what `BuildMethod: python3.11`
shipped). The goal is each handler's median at most `GOAL_RATIO` times boto3's median of the same run, in CPU time:
an import is CPU-bound once the files are in the page cache (a warm-up run of each puts them there), and on a shared
machine the wall time adds the wait for a core, which says more about the neighbours than about the import. Lambda
gives a function a fixed share of a CPU for its memory size, so there the wall time follows the CPU time.
"""

from __future__ import annotations

import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stratoflow_local.check_build import link_runtime_packages
from stratoflow_local.template import FunctionSpec, load_template

from bench.harness import ROOT

GOAL_RATIO = 1.9
BUILD_DIR = ROOT / ".aws-sam" / "build"
SOURCES = ("template.yaml", "layers", "functions")

_TIMED_IMPORT = """
import sys, time
sys.path[:0] = {paths!r}
started, cpu_started = time.perf_counter(), time.process_time()
{statement}
print(time.perf_counter() - started, time.process_time() - cpu_started)
"""


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    compiled: bool = True


VARIANTS = (
    Variant("default", "as deployed by default (tracing off)"),
    Variant("tracing", "with `Tracing=Active`", {"Tracing": "Active"}),
    Variant("uncompiled", "as deployed by default, without the `.pyc` files", compiled=False),
)


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else [item for item in path.rglob("*") if "__pycache__" not in item.parts]
        newest = max([newest, *(item.stat().st_mtime for item in files if item.is_file())])
    return newest


def ensure_build() -> Path:
    """The `sam build` artifact, built again (`make build`) when missing or older than the template or the code."""
    built = BUILD_DIR / "template.yaml"
    if not built.is_file() or built.stat().st_mtime < _newest_source_mtime():
        print("bench: running `make build` for the cold-start measurement", file=sys.stderr, flush=True)
        built_now = subprocess.run(
            ["make", "--no-print-directory", "build"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if built_now.returncode != 0:
            raise SystemExit(f"make build failed:\n{built_now.stdout}{built_now.stderr}")
    return BUILD_DIR


@dataclass(frozen=True)
class _Target:
    """One handler as Lambda would import it: its path, in Lambda's order, and its environment."""

    function: str
    module: str
    paths: list[str]
    environment: dict[str, str]


def _lambda_environment(spec: FunctionSpec) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        **spec.environment,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _targets(build_dir: Path, variant: Variant, runtime_dir: str, uncompiled_dir: Path | None) -> list[_Target]:
    template = load_template(build_dir / "template.yaml", variant.parameters)
    targets = []
    for logical_id, spec in sorted(template.functions.items()):
        folders = [spec.code_dir, *(layer / "python" for layer in spec.layer_dirs)]
        if uncompiled_dir is not None:
            folders = [uncompiled_dir / folder.relative_to(build_dir.resolve()) for folder in folders]
        module = spec.handler.rpartition(".")[0]
        environment = _lambda_environment(spec)
        targets.append(_Target(logical_id, module, [*map(str, folders), runtime_dir], environment))
    return targets


def _run(statement: str, paths: list[str], environment: dict[str, str], extra: tuple[str, ...] = ()) -> str:
    code = _TIMED_IMPORT.format(paths=paths, statement=statement)
    completed = subprocess.run(
        [sys.executable, "-S", "-B", *extra, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=paths[0],
    )
    return completed.stdout if not extra else completed.stderr


def _seconds(statement: str, paths: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one import."""
    wall, cpu = _run(statement, paths, environment).strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls, cpus = [wall for wall, _ in samples], [cpu for _, cpu in samples]
    return {
        "cpu_median_ms": round(statistics.median(cpus) * 1000, 1),
        "cpu_min_ms": round(min(cpus) * 1000, 1),
        "cpu_max_ms": round(max(cpus) * 1000, 1),
        "median_ms": round(statistics.median(walls) * 1000, 1),
        "min_ms": round(min(walls) * 1000, 1),
        "max_ms": round(max(walls) * 1000, 1),
    }


def _top_imports(target: _Target, count: int = 8) -> list[dict[str, Any]]:
    """The heaviest packages of one import (outermost import of each, cumulative), from `python -X importtime`."""
    stderr = _run(f"import {target.module}", target.paths, target.environment, ("-X", "importtime"))
    outermost: dict[str, tuple[int, int]] = {}  # package → (nesting depth, cumulative microseconds)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = len(name) - len(name.lstrip(" "))
        package = name.strip().split(".")[0]
        if package in (target.module, "encodings", "site") or package.startswith("_"):
            continue
        if package not in outermost or depth < outermost[package][0]:
            outermost[package] = (depth, int(cumulative.strip()))
    heaviest = sorted(outermost.items(), key=lambda entry: entry[1][1], reverse=True)[:count]
    return [{"module": name, "ms": round(micros / 1000, 1)} for name, (_, micros) in heaviest]


def _uncompiled_copy(build_dir: Path, target: Path) -> None:
    """The build's function and layer folders without their `.pyc` files."""
    for folder in build_dir.iterdir():
        if folder.is_dir():
            shutil.copytree(folder, target / folder.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def measure_cold_start(repeats: int, variants: tuple[Variant, ...] = VARIANTS) -> dict[str, Any]:
    build_dir = ensure_build().resolve()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="coldstart-") as scratch:
        runtime_dir = Path(scratch) / "runtime"
        runtime_dir.mkdir()
        link_runtime_packages(runtime_dir)
        uncompiled_dir = Path(scratch) / "uncompiled"
        if any(not variant.compiled for variant in variants):
            _uncompiled_copy(build_dir, uncompiled_dir)
        targets = {
            variant.name: _targets(build_dir, variant, str(runtime_dir), None if variant.compiled else uncompiled_dir)
            for variant in variants
        }
        boto3_environment = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "AWS_REGION": "us-east-1"}
        boto3_samples: list[tuple[float, float]] = []
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {variant.name: {} for variant in variants}
        for target in (target for group in targets.values() for target in group):  # warm the file cache
            _seconds(f"import {target.module}", target.paths, target.environment)
        for _ in range(repeats):
            for variant in variants:
                boto3_samples.append(_seconds("import boto3", [str(runtime_dir)], boto3_environment))
                for target in targets[variant.name]:
                    seconds = _seconds(f"import {target.module}", target.paths, target.environment)
                    samples[variant.name].setdefault(target.function, []).append(seconds)
        boto3 = _summary(boto3_samples)
        results: dict[str, Any] = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": _commit(),
            "load_average_before": round(load_before[0], 2),
            "load_average_after": round(os.getloadavg()[0], 2),
            "build": str(build_dir.relative_to(ROOT)),
            "repeats": repeats,
            "goal_ratio": GOAL_RATIO,
            "boto3": boto3,
            "variants": {},
        }
        for variant in variants:
            functions = {}
            for function, values in samples[variant.name].items():
                summary = _summary(values)
                ratio = summary["cpu_median_ms"] / boto3["cpu_median_ms"]
                functions[function] = {**summary, "ratio": round(ratio, 2), "goal_met": ratio <= GOAL_RATIO}
            heaviest = max(functions, key=lambda name: functions[name]["cpu_median_ms"])
            target = next(item for item in targets[variant.name] if item.function == heaviest)
            results["variants"][variant.name] = {
                "description": variant.description,
                "parameters": dict(variant.parameters),
                "compiled": variant.compiled,
                "functions": functions,
                "goal_met": all(row["goal_met"] for row in functions.values()),
                "heaviest": {"function": heaviest, "top_imports": _top_imports(target)},
            }
    return results


def _commit() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()
