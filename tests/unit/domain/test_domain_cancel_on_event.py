"""Cancel on an event (operators.md): cancelOn subscriptions, POST /v1/events and the bus, on the domain.

`send_event` records the event and its outbox item; draining the outbox (each item twice, I6) cancels the
subscribers, as the outbox dispatcher does from the stream.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from stratoflow import event_delivery, workflows
from stratoflow.cancel_on import CancelOn, CancelOnEntry
from stratoflow.records import Subscription
from stratoflow.subscriptions import canonical

from tests.support.domain import Engine

CANCEL_ON = TypeAdapter(CancelOn)


def start(engine: Engine, *entries: dict[str, Any], kind: str = "order-saga") -> str:
    cancel_on = CANCEL_ON.validate_python(list(entries))
    return str(workflows.start_workflow(
        engine.rt, "acme", kind=kind, queue="default", input_value=None, cancel_on=cancel_on
    )["workflowExecutionId"])


def send(engine: Engine, event_type: str, data: dict[str, Any]) -> str:
    event_id = event_delivery.send_event(engine.rt, "acme", event_type=event_type, data=data, idempotency_key=None)
    engine.drain_outbox()
    return str(event_id["eventId"])


def cancel_request(engine: Engine, wid: str) -> dict[str, Any] | None:
    found = [e["data"] for e in engine.history(wid) if e["type"] == "CANCELLATION_REQUESTED"]
    assert len(found) <= 1
    return found[0] if found else None


# ---------------------------------------------------------------------- the cancelOn entries


@pytest.mark.parametrize(
    "entries",
    [
        [{"eventType": "bad type"}],
        [{"eventType": "x" * 129}],
        [{"eventType": "e", "match": {"a": 1, "b": 2}}],
        [{"eventType": "e", "match": {"a": None}}],
        [{"eventType": "e", "match": {"a": {"nested": 1}}}],
        [{"eventType": "e", "match": {"a": [1]}}],
        [{"eventType": "e", "match": {"": "x"}}],
        [{"eventType": "e", "match": {"k" * 129: "x"}}],
        [{"eventType": "e", "timeoutMs": 999}],
        [{"eventType": "e", "timeoutMs": 31_536_000_001}],
        [{"eventType": "e"}] * 6,
    ],
)
def test_invalid_cancel_on_entries_are_refused(entries: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        CANCEL_ON.validate_python(entries)


def test_cancel_on_is_shown_on_the_execution(engine: Engine) -> None:
    wid = start(engine, {"eventType": "order.cancelled", "match": {"orderId": "o-1"}, "timeoutMs": 60_000},
                {"eventType": "shop.closed"})
    assert engine.get(wid)["cancelOn"] == [
        {"eventType": "order.cancelled", "match": {"orderId": "o-1"}, "timeoutMs": 60_000},
        {"eventType": "shop.closed", "match": {}, "timeoutMs": None},
    ]
    assert engine.get(engine.start()["workflowExecutionId"])["cancelOn"] == []


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [(5, 5.0, True), (7, "7", False), (True, 1, False), (0, -0.0, True), (0.1, 0.1, True), ("a", "a", True),
     (10**20, 1e20, True), (1.5, 1.50, True), (2, 3, False), (False, "false", False)],
)
def test_match_values_compare_as_json_values(left: Any, right: Any, equal: bool) -> None:
    assert (canonical(left) == canonical(right)) is equal


# ---------------------------------------------------------------------- matching


def test_an_event_cancels_its_matching_subscribers_as_a_cascading_cancel(engine: Engine) -> None:
    exact = start(engine, {"eventType": "order.cancelled", "match": {"orderId": "o-1"}})
    number = start(engine, {"eventType": "order.cancelled", "match": {"amount": 5}})
    anything = start(engine, {"eventType": "order.cancelled"})
    other_value = start(engine, {"eventType": "order.cancelled", "match": {"orderId": "o-2"}})
    string_seven = start(engine, {"eventType": "order.cancelled", "match": {"n": "7"}})
    other_type = start(engine, {"eventType": "order.shipped"})
    plain = engine.start()["workflowExecutionId"]
    engine.run(exact, [{"type": "SCHEDULE_CHILD_WORKFLOW", "childExecutionName": "c", "childWorkflowExecutionId":
                        "exact-child", "workflowKind": "step"}])
    engine.clock.advance(1)
    event_id = send(engine, "order.cancelled", {"orderId": "o-1", "amount": 5.0, "n": 7, "nested": {"x": 1}})
    request = {"reason": "cancelOn order.cancelled", "requestedBy": f"event:{event_id}", "cleanupDeadline": None}
    for wid in (exact, number, anything):
        assert (engine.status(wid), cancel_request(engine, wid)) == ("CANCELLING", request), wid
    for wid in (other_value, string_seven, other_type, plain):
        assert cancel_request(engine, wid) is None, wid
    assert cancel_request(engine, "exact-child") == {
        "reason": "cancelOn order.cancelled",
        "requestedBy": f"workflow:{exact}",
        "cleanupDeadline": None,
    }
    engine.check()


def test_only_subscribers_from_before_the_event_arrived_and_not_timed_out_are_cancelled(engine: Engine) -> None:
    timed_out = start(engine, {"eventType": "e", "timeoutMs": 1_000})
    engine.clock.advance(1_000)
    still_on = start(engine, {"eventType": "e", "timeoutMs": 1_000})
    engine.clock.advance(1)
    event_delivery.send_event(engine.rt, "acme", event_type="e", data={}, idempotency_key=None)
    same_instant = start(engine, {"eventType": "e"})  # subscribed at the very instant the event arrived
    engine.clock.advance(1)
    later = start(engine, {"eventType": "e"})
    engine.drain_outbox()
    assert cancel_request(engine, still_on) is not None
    for wid in (timed_out, same_instant, later):
        assert cancel_request(engine, wid) is None, wid


def test_the_same_event_twice_cancels_nothing_twice_and_cancelling_ones_are_left_alone(engine: Engine) -> None:
    subscriber = start(engine, {"eventType": "e"})
    asked_before = start(engine, {"eventType": "e"})
    engine.cancel(asked_before, "by hand")
    ended = start(engine, {"eventType": "e"})
    engine.run(ended, [{"type": "COMPLETE_WORKFLOW"}])
    engine.clock.advance(1)
    received = {"event_id": "bus-event-1", "event_type": "e", "data": {"k": 1}}
    assert event_delivery.receive_bus_event(engine.rt, "acme", **received) == 1
    engine.clock.advance(5_000)
    assert event_delivery.receive_bus_event(engine.rt, "acme", **received) == 0  # a redelivery: nothing twice
    assert cancel_request(engine, subscriber) == {
        "reason": "cancelOn e", "requestedBy": "event:bus-event-1", "cleanupDeadline": None
    }
    assert cancel_request(engine, asked_before)["requestedBy"] == "api"  # type: ignore[index]
    assert engine.types(ended)[-1] == "WORKFLOW_COMPLETED"
    engine.drain_outbox()
    engine.check()


def test_a_redelivered_bus_event_keeps_its_first_arrival(engine: Engine) -> None:
    event_delivery.receive_bus_event(engine.rt, "acme", event_id="ev", event_type="e", data={})
    engine.clock.advance(1)
    later = start(engine, {"eventType": "e"})
    engine.clock.advance(1)
    assert event_delivery.receive_bus_event(engine.rt, "acme", event_id="ev", event_type="e", data={}) == 0
    assert cancel_request(engine, later) is None


def test_children_may_subscribe_and_an_ended_execution_s_subscriptions_are_deleted(engine: Engine) -> None:
    pid = engine.start()["workflowExecutionId"]
    engine.run(pid, [{
        "type": "SCHEDULE_CHILD_WORKFLOW", "childExecutionName": "c", "childWorkflowExecutionId": "sub-child",
        "workflowKind": "step", "cancelOn": [{"eventType": "e", "match": {"flag": True}}],
    }])
    assert engine.get("sub-child")["cancelOn"] == [{"eventType": "e", "match": {"flag": True}, "timeoutMs": None}]
    ends = start(engine, {"eventType": "e"})
    engine.run(ends, [{"type": "COMPLETE_WORKFLOW"}])
    engine.drain_outbox()
    subscriptions = [item for item in engine.items() if item["pk"].startswith("T#acme#SUB#")]
    assert [item["workflowExecutionId"] for item in subscriptions] == ["sub-child"]
    engine.clock.advance(1)
    send(engine, "e", {"flag": True})
    assert engine.status("sub-child") == "CANCELLING"


def test_finding_subscribers_costs_a_query_per_top_level_key_not_per_subscriber(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(30):
        start(engine, {"eventType": "e", "match": {"orderId": f"o-{n}"}})
    engine.clock.advance(1)
    read: list[str] = []
    queries: list[str] = []
    original = engine.rt.repo.query

    def counting(record_type: Any, *args: Any, **kwargs: Any) -> Any:
        results = list(original(record_type, *args, **kwargs))
        if record_type is Subscription:
            queries.append(args[0])
            read.extend(item.workflow_id for item in results)
        return iter(results)

    monkeypatch.setattr(engine.rt.repo, "query", counting)
    send(engine, "e", {"orderId": "o-7", "other": "x", "deep": {"a": 1}})
    assert len(read) == 1  # one matching subscription read,
    assert len(queries) == 3  # in 3 queries (empty match, orderId, other)


def test_entries_are_parsed_with_their_defaults() -> None:
    entry = CancelOnEntry.model_validate({"eventType": "e"})
    assert entry.view() == {"eventType": "e", "match": {}, "timeoutMs": None}
