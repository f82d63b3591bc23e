"""The data layer's boundary: only `stratoflow.dal` touches PynamoDB and botocore, and no read needs a write first."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DAL = ROOT / "layers" / "stratoflow" / "stratoflow" / "dal"
STORAGE_LIBRARIES = ("pynamodb", "botocore")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_no_module_outside_the_dal_imports_pynamodb_or_botocore() -> None:
    sources = sorted((ROOT / "layers").rglob("*.py")) + sorted((ROOT / "functions").rglob("*.py"))
    assert len(sources) > 30
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] in STORAGE_LIBRARIES)
        for path in sources
        if DAL not in path.parents
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}
    assert "pynamodb.models" in imported_modules(DAL / "items.py")  # the check sees imports where they are


@pytest.mark.parametrize(
    ("sample", "status", "body"),
    [
        ("caller_api_get_workflow.json", 404, "NOT_FOUND"),
        ("caller_api_get_task.json", 404, "NOT_FOUND"),
        ("caller_api_get_workflow_events.json", 404, "NOT_FOUND"),
        ("caller_api_list_workflows.json", 200, {"workflows": [], "nextToken": None}),
        ("operator_api_get_batch.json", 404, "NOT_FOUND"),
        ("operator_api_list_batches.json", 200, {"batches": [], "nextToken": None}),
    ],
)
def test_regression_a_cold_caller_api_whose_first_request_is_a_read_answers_it(
    sample: str, status: int, body: object
) -> None:
    """Bug: the table was bound only by the write paths; a cold container's first read answered 500 (table unbound)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(ROOT)])}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("cold_read.py")), sample],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["statusCode"] == status
    assert (answer["body"]["error"]["code"] if status >= 400 else answer["body"]) == body
