"""The compiled DynamoDB renderer answers every item operation byte-for-byte as moto's serializer does."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Set
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler
from stratoflow_local import moto_responses

from tests.support.moto import create_keyed_table, in_process_aws

TABLE = "t"
SIMPLE_TABLE = "simple"


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    """Every DynamoDB answer of the test: (operation, the renderer's, moto's); the client gets moto's."""
    seen: list[tuple[str, Any, Any]] = []

    def both(self: DynamoHandler, action_result: ActionResult) -> Any:
        fast = moto_responses.render(self, action_result)
        answer = moto_responses._original_serialized(self, action_result)
        # A copy: moto adds the request id to the headers of the answer it sends.
        seen.append((self._get_action(), fast, copy.deepcopy(answer)))
        return answer

    monkeypatch.setattr(DynamoHandler, "serialized", both, raising=False)
    return seen


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with in_process_aws() as client:
        create_keyed_table(
            client,
            TABLE,
            attributes={"g": "S", "n": "N", "l": "S"},
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-g",
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "n", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["m"]},
                }
            ],
            LocalSecondaryIndexes=[
                {
                    "IndexName": "by-l",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "l", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.create_table(
            TableName=SIMPLE_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


EVERY_TYPE = {
    "pk": {"S": "p"},
    "sk": {"S": "s1"},
    "g": {"S": "g1"},
    "n": {"N": "12.50"},
    "l": {"S": "l1"},
    "b": {"B": b"\x00\xffbinary"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "-2.5e3"]},
    "bs": {"BS": [b"x", b"\x01\x02"]},
    "m": {"M": {"deep": {"L": [{"S": "é"}, {"N": "0"}, {"NULL": True}, {"BOOL": False}, {"M": {}}, {"L": []}]}}},
    "nul": {"NULL": True},
    "yes": {"BOOL": True},
    "empty": {"S": ""},
}


def _put_every_shape(client: Any) -> None:
    client.put_item(TableName=TABLE, Item=EVERY_TYPE)
    for index in range(2, 6):
        client.put_item(
            TableName=TABLE,
            Item={**EVERY_TYPE, "sk": {"S": f"s{index}"}, "n": {"N": str(index)}, "l": {"S": f"l{7 - index}"}},
        )


def _assert_every_answer_is_moto_s(answers: list[tuple[str, Any, Any]], rendered: Set[str]) -> None:
    assert answers
    for operation, fast, moto in answers:
        if operation in rendered:
            assert fast is not None, f"{operation} fell back to moto's serializer"
            assert fast == moto, operation
        else:
            assert fast is None, operation


def test_item_operations_are_answered_as_moto_answers(dynamodb: Any, answers: list[tuple[str, Any, Any]]) -> None:
    client = dynamodb
    _put_every_shape(client)
    key = {"pk": {"S": "p"}, "sk": {"S": "s1"}}
    missing = {"pk": {"S": "p"}, "sk": {"S": "nope"}}
    for capacity in ("NONE", "TOTAL", "INDEXES"):
        client.get_item(TableName=TABLE, Key=key, ReturnConsumedCapacity=capacity)
        client.get_item(TableName=TABLE, Key=missing, ReturnConsumedCapacity=capacity)
        client.query(
            TableName=TABLE,
            IndexName="by-g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "g1"}},
            ReturnConsumedCapacity=capacity,
        )
        client.put_item(
            TableName=TABLE,
            Item={**EVERY_TYPE, "sk": {"S": "s9"}},
            ReturnValues="ALL_OLD",
            ReturnConsumedCapacity=capacity,
            ReturnItemCollectionMetrics="SIZE",
        )
    client.get_item(
        TableName=TABLE, Key=key, ProjectionExpression="#m.deep[0], b, ns", ExpressionAttributeNames={"#m": "m"}
    )
    client.get_item(TableName=TABLE, Key=key, ConsistentRead=True, AttributesToGet=["bs", "yes"])
    for forward in (True, False):
        client.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"S": "s2"}, ":b": {"S": "s4"}},
            ScanIndexForward=forward,
            Limit=2,
        )
    page = client.query(
        TableName=TABLE,
        IndexName="by-l",
        KeyConditionExpression="pk = :p",
        FilterExpression="n > :n",
        ExpressionAttributeValues={":p": {"S": "p"}, ":n": {"N": "2"}},
        Limit=3,
    )
    client.query(
        TableName=TABLE,
        IndexName="by-l",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
    )
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "p"}},
        Select="COUNT",
        ReturnConsumedCapacity="TOTAL",
    )
    client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ProjectionExpression="sk, m.deep",
        ExpressionAttributeValues={":p": {"S": "nobody"}},
    )
    client.scan(TableName=TABLE, Limit=2)
    client.scan(TableName=TABLE, IndexName="by-g", ReturnConsumedCapacity="TOTAL")
    for returned in ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
        client.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET n = n + :one, m.deep[1] = :b, extra = :l REMOVE nul ADD ss :s",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":b": {"B": b"\x07"},
                ":l": {"L": [{"NS": ["3"]}]},
                ":s": {"SS": ["c"]},
            },
            ReturnValues=returned,
            ReturnConsumedCapacity="INDEXES",
            ReturnItemCollectionMetrics="SIZE",
        )
    client.delete_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "s5"}}, ReturnValues="ALL_OLD")
    client.delete_item(TableName=TABLE, Key=missing, ReturnConsumedCapacity="TOTAL")
    client.batch_get_item(
        RequestItems={TABLE: {"Keys": [key, missing, {"pk": {"S": "p"}, "sk": {"S": "s2"}}]}},
        ReturnConsumedCapacity="TOTAL",
    )
    client.batch_write_item(
        RequestItems={
            TABLE: [
                {"PutRequest": {"Item": {**EVERY_TYPE, "sk": {"S": "b1"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": "s4"}}}},
            ]
        },
        ReturnConsumedCapacity="TOTAL",
        ReturnItemCollectionMetrics="SIZE",
    )
    client.transact_get_items(
        TransactItems=[{"Get": {"TableName": TABLE, "Key": key}}, {"Get": {"TableName": TABLE, "Key": missing}}],
        ReturnConsumedCapacity="TOTAL",
    )
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**EVERY_TYPE, "sk": {"S": "t1"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key,
                    "UpdateExpression": "SET z = :z",
                    "ExpressionAttributeValues": {":z": {"S": "z"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "p"}, "sk": {"S": "s3"}}}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "p"}, "sk": {"S": "s2"}},
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ],
        ReturnConsumedCapacity="INDEXES",
        ReturnItemCollectionMetrics="SIZE",
    )
    client.put_item(TableName=SIMPLE_TABLE, Item={"id": {"B": b"\x00"}, "v": {"BS": [b"\x01"]}})
    client.get_item(TableName=SIMPLE_TABLE, Key={"id": {"B": b"\x00"}})
    client.scan(TableName=SIMPLE_TABLE)

    operations = {operation for operation, _, _ in answers}
    assert operations >= moto_responses.FAST_OPERATIONS
    _assert_every_answer_is_moto_s(answers, moto_responses.FAST_OPERATIONS)


