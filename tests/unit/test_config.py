"""The settings a function reads from its environment: defaults, whole numbers in range, and errors that name the
variable to fix."""

from __future__ import annotations

import pytest
from stratoflow.config import InvalidSettings, Settings


def test_the_template_environment_becomes_settings_and_unset_or_empty_variables_keep_their_defaults() -> None:
    settings = Settings.from_environ(
        {"TABLE_NAME": "wf", "TIMER_LAST_MILE_S": "0", "OUTBOX_REDRIVE_AFTER_SECONDS": " 120 ", "TIMER_QUEUE_URL": ""}
    )

    assert settings == Settings(table_name="wf", timer_last_mile_s=0, outbox_redrive_after_seconds=120)
    assert (settings.timer_schedule_group, settings.timer_queue_url, settings.timer_sweep_grace_seconds) == (
        "default",
        "",
        90,
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "TABLE_NAME is required: the name of the workflow table"),
        ({"TABLE_NAME": ""}, "TABLE_NAME is required: the name of the workflow table"),
        ({"TABLE_NAME": "wf", "TIMER_LAST_MILE_S": "901"}, "TIMER_LAST_MILE_S must be between 0 and 900, not 901"),
        ({"TABLE_NAME": "wf", "TIMER_LAST_MILE_S": "-1"}, "TIMER_LAST_MILE_S must be between 0 and 900, not -1"),
        ({"TABLE_NAME": "wf", "OUTBOX_REDRIVE_AFTER_SECONDS": "-5"}, "OUTBOX_REDRIVE_AFTER_SECONDS must be at least 0"),
        ({"TABLE_NAME": "wf", "TIMER_SWEEP_GRACE_SECONDS": "1.5"}, "TIMER_SWEEP_GRACE_SECONDS must be a whole number"),
    ],
)
def test_a_missing_or_out_of_range_variable_is_refused_by_name(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSettings, match=message):
        Settings.from_environ(environ)


def test_settings_built_in_code_are_checked_the_same_way() -> None:
    with pytest.raises(InvalidSettings, match="TIMER_LAST_MILE_S must be between 0 and 900, not 1000"):
        Settings(table_name="wf", timer_last_mile_s=1000)
    with pytest.raises(InvalidSettings, match="TIMER_LAST_MILE_S must be a whole number, not True"):
        Settings(table_name="wf", timer_last_mile_s=True)
