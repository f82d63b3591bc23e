"""Items of the operator controls (operators.md): cancel-on-event subscriptions, received events, batches.

Their key scheme is documented beside the table in template.yaml with the rest; every key starts with T#<tenant>#.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from stratoflow.dal.items import BaseItem

SUBSCRIPTION_PREFIX = "SUB#"
EVENT_SK = "EVENT"
BATCH_SK = "BATCH"
BATCH_OUTCOME_PREFIX = "ITEM#"


def subscription_pk(tenant: str, partition: str) -> str:
    """One partition per (event type, match key, canonical value), or per event type for empty matches."""
    return f"T#{tenant}#SUB#{partition}"


def subscription_sk(subscribed_at_ms: int, workflow_id: str, index: int) -> str:
    # Subscription time first: "subscribed before the event arrived" is a range of the sort key.
    return f"{SUBSCRIPTION_PREFIX}{subscribed_at_ms:015d}#{workflow_id}#{index}"


def event_pk(tenant: str, event_id: str) -> str:
    return f"T#{tenant}#EVENT#{event_id}"


def batch_pk(tenant: str, batch_id: str) -> str:
    return f"T#{tenant}#BATCH#{batch_id}"


def batch_list_pk(tenant: str) -> str:
    return f"T#{tenant}#BATCHES"


def batch_outcome_sk(workflow_id: str) -> str:
    return f"{BATCH_OUTCOME_PREFIX}{workflow_id}"


class SubscriptionItem(BaseItem):
    """One `cancelOn` entry of one execution, in the partition an event of its type and match would query."""

    tenant = UnicodeAttribute()
    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    event_type = UnicodeAttribute(attr_name="eventType")
    subscribed_at = NumberAttribute(attr_name="subscribedAt")
    # Epoch ms after which the subscription no longer matches; null: never times out.
    ends_at = NumberAttribute(null=True, attr_name="endsAt")
    # The table's TTL attribute (epoch seconds): a timed-out subscription is deleted by DynamoDB in time.
    expires_at = NumberAttribute(null=True, attr_name="expiresAt")


class EventRecordItem(BaseItem):
    """An event received by POST /v1/events or from the event bus: when it arrived, once (redeliveries read it)."""

    tenant = UnicodeAttribute()
    event_id = UnicodeAttribute(attr_name="eventId")
    event_type = UnicodeAttribute(attr_name="eventType")
    data = UnicodeAttribute()
    arrived_at = NumberAttribute(attr_name="arrivedAt")
    created_at = UnicodeAttribute(attr_name="createdAt")
    expires_at = NumberAttribute(attr_name="expiresAt")


class BatchListIndex(GlobalSecondaryIndex["BatchItem"]):
    """The table's ListIndex, where batches sit under listPk T#<t>#BATCHES (executions are under T#<t>#WF)."""

    class Meta:
        index_name = "ListIndex"
        projection = AllProjection()

    list_pk = UnicodeAttribute(hash_key=True, attr_name="listPk")
    list_sk = UnicodeAttribute(range_key=True, attr_name="listSk")


class BatchItem(BaseItem):
    """A batch: its request, progress (cursor, pending ids, slice) and counts.

    Every write is conditioned on `status = RUNNING` (and the runner's on `slice = <its slice>`), never on a version:
    the execution transactions ADD to its counters while the runner holds a copy.
    """

    tenant = UnicodeAttribute()
    batch_id = UnicodeAttribute(attr_name="batchId")
    operation = UnicodeAttribute()
    filter_json = UnicodeAttribute(attr_name="filter")
    reason = UnicodeAttribute(null=True)
    cascade = BooleanAttribute(default=True)
    cleanup_timeout_ms = NumberAttribute(null=True, attr_name="cleanupTimeoutMs")
    max_per_second = NumberAttribute(attr_name="maxPerSecond")
    status = UnicodeAttribute()
    matched = NumberAttribute(null=True)
    found = NumberAttribute(default=0)
    succeeded = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    snapshot_before = UnicodeAttribute(attr_name="snapshotBefore")
    cursor = UnicodeAttribute(null=True)
    pending = UnicodeAttribute(null=True)
    listed = BooleanAttribute(default=False)
    slice_number = NumberAttribute(default=1, attr_name="slice")
    not_before = NumberAttribute(default=0, attr_name="notBefore")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    completed_at = UnicodeAttribute(null=True, attr_name="completedAt")
    list_pk = UnicodeAttribute(null=True, attr_name="listPk")
    list_sk = UnicodeAttribute(null=True, attr_name="listSk")
    sweep_pk = UnicodeAttribute(null=True, attr_name="sweepPk")
    sweep_at = NumberAttribute(null=True, attr_name="sweepAt")

    list_index: ClassVar[BatchListIndex] = BatchListIndex()


class BatchOutcomeItem(BaseItem):
    """How a batch handled one execution; written with the execution's change, once (`attribute_not_exists`)."""

    workflow_id = UnicodeAttribute(attr_name="workflowExecutionId")
    outcome = UnicodeAttribute()
    error = UnicodeAttribute(null=True)
    at = UnicodeAttribute()
