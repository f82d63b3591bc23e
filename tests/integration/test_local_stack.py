"""The local stack's machinery, on copies of template.yaml whose functions are fixture handlers, and the real stack.

Given a stack built from a template, When requests, table writes and schedules reach it, Then it behaves as API
Gateway, Lambda's DynamoDB event-source mappings and EventBridge Scheduler do, as the template configures them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError
from stratoflow_local.embedded_endpoint import EmbeddedAwsEndpoint
from stratoflow_local.scheduler import due_time
from stratoflow_local.stack import LocalStack

from tests.fixtures.local_stack import journal
from tests.integration.conftest import REPO, Api, StackFactory, fixture_environment, make_fixture_template

CHILD_CANCEL = "PropagateChildCancelFunction"
DISPATCHER = "OutboxDispatcherFunction"


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def entries(path: Path, function: str) -> list[Any]:
    return [entry["event"] for entry in journal.read(path) if entry["function"] == function]


def delivered_keys(path: Path, function: str) -> list[list[str]]:
    """The sk of each record, per invocation of a stream function."""
    return [[record["dynamodb"]["Keys"]["sk"]["S"] for record in event["Records"]] for event in entries(path, function)]


def item(pk: str, sk: str, **attributes: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{name: {"S": value} for name, value in attributes.items()}}


def transact_put(stack: LocalStack, *items: dict[str, Any]) -> None:
    """Write items in one transaction, so that their records reach the stream together."""
    table = stack.template.tables["Table"].name
    stack.client("dynamodb").transact_write_items(
        TransactItems=[{"Put": {"TableName": table, "Item": i}} for i in items]
    )


def sequence_numbers(stack: LocalStack) -> list[str]:
    assert stack.streams is not None
    return [record["dynamodb"]["SequenceNumber"] for _, record in stack.streams.records_seen]


# ---------------------------------------------------------------- the template drives the stack


def test_stack_follows_an_edited_template(tmp_path: Path, journal_path: Path, stack_factory: StackFactory) -> None:
    # Given a copy of the template with the health route moved and the child-cancel filter changed
    def edit(text: str) -> str:
        assert "Path: /v1/health\n" in text and '"OUTBOX#CHILD_CANCEL#"' in text
        return text.replace("Path: /v1/health\n", "Path: /v1/healthz\n").replace(
            '"OUTBOX#CHILD_CANCEL#"', '"OUTBOX#KID_CANCEL#"'
        )

    template = make_fixture_template(tmp_path / "edited", edit)
    with stack_factory(template) as stack:
        # When the old and new paths are requested and both kinds of outbox item are written
        moved = requests.get(stack.url + "/v1/healthz", timeout=10)
        old = requests.get(stack.url + "/v1/health", timeout=10)
        transact_put(stack, item("T#acme#WF#1", "OUTBOX#KID_CANCEL#1"), item("T#acme#WF#1", "OUTBOX#CHILD_CANCEL#1"))
        stack.wait_idle()

        # Then the stack serves the new route, not the old one, and delivers by the new filter only
        assert moved.status_code == 200
        assert moved.json()["routeKey"] == "GET /v1/healthz"
        assert old.json()["routeKey"] == "$default"
        assert delivered_keys(journal_path, CHILD_CANCEL) == [["OUTBOX#KID_CANCEL#1"]]


# ---------------------------------------------------------------- the front door


@pytest.fixture(scope="class")
def fixture_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    directory = tmp_path_factory.mktemp("gateway")
    journal_file = directory / "journal.jsonl"
    with LocalStack(
        template_path=make_fixture_template(directory / "app"),
        tokens=[],
        sweep_seconds=0,
        prewarm=False,
        environment={"FIXTURE_JOURNAL": str(journal_file)},
    ) as stack:
        yield stack, journal_file


class TestGateway:
    def test_unknown_routes_and_methods_reach_the_catch_all_route(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        api = Api(stack.url, token=None)
        for response in (
            api.get("/v1/nothing-here"),
            api.as_token("any-token").get("/v1/nothing-here"),
            api.request("DELETE", "/v1/workflows"),  # known path, unknown method
            api.get("/"),
        ):
            assert response.status_code == 200
            assert response.headers["X-Function"] == "CallerApiFunction"
            assert response.json()["routeKey"] == "$default"

    def test_a_request_reaches_its_function_as_a_payload_2_event(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        response = Api(stack.url, "any-token").get(
            "/v1/workflows/wf-1/events?afterSequence=3&limit=2&limit=5", headers={"X-Trace": "t-1"}
        )
        assert response.status_code == 200
        assert response.headers["X-Function"] == "CallerApiFunction"
        event = response.json()
        assert event["version"] == "2.0"
        assert event["routeKey"] == "GET /v1/workflows/{id}/events"
        assert event["rawPath"] == "/dev/v1/workflows/wf-1/events"
        assert event["rawQueryString"] == "afterSequence=3&limit=2&limit=5"
        assert event["pathParameters"] == {"id": "wf-1"}
        assert event["queryStringParameters"] == {"afterSequence": "3", "limit": "2,5"}
        assert event["headers"]["x-trace"] == "t-1"
        assert event["headers"]["authorization"] == "Bearer any-token"  # the function authenticates it
        assert "body" not in event
        assert event["isBase64Encoded"] is False
        context = event["requestContext"]
        assert context["http"]["method"] == "GET"
        assert context["http"]["path"] == "/dev/v1/workflows/wf-1/events"
        assert context["stage"] == "dev"
        assert "authorizer" not in context

    def test_body_is_passed_as_text(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        response = Api(stack.url, "worker-token").post("/v1/worker/workflows/wf-9/commands", json={"leaseId": "l"})
        event = response.json()
        assert response.headers["X-Function"] == "SubmitWorkflowCommandsFunction"
        assert json.loads(event["body"]) == {"leaseId": "l"}
        assert event["pathParameters"] == {"id": "wf-9"}

    def test_chunked_body_is_read(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        chunks = (part for part in (b'{"kind": ', b'"k"}'))
        response = Api(stack.url, "both-token").post("/v1/workflows", data=chunks)
        assert json.loads(response.json()["body"]) == {"kind": "k"}

    def test_literal_segment_beats_a_path_parameter(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        api = Api(stack.url, "worker-token")
        assert api.post("/v1/worker/tasks/poll", json={}).json()["routeKey"] == "POST /v1/worker/tasks/poll"
        heartbeat = api.post("/v1/worker/tasks/poll/heartbeat", json={}).json()
        assert heartbeat["routeKey"] == "POST /v1/worker/tasks/{taskExecutionId}/heartbeat"
        assert heartbeat["pathParameters"] == {"taskExecutionId": "poll"}

    def test_body_over_10_mb_is_413(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        response = Api(stack.url, "both-token").post("/v1/workflows", data=b"x" * (10 * 1024 * 1024 + 1))
        assert response.status_code == 413
        assert response.json() == {"error": {"code": "PAYLOAD_TOO_LARGE", "message": "request body too large"}}

    def test_handler_error_is_502_with_the_error_body(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        response = Api(stack.url, "both-token").get("/v1/workflows", headers={"X-Fixture-Fail": "raise"})
        assert response.status_code == 502
        assert response.json() == {"error": {"code": "INTERNAL", "message": "Internal server error"}}

    def test_an_answer_without_a_status_code_is_a_200_json_body(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        response = Api(stack.url, "both-token").get("/v1/workflows", headers={"X-Fixture-Fail": "malformed"})
        assert response.status_code == 200
        assert response.json() == {"body": "no status code"}

    def test_concurrent_requests_get_their_own_containers(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, _ = fixture_stack
        assert stack.runtime is not None
        api = Api(stack.url, "both-token", session=None)
        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def call() -> None:
            barrier.wait()
            statuses.append(
                Api(stack.url, "both-token").get("/v1/tasks/t-2", headers={"X-Fixture-Sleep": "0.3"}).status_code
            )

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert statuses == [200] * 4
        assert stack.runtime.pool("CallerApiFunction").size >= 2
        assert api.get("/v1/tasks/t-3").status_code == 200


# ---------------------------------------------------------------- stream mappings


class TestStreams:
    def test_filters_route_records_to_their_functions(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, journal_file = fixture_stack
        pk = "T#acme#WF#filters"
        table = stack.template.tables["Table"].name
        ddb = stack.client("dynamodb")
        before_child = len(delivered_keys(journal_file, CHILD_CANCEL))
        before_dispatch = len(delivered_keys(journal_file, DISPATCHER))

        transact_put(
            stack,
            item(pk, "OUTBOX#CHILD_CANCEL#c1"),
            item(pk, "OUTBOX#CASCADE#x1"),
            item(pk, "OUTBOX#CLOSE#z1"),
            item(pk, "TIMER#t1", status="STARTED"),
            item(pk, "EV#0000000001"),
        )
        stack.wait_idle()
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": "TIMER#t1"}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "FIRED"}},
        )
        stack.wait_idle()
        ddb.update_item(  # FIRED → FIRED: not a timer leaving STARTED
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": "TIMER#t1"}},
            UpdateExpression="SET note = :n",
            ExpressionAttributeValues={":n": {"S": "x"}},
        )
        ddb.delete_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": "OUTBOX#CASCADE#x1"}})
        stack.wait_idle()

        child = [keys for keys in delivered_keys(journal_file, CHILD_CANCEL)[before_child:]]
        dispatched = [keys for keys in delivered_keys(journal_file, DISPATCHER)[before_dispatch:]]
        assert child == [["OUTBOX#CHILD_CANCEL#c1"]]
        assert sorted(key for keys in dispatched[:-1] for key in keys) == [
            "OUTBOX#CASCADE#x1",
            "OUTBOX#CLOSE#z1",
            "TIMER#t1",
        ]
        assert dispatched[-1] == ["TIMER#t1"]
        last = entries(journal_file, DISPATCHER)[-1]["Records"][0]
        assert last["eventName"] == "MODIFY"
        assert last["dynamodb"]["OldImage"]["status"] == {"S": "STARTED"}
        assert last["dynamodb"]["NewImage"]["status"] == {"S": "FIRED"}

    def test_records_have_the_lambda_shape(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, journal_file = fixture_stack
        transact_put(stack, item("T#acme#WF#shape", "OUTBOX#CHILD_CANCEL#s1", reason="r"))
        stack.wait_idle()
        record = entries(journal_file, CHILD_CANCEL)[-1]["Records"][0]
        assert set(record) == {
            "eventID",
            "eventName",
            "eventVersion",
            "eventSource",
            "awsRegion",
            "dynamodb",
            "eventSourceARN",
        }
        assert record["eventName"] == "INSERT"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["eventSourceARN"].startswith(
            f"arn:aws:dynamodb:us-east-1:123456789012:table/{stack.template.tables['Table'].name}/stream/"
        )
        dynamodb = record["dynamodb"]
        assert dynamodb["Keys"] == {"pk": {"S": "T#acme#WF#shape"}, "sk": {"S": "OUTBOX#CHILD_CANCEL#s1"}}
        assert dynamodb["NewImage"]["reason"] == {"S": "r"}
        assert "OldImage" not in dynamodb
        assert dynamodb["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(dynamodb["ApproximateCreationDateTime"], int)
        assert dynamodb["SequenceNumber"].isdigit()

    def test_reported_item_failure_retries_from_that_record(self, fixture_stack: tuple[LocalStack, Path]) -> None:
        stack, journal_file = fixture_stack
        before = len(delivered_keys(journal_file, CHILD_CANCEL))
        transact_put(
            stack,
            item("T#acme#WF#p1", "OUTBOX#CHILD_CANCEL#a"),
            item("T#acme#WF#p2", "OUTBOX#CHILD_CANCEL#b", fail="report-once"),
            item("T#acme#WF#p3", "OUTBOX#CHILD_CANCEL#c"),
        )
        stack.wait_idle()
        deliveries = delivered_keys(journal_file, CHILD_CANCEL)[before:]
        assert len(deliveries) == 2
        first, retry = deliveries
        assert sorted(first) == ["OUTBOX#CHILD_CANCEL#a", "OUTBOX#CHILD_CANCEL#b", "OUTBOX#CHILD_CANCEL#c"]
        # Lambda checkpoints before the lowest failed sequence number: that record and all after it come again.
        assert retry == first[first.index("OUTBOX#CHILD_CANCEL#b") :]

    def test_function_error_bisects_retries_then_goes_to_the_on_failure_queue(
        self, fixture_stack: tuple[LocalStack, Path]
    ) -> None:
        stack, journal_file = fixture_stack
        assert stack.streams is not None
        sqs = stack.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=stack.template.queues["PropagateChildCancelFailureQueue"].name)[
            "QueueUrl"
        ]
        before = len(delivered_keys(journal_file, CHILD_CANCEL))
        failures_before = len(stack.streams.failures)
        transact_put(
            stack,
            item("T#acme#WF#q1", "OUTBOX#CHILD_CANCEL#1"),
            item("T#acme#WF#q2", "OUTBOX#CHILD_CANCEL#2", fail="raise"),
            item("T#acme#WF#q3", "OUTBOX#CHILD_CANCEL#3"),
            item("T#acme#WF#q4", "OUTBOX#CHILD_CANCEL#4"),
        )
        stack.wait_idle(timeout=20)

        # Then: the batch fails, is bisected down to the poison record, which is retried MaximumRetryAttempts times
        mapping = next(mapping for mapping in stack.template.stream_mappings if mapping.function == CHILD_CANCEL)
        keys = [f"OUTBOX#CHILD_CANCEL#{index}" for index in range(1, 5)]
        assert delivered_keys(journal_file, CHILD_CANCEL)[before:] == [
            keys,
            keys[:2],
            keys[:1],
            *[keys[1:2]] * (mapping.maximum_retry_attempts + 1),
            keys[2:],
        ]
        failed = list(stack.streams.failures)[failures_before:]
        assert [(failure.condition, len(failure.sequence_numbers)) for failure in failed] == [
            ("RetryAttemptsExhausted", 1)
        ]
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        assert len(messages) == 1
        body = json.loads(messages[0]["Body"])
        info = body["DDBStreamBatchInfo"]
        assert info["batchSize"] == 1
        assert info["startSequenceNumber"] == info["endSequenceNumber"] == failed[0].sequence_numbers[0]
        assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert body["requestContext"]["functionArn"].endswith(f":function:{CHILD_CANCEL}")


def test_duplicate_deliveries_deliver_every_record_twice(
    fixture_template: Path, journal_path: Path, stack_factory: StackFactory
) -> None:
    with stack_factory(fixture_template, duplicate_deliveries=True) as stack:
        transact_put(stack, item("T#a#WF#d1", "OUTBOX#CASCADE#1"), item("T#a#WF#d2", "OUTBOX#CASCADE#2"))
        stack.wait_idle()
        deliveries = delivered_keys(journal_path, DISPATCHER)
    assert len(deliveries) == 2
    assert deliveries[0] == deliveries[1]
    assert sorted(deliveries[0]) == ["OUTBOX#CASCADE#1", "OUTBOX#CASCADE#2"]


def test_reorder_shuffles_records_of_different_items(
    fixture_template: Path, journal_path: Path, stack_factory: StackFactory
) -> None:
    with stack_factory(fixture_template, reorder=True, seed=7) as stack:
        transact_put(stack, *(item(f"T#a#WF#r{index}", f"OUTBOX#CASCADE#{index:02d}") for index in range(12)))
        stack.wait_idle()
        deliveries = delivered_keys(journal_path, DISPATCHER)
    assert len(deliveries) == 1
    assert sorted(deliveries[0]) == [f"OUTBOX#CASCADE#{index:02d}" for index in range(12)]
    assert deliveries[0] != sorted(deliveries[0])


def test_an_external_endpoint_is_used_and_keeps_its_data(
    fixture_template: Path, journal_path: Path, stack_factory: StackFactory
) -> None:
    # Given an endpoint that is not the stack's own (as AWS_ENDPOINT_URL would name one)
    with EmbeddedAwsEndpoint() as external:
        with stack_factory(fixture_template, endpoint_url=external.url) as first:
            assert first.endpoint_url == external.url
            table = first.template.tables["Table"].name
            first.client("dynamodb").put_item(TableName=table, Item=item("T#a#WF#kept", "WF"))
        # When a stack starts on it again, Then it finds the table with its data, and its stream still flows
        with stack_factory(fixture_template, endpoint_url=external.url) as second:
            kept = second.client("dynamodb").get_item(TableName=table, Key=item("T#a#WF#kept", "WF"))
            assert kept["Item"] == item("T#a#WF#kept", "WF")
            transact_put(second, item("T#a#WF#ext", "OUTBOX#CLOSE#1"))
            second.wait_idle()
    assert ["OUTBOX#CLOSE#1"] in delivered_keys(journal_path, DISPATCHER)


# ---------------------------------------------------------------- scheduler and sweeper


def _create_schedule(
    stack: LocalStack, name: str, payload: dict[str, Any], due: datetime | None = None, **extra: Any
) -> None:
    """A one-time schedule at `due`'s second (default: in a second), as the timer code sets it."""
    group = stack.template.schedule_groups["TimerScheduleGroup"]
    due = due or datetime.now(UTC) + timedelta(seconds=1)
    stack.client("scheduler").create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression=f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": stack.template.functions["FireTimerFunction"].arn,
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
            "Input": json.dumps(payload),
            **extra.pop("target", {}),
        },
        **extra,
    )


