"""Hostile input through the local stack: no 5xx, api.md's error bodies, and a refused request changes nothing.

- schemathesis generates requests for every operation of `GET /v1/openapi.json` (worker ones included), valid for
  the schema and, where the schema can be broken, invalid for it, sent with a token that has every scope; every
  answer must be one the document lists, with a body of its schema (checks `not_a_server_error`,
  `status_code_conformance`, `response_schema_conformance`).
- hypothesis generates command submissions (`POST /v1/worker/workflows/{id}/commands`) on a leased workflow: valid
  and broken commands, wrong types, unknown fields, unicode, NaN, lone surrogates, deep nesting, huge arrays and
  oversize values. A 4xx must leave the execution's partition and every task or child the body names exactly as
  they were; an accepted submission is followed by a fresh workflow.
- Every value field of the API: exactly 256 KiB (as compact UTF-8 JSON) is accepted, one byte more is 413.

The default profile is small and derandomized (the same examples on every run); `make soak` runs the larger one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from stratoflow.services import runtime
from stratoflow.tokens import put_token
from stratoflow_local.stack import LocalStack

from tests.support.domain import plain
from tests.support.fault_matrix import record_figures
from tests.support.invariants import check_invariants

TENANT = "fuzz"
TOKEN = "tok-fuzz-3e1a"
VALUE_LIMIT = 256 * 1024
DOCUMENT_CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ERROR_CODES = {
    400: {"INVALID_ARGUMENT"},
    401: {"UNAUTHENTICATED"},
    403: {"PERMISSION_DENIED"},
    404: {"NOT_FOUND"},
    409: {"FAILED_PRECONDITION", "LEASE_LOST", "CONFLICT"},
    413: {"PAYLOAD_TOO_LARGE"},
    422: {"INVALID_ARGUMENT"},
}


@dataclass(frozen=True)
class Profile:
    name: str
    schema_examples: int  # per operation and generation mode
    command_examples: int
    derandomize: bool


FAST = Profile("fast", schema_examples=12, command_examples=80, derandomize=True)
SLOW = Profile("slow", schema_examples=150, command_examples=1500, derandomize=False)
PROFILES = [
    pytest.param(FAST, id="fast"),
    pytest.param(SLOW, id="slow", marks=[pytest.mark.slow, pytest.mark.timeout(1800)]),
]


def check_answer(status: int, body: Any, content_type: str) -> None:
    """No 5xx; every 4xx carries {"error": {"code", "message", ...}} with the code api.md gives the status."""
    assert status < 500, (status, body)
    if status >= 400:
        assert content_type.startswith("application/json"), (status, content_type, body)
        assert isinstance(body, dict) and set(body) == {"error"}, body
        error = body["error"]
        assert isinstance(error.get("message"), str) and error["message"], body
        assert error.get("code") in ERROR_CODES.get(status, set()), (status, body)


def json_of(response: requests.Response) -> Any:
    return json.loads(response.text) if response.text else None


@dataclass
class Fuzzer:
    """The fuzz tenant's client and its state: a leased workflow for command submissions."""

    stack: LocalStack
    session: requests.Session = field(default_factory=requests.Session)
    workflow: str | None = None
    lease: str | None = None
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    dynamodb: Any = None

    def send(self, method: str, path: str, data: bytes | str | None = None, **headers: str) -> requests.Response:
        all_headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **headers}
        return self.session.request(method, self.stack.url + path, data=data, headers=all_headers, timeout=60)

    def post(self, path: str, body: Any, expect: int = 200) -> Any:
        response = self.send("POST", path, json.dumps(body))
        assert response.status_code == expect, (path, response.status_code, response.text[:500])
        return json_of(response)

    def count(self, label: str, status: int) -> None:
        seen = self.statuses.setdefault(label, {})
        seen[status] = seen.get(status, 0) + 1

    def leased(self) -> tuple[str, str]:
        if self.workflow is None or self.lease is None:
            queue = f"fuzz-{uuid.uuid4().hex[:10]}"
            self.workflow = self.post("/v1/workflows", {"kind": "fuzz", "queue": queue}, 201)["workflowExecutionId"]
            claimed = self.post("/v1/worker/workflows/poll", {"queue": queue, "leaseMs": 300_000})
            assert claimed["workflowExecution"]["workflowExecutionId"] == self.workflow
            self.lease = claimed["leaseId"]
        return self.workflow, self.lease

    def release(self) -> None:
        self.workflow = self.lease = None

    # ------------------------------------------------------------ what a request may change

    def query(self, pk: str) -> list[dict[str, Any]]:
        if self.dynamodb is None:
            self.dynamodb = self.stack.client("dynamodb")
        pages = self.dynamodb.get_paginator("query").paginate(
            TableName=os.environ["TABLE_NAME"],
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}},
            ConsistentRead=True,
        )
        deserializer = TypeDeserializer()
        return [
            plain({name: deserializer.deserialize(value) for name, value in item.items()})
            for page in pages
            for item in page["Items"]
        ]

    def snapshot(self, workflow: str, named: list[str]) -> dict[str, Any]:
        keys = [f"T#{TENANT}#WF#{workflow}"]
        for name in named:
            keys += [f"T#{TENANT}#TASK#{name}", f"T#{TENANT}#WF#{name}"]
        return {key: self.query(key) for key in keys}


