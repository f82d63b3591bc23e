"""When a schedule is due, how token lists are read, and holding the periodic ticker."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from stratoflow_local.scheduler import PeriodicTicker, due_time
from stratoflow_local.template import load_template
from stratoflow_local.tokens import ALL_SCOPES, TokenSpec, parse_token, parse_tokens

REPO = Path(__file__).resolve().parents[2]


def _schedule(expression: str, payload: object = None, zone: str | None = None) -> dict[str, object]:
    schedule: dict[str, object] = {"ScheduleExpression": expression, "Target": {"Arn": "arn"}}
    if payload is not None:
        schedule["Target"] = {"Arn": "arn", "Input": json.dumps(payload)}
    if zone:
        schedule["ScheduleExpressionTimezone"] = zone
    return schedule


def test_at_expression_is_due_at_its_second() -> None:
    assert due_time(_schedule("at(2026-11-24T06:00:01)")) == datetime(2026, 11, 24, 6, 0, 1, tzinfo=UTC).timestamp()


def test_fire_at_in_the_input_wins_over_the_rounded_second() -> None:
    payload = {"timerId": "t", "fireAt": "2026-11-24T06:00:00.250Z"}
    assert due_time(_schedule("at(2026-11-24T06:00:01)", payload)) == (
        datetime(2026, 11, 24, 6, 0, 0, 250000, tzinfo=UTC).timestamp()
    )


def test_timezone_is_honoured() -> None:
    assert due_time(_schedule("at(2026-11-24T07:00:00)", zone="Europe/Paris")) == (
        datetime(2026, 11, 24, 6, 0, tzinfo=UTC).timestamp()
    )


def test_rate_schedules_are_not_one_time() -> None:
    assert due_time(_schedule("rate(1 minute)")) is None


def test_token_entries() -> None:
    assert parse_tokens("acme:tok-a, acme:tok-ro:client ,globex:tok-g:worker+client") == [
        TokenSpec("acme", "tok-a", ALL_SCOPES),
        TokenSpec("acme", "tok-ro", frozenset({"client"})),
        TokenSpec("globex", "tok-g", ALL_SCOPES),
    ]
    assert parse_tokens("") == []


@pytest.mark.parametrize("entry", ["acme", "acme:", ":tok", "a:b:c:d", "acme:tok:admin", "acme:tok:"])
def test_bad_token_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_token(entry)


def test_a_held_ticker_skips_its_ticks_and_ticks_again_once_released() -> None:
    template = load_template(REPO / "template.yaml")
    invoked = threading.Semaphore(0)
    ticker = PeriodicTicker(template, lambda function, payload: invoked.release(), period=0.01)
    ticker.start()
    try:
        assert invoked.acquire(timeout=10)  # ticking
        with ticker.held():
            during = sum(invoked.acquire(timeout=0.05) for _ in range(6))  # thirty periods
        assert during <= 1  # at most the tick that was under way when the hold began
        assert invoked.acquire(timeout=10)  # ticking again
    finally:
        ticker.stop()
