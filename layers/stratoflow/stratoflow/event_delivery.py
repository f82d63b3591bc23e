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

from pynamodb.exceptions import PutError

from stratoflow.clock import iso_ms
from stratoflow.dal import keys
from stratoflow.dal.items import OutboxItem
from stratoflow.dal.operator_items import EVENT_SK, EventRecordItem, SubscriptionItem, event_pk, subscription_pk
from stratoflow.dal.transactions import Transaction, TransactionConflict, aws_error_code, run_optimistic
from stratoflow.executions import get_execution, is_live, raise_for_conflict
from stratoflow.lifecycle import request_workflow_cancel
from stratoflow.runtime import Runtime
from stratoflow.states import WorkflowStatus
from stratoflow.subscriptions import event_partitions
from stratoflow.values import dumps, encode_value, loads
from stratoflow.workflows import commit_once

OUTBOX_EVENT = "EVENT"
# How long an event's record is kept: longer than the bus retries a delivery (24 h) and than Idempotency-Keys.
EVENT_RECORD_TTL_SECONDS = 2 * 86400


def _record(rt: Runtime, tenant: str, event_id: str, event_type: str, data_text: str) -> EventRecordItem:
    now = rt.now_ms()
    return EventRecordItem(
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
    tx = Transaction()
    tx.put(record, condition=EventRecordItem.pk.does_not_exist(), label="new-event")
    now = int(record.arrived_at)
    tx.put(
        OutboxItem(
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
    return commit_once(tx, tenant, idempotency_key, request, {"eventId": event_id}, now)


def deliver_recorded_event(rt: Runtime, pk: str, sk: str) -> str:
    """The outbox follow-up of `POST /v1/events`: cancel the subscribers, then drop the follow-up."""
    try:
        outbox = OutboxItem.get(pk, sk, consistent_read=True)
    except OutboxItem.DoesNotExist:
        return "done"
    try:
        record = EventRecordItem.get(pk, EVENT_SK, consistent_read=True)
    except EventRecordItem.DoesNotExist:
        record = None
    cancelled = cancel_subscribers(rt, record) if record is not None else 0
    try:
        outbox.delete(condition=OutboxItem.pk.exists())
    except Exception as error:  # a concurrent delivery deleted it first: the work is done either way
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    return f"cancelled:{cancelled}"


def receive_bus_event(rt: Runtime, tenant: str, *, event_id: str, event_type: str, data: Any) -> int:
    """An event from the bus (the rule's target): record its arrival once, then cancel the subscribers.

    Returns how many executions this delivery made CANCELLING.
    """
    if not isinstance(data, dict):
        data = {}
    record = _record(rt, tenant, event_id, event_type, dumps(data))
    try:
        record.save(condition=EventRecordItem.pk.does_not_exist())
    except PutError as error:
        if aws_error_code(error) != "ConditionalCheckFailedException":
            raise
        record = EventRecordItem.get(record.pk, EVENT_SK, consistent_read=True)  # a redelivery: its first arrival
    return cancel_subscribers(rt, record)


def cancel_subscribers(rt: Runtime, record: EventRecordItem) -> int:
    """Cancel every live subscriber that subscribed before the event arrived and whose match holds.

    One Query per subscription partition the event's data can match (its top-level keys, and empty matches).
    """
    tenant, arrived = record.tenant, int(record.arrived_at)
    data = loads(record.data) or {}
    before = f"SUB#{arrived:015d}"
    subscribers: list[str] = []
    for partition in event_partitions(record.event_type, data):
        for subscription in SubscriptionItem.query(
            subscription_pk(tenant, partition), SubscriptionItem.sk.between("SUB#", before), consistent_read=True
        ):
            if subscription.ends_at is not None and int(subscription.ends_at) <= arrived:
                continue  # timed out before the event arrived
            if subscription.workflow_id not in subscribers:
                subscribers.append(subscription.workflow_id)
    return sum(
        _cancel_subscriber(rt, tenant, workflow_id, record.event_id, record.event_type) for workflow_id in subscribers
    )


def _cancel_subscriber(rt: Runtime, tenant: str, workflow_id: str, event_id: str, event_type: str) -> bool:
    def attempt() -> bool:
        execution = get_execution(tenant, workflow_id)
        if execution is None or not is_live(execution) or execution.status == WorkflowStatus.CANCELLING:
            return False  # ended, or asked already (by anyone, this event's first delivery included): left alone
        tx = Transaction()
        request_workflow_cancel(
            rt,
            tx,
            execution,
            reason=f"cancelOn {event_type}",
            requested_by=f"event:{event_id}",
            cascade_root=workflow_id,
        )
        try:
            tx.commit()
        except TransactionConflict as conflict:
            raise_for_conflict(conflict)
        return True

    return run_optimistic(attempt)
