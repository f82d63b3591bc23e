"""Updates give the same items and the same errors with moto's expression machinery and with the cheaper one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from stratoflow_local import moto_expressions

from tests.support.moto import create_keyed_table, in_process_aws

TABLE = "t"
KEY = {"pk": {"S": "p"}, "sk": {"S": "s"}}
ITEM = {
    **KEY,
    "status": {"S": "PENDING"},
    "n": {"N": "5"},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2"]},
    "list": {"L": [{"S": "x"}, {"N": "1"}]},
    "map": {"M": {"inner": {"M": {"deep": {"S": "d"}}}, "count": {"N": "0"}}},
    "dispatchAt": {"N": "10"},
    "dispatchPk": {"S": "Q"},
}

# (update expression, names, values, condition): valid updates, then every kind of error the validators raise.
UPDATES: list[tuple[str, dict[str, str], dict[str, Any], str | None]] = [
    (
        "SET #0 = :2, #2 = :3, #3 = :4, #4 = :5, #5 = :6, #6 = :7, #7 = :8 REMOVE #8, #1 ADD #9 :9, #10 :10",
        {
            "#0": "status",
            "#1": "dispatchAt",
            "#2": "leaseId",
            "#3": "leaseMs",
            "#4": "leaseExpiresAt",
            "#5": "sweepPk",
            "#6": "sweepAt",
            "#7": "updatedAt",
            "#8": "dispatchPk",
            "#9": "attempt",
            "#10": "ver",
        },
        {
            ":0": {"S": "PENDING"},
            ":1": {"N": "100"},
            ":2": {"S": "RUNNING"},
            ":3": {"S": "lease"},
            ":4": {"N": "60000"},
            ":5": {"N": "1796643722982"},
            ":6": {"S": "SWEEP#1"},
            ":7": {"N": "1796643722982"},
            ":8": {"S": "2026-12-07T11:41:02.982Z"},
            ":9": {"N": "1"},
            ":10": {"N": "1"},
        },
        "(#0 = :0 AND #1 <= :1)",
    ),
    ("SET n = n + :one, #l = list_append(#l, :more)", {"#l": "list"}, {":one": {"N": "1"}, ":more": {"L": []}}, None),
    (
        "SET created = if_not_exists(created, :now), #m.#i.deep = :d",
        {"#m": "map", "#i": "inner"},
        {":now": {"S": "t"}, ":d": {"N": "1"}},
        None,
    ),
    (
        "SET #l[0] = :x, #m.#c = #m.#c - :one",
        {"#l": "list", "#m": "map", "#c": "count"},
        {":x": {"BOOL": True}, ":one": {"N": "1"}},
        None,
    ),
    ("REMOVE #l[1], #m.#i", {"#l": "list", "#m": "map", "#i": "inner"}, {}, None),
    ("ADD tags :t, nums :n", {}, {":t": {"SS": ["c"]}, ":n": {"NS": ["3"]}}, None),
    ("DELETE tags :gone", {}, {":gone": {"SS": ["a"]}}, None),
    ("SET a = :a SET b = :b", {}, {":a": {"S": "a"}, ":b": {"S": "b"}}, None),
    ("ADD n :one ADD nums :n", {}, {":one": {"N": "1"}, ":n": {"NS": ["9"]}}, None),
    ("REMOVE a REMOVE b", {}, {}, None),
    ("SET n = :a REMOVE n", {}, {":a": {"N": "1"}}, None),
    ("SET #m.inner = :a, #m.inner.deep = :b", {"#m": "map"}, {":a": {"M": {}}, ":b": {"S": "b"}}, None),
    ("SET pk = :a", {}, {":a": {"S": "other"}}, None),
    ("ADD #s :one", {"#s": "status"}, {":one": {"N": "1"}}, None),
    ("SET n = #s + :one", {"#s": "status"}, {":one": {"N": "1"}}, None),
    ("SET n = :missing", {}, {":one": {"N": "1"}}, None),
    ("SET n = nope.deeper + :one", {}, {":one": {"N": "1"}}, None),
    ("SET = :one", {}, {":one": {"N": "1"}}, None),
    ("SET n = :one", {}, {":one": {"N": "1"}, ":other": {"S": "DONE"}}, "attribute_not_exists(n) OR n = :other"),
    ("SET sk2 = :empty", {}, {":empty": {"S": ""}}, None),
]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with in_process_aws() as client:
        create_keyed_table(client, TABLE)
        yield client


def _outcomes(client: Any) -> list[Any]:
    """Each update twice (the second time from a remembered tree) on a fresh item: its answer or error, the item."""
    outcomes: list[Any] = []
    for expression, names, values, condition in UPDATES:
        for _ in range(2):
            client.put_item(TableName=TABLE, Item=ITEM)
            arguments: dict[str, Any] = {
                "TableName": TABLE,
                "Key": KEY,
                "UpdateExpression": expression,
                "ReturnValues": "ALL_NEW",
            }
            if names:
                arguments["ExpressionAttributeNames"] = names
            if values:
                arguments["ExpressionAttributeValues"] = values
            if condition:
                arguments["ConditionExpression"] = condition
            try:
                answer: Any = client.update_item(**arguments)["Attributes"]
            except ClientError as error:
                answer = error.response["Error"]
            outcomes.append((expression, answer, client.get_item(TableName=TABLE, Key=KEY)["Item"]))
    return outcomes


def test_every_update_has_moto_s_outcome(dynamodb: Any) -> None:
    assert not moto_expressions.is_installed()
    expected = _outcomes(dynamodb)
    moto_expressions.install()
    try:
        assert moto_expressions.is_installed()
        actual = _outcomes(dynamodb)
    finally:
        moto_expressions.uninstall()

    assert not moto_expressions.is_installed()
    assert actual == expected
    errors = {answer["Code"] for _, answer, _ in expected if "Code" in answer}
    assert errors == {"ValidationException", "ConditionalCheckFailedException"}  # the error cases did fail
    assert (
        sum(1 for _, answer, _ in expected if "Code" not in answer) == 16
    )  # and the valid ones did not: 8 updates, twice each


def test_uninstalling_gives_moto_its_methods_back() -> None:
    original = moto_expressions.DepthFirstTraverser.traverse
    moto_expressions.install()
    moto_expressions.install()
    moto_expressions.uninstall()
    assert moto_expressions.is_installed()
    moto_expressions.uninstall()

    assert moto_expressions.DepthFirstTraverser.traverse is original
    with pytest.raises(RuntimeError):
        moto_expressions.uninstall()
