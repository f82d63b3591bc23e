"""Domain tests without sockets: moto's in-process mock, the table built from template.yaml, a fake clock and ids."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from stratoflow.config import Settings
from stratoflow.dal.items import bind
from stratoflow.runtime import Runtime

from tests.support.domain import Engine, FakeClock, SequentialIds
from tests.support.template import create_table

TABLE = "stratoflow-unit"
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.fixture
def dynamodb(aws: None) -> object:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, TABLE)
    bind(TABLE, region=REGION)
    return client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(table_name=TABLE, timer_schedule_group="StratoflowTimers")


@pytest.fixture
def rt(dynamodb: object, settings: Settings, clock: FakeClock) -> Runtime:
    return Runtime(settings, clock, SequentialIds())


@pytest.fixture
def engine(rt: Runtime, dynamodb: object) -> Engine:
    return Engine(rt, dynamodb)
