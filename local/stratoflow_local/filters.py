"""Lambda event filtering (FilterCriteria) as the event-source mapping applies it to each stream record.

A mapping's filters are OR'ed; a record is delivered if any pattern matches its JSON. Within a pattern every key
must match (AND); a leaf is a list of matchers, any of which may match (OR). Matchers: literal values (strings,
numbers compared numerically, booleans, null), `prefix`, `suffix`, `equals-ignore-case`, `wildcard`,
`anything-but` (a value, a list, or `{"prefix"|"suffix": ...}`), `numeric` (`[">", 0, "<=", 5]`) and `exists`.
A field holding a list matches if any of its elements does. Only `{"exists": false}` matches a missing field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()
_NUMERIC_OPERATORS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists"}


class FilterPatternError(ValueError):
    """A pattern Lambda would reject (InvalidParameterValueException)."""


def matches_any(patterns: Sequence[Mapping[str, Any]], event: Mapping[str, Any]) -> bool:
    """True if the mapping delivers `event`: no filters at all, or at least one pattern matches."""
    return not patterns or any(matches(pattern, event) for pattern in patterns)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """True if `event` matches one filter pattern."""
    validate(pattern)
    return _match_object(pattern, event)


def validate(pattern: Any, path: str = "") -> None:
    """Raise `FilterPatternError` for a malformed pattern."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise FilterPatternError(f"pattern{path or ''} must be a non-empty object")
    for key, value in pattern.items():
        where = f"{path}.{key}"
        if isinstance(value, Mapping):
            validate(value, where)
        elif isinstance(value, list):
            if not value:
                raise FilterPatternError(f"{where}: a list of matchers must not be empty")
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise FilterPatternError(f"{where}: leaf values must be lists of matchers, got {value!r}")


def _validate_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, str | int | float | bool):
        return
    if not isinstance(matcher, Mapping) or len(matcher) != 1:
        raise FilterPatternError(f"{where}: invalid matcher {matcher!r}")
    ((operator, operand),) = matcher.items()
    if operator not in _OPERATORS:
        raise FilterPatternError(f"{where}: unknown operator {operator!r}")
    if operator == "exists" and not isinstance(operand, bool):
        raise FilterPatternError(f"{where}: exists takes true or false")
    if operator in ("prefix", "suffix", "equals-ignore-case", "wildcard") and not isinstance(operand, str):
        raise FilterPatternError(f"{where}: {operator} takes a string")
    if operator == "numeric":
        if not isinstance(operand, list) or not operand or len(operand) % 2:
            raise FilterPatternError(f"{where}: numeric takes [operator, number, ...]")
        for index in range(0, len(operand), 2):
            if operand[index] not in _NUMERIC_OPERATORS or not _is_number(operand[index + 1]):
                raise FilterPatternError(f"{where}: invalid numeric comparison {operand!r}")


def _match_object(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, sub_pattern in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(sub_pattern, Mapping):
            if isinstance(value, list):
                if not any(_match_object(sub_pattern, element) for element in value):
                    return False
            elif not _match_object(sub_pattern, value if isinstance(value, Mapping) else {}):
                return False
        elif not _match_leaf(sub_pattern, value):
            return False
    return True


def _match_leaf(matchers: Sequence[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(matcher, Mapping) and matcher.get("exists") is False for matcher in matchers)
    candidates = value if isinstance(value, list) else [value]
    return any(_match_one(matcher, candidate) for matcher in matchers for candidate in candidates)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(matcher: Any, value: Any) -> bool:
    if _is_number(matcher) and _is_number(value):
        return bool(matcher == value)
    return type(matcher) is type(value) and matcher == value


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, value)
    ((operator, operand),) = matcher.items()
    if operator == "exists":
        return bool(operand)
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(operand)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if operator == "wildcard":
        regex = ".*".join(re.escape(part) for part in operand.split("*"))
        return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None
    if operator == "numeric":
        if not _is_number(value):
            return False
        return all(_NUMERIC_OPERATORS[operand[index]](value, operand[index + 1]) for index in range(0, len(operand), 2))
    # anything-but
    if isinstance(operand, Mapping):
        return not _match_one(operand, value)
    excluded = operand if isinstance(operand, list) else [operand]
    return not any(_equal(item, value) for item in excluded)
