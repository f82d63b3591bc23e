"""moto's in-process AWS for unit tests: dummy credentials, no endpoint or profile of the developer's shell."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

REGION = "us-east-1"

_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": None,
    "AWS_ENDPOINT_URL_DYNAMODB": None,
    "AWS_PROFILE": None,
}


@contextmanager
def in_process_aws() -> Iterator[Any]:
    """moto's mock with a clean AWS environment; yields a DynamoDB client on it (clients are costly to build)."""
    saved = {name: os.environ.get(name) for name in _ENVIRONMENT}
    for name, value in _ENVIRONMENT.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def create_keyed_table(client: Any, name: str, *, attributes: dict[str, str] | None = None, **options: Any) -> None:
    """An on-demand table keyed by `pk` and `sk` (strings); `attributes` adds the types of index keys by name, and
    `options` go to CreateTable as they are (indexes, stream)."""
    types = {"pk": "S", "sk": "S", **(attributes or {})}
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": kind} for key, kind in types.items()],
        BillingMode="PAY_PER_REQUEST",
        **options,
    )
