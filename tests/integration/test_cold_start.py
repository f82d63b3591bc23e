"""Every sample event under events/ as the very first request of a fresh container of its function.

Given the real stack, whose functions run in containers (processes) of their own, and a function with no container
left, When one of its samples (`events/<function folder>_<case>.json`) is invoked, Then a new container starts for it
(a cold start, the sample its first request) and answers as documented: an API event gets an answer below 500 (a 404
for a resource that does not exist, or a 401 for a sample's token the table does not hold, is a documented answer),
and the stream, schedule and sweep events do not raise.

The table is empty but for the dev token: what a sample names need not exist, but nothing may fail because the
container is new. The stack's event sources are stopped so that nothing but the sample reaches a container.

Each container has the environment of its own function: its logs name its own service.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stratoflow_local.runtime import FunctionError
from stratoflow_local.stack import LocalStack
from stratoflow_local.template import load_template

from tests.integration.conftest import REPO, TEMPLATE

SAMPLES = sorted((REPO / "events").glob("*.json"))


@functools.cache
def functions_by_folder() -> dict[str, str]:
    """Code folder -> logical id, from the template read once (parsing it takes a good part of a second)."""
    return {spec.code_dir.name: logical_id for logical_id, spec in load_template(TEMPLATE).functions.items()}


def function_of(sample: Path) -> str:
    """The logical id of the function whose code folder names the sample (`<folder>_<case>.json`)."""
    folders = functions_by_folder()
    folder = max((name for name in folders if sample.stem.startswith(name + "_")), key=len)
    return folders[folder]


@pytest.fixture(scope="module")
def container_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("containers") / "containers.log"


@pytest.fixture(scope="module")
def cold_stack(container_log: Path) -> Iterator[LocalStack]:
    with LocalStack(
        template_path=TEMPLATE,
        tokens="dev:dev-token",
        prewarm=False,
        sweep_seconds=0,
        environment={"POWERTOOLS_LOGGER_LOG_EVENT": "true"},  # every invocation logs its event, with its service
        container_log=container_log,
    ) as stack:
        assert stack.streams is not None and stack.scheduler is not None
        stack.streams.stop()
        stack.scheduler.stop()
        yield stack


def test_every_function_has_a_sample() -> None:
    functions = set(load_template(TEMPLATE).functions)
    assert {function_of(sample) for sample in SAMPLES} == functions


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.stem for sample in SAMPLES])
def test_a_sample_as_the_first_request_of_a_new_container(cold_stack: LocalStack, sample: Path) -> None:
    assert cold_stack.runtime is not None
    function = function_of(sample)
    pool = cold_stack.runtime.pool(function)
    pool.reap(0)  # no container of the function is left
    assert pool.size == 0
    cold_starts = pool.cold_starts
    event = json.loads(sample.read_text(encoding="utf-8"))

    answer: Any = None
    error: FunctionError | None = None
    try:
        answer = cold_stack.invoke(function, event)
    except FunctionError as raised:
        error = raised

    (container,) = pool.containers()
    assert (pool.cold_starts, container.invocations) == (cold_starts + 1, 1)  # a new container, the sample its first
    assert error is None, f"{sample.name}, the first request of {function}: {error.error_type}: {error.error_message}"
    if "routeKey" in event:
        assert isinstance(answer, dict) and int(answer["statusCode"]) < 500, f"{sample.name}: {answer}"
    elif "Records" in event:
        assert isinstance(answer, dict) and isinstance(answer.get("batchItemFailures"), list), answer


def test_every_function_logs_as_its_own_service(cold_stack: LocalStack, container_log: Path) -> None:
    template = cold_stack.template
    for function in template.functions:
        sample = next(sample for sample in SAMPLES if function_of(sample) == function)
        with contextlib.suppress(FunctionError):  # answered or refused, the invocation logged its event
            cold_stack.invoke(function, json.loads(sample.read_text(encoding="utf-8")))

    services: dict[str, set[str]] = {}
    for line in container_log.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and "function_name" in entry:
                services.setdefault(entry["function_name"], set()).add(entry.get("service"))
    expected = {name: {spec.environment["POWERTOOLS_SERVICE_NAME"]} for name, spec in template.functions.items()}
    assert services == expected
