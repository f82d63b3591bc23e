"""Operations: a record nobody can process blocks nothing, failures land where an alarm sees them.

- Each stream consumer, given a batch with a poison record between two good ones (one transaction, so one batch),
  processes the good ones, retries the poison as its mapping says, sends it to its on-failure SQS queue and goes on
  with the records written after it.
- The sweeper handles every due item even when one of them is poison, and then fails the run (its Errors alarm).
- template.yaml has the timer schedules' dead-letter queue (and the schedules use it), an alarm on the depth of every
  dead-letter and on-failure queue, and an Errors alarm for every function; the stream mappings are bounded.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from stratoflow.timers import schedule_name
from stratoflow_local.runtime import FunctionError
from stratoflow_local.scheduler import scheduled_event
from stratoflow_local.stack import LocalStack

from tests.integration.conftest import Api
from tests.support.http import wait_until
from tests.support.template import load_template

TENANT = "acme"


def table() -> str:
    return os.environ["TABLE_NAME"]


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def outbox_item(pk: str, sk: str, workflow_id: str, payload: str, **extra: dict[str, str]) -> dict[str, Any]:
    return {
        "pk": s(pk),
        "sk": s(sk),
        "tenant": s(TENANT),
        "workflowExecutionId": s(workflow_id),
        "kind": s(sk.split("#")[1]),
        "payload": s(payload),
        "createdAt": s("2026-01-01T00:00:00.000Z"),
        **extra,
    }


def timer_item(pk: str, workflow_id: str, timer_id: str, fire_at_ms: int) -> dict[str, Any]:
    return {
        "pk": s(pk),
        "sk": s(f"TIMER#{timer_id}"),
        "tenant": s(TENANT),
        "workflowExecutionId": s(workflow_id),
        "timerId": s(timer_id),
        "status": s("STARTED"),
        "durationMs": n(3_600_000),
        "fireAt": s("2030-01-01T00:00:00.000Z"),
        "fireAtMs": n(fire_at_ms),
        "createdAt": s("2026-01-01T00:00:00.000Z"),
        "updatedAt": s("2026-01-01T00:00:00.000Z"),
    }


def types(api: Api, wid: str) -> list[str]:
    return [event["type"] for event in api.get(f"/v1/workflows/{wid}/events?limit=1000").json()["events"]]


def failure_messages(stack: LocalStack, queue_logical_id: str) -> Iterator[dict[str, Any]]:
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.template.queues[queue_logical_id].name)["QueueUrl"]
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            yield json.loads(message["Body"])


@dataclass
class Family:
    """A parent (leased by nobody, WAITING) with live children, through the API."""

    parent: str
    children: list[str]

    @property
    def pk(self) -> str:
        return f"T#{TENANT}#WF#{self.parent}"


@pytest.fixture
def family(api: Api, local_stack: LocalStack) -> Family:
    queue = f"ops-{uuid.uuid4().hex[:8]}"
    parent = api.post("/v1/workflows", json={"kind": "ops", "queue": queue}).json()["workflowExecutionId"]
    lease = api.post("/v1/worker/workflows/poll", json={"queue": queue}).json()["leaseId"]
    children = [f"{parent}-c{index}" for index in range(3)]
    commands = [
        {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": f"c{index}",
            "childWorkflowExecutionId": child,
            "workflowKind": "ops-child",
            "queue": f"{queue}-children",
        }
        for index, child in enumerate(children)
    ]
    response = api.post(f"/v1/worker/workflows/{parent}/commands", json={"leaseId": lease, "commands": commands})
    assert response.status_code == 200, response.text
    local_stack.wait_idle()
    return Family(parent, children)


# ---------------------------------------------------------------- poison records


def test_a_poison_child_cancel_record_goes_to_the_failure_queue_and_blocks_nothing(
    api: Api, local_stack: LocalStack, family: Family
) -> None:
    list(failure_messages(local_stack, "PropagateChildCancelFailureQueue"))  # start from an empty queue
    run = uuid.uuid4().hex[:8]
    good_before, poison, good_after = (f"OUTBOX#CHILD_CANCEL#ops-{run}-{i}" for i in range(3))

    def request(name: str, child: str, reason: str) -> str:
        return json.dumps({"childExecutionName": name, "childWorkflowExecutionId": child, "reason": reason})

    dynamodb = local_stack.client("dynamodb")
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table(), "Item": outbox_item(family.pk, sk, family.parent, payload)}}
            for sk, payload in (
                (good_before, request("c0", family.children[0], "before the poison")),
                (poison, "{this is not json"),
                (good_after, request("c1", family.children[1], "after the poison")),
            )
        ]
    )

    messages = wait_until(
        lambda: list(failure_messages(local_stack, "PropagateChildCancelFailureQueue")), 15, "the failure message"
    )

    poison_sequence = _sequence_of(local_stack, "PropagateChildCancelFunction", family.pk, poison)
    assert [m["DDBStreamBatchInfo"]["startSequenceNumber"] for m in messages] == [poison_sequence]
    assert messages[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert messages[0]["requestContext"]["approximateInvokeCount"] == 6  # the first delivery and 5 retries
    for child, reason in ((family.children[0], "before the poison"), (family.children[1], "after the poison")):
        history = api.get(f"/v1/workflows/{child}/events").json()["events"]
        assert [(e["type"], e["data"].get("reason")) for e in history] == [
            ("WORKFLOW_STARTED", None),
            ("CANCELLATION_REQUESTED", reason),
        ]
    # Records written after the poison are delivered as usual: the shard is not blocked.
    dynamodb.put_item(
        TableName=table(),
        Item=outbox_item(
            family.pk, f"OUTBOX#CHILD_CANCEL#ops-{run}-3", family.parent, request("c2", family.children[2], "later")
        ),
    )
    wait_until(lambda: "CANCELLATION_REQUESTED" in types(api, family.children[2]), 10, "the later request")
    dynamodb.delete_item(TableName=table(), Key={"pk": s(family.pk), "sk": s(poison)})


def test_a_poison_outbox_record_goes_to_the_failure_queue_and_blocks_nothing(
    api: Api, local_stack: LocalStack, family: Family
) -> None:
    list(failure_messages(local_stack, "OutboxDispatcherFailureQueue"))
    run = uuid.uuid4().hex[:8]
    poison = f"OUTBOX#CASCADE#ops-{run}"
    fire_at = int(time.time() * 1000) + 3_600_000
    timers = [f"ops-{run}-before", f"ops-{run}-after"]
    dynamodb = local_stack.client("dynamodb")
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table(), "Item": timer_item(family.pk, family.parent, timers[0], fire_at)}},
            {"Put": {"TableName": table(), "Item": outbox_item(family.pk, poison, family.parent, "[not an object")}},
            {"Put": {"TableName": table(), "Item": timer_item(family.pk, family.parent, timers[1], fire_at)}},
        ]
    )

    messages = wait_until(
        lambda: list(failure_messages(local_stack, "OutboxDispatcherFailureQueue")), 15, "the failure message"
    )

    poison_sequence = _sequence_of(local_stack, "OutboxDispatcherFunction", family.pk, poison)
    assert [m["DDBStreamBatchInfo"]["startSequenceNumber"] for m in messages] == [poison_sequence]
    scheduler = local_stack.client("scheduler")
    group = os.environ["TIMER_SCHEDULE_GROUP"]
    for timer in timers:  # both good records created their schedules
        scheduler.get_schedule(GroupName=group, Name=schedule_name(TENANT, family.parent, timer))
    for timer in timers:
        scheduler.delete_schedule(GroupName=group, Name=schedule_name(TENANT, family.parent, timer))
        dynamodb.delete_item(TableName=table(), Key={"pk": s(family.pk), "sk": s(f"TIMER#{timer}")})
    dynamodb.delete_item(TableName=table(), Key={"pk": s(family.pk), "sk": s(poison)})


def _sequence_of(stack: LocalStack, function: str, pk: str, sk: str) -> str:
    assert stack.streams is not None
    mapping = next(m.name for m in stack.template.stream_mappings if m.function == function)
    found = [
        record["dynamodb"]["SequenceNumber"]
        for name, record in list(stack.streams.records_seen)
        if name == mapping and record["dynamodb"]["Keys"] == {"pk": s(pk), "sk": s(sk)}
    ]
    assert len(found) == 1, found
    return str(found[0])


def test_regression_one_poison_item_no_longer_stops_the_sweep_of_every_item_after_it(
    api: Api, local_stack: LocalStack
) -> None:
    """Bug: the sweeper handled due items one after the other with nothing around each, so one item it could not
    handle (a poison outbox item left by the stream) failed every run before the items after it: expired leases and
    timeouts were never noticed, overdue timers never fired. Now each item is handled on its own and the run fails
    at its end (the sweeper's Errors alarm), with every other due item handled."""
    queue = f"ops-sweep-{uuid.uuid4().hex[:8]}"
    task = api.post("/v1/tasks", json={"kind": "ops", "queue": queue, "timeoutMs": 1}).json()["taskExecutionId"]
    assert api.post("/v1/worker/tasks/poll", json={"queue": queue}).status_code == 200
    poison_pk, poison_sk = f"T#{TENANT}#WF#ops-{uuid.uuid4().hex[:8]}", "OUTBOX#CASCADE#poison"
    dynamodb = local_stack.client("dynamodb")
    # Due first of all: the lowest sweepAt of the first shard.
    extra = {"sweepPk": s("SWEEP#0"), "sweepAt": n(0)}
    dynamodb.put_item(TableName=table(), Item=outbox_item(poison_pk, poison_sk, "ops", "{not json", **extra))
    try:
        schedule = local_stack.template.periodic_schedules[0]
        with pytest.raises(FunctionError) as raised:
            local_stack.invoke("SweeperFunction", scheduled_event(local_stack.template, schedule))
        assert raised.value.error_type == "SweepIncomplete"
        assert f"('{poison_pk}', '{poison_sk}')" in raised.value.error_message
        assert api.get(f"/v1/tasks/{task}").json()["status"] == "FAILED"  # its timeout was noticed all the same
        assert api.get(f"/v1/tasks/{task}").json()["error"]["code"] == "TIMEOUT"
    finally:
        dynamodb.delete_item(TableName=table(), Key={"pk": s(poison_pk), "sk": s(poison_sk)})


# ---------------------------------------------------------------- the template


def resources() -> dict[str, Any]:
    return dict(load_template()["Resources"])


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in resources().items() if resource["Type"] == kind}


