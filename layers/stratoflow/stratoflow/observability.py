"""One place for Powertools' Logger, Tracer and Metrics, so every handler is decorated the same way.

Tracing is the template's `Tracing` parameter (off by default), which reaches the functions as
`POWERTOOLS_TRACE_DISABLED`. Powertools' `Tracer()` imports the X-Ray SDK and patches botocore even when it is
disabled, which was half of every cold start; so with tracing off `tracer` is a `TracingOff`, whose decorators hand
the function back unchanged, and the X-Ray SDK is never imported.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing import Tracer

Decorated = TypeVar("Decorated", bound=Callable[..., Any])


class TracingOff:
    """The part of `Tracer` the handlers use, for when tracing is off: nothing is recorded or imported."""

    def capture_lambda_handler(self, lambda_handler: Decorated) -> Decorated:
        return lambda_handler

    def capture_method(self, method: Decorated) -> Decorated:
        return method

    def put_annotation(self, key: str, value: str | float | bool) -> None:
        """Nothing to annotate without a trace."""

    def put_metadata(self, key: str, value: Any, namespace: str | None = None) -> None:
        """Nothing to attach to without a trace."""


def tracing_on() -> bool:
    """Powertools' own rule: on inside Lambda unless POWERTOOLS_TRACE_DISABLED is true or a local emulator runs it."""
    if resolve_truthy_env_var_choice(env=os.getenv(constants.TRACER_DISABLED_ENV, "false")):
        return False
    emulated = os.getenv(constants.SAM_LOCAL_ENV) or os.getenv(constants.CHALICE_LOCAL_ENV)
    return bool(os.getenv(constants.LAMBDA_TASK_ROOT_ENV)) and not emulated


# Every call this code makes to AWS goes through botocore (PynamoDB's included), so that is what the X-Ray SDK patches;
# Powertools' default patches every library the SDK supports, importing each one found (sqlite3, httplib, ...).
TRACED_MODULES = ("botocore",)

logger = Logger()
tracer: Tracer | TracingOff = Tracer(patch_modules=TRACED_MODULES) if tracing_on() else TracingOff()
metrics = Metrics()

# Most API requests publish no business metric; an invocation without one is normal, not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")
