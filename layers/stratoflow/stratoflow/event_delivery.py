"""Cancel on an event (operators.md): receive an event once, then cancel the executions subscribed to it.

An event reaches Stratoflow by `POST /v1/events` or from the stack's event bus. Either way it is recorded once, with
the time it arrived (a redelivery reads that record, so "subscribed before the event arrived" means the first
arrival). `POST /v1/events` records it with an outbox item in one transaction (with its Idempotency-Key), and the
outbox dispatcher cancels the subscribers; the bus rule's target function records it and cancels them itself (the
bus retries it on failure). Cancelling is `POST /v1/workflows/{id}/cancel` with cascade for each live subscriber
not yet CANCELLING, so a second delivery of the same event finds them CANCELLING and cancels nothing twice (I6).
"""

from __future__ import annotations

from typing import Any

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.keys import EVENT_SK, SUBSCRIPTION_PREFIX, event_pk, subscription_pk
from stratoflow.dal.repository import PartitionQuery, commit_or_retry
from stratoflow.dal.unit_of_work import NEW, TransactionConflict, UnitOfWork, run_optimistic
from stratoflow.executions import get_execution, is_live
from stratoflow.idempotency import commit_once
from stratoflow.lifecycle import delete_outbox, request_workflow_cancel
from stratoflow.records import OutboxEntry, ReceivedEvent, Subscription
from stratoflow.runtime import Runtime
from stratoflow.states import WorkflowStatus
from stratoflow.subscriptions import event_partitions
from stratoflow.values import dumps, encode_value, loads

OUTBOX_EVENT = "EVENT"
# How long an event's record is kept: longer than the bus retries a delivery (24 h) and than Idempotency-Keys.
EVENT_RECORD_TTL_SECONDS = 2 * 86400


def _record(rt: Runtime, tenant: str, event_id: str, event_type: str, data_text: str) -> ReceivedEvent:
    now = rt.now_ms()
    return ReceivedEvent(
        event_pk(tenant, event_id),
        EVENT_SK,
        tenant=tenant,
        event_id=event_id,
        event_type=event_type,
        data=data_text,
        arrived_at=now,
        created_at=iso_ms(now),
        expires_at=now // 1000 + EVENT_RECORD_TTL_SECONDS,
    )


def send_event(
    rt: Runtime, tenant: str, *, event_type: str, data: dict[str, Any], idempotency_key: str | None
) -> dict[str, Any]:
    """`POST /v1/events`: record the event and its follow-up in one transaction → `{"eventId"}`."""
    data_text = encode_value("data", data)
    event_id = rt.ids.new_id()
    record = _record(rt, tenant, event_id, event_type, data_text)
    uow = UnitOfWork()
    uow.put(record, NEW, label="new-event")
    now = int(record.arrived_at)
    uow.put(
        OutboxEntry(
            record.pk,
            keys.outbox_sk(OUTBOX_EVENT, event_id),
            tenant=tenant,
            workflow_id=event_id,  # the owner of this follow-up is the event, not an execution
            kind=OUTBOX_EVENT,
            payload=dumps({"eventId": event_id}),
            created_at=iso_ms(now),
            sweep_pk=keys.sweep_pk(record.pk),
            sweep_at=now + rt.settings.outbox_redrive_after_seconds * 1000,
        ),
        label="new-outbox",
    )
    request = {"operation": "sendEvent", "eventType": event_type, "data": data}
    return commit_once(rt.repo, uow, tenant, idempotency_key, request, {"eventId": event_id}, now)


def deliver_recorded_event(rt: Runtime, pk: str, sk: str) -> str:
    """The outbox follow-up of `POST /v1/events`: cancel the subscribers, then drop the follow-up."""
    outbox = rt.repo.get(OutboxEntry, pk, sk)
    if outbox is None:
        return "done"
    record = rt.repo.get(ReceivedEvent, pk, EVENT_SK)
    cancelled = cancel_subscribers(rt, record) if record is not None else 0
    delete_outbox(rt, outbox)
    return f"cancelled:{cancelled}"


def receive_bus_event(rt: Runtime, tenant: str, *, event_id: str, event_type: str, data: Any) -> int:
    """An event from the bus (the rule's target): record its arrival once, then cancel the subscribers.

    Returns how many executions this delivery made CANCELLING.
    """
    if not isinstance(data, dict):
        data = {}
    record = _record(rt, tenant, event_id, event_type, dumps(data))
    uow = UnitOfWork()
    uow.put(record, NEW, label="new-event")
    try:
        rt.repo.commit(uow)
    except TransactionConflict:
        first = rt.repo.get(ReceivedEvent, record.pk, EVENT_SK)  # a redelivery: its first arrival
        assert first is not None  # event records outlive the bus's retries (EVENT_RECORD_TTL_SECONDS)
        record = first
    return cancel_subscribers(rt, record)


def cancel_subscribers(rt: Runtime, record: ReceivedEvent) -> int:
    """Cancel every live subscriber that subscribed before the event arrived and whose match holds.

    One Query per subscription partition the event's data can match (its top-level keys, and empty matches).
    """
    tenant, arrived = record.tenant, int(record.arrived_at)
    data = loads(record.data) or {}
    before = f"{SUBSCRIPTION_PREFIX}{arrived:015d}"
    subscribers: list[str] = []
    for partition in event_partitions(record.event_type, data):
        query = PartitionQuery(subscription_pk(tenant, partition), SUBSCRIPTION_PREFIX, until=before)
        for subscription in rt.repo.query(Subscription, query):
            if subscription.ends_at is not None and int(subscription.ends_at) <= arrived:
                continue  # timed out before the event arrived
            if subscription.workflow_id not in subscribers:
                subscribers.append(subscription.workflow_id)
    return sum(
        _cancel_subscriber(rt, tenant, workflow_id, record.event_id, record.event_type) for workflow_id in subscribers
    )


def _cancel_subscriber(rt: Runtime, tenant: str, workflow_id: str, event_id: str, event_type: str) -> bool:
    def attempt() -> bool:
        execution = get_execution(rt.repo, tenant, workflow_id)
        if execution is None or not is_live(execution) or execution.status == WorkflowStatus.CANCELLING:
            return False  # ended, or asked already (by anyone, this event's first delivery included): left alone
        uow = UnitOfWork()
        request_workflow_cancel(
            rt,
            uow,
            execution,
            reason=f"cancelOn {event_type}",
            requested_by=f"event:{event_id}",
            cascade_root=workflow_id,
        )
        commit_or_retry(rt.repo, uow)
        return True

    return run_optimistic(attempt)