def depth_alarm_queues() -> set[str]:
    alarms = of_type("AWS::CloudWatch::Alarm").values()
    queues = set()
    for alarm in alarms:
        properties = alarm["Properties"]
        if (properties["Namespace"], properties["MetricName"]) != ("AWS/SQS", "ApproximateNumberOfMessagesVisible"):
            continue
        assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        (dimension,) = properties["Dimensions"]
        assert dimension["Name"] == "QueueName"
        queue, attribute = dimension["Value"]["Fn::GetAtt"].split(".")
        assert attribute == "QueueName"
        queues.add(queue)
    return queues


def test_every_function_has_an_errors_alarm() -> None:
    functions = set(of_type("AWS::Serverless::Function"))
    alarmed = set()
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        if (properties["Namespace"], properties["MetricName"]) == ("AWS/Lambda", "Errors"):
            assert (properties["Threshold"], properties["ComparisonOperator"]) == (0, "GreaterThanThreshold")
            (dimension,) = properties["Dimensions"]
            assert dimension["Name"] == "FunctionName"
            alarmed.add(dimension["Value"]["Ref"])
    assert alarmed == functions


def test_every_queue_is_a_failure_destination_with_a_depth_alarm() -> None:
    """Every queue but the work queues (of batches, of timers' last mile) is where failures land, and is alarmed;
    each work queue redrives to one of them."""
    work_queues = {"BatchQueue": "BatchDeadLetterQueue", "TimerQueue": "TimerDeadLetterQueue"}
    queues = set(of_type("AWS::SQS::Queue")) - set(work_queues)
    assert queues == {
        "PropagateChildCancelFailureQueue",
        "OutboxDispatcherFailureQueue",
        "TimerScheduleDLQ",
        "BatchDeadLetterQueue",
        "CancelOnEventDLQ",
        "TimerDeadLetterQueue",
    }
    assert depth_alarm_queues() == queues
    for work_queue, dead_letters in work_queues.items():
        redrive = resources()[work_queue]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": f"{dead_letters}.Arn"}