@pytest.fixture(scope="module")
def fuzzer(local_stack: LocalStack) -> Fuzzer:
    put_token(runtime(), TENANT, TOKEN, frozenset({"client", "worker"}))
    return Fuzzer(local_stack)


# ---------------------------------------------------------------- schemathesis over every operation


def negative_possible(operation: dict[str, Any]) -> bool:
    """Whether the schema of an operation can be broken: it has a body, or query or header parameters."""
    parameters = operation.get("parameters") or []
    return "requestBody" in operation or any(p.get("in") in ("query", "header") for p in parameters)


def schemathesis_run(
    fuzzer: Fuzzer, local_stack: LocalStack, strategy: Any, label: str, profile: Profile
) -> Callable[[], None]:
    @settings(
        max_examples=profile.schema_examples,
        deadline=None,
        database=None,
        derandomize=profile.derandomize,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=local_stack.url, session=fuzzer.session, timeout=60)
        fuzzer.count(label, response.status_code)
        content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: lowercase keys, lists
        is_json = content_type.startswith("application/json") and response.text
        body = json.loads(response.text) if is_json else response.text[:200]
        try:
            check_answer(response.status_code, body, content_type)
        except AssertionError as failure:
            raise AssertionError(f"{case.method} {response.request.url}: {failure}") from None
        # The document is honest: every status answered is documented, with a body of its documented schema.
        case.validate_response(response, checks=DOCUMENT_CHECKS)

    return run


