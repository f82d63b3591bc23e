"""Key helpers of the single table. Every key of tenant data starts with T#<tenant>#, so no query crosses tenants."""

from __future__ import annotations

from collections.abc import Callable

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


def _tenant_key(kind: str) -> Callable[[str, str], str]:
    """The builder of `T#<tenant>#<kind>#<name>`: a partition of one kind of the tenant's data."""

    def key(tenant: str, name: str) -> str:
        return f"T#{tenant}#{kind}#{name}"

    return key


def _prefixed(prefix: str) -> Callable[[str], str]:
    """The builder of `<prefix><name>`: a sort key named by one id under its owner's partition."""

    def key(name: str) -> str:
        return f"{prefix}{name}"

    return key


# Partition keys, each (tenant, name) -> key, as template.yaml lists them beside the table.
workflow_pk = _tenant_key("WF")  # name: the workflow execution id
task_pk = _tenant_key("TASK")  # name: the task execution id
workflow_dispatch_pk = _tenant_key("WQ")  # name: the queue (DispatchIndex)
task_dispatch_pk = _tenant_key("TQ")  # name: the queue (DispatchIndex)
idempotency_pk = _tenant_key("IDEMPOTENCY")  # name: the key's hash
# name: one per (event type, match key, canonical value), or per event type for empty matches
subscription_pk = _tenant_key("SUB")
event_pk = _tenant_key("EVENT")  # name: the event id
batch_pk = _tenant_key("BATCH")  # name: the batch id

# Sort keys named by one id.
timer_sk = _prefixed(TIMER_PREFIX)
child_sk = _prefixed(CHILD_PREFIX)  # name: the child's childExecutionName
taskref_sk = _prefixed(TASKREF_PREFIX)  # name: the task id
batch_outcome_sk = _prefixed(BATCH_OUTCOME_PREFIX)  # name: the workflow execution id
token_pk = _prefixed("TOKEN#")  # name: the token's hash (tokens belong to no tenant's partition)


def event_sk(sequence: int) -> str:
    return f"{EVENT_PREFIX}{sequence:010d}"


def outbox_sk(kind: str, unique: str) -> str:
    return f"{OUTBOX_PREFIX}{kind}#{unique}"


def value_sk(owner_sk: str, field: str) -> str:
    return f"{VALUE_PREFIX}{owner_sk}#{field}"


def subscription_sk(subscribed_at_ms: int, workflow_id: str, index: int) -> str:
    # Subscription time first: "subscribed before the event arrived" is a range of the sort key.
    return f"{SUBSCRIPTION_PREFIX}{subscribed_at_ms:015d}#{workflow_id}#{index}"


def list_pk(tenant: str) -> str:
    return f"T#{tenant}#WF"


def batch_list_pk(tenant: str) -> str:
    return f"T#{tenant}#BATCHES"


def list_sk(created_at: str, workflow_id: str) -> str:
    return f"{created_at}#{workflow_id}"


def sweep_pk(partition_key: str) -> str:
    # Spread sweepable items over a few partitions; the shard only has to be stable per item.
    return f"SWEEP#{sum(partition_key.encode()) % SWEEP_SHARDS}"
