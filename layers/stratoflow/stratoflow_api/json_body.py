"""Request bodies are strict JSON objects (RFC 8259), whatever the Content-Type says.

API Gateway passes a body through as it came, and `curl -d` labels JSON `application/x-www-form-urlencoded`: the
body is read as JSON in every case, so the answer never depends on a header the caller may not know it sent.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from stratoflow.errors import InvalidArgument

# Deeper JSON could not be read back (the history, a poll) by a recursive parser such as Python's, so it is refused.
MAX_JSON_DEPTH = 128
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class MalformedBody(InvalidArgument):
    """A body that is not what the route takes: answered 400 once the path's resources are known to exist."""


def not_json(problem: str) -> MalformedBody:
    return MalformedBody("the request body is not valid JSON", problems=[{"field": "body", "problem": problem}])


def _not_json_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _check_json_value(value: Any, text: str) -> None:
    """Depth and Unicode checks json.loads does not make (iterative: the value may be deep)."""
    may_be_deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    may_hold_surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if not (may_be_deep or may_hold_surrogates):
        return
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and may_hold_surrogates:
            item.encode("utf-8")  # a lone surrogate (\ud800) is not Unicode text: UnicodeEncodeError


def parse_json_body(text: str | bytes) -> dict[str, Any]:
    """A request body as a JSON object; anything else raises InvalidArgument (400).

    Stricter than json.loads, which accepts what would fail later as a 5xx or be stored unreadable: NaN and Infinity
    (not JSON), a number too large for a float or too long for an int, a lone surrogate (not Unicode text), and
    nesting deeper than MAX_JSON_DEPTH. A body that is JSON but not an object (an array, a string, a number) is
    refused too: every body of the API is an object.
    """
    source = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    try:
        value = json.loads(text, parse_constant=_not_json_constant, parse_float=_finite)
        _check_json_value(value, source)
    except json.JSONDecodeError as error:
        raise not_json(error.msg) from None
    except RecursionError:
        raise not_json(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:  # UnicodeError included
        raise not_json(str(error)) from None
    if not isinstance(value, dict):
        raise MalformedBody(
            f"the request body must be a JSON object, not {_json_type(value)}",
            problems=[{"field": "body", "problem": f"expected an object, got {_json_type(value)}"}],
        )
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


class JsonBodyValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, reading every body as JSON (it would parse a form or answer 415)."""

    def _get_body(self, app: Any) -> dict[str, Any]:
        return self._parse_json_data(app)