def test_scheduler_fires_due_schedules_at_fire_at(
    fixture_template: Path, journal_path: Path, stack_factory: StackFactory
) -> None:
    with stack_factory(fixture_template) as stack:
        group = stack.template.schedule_groups["TimerScheduleGroup"]
        scheduler = stack.client("scheduler")
        fire_at = datetime.now(UTC) + timedelta(milliseconds=400)
        fire_at = fire_at.replace(microsecond=fire_at.microsecond // 1000 * 1000)  # what the ISO text holds
        payload = {
            "tenant": "acme",
            "workflowExecutionId": "wf-1",
            "timerId": "t-1",
            "fireAt": fire_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        # at(...) is fireAt rounded up to the second, as the timers' code writes it; the emulator fires at fireAt
        rounded_up = fire_at.replace(microsecond=0) + timedelta(seconds=1)
        _create_schedule(stack, "t-delete", payload, rounded_up, ActionAfterCompletion="DELETE")
        _create_schedule(stack, "t-keep", {**payload, "timerId": "t-2"}, rounded_up, ActionAfterCompletion="NONE")
        assert due_time(scheduler.get_schedule(GroupName=group, Name="t-keep")) == fire_at.timestamp()

        assert wait_for(lambda: len(entries(journal_path, "FireTimerFunction")) >= 2, timeout=10, what="timers")
        stack.wait_idle()
        events = entries(journal_path, "FireTimerFunction")
        assert sorted(events, key=lambda event: event["timerId"]) == [payload, {**payload, "timerId": "t-2"}]
        assert all(invocation.at >= fire_at.timestamp() for invocation in stack.scheduler.invocations)
        with pytest.raises(ClientError) as missing:
            scheduler.get_schedule(GroupName=group, Name="t-delete")
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert scheduler.get_schedule(GroupName=group, Name="t-keep")["Name"] == "t-keep"
        stack.wait_idle()
        assert len(entries(journal_path, "FireTimerFunction")) == 2  # a kept schedule fires once


def test_scheduler_can_invoke_twice_and_dead_letters_failures(
    fixture_template: Path, journal_path: Path, stack_factory: StackFactory
) -> None:
    with stack_factory(fixture_template, duplicate_schedule_invocations=True) as stack:
        dlq = stack.template.queues["TimerScheduleDLQ"]
        _create_schedule(stack, "t-twice", {"timerId": "twice"}, ActionAfterCompletion="DELETE")
        _create_schedule(
            stack,
            "t-fail",
            {"timerId": "bad", "fail": True},
            ActionAfterCompletion="DELETE",
            target={"RetryPolicy": {"MaximumRetryAttempts": 1}, "DeadLetterConfig": {"Arn": dlq.arn}},
        )
        sqs = stack.client("sqs")
        url = sqs.get_queue_url(QueueName=dlq.name)["QueueUrl"]
        messages = wait_for(
            lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"), 5, "dead letter"
        )
        stack.wait_idle()
        events = entries(journal_path, "FireTimerFunction")
    assert [event for event in events if event["timerId"] == "twice"] == [{"timerId": "twice"}] * 2
    # two attempts (the first and one retry), each invoked twice
    assert [event for event in events if event["timerId"] == "bad"] == [{"timerId": "bad", "fail": True}] * 4
    assert [json.loads(message["Body"]) for message in messages] == [{"timerId": "bad", "fail": True}]


def test_sweeper_runs_with_a_scheduled_event(
    fixture_template: Path, journal_path: Path, stack_factory: StackFactory
) -> None:
    with stack_factory(fixture_template, sweep_seconds=0.1) as stack:
        wait_for(lambda: len(entries(journal_path, "SweeperFunction")) >= 2, timeout=5, what="two sweeps")
        assert stack.template.periodic_schedules[0].rate_seconds == 60.0
    event = entries(journal_path, "SweeperFunction")[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:123456789012:rule/")


# ---------------------------------------------------------------- CLI


def test_cli_invoke_prints_the_handler_response(fixture_template: Path, journal_path: Path, tmp_path: Path) -> None:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"Records": []}), encoding="utf-8")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "stratoflow_local",
            "invoke",
            "SweeperFunction",
            str(event_file),
            "--template",
            str(fixture_template),
            "--env",
            f"FIXTURE_JOURNAL={journal_path}",
        ],
        capture_output=True,
        text=True,
        env=fixture_environment(journal_path),
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) is None
    assert entries(journal_path, "SweeperFunction") == [{"Records": []}]