@pytest.mark.parametrize("profile", PROFILES)
def test_schemathesis_every_operation_answers_without_5xx_and_with_api_error_bodies(
    fuzzer: Fuzzer, local_stack: LocalStack, profile: Profile
) -> None:
    document = requests.get(local_stack.url + "/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_url(local_stack.url + "/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    # schemathesis leaves out the document it was loaded from.
    assert {(op.method.upper(), op.path) for op in operations} == documented - {("GET", "/v1/openapi.json")}
    examples = 0
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        if negative_possible(document["paths"][operation.path][operation.method.lower()]):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            strategy = operation.as_strategy(generation_mode=mode, headers={"Authorization": f"Bearer {TOKEN}"})

            run = schemathesis_run(fuzzer, local_stack, strategy, label, profile)
            run()
            examples += sum(fuzzer.statuses.get(label, {}).values())
    record_figures("fuzz_schemathesis", profile=profile.name, examples=examples, statuses=fuzzer.statuses)
    assert examples >= len(operations) * min(profile.schema_examples, 5)


# ---------------------------------------------------------------- hypothesis on command submissions


class Raw:
    """JSON text sent as it is (a number json.dumps could not write, say)."""

    def __init__(self, text: str) -> None:
        self.text = text


def to_json(value: Any) -> str:
    """Like json.dumps with NaN allowed and lone surrogates escaped, plus `Raw` fragments."""
    raws: dict[str, str] = {}

    def replace(item: Any) -> Any:
        if isinstance(item, Raw):
            marker = f"@@raw{len(raws)}@@"
            raws[marker] = item.text
            return marker
        if isinstance(item, dict):
            return {key: replace(child) for key, child in item.items()}
        if isinstance(item, list):
            return [replace(child) for child in item]
        return item

    text = json.dumps(replace(value), allow_nan=True)
    for marker, raw in raws.items():
        text = text.replace(f'"{marker}"', raw)
    return text


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


SPECIAL_VALUES = [
    nested(100),
    nested(129),
    Raw("[" * 5000 + "1" + "]" * 5000),
    list(range(60_000)),  # a huge array, still under 256 KiB
    "x" * (VALUE_LIMIT - 2),  # exactly 256 KiB as JSON
    "x" * (VALUE_LIMIT - 1),  # one byte over
    "é" * (VALUE_LIMIT // 2),  # over, counted in UTF-8 bytes
    "\ud800",
    "a\udc00b",
    "\ud83d\ude00",  # a valid pair: an emoji
    float("nan"),
    float("inf"),
    Raw("1e400"),
    Raw("9" * 5000),
    {"": None, "\u0000": "\u0000", "ключ": "值"},
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
values = st.integers(0, 3).flatmap(lambda n: st.sampled_from(SPECIAL_VALUES) if n == 0 else json_values)
ids = st.sampled_from(["a", "b", "t.1", "c:2", "x" * 128, "x" * 129, "", "a b", "ünï", "\ud800", 7, None]) | st.text(
    max_size=6
)
numbers = st.integers(min_value=-2, max_value=2) | st.sampled_from([1000, 31_536_000_000, 31_536_000_001, 2**63, "5"])
TYPES = [
    "SCHEDULE_TASK",
    "REQUEST_CANCEL_TASK",
    "START_TIMER",
    "CANCEL_TIMER",
    "SCHEDULE_CHILD_WORKFLOW",
    "REQUEST_CANCEL_CHILD_WORKFLOW",
    "RECORD_OPERATION",
    "SET_STATE",
    "CLEAR_STATE",
    "COMPLETE_WORKFLOW",
    "FAIL_WORKFLOW",
    "CANCEL_WORKFLOW",
    "SUSPEND_WORKFLOW",
]
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "taskExecutionId": ids,
    "kind": ids,
    "input": values,
    "queue": ids,
    "maxRetries": numbers,
    "timeoutMs": numbers,
    "timerId": ids,
    "durationMs": numbers,
    "childExecutionName": ids,
    "childWorkflowExecutionId": ids,
    "workflowKind": ids,
    "parentClosePolicy": st.sampled_from(["REQUEST_CANCEL", "ABANDON", "NEVER", 1]),
    "reason": st.none() | st.text(max_size=8) | st.just("r" * 1025),
    "operationName": ids,
    "result": values,
    "key": ids,
    "value": values,
    "output": values,
    "error": values,
    "unknownField": values,
}
REQUIRED = {
    "SCHEDULE_TASK": ["taskExecutionId", "kind"],
    "REQUEST_CANCEL_TASK": ["taskExecutionId"],
    "START_TIMER": ["timerId", "durationMs"],
    "CANCEL_TIMER": ["timerId"],
    "SCHEDULE_CHILD_WORKFLOW": ["childExecutionName", "childWorkflowExecutionId", "workflowKind"],
    "REQUEST_CANCEL_CHILD_WORKFLOW": ["childExecutionName", "childWorkflowExecutionId"],
    "RECORD_OPERATION": ["operationName"],
    "SET_STATE": ["key"],
    "CLEAR_STATE": ["key"],
}


@st.composite
def commands(draw: st.DrawFn) -> Any:
    """Mostly well-formed commands (so that the submission reaches the domain), some broken in any way."""
    kind = draw(st.sampled_from(TYPES) if draw(st.integers(0, 5)) else st.sampled_from(["NOPE", "", 5, None]))
    well_formed = draw(st.integers(0, 3)) > 0
    command: dict[str, Any] = {"type": kind}
    if well_formed and isinstance(kind, str):
        for name in REQUIRED.get(kind, []):
            command[name] = draw(st.sampled_from(["a", "b", "t.1", "c:2"])) if name != "durationMs" else 3_600_000
    extra = draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=2, unique=True))
    for name in extra:
        command[name] = draw(FIELDS[name])
    if not draw(st.integers(0, 19)):
        return draw(st.sampled_from([[], "SCHEDULE_TASK", None, 3, {"type": {"nested": True}}]))
    return command


