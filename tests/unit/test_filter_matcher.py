"""Lambda event filtering as the stream poller applies it: operators, AND/OR, and the real template's filters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stratoflow_local.filters import FilterPatternError, matches, matches_any, validate
from stratoflow_local.template import load_template

REPO = Path(__file__).resolve().parents[2]

RECORD = {
    "eventName": "INSERT",
    "dynamodb": {
        "Keys": {"pk": {"S": "T#acme#WF#1"}, "sk": {"S": "OUTBOX#CHILD_CANCEL#7"}},
        "NewImage": {"status": {"S": "STARTED"}, "n": {"N": "5"}, "tags": ["a", "b"]},
        "SizeBytes": 120,
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["INSERT"]}, True),
        ({"eventName": ["MODIFY", "INSERT"]}, True),
        ({"eventName": ["MODIFY"]}, False),
        ({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "OUTBOX#CHILD_CANCEL#"}]}}}}, True),
        ({"dynamodb": {"Keys": {"sk": {"S": [{"prefix": "OUTBOX#CASCADE#"}]}}}}, False),
        ({"dynamodb": {"Keys": {"sk": {"S": [{"suffix": "#7"}]}}}}, True),
        ({"eventName": [{"equals-ignore-case": "insert"}]}, True),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"wildcard": "T#*#WF#*"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": ["STARTED"]}]}}}}, False),
        ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": "FIRED"}]}}}}, True),
        ({"dynamodb": {"NewImage": {"status": {"S": [{"anything-but": {"prefix": "ST"}}]}}}}, False),
        ({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 120]}]}}, True),
        ({"dynamodb": {"SizeBytes": [{"numeric": ["<", 100]}]}}, False),
        ({"dynamodb": {"SizeBytes": [120.0]}}, True),
        # DynamoDB numbers are strings in stream records: a numeric filter does not match them
        ({"dynamodb": {"NewImage": {"n": {"N": [{"numeric": ["=", 5]}]}}}}, False),
        ({"dynamodb": {"OldImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"OldImage": {"status": {"S": [{"exists": False}]}}}}, True),
        ({"dynamodb": {"NewImage": [{"exists": True}]}}, True),
        ({"dynamodb": {"NewImage": {"missing": [{"exists": True}]}}}, False),
        ({"dynamodb": {"OldImage": {"status": {"S": ["STARTED"]}}}}, False),
        ({"dynamodb": {"NewImage": {"tags": ["b"]}}}, True),
        ({"dynamodb": {"NewImage": {"tags": ["c"]}}}, False),
        ({"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": ["nope"]}}}}, False),
    ],
)
def test_operators(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, RECORD) is expected


def test_filters_are_ored_and_no_filters_deliver_everything() -> None:
    assert matches_any([], RECORD)
    assert matches_any([{"eventName": ["MODIFY"]}, {"eventName": ["INSERT"]}], RECORD)
    assert not matches_any([{"eventName": ["MODIFY"]}, {"eventName": ["REMOVE"]}], RECORD)


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"eventName": "INSERT"},
        {"eventName": []},
        {"eventName": [{"unknown-op": 1}]},
        {"eventName": [{"exists": "yes"}]},
        {"eventName": [{"prefix": 3}]},
        {"n": [{"numeric": [">"]}]},
        {"n": [{"numeric": ["~", 1]}]},
    ],
)
def test_malformed_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(FilterPatternError):
        validate(pattern)


# ---------------------------------------------------------------- properties

scalars = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans(), st.none())
events = st.recursive(
    st.dictionaries(st.text(min_size=1, max_size=5), scalars, max_size=4),
    lambda children: st.dictionaries(st.text(min_size=1, max_size=5), st.one_of(scalars, children), max_size=4),
    max_leaves=12,
)


def _exact_pattern(event: dict[str, Any]) -> dict[str, Any]:
    """A pattern that requires every leaf of `event` to have its value."""
    pattern: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            inner = _exact_pattern(value)
            if inner:
                pattern[key] = inner
        else:
            pattern[key] = [value]
    return pattern


@given(events)
def test_an_event_matches_the_pattern_of_its_own_values(event: dict[str, Any]) -> None:
    pattern = _exact_pattern(event)
    if pattern:
        assert matches(pattern, event)


@given(st.text(max_size=10), st.text(max_size=10))
def test_prefix_agrees_with_startswith(value: str, prefix: str) -> None:
    assert matches({"k": [{"prefix": prefix}]}, {"k": value}) is value.startswith(prefix)


@given(st.text(max_size=6), st.lists(st.text(max_size=6), min_size=1, max_size=4))
def test_anything_but_is_the_negation_of_equality(value: str, excluded: list[str]) -> None:
    assert matches({"k": [{"anything-but": excluded}]}, {"k": value}) is (value not in excluded)
    assert matches({"k": excluded}, {"k": value}) is (value in excluded)


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-50, 50))
def test_numeric_range(value: int, low: int, high: int) -> None:
    assert matches({"k": [{"numeric": [">=", low, "<", high]}]}, {"k": value}) is (low <= value < high)


@given(st.text(max_size=6))
def test_a_missing_field_matches_only_exists_false(value: str) -> None:
    assert not matches({"k": [value]}, {})
    assert not matches({"k": [{"anything-but": [value]}]}, {})
    assert matches({"k": [{"exists": False}]}, {})
    assert not matches({"k": [{"exists": False}]}, {"k": value})


# ---------------------------------------------------------------- the real template's filters and sample events


def _sample_records(name: str) -> list[dict[str, Any]]:
    return json.loads((REPO / "events" / f"{name}.json").read_text(encoding="utf-8"))["Records"]


@pytest.mark.parametrize(
    ("sample", "child_cancel", "dispatcher"),
    [
        ("propagate_child_cancel_request", True, False),
        ("outbox_dispatcher_cascade", False, True),
        ("outbox_dispatcher_parent_close", False, True),
        ("outbox_dispatcher_timer_started", False, True),
        ("outbox_dispatcher_timer_fired", False, True),
    ],
)
def test_template_filters_route_the_sample_records(sample: str, child_cancel: bool, dispatcher: bool) -> None:
    mappings = {mapping.function: mapping for mapping in load_template(REPO / "template.yaml").stream_mappings}
    for record in _sample_records(sample):
        assert matches_any(mappings["PropagateChildCancelFunction"].filter_patterns, record) is child_cancel
        assert matches_any(mappings["OutboxDispatcherFunction"].filter_patterns, record) is dispatcher


def test_template_filters_ignore_other_writes() -> None:
    mappings = {mapping.function: mapping for mapping in load_template(REPO / "template.yaml").stream_mappings}
    (timer_fired,) = _sample_records("outbox_dispatcher_timer_fired")
    still_started = json.loads(json.dumps(timer_fired))
    still_started["dynamodb"]["NewImage"]["status"] = {"S": "STARTED"}  # a timer updated but not leaving STARTED
    removed_outbox = {"eventName": "REMOVE", "dynamodb": {"Keys": {"sk": {"S": "OUTBOX#CASCADE#1"}}}}
    event_item = {"eventName": "INSERT", "dynamodb": {"Keys": {"sk": {"S": "EV#0000000001"}}, "NewImage": {}}}
    for record in (still_started, removed_outbox, event_item):
        for mapping in mappings.values():
            assert not matches_any(mapping.filter_patterns, record)
