"""Create the template's table, queues and schedule groups on an endpoint (embedded moto or AWS_ENDPOINT_URL).

The table is created from the `Properties` of the template's `AWS::DynamoDB::Table`, so the local table cannot
drift from the one that deploys. Everything is created only if missing, so an external endpoint keeps its data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from stratoflow_local.template import LocalTemplate, TableSpec

logger = logging.getLogger(__name__)

_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"})


def client(service: str, endpoint_url: str, region: str) -> Any:
    """A boto3 client for `service` on the endpoint (credentials from the environment, dummy ones locally)."""
    return boto3.session.Session().client(service, endpoint_url=endpoint_url, region_name=region, config=_CLIENT_CONFIG)


def create_table_arguments(spec: TableSpec) -> dict[str, Any]:
    """`CreateTable` arguments from the template's `AWS::DynamoDB::Table` Properties."""
    properties = spec.properties
    arguments: dict[str, Any] = {
        "TableName": spec.name,
        "AttributeDefinitions": list(properties["AttributeDefinitions"]),
        "KeySchema": list(properties["KeySchema"]),
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in properties:
        arguments["ProvisionedThroughput"] = _throughput(properties["ProvisionedThroughput"])
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in properties:
            arguments[key] = [_index(index) for index in properties[key]]
    if "StreamSpecification" in properties:
        arguments["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": properties["StreamSpecification"]["StreamViewType"],
        }
    return arguments


def _throughput(value: Mapping[str, Any]) -> dict[str, int]:
    return {
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def _index(index: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": list(index["KeySchema"]),
        "Projection": dict(index["Projection"]),
    }
    if "ProvisionedThroughput" in index:
        result["ProvisionedThroughput"] = _throughput(index["ProvisionedThroughput"])
    return result


def ensure_table(dynamodb: Any, spec: TableSpec) -> str:
    """Create the table if missing (with TTL and PITR as the template says); return its stream ARN or ''."""
    try:
        description = dynamodb.describe_table(TableName=spec.name)["Table"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        dynamodb.create_table(**create_table_arguments(spec))
        dynamodb.get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        ttl = spec.properties.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=spec.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        pitr = spec.properties.get("PointInTimeRecoverySpecification")
        if pitr and pitr.get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=spec.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        description = dynamodb.describe_table(TableName=spec.name)["Table"]
    return str(description.get("LatestStreamArn", ""))


def ensure_queue(sqs: Any, name: str, attributes: Mapping[str, str] | None = None) -> str:
    """Create the queue if missing (FIFO, delay and redrive as the template says); return its URL."""
    if attributes:
        return str(sqs.create_queue(QueueName=name, Attributes=dict(attributes))["QueueUrl"])
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def ensure_schedule_group(scheduler: Any, name: str) -> None:
    try:
        scheduler.create_schedule_group(Name=name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConflictException":
            raise


def provision(template: LocalTemplate, endpoint_url: str) -> dict[str, str]:
    """Create every table, queue and schedule group of the template; return the tables' stream ARNs by name."""
    region = template.names.region
    dynamodb = client("dynamodb", endpoint_url, region)
    stream_arns = {spec.name: ensure_table(dynamodb, spec) for spec in template.tables.values()}
    if template.queues:
        sqs = client("sqs", endpoint_url, region)
        from stratoflow_local.operator_sources import queue_attributes  # noqa: PLC0415 - it imports this module

        attributes = {q.logical_id: queue_attributes(template, q.logical_id) for q in template.queues.values()}
        # Dead-letter queues first: a redrive policy names one that must exist.
        for queue in sorted(template.queues.values(), key=lambda q: "RedrivePolicy" in attributes[q.logical_id]):
            ensure_queue(sqs, queue.name, attributes[queue.logical_id])
    if template.schedule_groups:
        scheduler = client("scheduler", endpoint_url, region)
        for group in template.schedule_groups.values():
            ensure_schedule_group(scheduler, group)
    logger.info("provisioned", extra={"tables": sorted(stream_arns), "queues": len(template.queues)})
    return stream_arns