command_lists = st.integers(0, 19).flatmap(
    lambda n: st.lists(commands(), min_size=26, max_size=27) if n == 0 else st.lists(commands(), max_size=5)
)
submissions = st.fixed_dictionaries({"commands": command_lists}, optional={"unknown": values})


def named_ids(body: Any) -> list[str]:
    """Task and child ids a body names (the resources it could create or change outside its workflow)."""
    found: list[str] = []
    for command in body.get("commands", []) if isinstance(body, dict) else []:
        if isinstance(command, dict):
            for name in ("taskExecutionId", "childWorkflowExecutionId"):
                value = command.get(name)
                if isinstance(value, str) and value and len(value) <= 200:
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError:
                        continue
                    found.append(value)
    return sorted(set(found))


@pytest.mark.parametrize("profile", PROFILES)
def test_hypothesis_command_submissions_never_5xx_and_refusals_change_nothing(
    fuzzer: Fuzzer, local_stack: LocalStack, profile: Profile
) -> None:
    statuses: dict[int, int] = {}

    @settings(
        max_examples=profile.command_examples,
        deadline=None,
        database=None,
        derandomize=profile.derandomize,
        suppress_health_check=list(HealthCheck),
    )
    @given(body=submissions, lease_kind=st.sampled_from(["ours", "ours", "ours", "other", "missing", "number"]))
    def run(body: dict[str, Any], lease_kind: str) -> None:
        workflow, lease = fuzzer.leased()
        body = dict(body)
        if lease_kind != "missing":
            body["leaseId"] = {"ours": lease, "other": str(uuid.uuid4()), "number": 12}[lease_kind]
        named = named_ids(body)
        before = fuzzer.snapshot(workflow, named)
        response = fuzzer.send("POST", f"/v1/worker/workflows/{workflow}/commands", to_json(body))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        check_answer(response.status_code, json_of(response), response.headers.get("Content-Type", ""))
        if response.status_code >= 400:
            assert fuzzer.snapshot(workflow, named) == before, (response.status_code, response.text[:300])
        else:
            assert response.status_code == 200, response.text[:300]
            assert_written_with_their_events(fuzzer, workflow, json_of(response)["events"], to_json(body))
            fuzzer.release()

    run()
    local_stack.wait_idle()
    local_stack.wait_idle()
    histories = fuzz_histories(fuzzer)
    check_invariants(histories, stored_items=stored_items_of(fuzzer, histories), tenant=TENANT)
    record_figures("fuzz_commands", profile=profile.name, examples=sum(statuses.values()), statuses=statuses)
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0, statuses


def assert_written_with_their_events(fuzzer: Fuzzer, workflow: str, events: list[dict[str, Any]], body: str) -> None:
    """I1: each event of an accepted submission was written with the item it describes."""
    partition = {item["sk"]: item for item in fuzzer.query(f"T#{TENANT}#WF#{workflow}")}
    for event in events:
        data = event["data"]
        if event["type"] == "TIMER_STARTED":
            timer = partition.get(f"TIMER#{data['timerId']}")
            assert timer is not None and timer["workflowExecutionId"] == workflow, (event, body[:2000])
        elif event["type"] == "TASK_SCHEDULED":
            tasks = fuzzer.query(f"T#{TENANT}#TASK#{data['taskExecutionId']}")
            assert [task["workflowExecutionId"] for task in tasks] == [workflow], (event, body[:2000])
        elif event["type"] == "CHILD_WORKFLOW_INITIATED":
            assert f"CHILD#{data['childExecutionName']}" in partition, (event, body[:2000])


