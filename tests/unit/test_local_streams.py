"""Pure parts of the stream poller: the Lambda record shape and the reordering used by tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from stratoflow_local.streams import lambda_record, reorder_batch

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"


def _record(key: str, sequence: int) -> dict[str, Any]:
    return {"dynamodb": {"Keys": {"pk": {"S": key}}, "SequenceNumber": str(sequence)}}


@given(st.lists(st.sampled_from("abcde"), max_size=30), st.integers(0, 2**32))
def test_reorder_keeps_each_items_order_and_every_record(keys: list[str], seed: int) -> None:
    records = [_record(key, index) for index, key in enumerate(keys)]
    shuffled = reorder_batch(records, random.Random(seed))
    assert sorted(shuffled, key=lambda r: int(r["dynamodb"]["SequenceNumber"])) == records
    for key in set(keys):
        same_item = [r for r in shuffled if r["dynamodb"]["Keys"]["pk"]["S"] == key]
        assert same_item == [r for r in records if r["dynamodb"]["Keys"]["pk"]["S"] == key]


def test_reorder_is_seeded() -> None:
    records = [_record(f"k{index}", index) for index in range(10)]
    assert reorder_batch(records, random.Random(3)) == reorder_batch(records, random.Random(3))
    assert reorder_batch(records, random.Random(3)) != records


def test_lambda_record_shape() -> None:
    boto_record = {
        "eventID": "e1",
        "eventName": "MODIFY",
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {"pk": {"S": "a"}, "blob": {"B": b"\x00\x01"}, "set": {"BS": [b"\x02"]}},
            "OldImage": {"pk": {"S": "a"}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    record = lambda_record(boto_record, STREAM)
    assert record["eventSourceARN"] == STREAM
    assert record["eventVersion"] == "1.1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(
        datetime(2026, 11, 24, 6, 0, tzinfo=UTC).timestamp()
    )
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AAE="}
    assert record["dynamodb"]["NewImage"]["set"] == {"BS": ["Ag=="]}
    assert record["dynamodb"]["OldImage"] == {"pk": {"S": "a"}}
