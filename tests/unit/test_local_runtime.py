"""The local Lambda runtime: every container an `awslambdaric` process, with Lambda's environment and lifecycle.

Given a template of small handlers, When they are invoked through `LambdaRuntime`, Then each container is a process
of its own with exactly its function's environment, is reused while warm, is killed past its Timeout, is replaced
after it crashes, reports init errors as Lambda does, and respects the concurrency bounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from stratoflow_local.runtime import Container, FunctionError, LambdaRuntime
from stratoflow_local.template import load_template

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.lambda_handler
    Timeout: 5
    Environment:
      Variables:
        SHARED: from-globals
Resources:
  Probe:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: probe/
      MemorySize: 256
      Environment:
        Variables:
          OWN: probe
  Other:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: probe/
      Environment:
        Variables:
          OWN: other
          SHARED: overridden
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: probe/
      Timeout: 1
  Single:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: probe/
      ReservedConcurrentExecutions: 1
  Broken:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: broken/
"""

PROBE = """
import os
import sys
import time

invocations = 0


def lambda_handler(event, context):
    global invocations
    invocations += 1
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit") is not None:
        os._exit(event["exit"])
    if event.get("raise"):
        raise ValueError(event["raise"])
    return {
        "pid": os.getpid(),
        "invocations": invocations,
        "environ": {key: os.environ.get(key) for key in event.get("variables", [])},
        "path0": sys.path[0:2],
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "request_id": context.aws_request_id,
    }
"""

