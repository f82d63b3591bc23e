"""What a handler's cold start loads: only what its requests need (docs/benchmarks.md, "Cold start").

Each case imports a real handler in a fresh interpreter with the shared layer on its path, as Lambda would, and
looks at what is in `sys.modules` once the import is done.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from tests.support.handler_probe import REPO, probe_handler

FOLDERS = sorted(path.parent.name for path in (REPO / "functions").glob("*/app.py"))
# The functions that validate with pydantic: the API (Powertools' resolver with validation) and the event parsers.
VALIDATING = {
    "batch_runner",
    "caller_api",
    "cancel_on_event",
    "cancel_task",
    "fire_timer",
    "operator_api",
    "submit_workflow_commands",
    "worker_api",
}

_PROBE = """
import gc, json, sys
import app
modules = sorted(name for name in sys.modules if name.partition(".")[0] in {"pydantic", "boto3"})
print(json.dumps({"modules": modules, "collector": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}))
"""


@functools.cache
def _imported(folder: str) -> dict[str, Any]:
    return probe_handler(folder, _PROBE, {"POWERTOOLS_TRACE_DISABLED": "true"})


def _loaded_by(folder: str) -> set[str]:
    return set(_imported(folder)["modules"])


def test_the_validating_functions_are_functions() -> None:
    assert set(FOLDERS) >= VALIDATING


@pytest.mark.parametrize("folder", sorted(set(FOLDERS) - VALIDATING))
def test_a_function_that_validates_nothing_with_pydantic_never_imports_it(folder: str) -> None:
    loaded = _loaded_by(folder)

    assert not {name for name in loaded if name.startswith("pydantic")}


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_cold_start_imports_boto3_before_a_client_is_needed(folder: str) -> None:
    assert not {name for name in _loaded_by(folder) if name.startswith("boto3")}


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_collector_is_on_again_once_a_handler_is_imported_and_the_import_is_frozen(folder: str) -> None:
    imported = _imported(folder)

    assert (imported["collector"], imported["frozen"]) == (True, True)
