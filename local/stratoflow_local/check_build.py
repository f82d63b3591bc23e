"""Prove the packaging of `sam build`: import every built handler as the Lambda runtime would.

    python -m stratoflow_local.check_build .aws-sam/build

For each function of the built template, a fresh interpreter without site-packages (`python -S`) gets on its path
only the function's build folder, the `python/` folder of each of its built layers, and the packages the Lambda
Python runtime itself provides (boto3 and its dependencies, linked from this environment). It imports the handler
module and checks the handler is callable. A dependency missing from a layer fails here, not in AWS.

It also checks that every module of every built layer ships its `.pyc` for this Python, hash-based: Lambda's `/opt`
is read-only, so a module without one is compiled again at every cold start, and a timestamp-based one is stale as
soon as zipping changes its source's mtime.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stratoflow_local.template import FUNCTION_TYPES, load_yaml

# What the python3.11 Lambda runtime ships besides the standard library.
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "urllib3", "six")

_PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
module_name, attribute = sys.argv[2], sys.argv[3]
module = importlib.import_module(module_name)
handler = getattr(module, attribute)
assert callable(handler), f"{module_name}.{attribute} is not callable"
"""


def link_runtime_packages(target: Path) -> None:
    """Link the packages the Lambda runtime provides into `target`."""
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{name} is not installed here; it is needed to emulate the Lambda runtime")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)


def uncompiled_modules(folder: Path) -> list[Path]:
    """The modules under `folder` without a hash-based `.pyc` for this interpreter beside them."""
    missing = []
    for source in sorted(folder.rglob("*.py")):
        cached = Path(importlib.util.cache_from_source(str(source)))
        # The header's flags word (bytes 4-8) has bit 0 set for a hash-based .pyc (PEP 552).
        if not cached.is_file() or not int.from_bytes(cached.read_bytes()[4:8], "little") & 1:
            missing.append(source)
    return missing


def _layer_folders(document: dict, build_dir: Path) -> list[Path]:
    return [
        build_dir / str(resource["Properties"]["ContentUri"]) / "python"
        for resource in document["Resources"].values()
        if resource.get("Type") in LAYER_TYPES
    ]


def check(build_dir: Path) -> list[str]:
    """Import each built handler; return one message per failure."""
    document = load_yaml(build_dir / "template.yaml")
    resources = document["Resources"]
    globals_function = (document.get("Globals", {}) or {}).get("Function", {}) or {}
    jobs: list[tuple[str, list[str], str, str]] = []
    with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as runtime_dir:
        link_runtime_packages(Path(runtime_dir))
        for logical_id, resource in resources.items():
            if resource.get("Type") not in FUNCTION_TYPES:
                continue
            properties = {**globals_function, **(resource.get("Properties", {}) or {})}
            layers = [*(globals_function.get("Layers") or []), *(resource.get("Properties", {}).get("Layers") or [])]
            paths = [str((build_dir / str(properties["CodeUri"])).resolve())]
            for layer in layers:
                layer_id = layer.get("Ref") if isinstance(layer, dict) else None
                if layer_id in resources:
                    content = resources[layer_id]["Properties"]["ContentUri"]
                    paths.append(str((build_dir / str(content) / "python").resolve()))
            paths.append(runtime_dir)
            module, _, attribute = str(properties.get("Handler", "app.lambda_handler")).rpartition(".")
            jobs.append((logical_id, paths, module, attribute))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(_probe, jobs))
    for folder in _layer_folders(document, build_dir):
        missing = uncompiled_modules(folder)
        if missing:
            shown = ", ".join(str(path.relative_to(folder)) for path in missing[:5])
            results.append(f"{folder}: {len(missing)} modules ship without a hash-based .pyc (e.g. {shown})")
    return [message for message in results if message]


def _probe(job: tuple[str, list[str], str, str]) -> str:
    logical_id, paths, module, attribute = job
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    completed = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE, json.dumps(paths), module, attribute],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    if completed.returncode != 0:
        return f"{logical_id}: import of {module}.{attribute} failed:\n{completed.stderr.strip()}"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("build_dir", nargs="?", default=".aws-sam/build")
    arguments = parser.parse_args(argv)
    build_dir = Path(arguments.build_dir)
    if not (build_dir / "template.yaml").is_file():
        print(f"{build_dir}/template.yaml not found: run `sam build` first", file=sys.stderr)
        return 2
    failures = check(build_dir)
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        return 1
    print(f"every built handler imports ({build_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
