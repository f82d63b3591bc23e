"""Key helpers of the single table. Every key of tenant data starts with T#<tenant>#, so no query crosses tenants."""

from __future__ import annotations

EXECUTION_SK = "WF"
TASK_SK = "TASK"
TOKEN_SK = "TOKEN"
IDEMPOTENCY_SK = "IDEMPOTENCY"
EVENT_PREFIX = "EV#"
TIMER_PREFIX = "TIMER#"
CHILD_PREFIX = "CHILD#"
TASKREF_PREFIX = "TASKREF#"
OUTBOX_PREFIX = "OUTBOX#"
VALUE_PREFIX = "VALUE#"
SUBSCRIPTION_PREFIX = "SUB#"
EVENT_SK = "EVENT"
BATCH_SK = "BATCH"
BATCH_OUTCOME_PREFIX = "ITEM#"
SWEEP_SHARDS = 4
# DynamoDB keys are at most 2048 bytes; an id longer than this cannot name anything we stored.
MAX_PATH_ID_LENGTH = 512


def workflow_pk(tenant: str, workflow_id: str) -> str:
    return f"T#{tenant}#WF#{workflow_id}"


def task_pk(tenant: str, task_id: str) -> str:
    return f"T#{tenant}#TASK#{task_id}"


def event_sk(sequence: int) -> str:
    return f"{EVENT_PREFIX}{sequence:010d}"


def timer_sk(timer_id: str) -> str:
    return f"{TIMER_PREFIX}{timer_id}"


def child_sk(child_execution_name: str) -> str:
    return f"{CHILD_PREFIX}{child_execution_name}"


def taskref_sk(task_id: str) -> str:
    return f"{TASKREF_PREFIX}{task_id}"


def outbox_sk(kind: str, unique: str) -> str:
    return f"{OUTBOX_PREFIX}{kind}#{unique}"


def value_sk(owner_sk: str, field: str) -> str:
    return f"{VALUE_PREFIX}{owner_sk}#{field}"


def workflow_dispatch_pk(tenant: str, queue: str) -> str:
    return f"T#{tenant}#WQ#{queue}"


def task_dispatch_pk(tenant: str, queue: str) -> str:
    return f"T#{tenant}#TQ#{queue}"


def list_pk(tenant: str) -> str:
    return f"T#{tenant}#WF"


def list_sk(created_at: str, workflow_id: str) -> str:
    return f"{created_at}#{workflow_id}"


def sweep_pk(partition_key: str) -> str:
    # Spread sweepable items over a few partitions; the shard only has to be stable per item.
    return f"SWEEP#{sum(partition_key.encode()) % SWEEP_SHARDS}"


def token_pk(token_hash: str) -> str:
    return f"TOKEN#{token_hash}"


def idempotency_pk(tenant: str, key_hash: str) -> str:
    return f"T#{tenant}#IDEMPOTENCY#{key_hash}"


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
