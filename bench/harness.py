"""A small in-process stack: the embedded endpoint, tables built from template.yaml, and the real handlers.

Each function of the template is imported from `functions/<dir>/app.py` and invoked in this process with the event
its trigger would send: API Gateway HTTP API (payload 2.0) events carrying the bench tenant's bearer token, DynamoDB
stream events built from the item images the meter saw change (routed by the template's own filter patterns), and
the timer schedule's input for the fire-timer function. Nothing is mocked between the handler and moto.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

from bench.capacity import IndexSpec
from bench.meter import Call, Change, Meter

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"
TENANT = "bench"
TOKEN = "bench-token-0001"
SCHEDULE_GROUP = "StratoflowTimers"
TABLE_NAME = "stratoflow-bench"


# ---------------------------------------------------------------- template.yaml


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags (`!Ref X` → `{"Ref": "X"}`)."""


def _tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    directory: Path
    memory_mb: int
    environment: dict[str, str]
    routes: tuple[tuple[str, str], ...]  # (method, path template)
    stream_filters: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Template:
    table_properties: Mapping[str, Any]
    functions: dict[str, FunctionInfo]
    global_environment: dict[str, str]

    @property
    def indexes(self) -> tuple[IndexSpec, ...]:
        specs = []
        for index in self.table_properties.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            specs.append(
                IndexSpec(
                    name=index["IndexName"],
                    key_attributes=tuple(key["AttributeName"] for key in index["KeySchema"]),
                    projection=projection["ProjectionType"],
                    non_key_attributes=tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        return tuple(specs)

    @property
    def table_keys(self) -> tuple[str, ...]:
        return tuple(key["AttributeName"] for key in self.table_properties["KeySchema"])


def load_template(path: Path = ROOT / "template.yaml") -> Template:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)
    resources = document["Resources"]
    globals_ = document.get("Globals", {}).get("Function", {})
    global_env = {
        name: value
        for name, value in globals_.get("Environment", {}).get("Variables", {}).items()
        if isinstance(value, str)
    }
    functions = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        routes, filters = [], []
        for event in (properties.get("Events") or {}).values():
            if event["Type"] == "HttpApi" and "Path" in event["Properties"]:  # not the catch-all route
                routes.append((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
            elif event["Type"] == "DynamoDB":
                for entry in event["Properties"].get("FilterCriteria", {}).get("Filters", []):
                    filters.append(json.loads(entry["Pattern"]))
        env = {
            name: value
            for name, value in (properties.get("Environment") or {}).get("Variables", {}).items()
            if isinstance(value, str)
        }
        functions[logical_id] = FunctionInfo(
            logical_id=logical_id,
            directory=ROOT / properties["CodeUri"],
            memory_mb=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
            environment=env,
            routes=tuple(routes),
            stream_filters=tuple(filters),
        )
    return Template(resources["Table"]["Properties"], functions, global_env)


# ---------------------------------------------------------------- event filter patterns (the subset the template uses)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    if not isinstance(event, Mapping):
        return False
    for name, expected in pattern.items():
        if name not in event:
            return False
        value = event[name]
        if isinstance(expected, Mapping):
            if not matches(expected, value):
                return False
        elif not any(_leaf(matcher, value) for matcher in expected):
            return False
    return True


def _leaf(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, Mapping):
        if "prefix" in matcher:
            return isinstance(value, str) and value.startswith(matcher["prefix"])
        if "anything-but" in matcher:
            return value not in matcher["anything-but"]
        raise ValueError(f"filter matcher not supported by the benchmark: {matcher}")
    return bool(matcher == value)


# ---------------------------------------------------------------- samples


@dataclass
class Sample:
    """One measured invocation."""

    label: str
    function: str
    seconds: float
    aws_seconds: float
    calls: list[Call]
    log_bytes: int


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


class _CountingSink(io.TextIOBase):
    """Where handlers' stdout (logs, EMF metrics) goes: counted, not kept."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode("utf-8"))
        return len(text)

    def writable(self) -> bool:
        return True


class ApiError(AssertionError):
    pass


@dataclass
class Harness:
    template: Template = field(default_factory=load_template)
    samples: list[Sample] = field(default_factory=list)
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from stratoflow_local.embedded_endpoint import EmbeddedAwsEndpoint  # noqa: PLC0415

        self.endpoint = EmbeddedAwsEndpoint(region=REGION)
        self.meter = Meter(self._snapshot, self.template.indexes, self.template.table_keys)
        self.sink = _CountingSink()
        self.handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self.table_name = ""
        self._backend: Any = None
        self._sequence = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        url = self.endpoint.start()
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        self._backend = dynamodb_backends[ACCOUNT][REGION]
        os.environ.update(self.endpoint.environment())
        os.environ.update(self.template.global_environment)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": url,
                "TIMER_SCHEDULE_GROUP": SCHEDULE_GROUP,
                "FIRE_TIMER_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:FireTimerFunction",
                "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/SchedulerRole",
                "TIMER_DLQ_ARN": "",
                # the per-operation figures are Scheduler's path (today's); bench.timers measures the last mile
                "TIMER_LAST_MILE_S": "0",
                "POWERTOOLS_LOG_LEVEL": "INFO",  # the template's default LogLevel
                # A container looks a token up once per 300 s; the bench keeps it for the whole run and measures
                # the lookup as an operation of its own ("token lookup"), so that no other operation pays it at random.
                "TOKEN_CACHE_SECONDS": str(10**9),
            }
        )
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.meter.install()
        self._admin("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)
        for path in (ROOT / "layers" / "stratoflow", ROOT / "local"):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        self.reset_table()
        with contextlib.redirect_stdout(self.sink):
            for info in self.template.functions.values():
                self.handlers[info.logical_id] = _import_handler(info)

    def stop(self) -> None:
        self.meter.uninstall()
        self.endpoint.stop()

    def reset_table(self) -> None:
        """Start over on an empty table built from the template.

        moto's Query scans the whole table, so measurements run on small tables; the table keeps its name, so the
        process's runtime stays bound to it and PynamoDB's clients (created on first use per model) stay warm.
        """
        from stratoflow.services import runtime  # noqa: PLC0415
        from stratoflow.tokens import put_token  # noqa: PLC0415

        client = self._admin("dynamodb")
        if self.table_name:
            client.delete_table(TableName=self.table_name)
        client.create_table(**_create_table_arguments(TABLE_NAME, self.template.table_properties))
        if not self.table_name:
            os.environ["TABLE_NAME"] = TABLE_NAME
            self.table_name = TABLE_NAME
        self.pending.clear()
        with self.meter.paused():
            put_token(runtime(), TENANT, TOKEN, frozenset({"client", "worker"}))

    def _admin(self, service: str) -> Any:
        """A client outside the meter, for set-up calls."""
        return boto3.session.Session().client(service, **self.endpoint.client_kwargs())

    def _snapshot(self, table: str, key: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            item = self._backend.get_item(table, key)
            return None if item is None else dict(item.to_json()["Attributes"])

        return self.endpoint.run_locked(read)

    # ------------------------------------------------------------ invocations

    def invoke(self, function: str, event: Any, label: str | None) -> Any:
        info = self.template.functions[function]
        context = LambdaContext(
            function_name=function,
            memory_limit_in_mb=info.memory_mb,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}",
            aws_request_id=str(uuid.uuid4()),
        )
        handler = self.handlers[function]
        first_call, overhead, log_bytes = len(self.meter.calls), self.meter.overhead_seconds, self.sink.bytes
        with contextlib.redirect_stdout(self.sink):
            started = time.perf_counter()
            result = handler(event, context)
            seconds = time.perf_counter() - started
        calls = self.meter.calls[first_call:]
        del self.meter.calls[first_call:]  # the samples keep what is measured; nothing else is retained
        seconds -= self.meter.overhead_seconds - overhead
        for call in calls:
            for change in call.changes:
                self._route(change)
            call.changes = []
        if label is not None:
            aws = sum(call.seconds for call in calls)
            self.samples.append(Sample(label, function, seconds, aws, list(calls), self.sink.bytes - log_bytes))
        return result

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        label: str | None,
        expect: int | tuple[int, ...] = 200,
    ) -> Any:
        function, route_path, parameters = self._route_of(method, path)
        event = _http_event(method, path, route_path, parameters, body)
        response = self.invoke(function, event, label)
        if response["statusCode"] not in (expect if isinstance(expect, tuple) else (expect,)):
            raise ApiError(f"{method} {path}: {response['statusCode']} {response.get('body')}")
        text = response.get("body") or ""
        return json.loads(text) if text else None

    def look_up_token(self, label: str | None) -> Any:
        """A read whose container has not seen the token yet: the one request in 300 s that looks it up."""
        from stratoflow_api import authentication  # noqa: PLC0415  (the layer the handlers imported)

        authentication.TOKENS.clear()
        return self.api("GET", "/v1/workflows/bench-no-such-workflow", label=label, expect=404)

    def fire_timer(self, workflow_id: str, timer_id: str, fire_at: str, label: str | None) -> Any:
        payload = {"tenant": TENANT, "workflowExecutionId": workflow_id, "timerId": timer_id, "fireAt": fire_at}
        return self.invoke("FireTimerFunction", payload, label)

    def deliver(self, label: str | None, function: str | None = None) -> int:
        """Invoke the stream consumers with the records routed to them so far, one record per invocation."""
        delivered = 0
        for name in list(self.pending) if function is None else [function]:
            records, self.pending[name] = self.pending.get(name, []), []
            for record in records:
                response = self.invoke(name, {"Records": [record]}, label)
                if response.get("batchItemFailures"):
                    raise ApiError(f"{name} failed a record: {response}")
                delivered += 1
        return delivered

    def clear_pending(self) -> None:
        self.pending.clear()

    # ------------------------------------------------------------ routing

    def _route_of(self, method: str, path: str) -> tuple[str, str, dict[str, str]]:
        parts = path.strip("/").split("/")
        best: tuple[int, str, str, dict[str, str]] | None = None
        for info in self.template.functions.values():
            for route_method, template in info.routes:
                if route_method != method:
                    continue
                pattern = template.strip("/").split("/")
                if len(pattern) != len(parts):
                    continue
                parameters, literal = {}, 0
                for expected, actual in zip(pattern, parts, strict=True):
                    if expected.startswith("{") and expected.endswith("}"):
                        parameters[expected[1:-1]] = actual
                    elif expected == actual:
                        literal += 1
                    else:
                        break
                else:
                    if best is None or literal > best[0]:
                        best = (literal, info.logical_id, template, parameters)
        if best is None:
            raise KeyError(f"no function of the template serves {method} {path}")
        return best[1], best[2], best[3]

    def _route(self, change: Change) -> None:
        record = self._stream_record(change)
        for info in self.template.functions.values():
            if info.stream_filters and any(matches(pattern, record) for pattern in info.stream_filters):
                self.pending.setdefault(info.logical_id, []).append(record)

    def _stream_record(self, change: Change) -> dict[str, Any]:
        self._sequence += 1
        name = "INSERT" if change.old is None else "REMOVE" if change.new is None else "MODIFY"
        body: dict[str, Any] = {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": change.keys,
            "SequenceNumber": f"{self._sequence:021d}",
            "SizeBytes": 0,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if change.new is not None:
            body["NewImage"] = change.new
        if change.old is not None:
            body["OldImage"] = change.old
        return {
            "eventID": uuid.uuid4().hex,
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": REGION,
            "dynamodb": body,
            "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{change.table}/stream/bench",
        }


def _import_handler(info: FunctionInfo) -> Callable[[Any, Any], Any]:
    module_name = f"bench_fn_{info.logical_id}"
    spec = importlib.util.spec_from_file_location(module_name, info.directory / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {info.directory / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    previous = os.environ.get("POWERTOOLS_SERVICE_NAME")
    os.environ["POWERTOOLS_SERVICE_NAME"] = info.environment.get("POWERTOOLS_SERVICE_NAME", info.logical_id)
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
        else:
            os.environ["POWERTOOLS_SERVICE_NAME"] = previous
    handler: Callable[[Any, Any], Any] = module.lambda_handler
    return handler


def _create_table_arguments(name: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": list(properties["AttributeDefinitions"]),
        "KeySchema": list(properties["KeySchema"]),
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        arguments["GlobalSecondaryIndexes"] = [
            {"IndexName": index["IndexName"], "KeySchema": index["KeySchema"], "Projection": index["Projection"]}
            for index in properties["GlobalSecondaryIndexes"]
        ]
    if properties.get("StreamSpecification"):
        view = properties["StreamSpecification"]["StreamViewType"]
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    return arguments


def _http_event(method: str, path: str, route_path: str, parameters: dict[str, str], body: Any) -> dict[str, Any]:
    route_key = f"{method} {route_path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": f"/dev{path}",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "bench",
            "http": {"method": method, "path": f"/dev{path}", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "dev",
        },
        "isBase64Encoded": False,
    }
    if parameters:
        event["pathParameters"] = parameters
    if body is not None:
        event["body"] = json.dumps(body)
    return event


@contextlib.contextmanager
def running_harness() -> Iterator[Harness]:
    harness = Harness()
    harness.start()
    try:
        yield harness
    finally:
        harness.stop()
