"""Request bodies are strict JSON objects (RFC 8259): anything else is a MalformedBody, answered 400."""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow_api.json_body import MAX_JSON_DEPTH, MalformedBody, parse_json_body

NOT_OBJECTS = {
    "array": ('[{"kind": "k"}]', "an array"),
    "string": ('"k"', "a string"),
    "number": ("42", "a number"),
    "boolean": ("true", "a boolean"),
    "null": ("null", "null"),
}


@pytest.mark.parametrize("text,kind", list(NOT_OBJECTS.values()), ids=list(NOT_OBJECTS))
def test_a_body_that_is_json_but_not_an_object_is_refused(text: str, kind: str) -> None:
    with pytest.raises(MalformedBody) as refused:
        parse_json_body(text)
    assert refused.value.message == f"the request body must be a JSON object, not {kind}"
    assert refused.value.details == {"problems": [{"field": "body", "problem": f"expected an object, got {kind}"}]}


NOT_JSON = {
    "truncated": ('{"kind": ', "Expecting value"),
    "NaN": ('{"input": NaN}', "NaN is not JSON"),
    "Infinity": ('{"input": -Infinity}', "-Infinity is not JSON"),
    "float out of range": ('{"input": 1e400}', "1e400 is out of range"),
    "lone surrogate": ('{"input": "\\ud800"}', "surrogates not allowed"),
    "too deep": ('{"input": ' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}", "nested deeper than 128 levels"),
}


@pytest.mark.parametrize("text,problem", list(NOT_JSON.values()), ids=list(NOT_JSON))
def test_text_that_is_not_json_is_refused_with_its_problem(text: str, problem: str) -> None:
    with pytest.raises(MalformedBody) as refused:
        parse_json_body(text)
    assert refused.value.message == "the request body is not valid JSON"
    assert refused.value.code == "INVALID_ARGUMENT"
    [entry] = refused.value.details["problems"]
    assert entry["field"] == "body" and problem in entry["problem"], entry


@pytest.mark.parametrize(
    "text,value",
    [
        ('{"kind": "k", "input": [1, 2.5, "\\ud83d\\ude00"]}', {"kind": "k", "input": [1, 2.5, "\U0001f600"]}),
        (b'{"kind": "k"}', {"kind": "k"}),
        ("{}", {}),
    ],
)
def test_a_json_object_is_read_as_it_is(text: str | bytes, value: Any) -> None:
    assert parse_json_body(text) == value
