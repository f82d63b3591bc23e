"""The partition query answers every Query exactly as moto's own does: same items, order, pages and counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import GlobalSecondaryIndex, Table
from stratoflow_local import moto_queries

from tests.support.moto import create_keyed_table, in_process_aws

TABLE = "t"
INDEX = "by-group"


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with in_process_aws() as client:
        create_keyed_table(
            client,
            TABLE,
            attributes={"g": "S", "gs": "S"},
            GlobalSecondaryIndexes=[
                {
                    "IndexName": INDEX,
                    "KeySchema": [
                        {"AttributeName": "g", "KeyType": "HASH"},
                        {"AttributeName": "gs", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]},
                }
            ],
        )
        yield client


items = st.lists(
    st.fixed_dictionaries(
        {
            "pk": st.sampled_from(["p1", "p2", "p3"]),
            "sk": st.text("abc", min_size=1, max_size=3),
            "g": st.none() | st.sampled_from(["g1", "g2"]),  # items without it are not in the index
            "gs": st.sampled_from(["x", "y"]),  # shared values: ties broken by the table's keys
            "v": st.integers(0, 9),
        }
    ),
    max_size=25,
)
queries = st.fixed_dictionaries(
    {
        "index": st.booleans(),
        "key": st.sampled_from(["p1", "p2", "p4", "g1", "g2"]),
        "range": st.none() | st.sampled_from(["b", "x"]),
        "limit": st.none() | st.integers(1, 4),
        "forward": st.booleans(),
        "filter": st.booleans(),
    }
)


def _request(query: dict[str, Any]) -> dict[str, Any]:
    hash_name, range_name = ("g", "gs") if query["index"] else ("pk", "sk")
    request: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "#h = :h",
        "ExpressionAttributeNames": {"#h": hash_name},
        "ExpressionAttributeValues": {":h": {"S": query["key"]}},
        "ScanIndexForward": query["forward"],
    }
    if query["index"]:
        request["IndexName"] = INDEX
    if query["range"] is not None:
        request["KeyConditionExpression"] += " AND #r >= :r"
        request["ExpressionAttributeNames"]["#r"] = range_name
        request["ExpressionAttributeValues"][":r"] = {"S": query["range"]}
    if query["limit"] is not None:
        request["Limit"] = query["limit"]
    if query["filter"]:
        request["FilterExpression"] = "v > :v"
        request["ExpressionAttributeValues"][":v"] = {"N": "4"}
    return request


def _all_pages(dynamodb: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    pages = []
    while True:
        page = dynamodb.query(**request)
        page.pop("ResponseMetadata")
        pages.append(page)
        if "LastEvaluatedKey" not in page:
            return pages
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=items, asked=st.lists(queries, min_size=1, max_size=4))
def test_every_page_is_the_one_moto_answers(dynamodb: Any, stored: list[dict[str, Any]], asked: list[Any]) -> None:
    for old in dynamodb.scan(TableName=TABLE)["Items"]:
        dynamodb.delete_item(TableName=TABLE, Key={"pk": old["pk"], "sk": old["sk"]})
    for item in stored:
        attributes = {name: {"S": value} for name, value in item.items() if isinstance(value, str)}
        dynamodb.put_item(TableName=TABLE, Item={**attributes, "v": {"N": str(item["v"])}})
    for query in asked:
        request = _request(query)
        expected = _all_pages(dynamodb, request)
        moto_queries.install()
        try:
            assert moto_queries.is_installed()
            assert _all_pages(dynamodb, request) == expected
        finally:
            moto_queries.uninstall()
        assert not moto_queries.is_installed()


def test_a_query_of_an_absent_partition_creates_nothing(dynamodb: Any) -> None:
    moto_queries.install()
    try:
        answer = dynamodb.query(
            TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "nowhere"}}
        )
    finally:
        moto_queries.uninstall()
    assert answer["Items"] == [] and answer["Count"] == 0
    assert "all_items" not in vars(_table())  # the narrowing never outlives its call


def _table() -> Table:
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

    return dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]


def test_uninstalling_more_often_than_installing_is_refused() -> None:
    with pytest.raises(RuntimeError):
        moto_queries.uninstall()


def test_stream_records_read_with_the_fast_path_are_the_ones_moto_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    credentials = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    with mock_aws():
        dynamodb = boto3.client("dynamodb", **credentials)
        streams = boto3.client("dynamodbstreams", **credentials)
        table = dynamodb.create_table(
            TableName="streamed",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        arn = table["TableDescription"]["LatestStreamArn"]
        item = {
            "pk": {"S": "a"},
            "n": {"N": "1.50"},
            "b": {"B": b"\x00\xffbinary"},
            "t": {"BOOL": True},
            "z": {"NULL": True},
            "l": {"L": [{"S": "x"}, {"N": "2"}]},
            "m": {"M": {"k": {"S": "v"}}},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2"]},
            "bs": {"BS": [b"a"]},
        }
        dynamodb.put_item(TableName="streamed", Item=item)
        dynamodb.put_item(TableName="streamed", Item={**item, "n": {"N": "2"}})
        dynamodb.delete_item(TableName="streamed", Key={"pk": {"S": "a"}})
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

        def read(limit: int) -> list[dict[str, Any]]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
            pages = []
            next_iterator = iterator["ShardIterator"]
            for _ in range(4):
                page = streams.get_records(ShardIterator=next_iterator, Limit=limit)
                next_iterator = page.pop("NextShardIterator")
                page.pop("ResponseMetadata")
                pages.append(page)
            return pages

        expected = read(2)
        assert [record["eventName"] for record in expected[0]["Records"] + expected[1]["Records"]] == [
            "INSERT",
            "MODIFY",
            "REMOVE",
        ]
        moto_queries.install()
        try:
            assert read(2) == expected
        finally:
            moto_queries.uninstall()


attribute_values = st.one_of(
    st.text(max_size=4).map(lambda text: {"S": text}),
    st.sampled_from(["0", "01", "-0", "1.50", "1e3", "12345678901234567890123456789012345678", "-7.25E-3"]).map(
        lambda text: {"N": text}
    ),
    st.just({"B": "YWJj"}),
    st.booleans().map(lambda flag: {"BOOL": flag}),
    st.just({"NULL": True}),
    st.just({"SS": ["b", "a"]}),
    st.just({"NS": ["2", "1.0"]}),
    st.just({"L": [{"S": "x"}, {"N": "1"}]}),
    st.just({"M": {"k": {"S": "v"}}}),
)


@settings(max_examples=200, deadline=None)
@given(
    attributes=st.dictionaries(st.sampled_from(["pk", "sk", "g", "gs", "v", "w", "x"]), attribute_values, max_size=7),
    projection=st.sampled_from(
        [
            {"ProjectionType": "KEYS_ONLY"},
            {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v", "g", "missing"]},
            {"ProjectionType": "ALL"},
            {},
        ]
    ),
)
def test_an_index_projects_every_item_as_moto_projects_it(attributes: dict[str, Any], projection: Any) -> None:
    index = GlobalSecondaryIndex(
        INDEX,
        [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}],
        projection,
        ["pk", "sk"],
    )
    item = Item(hash_key=DynamoType({"S": "p"}), range_key=DynamoType({"S": "s"}), attrs=attributes)

    direct = moto_queries.direct_project(index, item)
    moto_own = moto_queries._original_project(index, item)

    assert (direct.hash_key, direct.range_key) == (moto_own.hash_key, moto_own.range_key)
    assert [(name, value.to_json()) for name, value in direct.attrs.items()] == [
        (name, value.to_json()) for name, value in moto_own.attrs.items()
    ]
