"""Domain tests without moto: the in-memory repository, a fake clock and predictable ids.

The in-memory repository keeps the same items as DynamoDB would (tests/unit/dal runs the same contract on both),
so what these tests assert about stored items holds on the real table too. `STRATOFLOW_UNIT_REPOSITORY=dynamodb`
runs them on moto's in-process DynamoDB instead, with the table built from template.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from stratoflow.config import Settings
from stratoflow.dal.memory import MemoryRepository
from stratoflow.runtime import Runtime
from stratoflow.services import build_runtime

from tests.support.domain import Engine, FakeClock, SequentialIds
from tests.support.moto import REGION, in_process_aws
from tests.support.template import create_table

TABLE = "stratoflow-unit"


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    """moto's in-process mock for one test module, and a DynamoDB client on it."""
    with in_process_aws() as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(table_name=TABLE, timer_schedule_group="StratoflowTimers")


ON_MOTO = os.environ.get("STRATOFLOW_UNIT_REPOSITORY") == "dynamodb"


@pytest.fixture
def dynamodb(request: pytest.FixtureRequest) -> Iterator[Any]:
    """On moto: a fresh table per test, created from template.yaml; in memory: None."""
    if not ON_MOTO:
        yield None
        return
    aws = request.getfixturevalue("aws")
    create_table(aws, TABLE)
    yield aws
    aws.delete_table(TableName=TABLE)


@pytest.fixture
def rt(settings: Settings, clock: FakeClock, dynamodb: Any) -> Runtime:
    if dynamodb is not None:
        return build_runtime(replace(settings, aws_region=REGION), clock=clock, ids=SequentialIds())
    return Runtime(settings, MemoryRepository(TABLE), clock, SequentialIds())


@pytest.fixture
def engine(rt: Runtime, dynamodb: Any) -> Iterator[Engine]:
    """The domain, for tenant acme by default. Whatever a test asserts, its end state must satisfy I1-I4 too."""
    engine = Engine(rt, dynamodb)
    yield engine
    tenants = {item["pk"].split("#")[1] for item in engine.items() if item["pk"].startswith("T#")}
    for tenant in sorted(tenants):
        engine.check(settled=False, tenant=tenant)
