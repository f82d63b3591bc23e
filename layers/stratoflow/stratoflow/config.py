"""Configuration, built once per cold start from the environment the template gives each function."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table_name: str
    timer_schedule_group: str = "default"
    fire_timer_function_arn: str = ""
    scheduler_role_arn: str = ""
    timer_dlq_arn: str = ""
    timer_queue_url: str = ""
    # Timers due within this many seconds go through the timer queue's per-message delay (0: Scheduler only).
    timer_last_mile_s: int = Field(default=900, ge=0, le=900)
    batch_queue_url: str = ""
    outbox_redrive_after_seconds: int = Field(default=60, ge=0)
    timer_sweep_grace_seconds: int = Field(default=90, ge=0)
    aws_region: str | None = None
    aws_default_region: str | None = None
    aws_endpoint_url: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            raw = env.get(name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        return cls.model_validate(values)

