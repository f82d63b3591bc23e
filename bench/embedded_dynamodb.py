"""TransactWriteItems latency against table size: the embedded endpoint against plain moto.

Plain moto deep-copies every table a transaction touches, so its latency grows with the table; the embedded
endpoint journals only the items the transaction writes. Done when the embedded endpoint's median latency at
20,000 items is within 1.5x of that at 100 items.

Each sample is the shape of a Stratoflow commit: append an event (`attribute_not_exists`), update the execution
conditioned on its version, write an outbox item. "cancelled" samples fail the version condition on the last
action, after the first two were applied, so they measure the rollback.

    .venv/bin/python bench/embedded_dynamodb.py        # prints JSON; about a minute on 2 cores
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Run from a checkout without installing the local stack.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))

import boto3
import moto
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from stratoflow_local.embedded_endpoint import EmbeddedAwsEndpoint

SIZES = (100, 1000, 5000, 20000)
SAMPLES = 21
# Plain moto takes seconds per transaction at 20,000 items: fewer samples keep the run near a minute.
PLAIN_SAMPLES = 3
DONE_WHEN_RATIO = 1.5
PAYLOAD = "x" * 100


@contextmanager
def plain_moto() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def embedded() -> Iterator[str]:
    with EmbeddedAwsEndpoint() as endpoint:
        yield endpoint.url


def client_for(url: str) -> Any:
    """A DynamoDB client of the endpoint at `url` (dummy credentials, no retries)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def create_bench_table(ddb: Any) -> str:
    """A new keyed table with a stream, holding one execution item (`WF#bench`, `WF`); its name."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.put_item(TableName=name, Item={"pk": {"S": "WF#bench"}, "sk": {"S": "WF"}, "ver": {"N": "0"}})
    return name


def _fill(ddb: Any, table: str, start: int, stop: int) -> None:
    for first in range(start, stop, 25):
        batch = [
            {"PutRequest": {"Item": {"pk": {"S": f"FILL#{i}"}, "sk": {"S": "X"}, "data": {"S": PAYLOAD}}}}
            for i in range(first, min(first + 25, stop))
        ]
        ddb.batch_write_item(RequestItems={table: batch})


def _commit(ddb: Any, table: str, seq: int, cancel: bool) -> float:
    # A cancelled commit expects a version that is never current: its last action fails after two were applied.
    expected_version = -1 if cancel else seq
    actions = [
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": "WF#bench"}, "sk": {"S": f"EV#{seq:010d}"}, "data": {"S": PAYLOAD}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        {
            "Put": {
                "TableName": table,
                "Item": {"pk": {"S": "WF#bench"}, "sk": {"S": f"OUTBOX#{seq:010d}"}},
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "WF#bench"}, "sk": {"S": "WF"}},
                "UpdateExpression": "SET ver = ver + :one",
                "ConditionExpression": "ver = :expected",
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":expected": {"N": str(expected_version)}},
            }
        },
    ]
    started = time.perf_counter()
    try:
        ddb.transact_write_items(TransactItems=actions)
    except ClientError as error:
        if not cancel or error.response["Error"]["Code"] != "TransactionCanceledException":
            raise
    else:
        if cancel:
            raise AssertionError("a cancelled sample committed")
    return (time.perf_counter() - started) * 1000


def _measure_server(url: str, sizes: tuple[int, ...], samples: int) -> dict[str, dict[str, float]]:
    ddb = client_for(url)
    table = create_bench_table(ddb)
    version, filled = 0, 0
    results: dict[str, dict[str, float]] = {"committed_ms": {}, "cancelled_ms": {}}
    for size in sorted(sizes):
        _fill(ddb, table, filled, size)
        filled = size
        _commit(ddb, table, version, cancel=False)  # warm-up
        version += 1
        committed, cancelled = [], []
        for _ in range(samples):
            committed.append(_commit(ddb, table, version, cancel=False))
            version += 1
            cancelled.append(_commit(ddb, table, version, cancel=True))
        results["committed_ms"][str(size)] = round(statistics.median(committed), 2)
        results["cancelled_ms"][str(size)] = round(statistics.median(cancelled), 2)
    ddb.delete_table(TableName=table)  # moto's backends are process-global: free the memory for the next run
    return results


def measure(
    sizes: tuple[int, ...] = SIZES, samples: int = SAMPLES, plain_samples: int = PLAIN_SAMPLES
) -> dict[str, Any]:
    """Median TransactWriteItems latency (ms) by table size, through plain moto and the embedded endpoint."""
    # Plain moto first: while an endpoint runs, moto's backends in this process use the journaled transaction.
    with plain_moto() as url:
        plain = _measure_server(url, sizes, plain_samples)
    with embedded() as url:
        endpoint = _measure_server(url, sizes, samples)
    smallest, largest = str(min(sizes)), str(max(sizes))
    ratios = {
        kind: round(endpoint[kind][largest] / endpoint[kind][smallest], 2) for kind in ("committed_ms", "cancelled_ms")
    }
    return {
        "moto_version": moto.__version__,
        "samples_per_size": {"plain_moto": plain_samples, "embedded_endpoint": samples},
        "table": "pk/sk, stream NEW_AND_OLD_IMAGES, items of ~130 bytes",
        "plain_moto": plain,
        "embedded_endpoint": endpoint,
        "embedded_ratio_largest_to_smallest": ratios,
        "done": all(ratio <= DONE_WHEN_RATIO for ratio in ratios.values()),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