VARIABLES = [
    "OWN",
    "SHARED",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_EXECUTION_ENV",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE",
    "POWERTOOLS_TRACE_DISABLED",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
    "LEAK_CHECK",
]


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaRuntime]:
    root = tmp_path_factory.mktemp("runtime")
    (root / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    (root / "probe").mkdir()
    (root / "probe" / "app.py").write_text(PROBE, encoding="utf-8")
    (root / "broken").mkdir()
    (root / "broken" / "app.py").write_text("raise KeyError('MISSING_SETTING')\n", encoding="utf-8")
    runtime = LambdaRuntime(load_template(root / "template.yaml"), "http://127.0.0.1:9", max_containers=2)
    yield runtime
    runtime.close()


def probe(runtime: LambdaRuntime, function: str = "Probe", **event: Any) -> dict[str, Any]:
    answer: dict[str, Any] = runtime.invoke(function, {"variables": VARIABLES, **event})
    return answer


def test_a_container_has_exactly_its_functions_environment(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAK_CHECK", "the stack's own environment")
    spec = runtime.template.functions["Probe"]

    answer = probe(runtime)
    other = probe(runtime, "Other")

    assert answer["environ"] == {
        "OWN": "probe",
        "SHARED": "from-globals",
        "AWS_LAMBDA_FUNCTION_NAME": "Probe",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": "app.lambda_handler",
        "LEAK_CHECK": None,
    }
    assert (other["environ"]["OWN"], other["environ"]["SHARED"]) == ("other", "overridden")
    assert answer["pid"] != other["pid"]
    assert (answer["function_name"], answer["memory"]) == ("Probe", "256")  # a string, as awslambdaric reads it
    assert 0 < answer["remaining_ms"] <= 5000


def test_a_warm_container_keeps_its_module_state(runtime: LambdaRuntime) -> None:
    runtime.pool("Probe").reap(0)
    first, second = probe(runtime), probe(runtime)

    assert second["pid"] == first["pid"]
    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert first["request_id"] != second["request_id"]


def test_a_handler_error_is_reported_as_lambda_reports_it(runtime: LambdaRuntime) -> None:
    with pytest.raises(FunctionError) as raised:
        probe(runtime, **{"raise": "bad input"})

    assert (raised.value.error_type, raised.value.error_message) == ("ValueError", "bad input")
    assert any("lambda_handler" in line for line in raised.value.stack_trace)
    assert probe(runtime)["invocations"] >= 1  # the container lives on


def test_past_its_timeout_a_handler_is_killed_and_its_container_replaced(runtime: LambdaRuntime) -> None:
    before = probe(runtime, "Slow")["pid"]

    with pytest.raises(FunctionError) as raised:
        probe(runtime, "Slow", sleep=30)
    after = probe(runtime, "Slow")

    assert raised.value.error_type == "Sandbox.Timedout"
    assert raised.value.error_message.endswith("Error: Task timed out after 1.00 seconds")
    assert after["pid"] != before and after["invocations"] == 1  # a cold start


def test_a_container_that_exits_fails_its_invocation_and_is_replaced(runtime: LambdaRuntime) -> None:
    before = probe(runtime)["pid"]

    with pytest.raises(FunctionError) as raised:
        probe(runtime, exit=3)
    after = probe(runtime)

    assert raised.value.error_type == "Runtime.ExitError"
    assert raised.value.error_message.endswith("Runtime exited with error: exit status 3")
    assert after["pid"] != before and after["invocations"] == 1


def test_an_init_error_fails_the_invocation_and_the_next_one_tries_again(runtime: LambdaRuntime) -> None:
    for _ in range(2):
        with pytest.raises(FunctionError) as raised:
            runtime.invoke("Broken", {})
        assert (raised.value.error_type, raised.value.error_message) == ("KeyError", "'MISSING_SETTING'")
    assert runtime.pool("Broken").size == 0
    assert runtime.pool("Broken").cold_starts == 0  # no container ever became ready


def concurrent(runtime: LambdaRuntime, function: str, count: int) -> set[int]:
    """The processes that served `count` simultaneous invocations."""
    pids: list[int] = []
    barrier = threading.Barrier(count)

    def call() -> None:
        barrier.wait()
        pids.append(probe(runtime, function, sleep=0.5)["pid"])

    threads = [threading.Thread(target=call) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(pids) == count
    return set(pids)


def test_concurrency_is_bounded_by_reserved_concurrency_and_the_local_cap(runtime: LambdaRuntime) -> None:
    assert len(concurrent(runtime, "Single", 2)) == 1  # ReservedConcurrentExecutions: 1
    assert len(concurrent(runtime, "Other", 3)) == 2  # max_containers=2
    assert runtime.pool("Other").size == 2


def test_a_warm_container_released_while_a_new_one_starts_is_taken_at_once(
    runtime: LambdaRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = runtime.pool("Probe")
    pool.reap(0)
    pool.warm()
    (warm,) = pool.containers()
    cold_starts = pool.cold_starts
    may_start = threading.Event()
    start = Container.start

    def held_start(container: Container) -> None:
        assert may_start.wait(30), "the test never let the new container start"
        start(container)

    monkeypatch.setattr(Container, "start", held_start)
    with ThreadPoolExecutor(1) as executor:
        with pool.container() as busy:
            assert busy is warm
            waiting = executor.submit(pool._acquire)
            assert wait_until(lambda: pool.size == 2)  # a new container is starting for the waiting invocation
        taken = waiting.result(timeout=30)  # the warm one, released, while the new one still waits to start

        assert taken is warm and not may_start.is_set()
        may_start.set()
        assert wait_until(lambda: pool.cold_starts == cold_starts + 1)
        assert len(pool.containers()) == 2  # the new one is idle, for the next invocation
        pool._release(taken)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_idle_containers_are_stopped(runtime: LambdaRuntime) -> None:
    probe(runtime)
    pool = runtime.pool("Probe")
    assert pool.size >= 1

    assert pool.reap(0) >= 1

    assert pool.size == 0
    assert probe(runtime)["invocations"] == 1


def test_each_container_signs_with_its_own_access_key(runtime: LambdaRuntime, tmp_path: Path) -> None:
    probe(runtime)
    (container,) = runtime.pool("Probe").containers()
    assert container.access_key_id.startswith("AKLOCAL_Probe_")
    assert runtime.invocation_of(container.access_key_id) == ("Probe", None)  # idle: no invocation running
    assert runtime.invocation_of("testing") is None
