"""The operator controls through the local stack's HTTP API (operators.md): terminate, cleanup deadlines, cancel on an
event (POST /v1/events and the event bus), batches. Stream, scheduler, queue and bus effects are awaited with bounded
waits; every test ends with the invariant checker over what it touched.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from tests.support.http import Client, event_data, wait_until


@pytest.fixture
def client(api: Any, local_stack: Any) -> Client:
    return Client(api, local_stack)


def child_command(name: str, child_id: str, policy: str = "REQUEST_CANCEL", kind: str = "op-child") -> dict[str, Any]:
    return {
        "type": "SCHEDULE_CHILD_WORKFLOW",
        "childExecutionName": name,
        "childWorkflowExecutionId": child_id,
        "workflowKind": kind,
        "parentClosePolicy": policy,
    }


def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


# ---------------------------------------------------------------------- terminate


def test_terminate_ends_the_execution_its_work_and_its_descendants(client: Client) -> None:
    root = client.start("op-root")
    tag = uuid.uuid4().hex[:8]
    task_id, child_id, abandoned = f"t-{tag}", f"c-{tag}", f"a-{tag}"
    client.run(
        root,
        "op-root",
        [
            {"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "op-work"},
            {"type": "START_TIMER", "timerId": "later", "durationMs": 300_000},
            child_command("c", child_id),
            child_command("a", abandoned, "ABANDON", "op-abandoned"),
        ],
    )
    task_lease = client.claim_task(task_id, "op-work")
    child_lease = client.claim(child_id, "op-child")["leaseId"]
    response = client.post(f"/v1/workflows/{root}/terminate", {"reason": "runaway"}, 200)
    assert response.json() == {"workflowExecutionId": root, "status": "TERMINATED"}
    assert client.history(root)[-1]["data"] == {"reason": "runaway", "requestedBy": "api"}
    view = client.workflow(root)
    assert (view["status"], view["terminatedReason"], view["cleanupDeadline"], view["cancelOn"]) == (
        "TERMINATED", "runaway", None, []
    )
    # locally within 2 s: descendants terminated whatever their policy, open work cancelled
    for wid in (child_id, abandoned):
        wait_until(lambda wid=wid: client.status(wid) == "TERMINATED", 10, f"{wid} terminated")
        assert client.history(wid)[-1]["data"] == {"reason": "runaway", "requestedBy": f"workflow:{root}"}
    wait_until(lambda: client.task(task_id)["status"] == "CANCELLED", 10, "the task cancelled")
    assert client.heartbeat(task_id, task_lease, 200).json() == {"cancelRequested": True, "leaseExpiresAt": None}
    refused = client.submit(child_id, child_lease, [{"type": "COMPLETE_WORKFLOW"}], 409)
    assert error_of(refused)["code"] == "FAILED_PRECONDITION" and error_of(refused)["currentStatus"] == "TERMINATED"
    again = client.post(f"/v1/workflows/{root}/terminate", {"reason": "again"}, 409)
    assert error_of(again)["currentStatus"] == "TERMINATED"
    listed = client.get("/v1/workflows?status=TERMINATED&limit=100", 200).json()["workflows"]
    assert root in {w["workflowExecutionId"] for w in listed}
    assert client.poll("op-root") is None
    client.check(root)


def test_terminate_refuses_bad_requests_and_unknown_executions(client: Client, api: Any) -> None:
    wid = client.start("op-bad")
    assert error_of(client.post(f"/v1/workflows/{wid}/terminate", {}, 400))["code"] == "INVALID_ARGUMENT"
    client.post(f"/v1/workflows/{wid}/terminate", {"reason": ""}, 400)
    client.post(f"/v1/workflows/{wid}/terminate", {"reason": "x" * 1025}, 400)
    client.post("/v1/workflows/no-such-id/terminate", {"reason": "x"}, 404)
    other = Client(api.as_token("tok-globex"))
    other.post(f"/v1/workflows/{wid}/terminate", {"reason": "x"}, 404)
    assert client.status(wid) == "PENDING"
    done = client.start("op-bad-done")
    client.run(done, "op-bad-done", [{"type": "COMPLETE_WORKFLOW"}])
    assert error_of(client.post(f"/v1/workflows/{done}/terminate", {"reason": "x"}, 409))["currentStatus"] == (
        "COMPLETED"
    )


def test_a_terminated_child_is_reported_to_its_parent_as_terminated(client: Client) -> None:
    parent = client.start("op-parent")
    child_id = f"c-{uuid.uuid4().hex[:8]}"
    client.run(parent, "op-parent", [child_command("c", child_id)])
    client.post(f"/v1/workflows/{child_id}/terminate", {"reason": "bad data", "cascade": False}, 200)
    event = client.wait_for_event(parent, "CHILD_WORKFLOW_FAILED")
    assert event["data"] == {
        "childExecutionName": "c",
        "childWorkflowExecutionId": child_id,
        "error": {"code": "TERMINATED", "message": "bad data"},
        "cancelled": False,
        "terminated": True,
    }
    client.check(parent)


# ---------------------------------------------------------------------- cleanup deadlines


def test_an_execution_still_cancelling_at_its_cleanup_deadline_is_terminated(client: Client) -> None:
    wid = client.start("op-deadline")
    client.post(f"/v1/workflows/{wid}/cancel", {"reason": "shutdown", "cleanupTimeoutMs": 1000}, 202)
    request = client.history(wid)[-1]
    deadline = client.workflow(wid)["cleanupDeadline"]
    assert request["data"] == {"reason": "shutdown", "requestedBy": "api", "cleanupDeadline": deadline}
    wait_until(lambda: client.status(wid) == "TERMINATED", 15, "the deadline to terminate it")
    assert client.history(wid)[-1]["data"] == {"reason": "cleanup timeout", "requestedBy": "cleanup-timeout"}
    assert client.history(wid)[-1]["createdAt"] >= deadline
    client.check(wid)


def test_cleanup_timeouts_out_of_range_are_refused(client: Client) -> None:
    wid = client.start("op-deadline")
    for value in (999, 86_400_001, 1.5, "soon"):
        client.post(f"/v1/workflows/{wid}/cancel", {"cleanupTimeoutMs": value}, 400)
    assert client.status(wid) == "PENDING"


# ---------------------------------------------------------------------- cancel on an event


def start_subscriber(client: Client, kind: str, cancel_on: list[dict[str, Any]]) -> str:
    body = {"kind": kind, "queue": client.queue, "cancelOn": cancel_on}
    return str(client.post("/v1/workflows", body, 201).json()["workflowExecutionId"])


def test_an_event_posted_to_the_api_cancels_its_subscribers(client: Client) -> None:
    order = f"o-{uuid.uuid4().hex[:8]}"
    wid = start_subscriber(client, "op-sub", [{"eventType": "order.cancelled", "match": {"orderId": order}}])
    other = start_subscriber(client, "op-sub", [{"eventType": "order.cancelled", "match": {"orderId": order + "x"}}])
    assert client.workflow(wid)["cancelOn"] == [
        {"eventType": "order.cancelled", "match": {"orderId": order}, "timeoutMs": None}
    ]
    time.sleep(0.01)  # subscribed strictly before the event arrives (millisecond timestamps)
    key = {"Idempotency-Key": f"k-{order}"}
    body = {"eventType": "order.cancelled", "data": {"orderId": order, "amount": 5}}
    sent = client.post("/v1/events", body, 202, headers=key).json()
    assert set(sent) == {"eventId"}
    assert client.post("/v1/events", body, 202, headers=key).json() == sent  # same key, same body: same event
    assert error_of(client.post("/v1/events", {"eventType": "x"}, 409, headers=key))["code"] == "CONFLICT"
    event = client.wait_for_event(wid, "CANCELLATION_REQUESTED")
    assert event["data"] == {
        "reason": "cancelOn order.cancelled",
        "requestedBy": f"event:{sent['eventId']}",
        "cleanupDeadline": None,
    }
    client.settle()
    assert "CANCELLATION_REQUESTED" not in client.types(other)
    assert client.types(wid).count("CANCELLATION_REQUESTED") == 1
    client.check(wid, other)


def test_an_event_put_on_the_event_bus_cancels_its_subscribers(client: Client, local_stack: Any) -> None:
    order = f"o-{uuid.uuid4().hex[:8]}"
    wid = start_subscriber(client, "op-bus", [{"eventType": "order.cancelled", "match": {"n": 5}}])
    string = start_subscriber(client, "op-bus", [{"eventType": "order.cancelled", "match": {"n": "5"}}])
    time.sleep(0.01)
    bus = local_stack.template.raw["Resources"]["EventBus"]["Properties"]["Name"]["Fn::Sub"].replace(
        "${AWS::StackName}", local_stack.template.names.stack_name
    )
    answer = local_stack.client("events").put_events(
        Entries=[{
            "EventBusName": bus,
            "Source": "stratoflow.acme",
            "DetailType": "order.cancelled",
            "Detail": json.dumps({"n": 5.0, "orderId": order}),
        }]
    )
    assert answer["FailedEntryCount"] == 0
    event_id = answer["Entries"][0]["EventId"]
    event = client.wait_for_event(wid, "CANCELLATION_REQUESTED")
    assert event["data"]["requestedBy"] == f"event:{event_id}"
    client.settle()
    assert "CANCELLATION_REQUESTED" not in client.types(string)  # 5 = 5.0, but "5" ≠ 5
    client.check(wid, string)


@pytest.mark.parametrize(
    "cancel_on",
    [
        [{"eventType": "bad type"}],
        [{"eventType": "e", "match": {"a": 1, "b": 2}}],
        [{"eventType": "e", "match": {"a": None}}],
        [{"eventType": "e", "timeoutMs": 999}],
        [{"eventType": "e"}] * 6,
        {"eventType": "e"},
    ],
)
def test_invalid_cancel_on_is_refused(client: Client, cancel_on: Any) -> None:
    response = client.post("/v1/workflows", {"kind": "op-x", "queue": client.queue, "cancelOn": cancel_on}, 400)
    assert error_of(response)["code"] == "INVALID_ARGUMENT"


def test_events_refuse_bad_bodies(client: Client) -> None:
    client.post("/v1/events", {"data": {}}, 400)
    client.post("/v1/events", {"eventType": "e", "data": [1]}, 400)
    assert client.post("/v1/events", {"eventType": "e"}, 202).json()["eventId"]


# ---------------------------------------------------------------------- batches


def wait_finished(client: Client, batch_id: str, timeout: float = 30.0) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        batch: dict[str, Any] = client.get(f"/v1/batches/{batch_id}", 200).json()
        return batch if batch["status"] != "RUNNING" else None

    return wait_until(finished, timeout, f"batch {batch_id} to finish")


def test_a_batch_cancels_what_its_filter_selects_once_each(client: Client) -> None:
    kind = f"op-batch-{uuid.uuid4().hex[:8]}"
    ended = client.start(kind)
    client.run(ended, kind, [{"type": "COMPLETE_WORKFLOW"}])
    wids = [client.start(kind) for _ in range(5)]
    time.sleep(0.01)
    dry_run = {"operation": "CANCEL", "filter": {"kind": kind}, "dryRun": True}
    assert client.post("/v1/batches", dry_run, 200).json() == {"matched": 5}
    body = {"operation": "CANCEL", "filter": {"kind": kind}, "reason": "maintenance", "maxPerSecond": 2}
    key = {"Idempotency-Key": f"batch-{kind}"}
    created = client.post("/v1/batches", body, 202, headers=key).json()
    assert client.post("/v1/batches", body, 202, headers=key).json() == created
    batch_id = created["batchId"]
    assert {k: v for k, v in created.items() if k not in ("batchId", "createdAt", "updatedAt")} == {
        "operation": "CANCEL",
        "filter": {"kind": kind},
        "reason": "maintenance",
        "cascade": True,
        "cleanupTimeoutMs": None,
        "status": "RUNNING",
        "matched": None,
        "succeeded": 0,
        "failed": 0,
        "skipped": 0,
        "completedAt": None,
    }
    done = wait_finished(client, batch_id)
    assert (done["status"], done["matched"], done["succeeded"], done["failed"], done["skipped"]) == (
        "COMPLETED", 5, 5, 0, 0
    )
    assert done["completedAt"] is not None
    for wid in wids:
        assert event_data(client.history(wid), "CANCELLATION_REQUESTED") == [
            {"reason": "maintenance", "requestedBy": f"batch:{batch_id}", "cleanupDeadline": None}
        ]
    items = client.get(f"/v1/batches/{batch_id}/items?limit=100", 200).json()
    assert sorted(i["workflowExecutionId"] for i in items["items"]) == sorted(wids)
    assert {(i["outcome"], i["error"]) for i in items["items"]} == {("SUCCEEDED", None)}
    # at most maxPerSecond executions reached in any one-second window
    reached = sorted(i["at"] for i in items["items"])
    assert all(sum(1 for t in reached if start <= t < _plus_one_second(start)) <= 2 for start in reached), reached
    assert batch_id in [b["batchId"] for b in client.get("/v1/batches?limit=100", 200).json()["batches"]]
    refused = client.post(f"/v1/batches/{batch_id}/stop", None, 409)
    assert error_of(refused)["currentStatus"] == "COMPLETED"
    client.check(*wids, ended)


def _plus_one_second(timestamp: str) -> str:
    from stratoflow.clock import iso_ms, parse_iso_ms  # noqa: PLC0415

    return iso_ms(parse_iso_ms(timestamp) + 1000)


def test_a_stopped_batch_leaves_the_rest_alone(client: Client) -> None:
    kind = f"op-stop-{uuid.uuid4().hex[:8]}"
    wids = [client.start(kind) for _ in range(6)]
    time.sleep(0.01)
    batch = client.post(
        "/v1/batches",
        {"operation": "TERMINATE", "filter": {"kind": kind}, "reason": "stop", "maxPerSecond": 1},
        202,
    ).json()
    wait_until(lambda: client.get(f"/v1/batches/{batch['batchId']}", 200).json()["succeeded"] >= 1, 20, "a reach")
    stopped = client.post(f"/v1/batches/{batch['batchId']}/stop", None, 200).json()
    assert stopped["status"] == "STOPPED" and stopped["completedAt"] is not None
    client.settle()
    final = client.get(f"/v1/batches/{batch['batchId']}", 200).json()
    terminated = [wid for wid in wids if client.status(wid) == "TERMINATED"]
    assert final["succeeded"] == stopped["succeeded"] == len(terminated) < len(wids)
    assert error_of(client.post(f"/v1/batches/{batch['batchId']}/stop", None, 409))["currentStatus"] == "STOPPED"
    client.check(*wids)


@pytest.mark.parametrize(
    "body",
    [
        {"operation": "CANCEL", "filter": {}, "reason": "r"},
        {"operation": "CANCEL", "filter": {"statuses": ["COMPLETED"]}, "reason": "r"},
        {"operation": "CANCEL", "filter": {"kind": "k"}},
        {"operation": "PAUSE", "filter": {"kind": "k"}, "reason": "r"},
        {"operation": "CANCEL", "filter": {"kind": "k"}, "reason": "r", "maxPerSecond": 0},
        {"operation": "CANCEL", "filter": {"kind": "k"}, "reason": "r", "maxPerSecond": 1001},
        {"operation": "CANCEL", "filter": {"workflowExecutionIds": []}, "reason": "r"},
        {"operation": "CANCEL", "filter": {"createdAfter": "yesterday"}, "reason": "r"},
        {"operation": "CANCEL", "filter": {"kind": "k"}, "reason": "r", "cleanupTimeoutMs": 10},
    ],
)
def test_bad_batch_requests_are_refused(client: Client, body: dict[str, Any]) -> None:
    assert error_of(client.post("/v1/batches", body, 400))["code"] == "INVALID_ARGUMENT"


def test_unknown_batches_are_not_found(client: Client, api: Any) -> None:
    client.get("/v1/batches/no-such-batch", 404)
    client.get("/v1/batches/no-such-batch/items?limit=0", 404)
    client.post("/v1/batches/no-such-batch/stop", None, 404)
    batch = client.post("/v1/batches", {"operation": "CANCEL", "filter": {"kind": "nothing-here"}, "reason": "r"},
                        202).json()
    Client(api.as_token("tok-globex")).get(f"/v1/batches/{batch['batchId']}", 404)
    client.get("/v1/batches?limit=101", 400)
    client.get(f"/v1/batches/{batch['batchId']}/items?outcome=MAYBE", 400)


def test_the_openapi_document_has_the_operator_controls(client: Client) -> None:
    paths = client.get("/v1/openapi.json", 200).json()["paths"]
    for path, method in [
        ("/v1/workflows/{id}/terminate", "post"),
        ("/v1/events", "post"),
        ("/v1/batches", "post"),
        ("/v1/batches", "get"),
        ("/v1/batches/{batchId}", "get"),
        ("/v1/batches/{batchId}/items", "get"),
        ("/v1/batches/{batchId}/stop", "post"),
    ]:
        assert method in paths[path], (path, method)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_batch_over_a_thousand_executions_finishes(client: Client) -> None:
    """Scale: 1,000 executions at the default rate (50/s). The wait is bounded generously; the time it took is
    printed (docs/benchmarks.md), not asserted."""
    kind = f"op-scale-{uuid.uuid4().hex[:8]}"
    wids = [client.start(kind) for _ in range(1000)]
    time.sleep(0.01)
    started = time.monotonic()
    batch = client.post("/v1/batches", {"operation": "CANCEL", "filter": {"kind": kind}, "reason": "scale"},
                        202).json()
    done = wait_finished(client, batch["batchId"], timeout=300)
    print(f"1000 executions in {time.monotonic() - started:.1f} s")
    assert (done["status"], done["matched"], done["succeeded"]) == ("COMPLETED", 1000, 1000)
    assert len({client.status(wid) for wid in wids[:20]} - {"CANCELLING"}) == 0
