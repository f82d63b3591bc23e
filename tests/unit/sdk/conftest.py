"""Fixtures of the SDK's unit tests: a fake server and a client on it."""

from __future__ import annotations

import pytest
from sdk_fake_server import FakeServer, FakeTransport
from sdk_harness import BASE_URL
from stratoflow_sdk import Client


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def client(server: FakeServer) -> Client:
    return Client(BASE_URL, "tok", transport=FakeTransport(server))