def stored_items_of(fuzzer: Fuzzer, histories: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The items of these executions and of the tasks they scheduled."""
    keys = [f"T#{TENANT}#WF#{wid}" for wid in histories]
    keys += [
        f"T#{TENANT}#TASK#{event['data']['taskExecutionId']}"
        for events in histories.values()
        for event in events
        if event["type"] == "TASK_SCHEDULED"
    ]
    return [item for key in keys for item in fuzzer.query(key)]


def fuzz_histories(fuzzer: Fuzzer) -> dict[str, list[dict[str, Any]]]:
    listed: list[str] = []
    token: str | None = None
    while True:
        suffix = f"&nextToken={token}" if token else ""
        page = json_of(fuzzer.send("GET", f"/v1/workflows?limit=100{suffix}"))
        listed += [workflow["workflowExecutionId"] for workflow in page["workflows"]]
        token = page["nextToken"]
        if token is None:
            break
    histories = {}
    for wid in listed:
        events: list[dict[str, Any]] = []
        after = 0
        while True:
            page = json_of(fuzzer.send("GET", f"/v1/workflows/{wid}/events?afterSequence={after}&limit=1000"))
            events += page["events"]
            if page["nextAfterSequence"] is None:
                break
            after = page["nextAfterSequence"]
        histories[wid] = events
    return histories


# ---------------------------------------------------------------- value sizes


def exactly(limit_bytes: int, char: str = "x") -> str:
    """A JSON string value of exactly `limit_bytes` bytes as compact UTF-8 JSON (quotes included)."""
    width = len(char.encode("utf-8"))
    assert (limit_bytes - 2) % width == 0
    return char * ((limit_bytes - 2) // width)


@dataclass
class Location:
    """Where a value goes: `send(fuzzer, value)` returns (status, what must not change on a refusal)."""

    name: str
    send: Callable[[Fuzzer, Any], tuple[int, Callable[[], Any]]]
    accepted: int = 200


def _start(fuzzer: Fuzzer, value: Any) -> tuple[int, Callable[[], Any]]:
    kind = f"size-{uuid.uuid4().hex[:8]}"
    response = fuzzer.send("POST", "/v1/workflows", json.dumps({"kind": kind, "input": value}))

    def mine() -> Any:
        listed = json_of(fuzzer.send("GET", f"/v1/workflows?kind={kind}&limit=100"))["workflows"]
        return sorted(workflow["workflowExecutionId"] for workflow in listed)

    return response.status_code, mine


def _create_task(fuzzer: Fuzzer, value: Any) -> tuple[int, Callable[[], Any]]:
    key = f"size-{uuid.uuid4().hex}"
    body = json.dumps({"kind": "size", "input": value})
    response = fuzzer.send("POST", "/v1/tasks", body, **{"Idempotency-Key": key})
    return response.status_code, lambda: fuzzer.query(f"T#{TENANT}#IDEMPOTENCY#{_sha256(key)}")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _command(template: Callable[[Any], dict[str, Any]]) -> Callable[[Fuzzer, Any], tuple[int, Callable[[], Any]]]:
    def send(fuzzer: Fuzzer, value: Any) -> tuple[int, Callable[[], Any]]:
        workflow, lease = fuzzer.leased()
        command = template(value)
        named = named_ids({"commands": [command]})
        body = {"leaseId": lease, "commands": [command]}
        response = fuzzer.send("POST", f"/v1/worker/workflows/{workflow}/commands", json.dumps(body))
        if response.status_code == 200:
            fuzzer.release()
        return response.status_code, lambda: fuzzer.snapshot(workflow, named)

    return send


def _task_call(action: str, field_name: str) -> Callable[[Fuzzer, Any], tuple[int, Callable[[], Any]]]:
    def send(fuzzer: Fuzzer, value: Any) -> tuple[int, Callable[[], Any]]:
        workflow, lease = fuzzer.leased()
        task, queue = f"size-{uuid.uuid4().hex[:10]}", f"size-q-{uuid.uuid4().hex[:8]}"
        schedule = {"type": "SCHEDULE_TASK", "taskExecutionId": task, "kind": "size", "queue": queue}
        fuzzer.post(f"/v1/worker/workflows/{workflow}/commands", {"leaseId": lease, "commands": [schedule]})
        fuzzer.release()
        task_lease = fuzzer.post("/v1/worker/tasks/poll", {"queue": queue})["leaseId"]
        body = {"leaseId": task_lease, field_name: value}
        response = fuzzer.send("POST", f"/v1/worker/tasks/{task}/{action}", json.dumps(body))
        return response.status_code, lambda: fuzzer.snapshot(workflow, [task])

    return send


LOCATIONS = [
    Location("start input", _start, 201),
    Location("create task input", _create_task, 201),
    Location(
        "SCHEDULE_TASK input",
        _command(lambda v: {"type": "SCHEDULE_TASK", "taskExecutionId": _id(), "kind": "k", "input": v}),
    ),
    Location(
        "SCHEDULE_CHILD_WORKFLOW input",
        _command(
            lambda v: {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": "c",
                "childWorkflowExecutionId": _id(),
                "workflowKind": "k",
                "input": v,
            }
        ),
    ),
    Location(
        "RECORD_OPERATION result", _command(lambda v: {"type": "RECORD_OPERATION", "operationName": "o", "result": v})
    ),
    Location("SET_STATE value", _command(lambda v: {"type": "SET_STATE", "key": "k", "value": v})),
    Location("COMPLETE_WORKFLOW output", _command(lambda v: {"type": "COMPLETE_WORKFLOW", "output": v})),
    Location("FAIL_WORKFLOW error", _command(lambda v: {"type": "FAIL_WORKFLOW", "error": v})),
    Location("task complete output", _task_call("complete", "output")),
    Location("task fail error", _task_call("fail", "error")),
    Location("task heartbeat details", _task_call("heartbeat", "details")),
]


def _id() -> str:
    return f"size-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("location", LOCATIONS, ids=lambda location: location.name)
def test_a_value_of_exactly_256_kib_is_accepted_and_one_byte_more_is_413(fuzzer: Fuzzer, location: Location) -> None:
    status, _ = location.send(fuzzer, exactly(VALUE_LIMIT))
    assert status == location.accepted

    status, unchanged = location.send(fuzzer, exactly(VALUE_LIMIT) + "x")
    before = unchanged()
    assert status == 413
    assert unchanged() == before


def test_value_sizes_are_counted_in_utf8_bytes(fuzzer: Fuzzer) -> None:
    assert _start(fuzzer, exactly(VALUE_LIMIT, "é"))[0] == 201
    status, mine = _start(fuzzer, exactly(VALUE_LIMIT, "é") + "x")
    assert (status, mine()) == (413, [])


def test_several_values_of_256_kib_in_one_submission_fit(fuzzer: Fuzzer) -> None:
    big = exactly(VALUE_LIMIT)
    workflow, lease = fuzzer.leased()
    commands = [
        {"type": "SCHEDULE_TASK", "taskExecutionId": _id(), "kind": "k", "input": big},
        {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "c",
            "childWorkflowExecutionId": _id(),
            "workflowKind": "k",
            "input": big,
        },
        {"type": "RECORD_OPERATION", "operationName": "o", "result": big},
        {"type": "SET_STATE", "key": "k", "value": big},
        {"type": "COMPLETE_WORKFLOW", "output": big},
    ]
    response = fuzzer.send(
        "POST", f"/v1/worker/workflows/{workflow}/commands", json.dumps({"leaseId": lease, "commands": commands})
    )
    fuzzer.release()
    assert response.status_code == 200, response.text[:300]
    assert json_of(fuzzer.send("GET", f"/v1/workflows/{workflow}"))["output"] == big


def test_a_submission_too_large_for_one_transaction_is_413_and_changes_nothing(fuzzer: Fuzzer) -> None:
    workflow, lease = fuzzer.leased()
    commands = [
        {"type": "RECORD_OPERATION", "operationName": f"o{i}", "result": exactly(VALUE_LIMIT)} for i in range(16)
    ]
    before = fuzzer.snapshot(workflow, [])
    response = fuzzer.send(
        "POST", f"/v1/worker/workflows/{workflow}/commands", json.dumps({"leaseId": lease, "commands": commands})
    )
    assert (response.status_code, json_of(response)["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert fuzzer.snapshot(workflow, []) == before


def test_a_body_over_5_mib_is_413_and_changes_nothing(fuzzer: Fuzzer) -> None:
    workflow, lease = fuzzer.leased()
    commands = [{"type": "CLEAR_STATE", "key": "k" * 1024}] * 25
    padding = "x" * (5 * 1024 * 1024)
    before = fuzzer.snapshot(workflow, [])
    body = json.dumps({"leaseId": lease, "commands": commands, "padding": padding})
    response = fuzzer.send("POST", f"/v1/worker/workflows/{workflow}/commands", body)
    assert (response.status_code, json_of(response)["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert fuzzer.snapshot(workflow, []) == before


# ---------------------------------------------------------------- regressions: bodies that are not JSON


MALFORMED_BODIES = {
    "lone surrogate": '{"kind": "k", "input": "\\ud800"}',
    "nesting 5000 deep": '{"kind": "k", "input": ' + "[" * 5000 + "]" * 5000 + "}",
    "nesting 129 deep": '{"kind": "k", "input": ' + "[" * 128 + "]" * 128 + "}",
    "NaN": '{"kind": "k", "input": NaN}',
    "Infinity": '{"kind": "k", "input": [-Infinity]}',
    "float out of range": '{"kind": "k", "input": 1e400}',
    "5000-digit integer": '{"kind": "k", "input": ' + "9" * 5000 + "}",
    "not UTF-8": b'{"kind": "k", "input": "\xff\xfe"}',
}


@pytest.mark.parametrize("body", list(MALFORMED_BODIES.values()), ids=list(MALFORMED_BODIES))
def test_regression_bodies_that_are_not_json_are_400_not_5xx(fuzzer: Fuzzer, body: str | bytes) -> None:
    """Bug: these bodies were 502 (UnicodeEncodeError, RecursionError, the int digit limit, an undecodable body) or,
    for NaN and Infinity, accepted and stored, so that the workflow's history was no longer JSON. They are 400 now,
    and nothing is written."""
    kind = f"bad-{uuid.uuid4().hex[:8]}"
    data = body.replace(b'"k"', f'"{kind}"'.encode()) if isinstance(body, bytes) else body.replace('"k"', f'"{kind}"')
    response = fuzzer.send("POST", "/v1/workflows", data)

    assert response.status_code == 400, response.text[:300]
    assert json_of(response)["error"]["code"] == "INVALID_ARGUMENT"
    assert json_of(fuzzer.send("GET", f"/v1/workflows?kind={kind}"))["workflows"] == []


def test_regression_nesting_up_to_the_limit_is_accepted_and_read_back(fuzzer: Fuzzer) -> None:
    """The limit is on nesting depth only: 128 levels of body (127 of input) are stored and read back as sent."""
    value = nested(127)
    created = fuzzer.post("/v1/workflows", {"kind": "deep", "input": value}, 201)
    events = json_of(fuzzer.send("GET", f"/v1/workflows/{created['workflowExecutionId']}/events"))["events"]
    assert events[0]["data"]["input"] == value


def test_a_path_id_holding_a_control_character_is_not_found(fuzzer: Fuzzer) -> None:
    """Bug: the local front door's policy matcher compiled IAM's `*` to `.*` without re.DOTALL, so a path id holding
    a newline was refused 403 before the route could answer 404."""
    response = fuzzer.send("POST", "/v1/workflows/a%0Ab/cancel", json.dumps({}))
    assert (response.status_code, json_of(response)["error"]["code"]) == (404, "NOT_FOUND")
