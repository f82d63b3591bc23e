"""Domain tests without sockets: moto's in-process mock, the table built from template.yaml, a fake clock and ids."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from stratoflow.config import Settings
from stratoflow.dal.items import ExecutionItem, bind
from stratoflow.runtime import Runtime

from tests.support.domain import Engine, FakeClock, SequentialIds
from tests.support.template import create_table

TABLE = "stratoflow-unit"
REGION = "us-east-1"


_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": None,
    "AWS_ENDPOINT_URL_DYNAMODB": None,
    "AWS_PROFILE": None,
}


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    """moto's in-process mock for one test module, and a DynamoDB client on it (clients are costly to build)."""
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


@pytest.fixture
def dynamodb(aws: Any) -> Iterator[Any]:
    """A fresh table per test, created from template.yaml; the models bound to it."""
    create_table(aws, TABLE)
    if (ExecutionItem.Meta.table_name, ExecutionItem.Meta.host) != (TABLE, None):
        bind(TABLE, region=REGION)
    yield aws
    aws.delete_table(TableName=TABLE)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(table_name=TABLE, timer_schedule_group="StratoflowTimers")


@pytest.fixture
def rt(dynamodb: Any, settings: Settings, clock: FakeClock) -> Runtime:
    return Runtime(settings, clock, SequentialIds())


@pytest.fixture
def engine(rt: Runtime, dynamodb: Any) -> Iterator[Engine]:
    """The domain, for tenant acme by default. Whatever a test asserts, its end state must satisfy I1-I4 too."""
    engine = Engine(rt, dynamodb)
    yield engine
    tenants = {item["pk"].split("#")[1] for item in engine.items() if item["pk"].startswith("T#")}
    for tenant in sorted(tenants):
        engine.check(settled=False, tenant=tenant)
