"""Cold start: the import of each function's handler module in a fresh interpreter, next to importing boto3 alone.

Each measurement is a new `python` process whose path holds only the function's folder and the shared layer (plus
the virtualenv's site-packages, standing in for the dependencies layer and the runtime's boto3). The first run of
each is discarded: it compiles the layer's `.pyc` files, which a deployment ships precompiled.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Template

_TIMED_IMPORT = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
{statement}
print(time.perf_counter() - started)
"""


def _run(statement: str, paths: list[str], extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    code = _TIMED_IMPORT.format(paths=paths, statement=statement)
    return subprocess.run(
        [sys.executable, *extra, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    )


def _seconds(statement: str, paths: list[str], repeats: int) -> list[float]:
    _run(statement, paths)  # compile and warm the file cache
    return [float(_run(statement, paths).stdout.strip().splitlines()[-1]) for _ in range(repeats)]


def _top_imports(statement: str, paths: list[str], count: int = 8) -> list[dict[str, Any]]:
    """The heaviest packages of one import (outermost import of each, cumulative), from `python -X importtime`."""
    stderr = _run(statement, paths, ("-X", "importtime")).stderr
    outermost: dict[str, tuple[int, int]] = {}  # package → (nesting depth, cumulative microseconds)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = len(name) - len(name.lstrip(" "))
        package = name.strip().split(".")[0]
        if package in ("app", "encodings", "site") or package.startswith("_"):
            continue
        if package not in outermost or depth < outermost[package][0]:
            outermost[package] = (depth, int(cumulative.strip()))
    heaviest = sorted(outermost.items(), key=lambda entry: entry[1][1], reverse=True)[:count]
    return [{"module": name, "ms": round(micros / 1000, 1)} for name, (_, micros) in heaviest]


def measure_cold_start(template: Template, repeats: int) -> dict[str, Any]:
    layer = str(ROOT / "layers" / "stratoflow")
    results: dict[str, Any] = {"repeats": repeats, "functions": {}}
    samples = _seconds("import boto3", [], repeats)
    results["boto3"] = {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "min_ms": round(min(samples) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }
    for info in template.functions.values():
        paths = [str(Path(info.directory)), layer]
        samples = _seconds("import app", paths, repeats)
        results["functions"][info.logical_id] = {
            "module": f"{Path(info.directory).relative_to(ROOT).as_posix()}/app.py",
            "median_ms": round(statistics.median(samples) * 1000, 1),
            "min_ms": round(min(samples) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1),
        }
    heaviest = max(results["functions"], key=lambda name: results["functions"][name]["median_ms"])
    directory = str(template.functions[heaviest].directory)
    results["heaviest"] = {"function": heaviest, "top_imports": _top_imports("import app", [directory, layer])}
    return results