def test_cli_serve_prints_ready_and_stops_on_sigterm(fixture_template: Path, journal_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stratoflow_local",
            "serve",
            "--port",
            "0",
            "--quiet",
            "--template",
            str(fixture_template),
            "--env",
            f"FIXTURE_JOURNAL={journal_path}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=fixture_environment(journal_path),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        assert first.startswith("ready on http://127.0.0.1:")
        url = first.removeprefix("ready on ")
        assert requests.get(url + "/v1/health", timeout=10).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
        assert "ready on" not in rest
        assert "token dev-token" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


# ---------------------------------------------------------------- the real stack


def test_real_stack_health_and_auth(api: Api) -> None:
    assert api.as_token(None).get("/v1/health").json() == {"status": "ok"}
    assert api.get("/v1/workflows").status_code == 200
    assert api.as_token("tok-acme-worker").get("/v1/workflows").status_code == 403
    assert (
        api.as_token("tok-acme-client").post("/v1/worker/tasks/poll", json={"queue": "q", "workerId": "w"}).status_code
        == 403
    )
    assert api.as_token("not-a-token").get("/v1/workflows").status_code == 401


def test_tokens_cli_creates_and_revokes_on_the_local_stack(local_stack: LocalStack, api: Api) -> None:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "layers" / "stratoflow"), str(REPO / "local")]),
    }
    base = [sys.executable, "-m", "stratoflow_local", "tokens"]
    target = ["--endpoint-url", local_stack.endpoint_url, "--template", str(REPO / "template.yaml")]
    created = subprocess.run(
        [*base, "create", "--tenant", "initech", "--scopes", "client", *target],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    token = json.loads(created.stdout)["token"]
    assert api.as_token(token).get("/v1/workflows").json() == {"workflows": [], "nextToken": None}

    doomed = "tok-doomed-123"
    subprocess.run(
        [*base, "create", "--tenant", "initech", "--token", doomed, *target],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    revoked = subprocess.run(
        [*base, "revoke", "--token", doomed, *target],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    assert json.loads(revoked.stdout) == {"revoked": True}
    assert api.as_token(doomed).get("/v1/workflows").status_code == 401


def test_cli_invoke_runs_the_real_health_route() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "AWS_ENDPOINT_URL"}
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO / "layers" / "stratoflow"), str(REPO / "local")])
    completed = subprocess.run(
        [sys.executable, "-m", "stratoflow_local", "invoke", "CallerApiFunction", "events/caller_api_health.json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert completed.returncode == 0, completed.stderr
    response = json.loads(completed.stdout)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}