def test_errors_and_other_operations_stay_with_moto(dynamodb: Any, answers: list[tuple[str, Any, Any]]) -> None:
    client = dynamodb
    _put_every_shape(client)
    answers.clear()
    key = {"pk": {"S": "p"}, "sk": {"S": "s1"}}
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        client.put_item(
            TableName=TABLE,
            Item=EVERY_TYPE,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key,
                        "ConditionExpression": "n = :x",
                        "ExpressionAttributeValues": {":x": {"N": "0"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
        )
    with pytest.raises(ClientError, match="ResourceNotFound"):
        client.get_item(TableName="absent", Key=key)
    client.describe_table(TableName=TABLE)
    client.list_tables()

    _assert_every_answer_is_moto_s(answers, set())


attribute_values = st.recursive(
    st.one_of(
        st.builds(lambda text: {"S": text}, st.text(max_size=8)),
        st.builds(
            lambda number: {"N": str(number)},
            st.integers(-(10**12), 10**12) | st.decimals(places=3).filter(lambda number: number.is_finite()),
        ),
        st.builds(lambda blob: {"B": blob}, st.binary(min_size=1, max_size=8)),
        st.builds(lambda texts: {"SS": sorted(texts)}, st.sets(st.text(max_size=4), min_size=1, max_size=3)),
        st.builds(lambda numbers: {"NS": [str(n) for n in sorted(numbers)]}, st.sets(st.integers(0, 99), min_size=1)),
        st.builds(lambda blobs: {"BS": sorted(blobs)}, st.sets(st.binary(min_size=1, max_size=3), min_size=1)),
        st.just({"NULL": True}),
        st.builds(lambda flag: {"BOOL": flag}, st.booleans()),
    ),
    lambda children: (
        st.builds(lambda items: {"L": items}, st.lists(children, max_size=3))
        | st.builds(
            lambda fields: {"M": fields}, st.dictionaries(st.text(min_size=1, max_size=4), children, max_size=3)
        )
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    attributes=st.dictionaries(
        st.text(min_size=1, max_size=6).filter(lambda name: name not in {"pk", "sk"}), attribute_values, max_size=5
    )
)
def test_any_item_is_answered_as_moto_answers(
    dynamodb: Any, answers: list[tuple[str, Any, Any]], attributes: dict[str, Any]
) -> None:
    answers.clear()
    item = {**attributes, "pk": {"S": "h"}, "sk": {"S": "r"}}
    dynamodb.put_item(TableName=TABLE, Item=item, ReturnValues="ALL_OLD")
    dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "h"}, "sk": {"S": "r"}})
    dynamodb.query(TableName=TABLE, KeyConditionExpression="pk = :h", ExpressionAttributeValues={":h": {"S": "h"}})

    _assert_every_answer_is_moto_s(answers, moto_responses.FAST_OPERATIONS)
