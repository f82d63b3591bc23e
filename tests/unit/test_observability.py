"""Tracing is the template's choice: with it off, no handler loads the X-Ray SDK; with it on, Powertools' Tracer runs.

Each case imports a real handler in a fresh interpreter with the environment Lambda would give it, since what
`stratoflow.observability` builds is decided once, at import.
"""

from __future__ import annotations

import pytest

from tests.support.handler_probe import REPO, probe_handler

_PROBE = """
import json, sys
import app
from stratoflow import observability
print(json.dumps({"tracer": type(observability.tracer).__name__, "xray": "aws_xray_sdk" in sys.modules}))
"""

_PATCHED = """
import json, sys
import app
from botocore.client import BaseClient
print(json.dumps({"botocore": hasattr(BaseClient._make_api_call, "__wrapped__"), "sqlite3": "sqlite3" in sys.modules}))
"""


def _import_handler(folder: str, environment: dict[str, str], probe: str = _PROBE) -> dict[str, object]:
    return probe_handler(folder, probe, environment)


@pytest.mark.parametrize("folder", ["worker_api", "outbox_dispatcher"])
def test_tracing_off_in_lambda_never_loads_the_xray_sdk(folder: str) -> None:
    lambda_environment = {"LAMBDA_TASK_ROOT": str(REPO / "functions" / folder), "POWERTOOLS_TRACE_DISABLED": "true"}

    assert _import_handler(folder, lambda_environment) == {"tracer": "TracingOff", "xray": False}


def test_tracing_on_in_lambda_uses_powertools_tracer() -> None:
    code_dir = str(REPO / "functions" / "worker_api")
    lambda_environment = {"LAMBDA_TASK_ROOT": code_dir, "POWERTOOLS_TRACE_DISABLED": "false"}

    assert _import_handler("worker_api", lambda_environment) == {"tracer": "Tracer", "xray": True}


def test_tracing_on_patches_botocore_alone_which_every_aws_call_goes_through() -> None:
    code_dir = str(REPO / "functions" / "sweeper")
    lambda_environment = {"LAMBDA_TASK_ROOT": code_dir, "POWERTOOLS_TRACE_DISABLED": "false"}

    assert _import_handler("sweeper", lambda_environment, _PATCHED) == {"botocore": True, "sqlite3": False}


def test_outside_lambda_tracing_is_off_as_powertools_decides() -> None:
    assert _import_handler("worker_api", {}) == {"tracer": "TracingOff", "xray": False}


def test_tracing_off_hands_the_decorated_function_back_unchanged() -> None:
    from stratoflow.observability import TracingOff  # noqa: PLC0415

    def handler(event: dict, context: object) -> dict:
        return event

    tracing_off = TracingOff()
    assert tracing_off.capture_lambda_handler(handler) is handler
    assert tracing_off.capture_method(handler) is handler


@pytest.mark.parametrize(("parameters", "disabled"), [({}, "true"), ({"Tracing": "Active"}, "false")])
def test_the_template_parameter_reaches_every_function(parameters: dict[str, str], disabled: str) -> None:
    from stratoflow_local.template import load_template  # noqa: PLC0415

    functions = load_template(REPO / "template.yaml", parameters).functions

    assert {spec.environment["POWERTOOLS_TRACE_DISABLED"] for spec in functions.values()} == {disabled}