def test_stream_mappings_are_bounded_and_have_an_on_failure_destination() -> None:
    mappings = {
        name: event["Properties"]
        for name, function in of_type("AWS::Serverless::Function").items()
        for event in (function["Properties"].get("Events") or {}).values()
        if event["Type"] == "DynamoDB"
    }
    assert set(mappings) == {"PropagateChildCancelFunction", "OutboxDispatcherFunction"}
    for name, mapping in mappings.items():
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        assert mapping["BisectBatchOnFunctionError"] is True, name
        assert 0 <= mapping["MaximumRetryAttempts"] <= 10, name
        assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 86_400, name
        destination = mapping["DestinationConfig"]["OnFailure"]
        assert destination["Type"] == "SQS"
        queue, attribute = destination["Destination"]["Fn::GetAtt"].split(".")
        assert attribute == "Arn" and queue in depth_alarm_queues(), name


def test_timer_schedules_retry_then_dead_letter_to_the_alarmed_queue(api: Api, local_stack: LocalStack) -> None:
    dispatcher = resources()["OutboxDispatcherFunction"]["Properties"]["Environment"]["Variables"]
    assert dispatcher["TIMER_DLQ_ARN"] == {"Fn::GetAtt": "TimerScheduleDLQ.Arn"}
    assert "TimerScheduleDLQ" in depth_alarm_queues()
    role = resources()["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": "TimerScheduleDLQ.Arn"}} in role
    # A real timer's schedule, as the outbox dispatcher creates it.
    queue = f"ops-timer-{uuid.uuid4().hex[:8]}"
    wid = api.post("/v1/workflows", json={"kind": "ops", "queue": queue}).json()["workflowExecutionId"]
    lease = api.post("/v1/worker/workflows/poll", json={"queue": queue}).json()["leaseId"]
    start = [{"type": "START_TIMER", "timerId": "later", "durationMs": 3_600_000}]
    assert api.post(f"/v1/worker/workflows/{wid}/commands", json={"leaseId": lease, "commands": start}).ok
    local_stack.wait_idle()
    group = os.environ["TIMER_SCHEDULE_GROUP"]
    schedule = local_stack.client("scheduler").get_schedule(GroupName=group, Name=schedule_name(TENANT, wid, "later"))
    assert schedule["Target"]["DeadLetterConfig"]["Arn"] == local_stack.template.queues["TimerScheduleDLQ"].arn
    assert schedule["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    assert (schedule["FlexibleTimeWindow"], schedule["ActionAfterCompletion"]) == ({"Mode": "OFF"}, "DELETE")
    cancel = [{"type": "CANCEL_TIMER", "timerId": "later"}, {"type": "COMPLETE_WORKFLOW"}]
    assert api.post(f"/v1/workflows/{wid}/cancel", json={"cascade": False}).status_code == 202
    lease = wait_until(lambda: _claim(api, queue), 10, "the workflow to be ready")
    assert api.post(f"/v1/worker/workflows/{wid}/commands", json={"leaseId": lease, "commands": cancel}).ok


def _claim(api: Api, queue: str) -> str | None:
    response = api.post("/v1/worker/workflows/poll", json={"queue": queue})
    return str(response.json()["leaseId"]) if response.status_code == 200 else None
