"""Crash injection over the cancellation handlers: every (handler, k, fault) case, retried as AWS would retry it.

Run as a program, in a process of its own (moto in process, the handlers' table models bound to it):

    python -m tests.support.crashes --out results.json [scenario ...]

For each scenario: a fault-free run of the Lambda handler (functions/<name>/app.py, invoked with the event its trigger
sends) records how many AWS calls it makes (N) and the end state. Then, for each fault kind (`before`: the k-th call
never happens; `after`: it happens but its answer is lost) and each k in 1..N, on a fresh table: the same scenario,
the handler with the fault, then the retries its trigger makes (the client repeats an API request that failed with a
5xx, the stream event source redelivers a record reported failed, Scheduler re-invokes fire-timer) until one
succeeds, then the follow-ups the stream would deliver. The end state must equal the fault-free one (every item, its
version aside), and the invariant checker (I1-I4, settled) must hold.

The results file holds, per scenario, N, the cases run, how many crashed, the retries they needed and any failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TABLE = "stratoflow-crashes"
REGION = "us-east-1"
TENANT = "acme"
MAX_RETRIES = 5
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:123456789012:table/{TABLE}/stream/2026-01-01T00:00:00.000"
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": TABLE,
    "TIMER_SCHEDULE_GROUP": "StratoflowTimers",
    "POWERTOOLS_SERVICE_NAME": "crash-tests",
    "POWERTOOLS_METRICS_NAMESPACE": "StratoflowCrashTests",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "CRITICAL",
}


@dataclass
class Invocation:
    """One Lambda invocation: which function, with which event; `succeeded` reads its answer."""

    function: str
    event: dict[str, Any]
    succeeded: Callable[[Any], bool]


@dataclass
class ScenarioResult:
    calls: list[str] = field(default_factory=list)
    cases: int = 0
    crashed: int = 0
    retries: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "crash-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:crash-test"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/crash-test"
    log_stream_name = "local"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


# ---------------------------------------------------------------------- events as the triggers send them


def token_of(scopes: str) -> str:
    """The token of tenant TENANT with these scopes (space-separated) that every fresh table holds."""
    return "crash-" + "-".join(sorted(scopes.split()))


def api_event(method: str, resource: str, path_parameters: dict[str, str], body: Any, scopes: str) -> dict[str, Any]:
    path = resource
    for name, value in path_parameters.items():
        path = path.replace("{" + name + "}", value)
    route_key = f"{method} {resource}"
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": f"/dev{path}",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {token_of(scopes)}"},
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "http": {"method": method, "path": f"/dev{path}", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "dev",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def stream_event(dynamodb: Any, pk: str, sk: str) -> dict[str, Any]:
    """The INSERT record of an item as the stream carries it (keys and new image)."""
    image = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True)["Item"]
    return {
        "Records": [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": {
                    "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "NewImage": image,
                    "SequenceNumber": "1",
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": STREAM_ARN,
            }
        ]
    }


def api_ok(response: Any) -> bool:
    """API Gateway turns a function error into 502; a 5xx answer is retried by the client, anything else is final."""
    return isinstance(response, dict) and int(response.get("statusCode", 500)) < 500


def batch_ok(response: Any) -> bool:
    return isinstance(response, dict) and response.get("batchItemFailures") == []


def invoked_ok(response: Any) -> bool:
    return isinstance(response, dict)


# ---------------------------------------------------------------------- scenarios: set up, then the invocation


def _scenarios(engine: Any, dynamodb: Any) -> dict[str, Callable[[], Invocation]]:
    def submit(wid: str, lease: str, commands: list[dict[str, Any]]) -> Invocation:
        body = {"leaseId": lease, "commands": commands}
        event = api_event("POST", "/v1/worker/workflows/{id}/commands", {"id": wid}, body, "worker")
        return Invocation("submit_workflow_commands", event, api_ok)

    def woken(commands: list[dict[str, Any]]) -> tuple[str, str]:
        """A workflow that submitted `commands` and a short timer, woken by the timer and claimed again."""
        wid = engine.start()["workflowExecutionId"]
        engine.run(wid, [*commands, {"type": "START_TIMER", "timerId": "tick", "durationMs": 1}])
        engine.fire(wid, "tick")
        return wid, engine.claim(wid)

    def child(name: str, policy: str = "REQUEST_CANCEL") -> dict[str, Any]:
        return {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": name,
            "childWorkflowExecutionId": name,
            "workflowKind": "child",
            "parentClosePolicy": policy,
        }

    def outbox(wid: str, prefix: str) -> tuple[str, str]:
        items = dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": {"S": f"T#{TENANT}#WF#{wid}"}, ":prefix": {"S": prefix}},
            ConsistentRead=True,
        )["Items"]
        assert len(items) == 1, items
        return items[0]["pk"]["S"], items[0]["sk"]["S"]

    def cancel_task() -> Invocation:
        wid = engine.start()["workflowExecutionId"]
        engine.run(wid, [{"type": "SCHEDULE_TASK", "taskExecutionId": "t", "kind": "work"}])
        engine.claim_task("t")
        event = api_event(
            "POST", "/v1/tasks/{taskExecutionId}/cancel", {"taskExecutionId": "t"}, {"reason": "stop"}, "client"
        )
        return Invocation("cancel_task", event, api_ok)

    def submit_request_cancel_task() -> Invocation:
        wid, lease = woken([{"type": "SCHEDULE_TASK", "taskExecutionId": "t", "kind": "work"}])
        engine.claim_task("t")
        return submit(wid, lease, [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "t", "reason": "cleanup"}])

    def submit_cancel_timer() -> Invocation:
        wid, lease = woken([{"type": "START_TIMER", "timerId": "t", "durationMs": 60_000}])
        return submit(wid, lease, [{"type": "CANCEL_TIMER", "timerId": "t"}])

    def submit_request_cancel_child() -> Invocation:
        wid, lease = woken([child("c")])
        return submit(
            wid,
            lease,
            [
                {
                    "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                    "childExecutionName": "c",
                    "childWorkflowExecutionId": "c",
                    "reason": "cleanup",
                }
            ],
        )

    def propagate(child_ends_first: bool) -> Callable[[], Invocation]:
        def scenario() -> Invocation:
            wid, lease = woken([child("c")])
            if child_ends_first:
                engine.run("c", [{"type": "COMPLETE_WORKFLOW", "output": 1}])
            engine.submit(
                wid,
                lease,
                [
                    {
                        "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                        "childExecutionName": "c",
                        "childWorkflowExecutionId": "c",
                        "reason": "cleanup",
                    }
                ],
            )
            key = outbox(wid, "OUTBOX#CHILD_CANCEL#")
            return Invocation("propagate_child_cancel", stream_event(dynamodb, *key), batch_ok)

        return scenario

    def dispatcher_cascade() -> Invocation:
        root = engine.start()["workflowExecutionId"]
        engine.run(root, [child("a"), child("b")])
        engine.run("a", [child("a1")])
        engine.run("b", [{"type": "COMPLETE_WORKFLOW"}])
        engine.cancel(root, "shutdown")
        key = outbox(root, "OUTBOX#CASCADE#")
        return Invocation("outbox_dispatcher", stream_event(dynamodb, *key), batch_ok)

    def dispatcher_close() -> Invocation:
        wid, lease = woken(
            [
                child("asked"),
                child("abandoned", "ABANDON"),
                {"type": "SCHEDULE_TASK", "taskExecutionId": "pending", "kind": "work"},
                {"type": "SCHEDULE_TASK", "taskExecutionId": "running", "kind": "work"},
                {"type": "START_TIMER", "timerId": "t", "durationMs": 60_000},
            ]
        )
        engine.claim_task("running")
        engine.submit(wid, lease, [{"type": "COMPLETE_WORKFLOW", "output": "done"}])
        key = outbox(wid, "OUTBOX#CLOSE#")
        return Invocation("outbox_dispatcher", stream_event(dynamodb, *key), batch_ok)

    def fire_timer() -> Invocation:
        wid = engine.start()["workflowExecutionId"]
        engine.run(wid, [{"type": "START_TIMER", "timerId": "t", "durationMs": 1000}])
        return Invocation("fire_timer", {"tenant": TENANT, "workflowExecutionId": wid, "timerId": "t"}, invoked_ok)

    return {
        "cancel-task": cancel_task,
        "submit-request-cancel-task": submit_request_cancel_task,
        "submit-cancel-timer": submit_cancel_timer,
        "submit-request-cancel-child-workflow": submit_request_cancel_child,
        "propagate-child-cancel-delivered": propagate(child_ends_first=False),
        "propagate-child-cancel-failed": propagate(child_ends_first=True),
        "outbox-dispatcher-cascade": dispatcher_cascade,
        "outbox-dispatcher-parent-close": dispatcher_close,
        "fire-timer": fire_timer,
    }


SCENARIOS = (
    "cancel-task",
    "submit-request-cancel-task",
    "submit-cancel-timer",
    "submit-request-cancel-child-workflow",
    "propagate-child-cancel-delivered",
    "propagate-child-cancel-failed",
    "outbox-dispatcher-cascade",
    "outbox-dispatcher-parent-close",
    "fire-timer",
)


# ---------------------------------------------------------------------- the harness


class Harness:
    def __init__(self, dynamodb: Any) -> None:
        from stratoflow import services  # noqa: PLC0415
        from stratoflow.config import Settings  # noqa: PLC0415

        from tests.support.faults import FaultInjector  # noqa: PLC0415

        self.dynamodb = dynamodb
        self.settings = Settings(table_name=TABLE, timer_schedule_group="StratoflowTimers", aws_region=REGION)
        # One repository (its clients stay warm) and one scheduler for every case; clock and ids are fresh per case.
        self.base = services.build_runtime(self.settings)
        self.rt: Any = None
        # The handlers' runtime is the harness's: a fake clock and predictable ids, fresh for every case.
        services.runtime = lambda: self.rt  # type: ignore[assignment]
        self.injector = FaultInjector()
        self.handlers: dict[str, Any] = {}

    def handler(self, function: str) -> Any:
        if function not in self.handlers:
            spec = importlib.util.spec_from_file_location(
                f"crash_handler_{function}", REPO / "functions" / function / "app.py"
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.handlers[function] = module.lambda_handler
        return self.handlers[function]

    def fresh(self) -> Any:
        """An empty table and a fresh runtime; returns an Engine on them."""
        from stratoflow.tokens import put_token  # noqa: PLC0415
        from stratoflow_api import authentication  # noqa: PLC0415

        from tests.support.domain import Engine, FakeClock, SequentialIds  # noqa: PLC0415
        from tests.support.template import create_table  # noqa: PLC0415

        if TABLE in self.dynamodb.list_tables()["TableNames"]:
            self.dynamodb.delete_table(TableName=TABLE)
        create_table(self.dynamodb, TABLE)
        self.rt = replace(self.base, clock=FakeClock(), ids=SequentialIds())
        for scopes in ("client", "worker"):
            put_token(self.rt, TENANT, token_of(scopes), frozenset({scopes}))
        # Every case's invocation starts in a container that has not seen its token: it reads it first, so that its
        # k-th call is the same in the reference run and in the crashed one.
        authentication.TOKENS.clear()
        self.injector.attach_pynamodb(self.rt.repo)
        return Engine(self.rt, self.dynamodb, tenant=TENANT)

    def invoke(self, invocation: Invocation) -> tuple[bool, Any]:
        """One invocation; (succeeded, its answer or the error it raised)."""
        try:
            with open(os.devnull, "w") as quiet, redirect_stdout(quiet):  # Powertools prints its metrics
                answer = self.handler(invocation.function)(invocation.event, Context())
        except Exception as error:
            return False, error
        return invocation.succeeded(answer), answer

    def end_state(self, engine: Any) -> list[dict[str, Any]]:
        """Every item, versions aside, once the follow-ups the stream would deliver are carried out."""
        engine.drain_outbox(deliveries=1)
        return [{k: v for k, v in item.items() if k != "ver"} for item in engine.items()]

    def check(self, engine: Any) -> None:
        from tests.support.invariants import check_invariants  # noqa: PLC0415

        check_invariants(engine.histories(), stored_items=engine.items(), tenant=TENANT, settled=True)

    def run(self, name: str) -> ScenarioResult:
        from tests.support.faults import FAULT_KINDS, Fault  # noqa: PLC0415

        started = time.monotonic()
        result = ScenarioResult()
        engine = self.fresh()
        invocation = _scenarios(engine, self.dynamodb)[name]()
        with self.injector.armed(None) as recorder:
            ok, answer = self.invoke(invocation)
        assert ok, f"{name}: the fault-free invocation failed: {answer!r}"
        result.calls = list(recorder.calls)
        expected = self.end_state(engine)
        self.check(engine)
        for kind in FAULT_KINDS:
            for k in range(1, len(result.calls) + 1):
                fault = Fault(kind, k)
                result.cases += 1
                try:
                    retries = self.crash_and_recover(name, fault, expected)
                except Exception:
                    result.failures.append(f"{name} {fault}:\n{traceback.format_exc()}")
                    continue
                result.crashed += 1 if retries else 0
                result.retries += retries
                result.by_kind[kind] = result.by_kind.get(kind, 0) + 1
        result.seconds = round(time.monotonic() - started, 2)
        return result

    def crash_and_recover(self, name: str, fault: Any, expected: list[dict[str, Any]]) -> int:
        """One case; returns how many retries it took (0 if the fault did not make the invocation fail)."""
        engine = self.fresh()
        invocation = _scenarios(engine, self.dynamodb)[name]()
        with self.injector.armed(fault) as injector:
            ok, answer = self.invoke(invocation)
        assert injector.fired == fault, f"the fault {fault} did not fire (calls {injector.calls})"
        retries = 0
        while not ok:
            retries += 1
            assert retries <= MAX_RETRIES, f"still failing after {MAX_RETRIES} retries: {answer!r}"
            with self.injector.armed(None):
                ok, answer = self.invoke(invocation)
        state = self.end_state(engine)
        self.check(engine)
        if state != expected:
            missing = [item for item in expected if item not in state]
            extra = [item for item in state if item not in expected]
            raise AssertionError(f"the end state differs from the fault-free one:\nmissing {missing}\nextra {extra}")
        return retries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args(argv)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415
    from stratoflow_local import moto_transactions  # noqa: PLC0415

    results: dict[str, Any] = {}
    moto_transactions.install()
    try:
        with mock_aws():
            harness = Harness(boto3.client("dynamodb", region_name=REGION))
            for name in args.scenarios:
                try:
                    outcome = harness.run(name)
                    results[name] = outcome.__dict__
                except Exception:
                    results[name] = {**ScenarioResult().__dict__, "failures": [traceback.format_exc()]}
    finally:
        moto_transactions.uninstall()
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 1 if any(result["failures"] for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
