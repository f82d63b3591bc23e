"""Configuration, built once per cold start from the environment the template gives each function.

A frozen dataclass rather than a pydantic model: every function reads its settings, but only the API functions and
the event parsers validate with pydantic, and importing it (with its first model's schema machinery) cost the others
about a third of their cold start. What is checked is small — one required name and three integer ranges — and is
checked the same way: at construction, with an error that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


class InvalidSettings(ValueError):
    """A variable of the function's environment is missing or out of range (a deployment error, not a request's)."""


def _integer(default: int, minimum: int, maximum: int | None = None) -> Any:
    return field(default=default, metadata={"range": (minimum, maximum)})


@dataclass(frozen=True)
class Settings:
    table_name: str
    timer_schedule_group: str = "default"
    fire_timer_function_arn: str = ""
    scheduler_role_arn: str = ""
    timer_dlq_arn: str = ""
    timer_queue_url: str = ""
    # Timers due within this many seconds go through the timer queue's per-message delay (0: Scheduler only).
    timer_last_mile_s: int = _integer(900, 0, 900)
    batch_queue_url: str = ""
    outbox_redrive_after_seconds: int = _integer(60, 0)
    timer_sweep_grace_seconds: int = _integer(90, 0)
    aws_region: str | None = None
    aws_default_region: str | None = None
    aws_endpoint_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.table_name, str) or not self.table_name:
            raise InvalidSettings("TABLE_NAME is required: the name of the workflow table")
        for setting in fields(self):
            if "range" not in setting.metadata:
                continue
            value, (minimum, maximum) = getattr(self, setting.name), setting.metadata["range"]
            name = setting.name.upper()
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidSettings(f"{name} must be a whole number, not {value!r}")
            if value < minimum or (maximum is not None and value > maximum):
                bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
                raise InvalidSettings(f"{name} must be {bounds}, not {value}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from the variables named as their fields in upper case; unset or empty ones keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in fields(cls):
            raw = env.get(setting.name.upper())
            if raw is None or raw == "":
                continue
            values[setting.name] = _parse_integer(setting.name, raw) if "range" in setting.metadata else raw
        if "table_name" not in values:
            raise InvalidSettings("TABLE_NAME is required: the name of the workflow table")
        return cls(**values)


def _parse_integer(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise InvalidSettings(f"{name.upper()} must be a whole number, not {raw!r}") from None
