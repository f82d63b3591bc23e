"""Dollars from measured units, at us-east-1 on-demand list prices, next to Step Functions for the same shapes.

The prices are list prices as published by AWS for us-east-1, before free tiers and savings plans, as known on
2026-11-25 (the pages were not re-read on that day; each entry says where the figure is published). DynamoDB's
on-demand request prices are the ones in force since the price cut of 2024-11-01.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PRICES_AS_OF = "2026-11-25"


@dataclass(frozen=True)
class Price:
    name: str
    dollars: float
    per: str
    source: str


PRICES = {
    "dynamodb_write": Price(
        "DynamoDB on-demand write request units",
        0.625,
        "per million WRU",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/ (since 2024-11-01)",
    ),
    "dynamodb_read": Price(
        "DynamoDB on-demand read request units",
        0.125,
        "per million RRU",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/ (since 2024-11-01)",
    ),
    "lambda_requests": Price("Lambda requests", 0.20, "per million requests", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_duration": Price(
        "Lambda duration, x86_64 (first 6 billion GB-s a month)",
        0.0000166667,
        "per GB-second",
        "https://aws.amazon.com/lambda/pricing/",
    ),
    # The API is an HTTP API; a REST API would be $3.50 per million requests.
    "api_gateway_http": Price(
        "API Gateway HTTP API requests (first 300 million a month, metered in 512 KB increments)",
        1.00,
        "per million requests",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
    "scheduler": Price(
        "EventBridge Scheduler invocations (after 14 million free a month)",
        1.00,
        "per million invocations",
        "https://aws.amazon.com/eventbridge/pricing/",
    ),
    "logs": Price("CloudWatch Logs ingestion (standard)", 0.50, "per GB", "https://aws.amazon.com/cloudwatch/pricing/"),
    "sfn_standard": Price(
        "Step Functions Standard state transitions",
        0.025,
        "per 1,000 transitions",
        "https://aws.amazon.com/step-functions/pricing/",
    ),
    "sfn_express_requests": Price(
        "Step Functions Express requests",
        1.00,
        "per million requests",
        "https://aws.amazon.com/step-functions/pricing/",
    ),
    "sfn_express_duration": Price(
        "Step Functions Express duration (first 1,000 GB-hours a month, 64 MB chunks, 100 ms rounding)",
        0.00001667,
        "per GB-second",
        "https://aws.amazon.com/step-functions/pricing/",
    ),
}

# Step Functions shapes used for the comparison (stated in the report).
EXPRESS_TASK_SECONDS = 1.0  # each task's own run time, billed as Express duration while the workflow waits on it
EXPRESS_MEMORY_GB = 64 / 1024  # the smallest billed chunk


def _usd(quantity: float, price: str, unit: float) -> float:
    return quantity * PRICES[price].dollars / unit


def stratoflow_cost(flow: dict[str, Any], per: float) -> dict[str, float]:
    """Dollars for `per` runs of a measured flow (see bench.flows), by line item."""
    million = 1_000_000
    lines = {
        "api_gateway": _usd(flow["api_requests"] * per, "api_gateway_http", million),
        "lambda_requests": _usd(flow["lambda_invocations"] * per, "lambda_requests", million),
        "lambda_duration": _usd(flow["gb_seconds"] * per, "lambda_duration", 1),
        "dynamodb_writes": _usd(flow["wru"] * per, "dynamodb_write", million),
        "dynamodb_reads": _usd(flow["rru"] * per, "dynamodb_read", million),
        "logs": _usd(flow["log_bytes"] * per, "logs", 1024**3),
    }
    lines["total"] = sum(lines.values())
    return {name: round(value, 6) for name, value in lines.items()}


def step_functions_tasks(tasks: int, per_tasks: float) -> dict[str, Any]:
    """`per_tasks` task executions in workflows of `tasks` sequential tasks."""
    workflows = per_tasks / tasks
    transitions = workflows * (tasks + 1)  # one Task state per task, and the final Succeed state
    express_duration = per_tasks * EXPRESS_TASK_SECONDS * EXPRESS_MEMORY_GB
    return {
        "standard": {
            "transitions": transitions,
            "total": round(_usd(transitions, "sfn_standard", 1000), 6),
        },
        "express": {
            "requests": workflows,
            "gb_seconds": express_duration,
            "total": round(
                _usd(workflows, "sfn_express_requests", 1_000_000) + _usd(express_duration, "sfn_express_duration", 1),
                6,
            ),
        },
    }


def step_functions_cancellations(per: float, cleanup_states: int) -> dict[str, Any]:
    """StopExecution costs no transition; a cancellation that runs cleanup states pays for each of them."""
    return {
        "standard_stop_execution": 0.0,
        "standard_with_cleanup": round(_usd(per * cleanup_states, "sfn_standard", 1000), 6),
        "cleanup_states": cleanup_states,
        "express": None,  # StopExecution is not supported by Express state machines
    }


# The fewest write units one task execution can cost when every state change and its events are one atomic write
# (a transaction when several items change, and DynamoDB bills every transactional write twice), items under 1 KB,
# and each dispatch index entry written only when it appears or goes. (what, table WRU, index WRU)
FLOOR_TASK_WRITES = (
    ("schedule the task: the execution, TASK_SCHEDULED and the task in one transaction", 6, 1),
    ("claim the task: one conditional write", 1, 1),
    ("complete it: the task, TASK_COMPLETED and the execution in one transaction", 6, 1),
    ("claim the woken execution: one conditional write", 1, 1),
)
# Per workflow: start (execution and WORKFLOW_STARTED, listed and ready), the last claim, COMPLETE_WORKFLOW.
FLOOR_WORKFLOW_WRITES = (
    ("start: the execution and WORKFLOW_STARTED in one transaction", 4, 2),
    ("claim it for the last time", 1, 1),
    ("complete it: the execution and WORKFLOW_COMPLETED in one transaction", 4, 0),
)


def price_floor(tasks_per_workflow: int) -> dict[str, Any]:
    """The least 1,000 task executions can cost under this design's write rules, with reads, Lambda time, logs
    and stream steps left out (all of them only add): DynamoDB writes and the worker's requests alone.

    Two workers: one that makes only the requests a task needs (poll, submit, task poll, complete: no empty polls),
    and one that drains a backlog with combined calls (a submission and a completion per task)."""
    table = sum(row[1] for row in FLOOR_TASK_WRITES) + sum(row[1] for row in FLOOR_WORKFLOW_WRITES) / tasks_per_workflow
    index = sum(row[2] for row in FLOOR_TASK_WRITES) + sum(row[2] for row in FLOOR_WORKFLOW_WRITES) / tasks_per_workflow
    standard = step_functions_tasks(tasks_per_workflow, 1000)["standard"]["total"]
    workers = {}
    # Per task: poll, submit, task poll, complete (or a submission and a completion that each claim the next);
    # per workflow also its start, and without combined calls its last poll and COMPLETE_WORKFLOW.
    shapes = (
        ("only the requests a task needs", 4 + 3 / tasks_per_workflow),
        ("combined calls", 2 + 1 / tasks_per_workflow),
    )
    for name, requests in shapes:
        lines = {
            "api_gateway": _usd(requests * 1000, "api_gateway_http", 1_000_000),
            "lambda_requests": _usd(requests * 1000, "lambda_requests", 1_000_000),
            "dynamodb_writes": _usd((table + index) * 1000, "dynamodb_write", 1_000_000),
        }
        total = sum(lines.values())
        workers[name] = {
            "requests_per_task": round(requests, 2),
            **{key: round(value, 6) for key, value in lines.items()},
            "total": round(total, 6),
            "x_step_functions_standard": round(total / standard, 2),
        }
    return {
        "task_writes": [list(row) for row in FLOOR_TASK_WRITES],
        "workflow_writes": [list(row) for row in FLOOR_WORKFLOW_WRITES],
        "wru_per_task": round(table, 2),
        "gsi_wru_per_task": round(index, 2),
        "step_functions_standard": standard,
        "workers": workers,
    }


def prices() -> dict[str, Any]:
    return {"as_of": PRICES_AS_OF, "region": "us-east-1", "prices": {key: asdict(p) for key, p in PRICES.items()}}


def _per(flow: dict[str, Any], runs_of: float) -> dict[str, float]:
    return {key: value / runs_of for key, value in flow.items() if isinstance(value, int | float)}


def cost_model(
    flows: dict[str, Any], tasks_per_workflow: int, backlog: int = 10, idle_poll_seconds: float = 0.2
) -> dict[str, Any]:
    per_task = _per(flows["sequential tasks"], tasks_per_workflow)
    model: dict[str, Any] = {
        "per_1000_task_executions": {
            "shape": f"workflows of {tasks_per_workflow} sequential tasks, one at a time; per task: poll, the "
            "poller's empty poll right after it, submit SCHEDULE_TASK, task poll, the task poller's empty poll, task "
            "complete (every request the SDK's worker makes for it); per workflow also start, final poll and its "
            "empty poll, COMPLETE_WORKFLOW and its close step",
            "stratoflow": stratoflow_cost(per_task, 1000),
            "step_functions": step_functions_tasks(tasks_per_workflow, 1000),
        },
        "per_1000_workflow_cancellations": {
            "shape": "cancel (cascade) of a workflow with a running task and a started timer; its code polls, "
            "submits REQUEST_CANCEL_TASK, CANCEL_TIMER and CANCEL_WORKFLOW; timer and close steps from the stream",
            "stratoflow": stratoflow_cost(flows["workflow cancellation"], 1000),
            "step_functions": step_functions_cancellations(1000, 3),
        },
        "per_1000_task_cancellations": {
            "shape": "cancel of a running task through the API; the woken workflow polls and submits no command",
            "stratoflow": stratoflow_cost(flows["task cancellation"], 1000),
            "step_functions": step_functions_cancellations(1000, 1),
        },
        "price_floor": price_floor(tasks_per_workflow),
        "x_ray_note": "Tracing is off by default (the template's Tracing parameter); with Tracing=Active each traced "
        "request adds $5.00 per million traces recorded "
        "(https://aws.amazon.com/xray/pricing/); with the default sampling rule (the first request each second, "
        "then 5%) that is about $0.25 per million requests at volume. Not in the totals.",
    }
    if "sequential tasks, combined calls" in flows:
        combined = _per(flows["sequential tasks, combined calls"], tasks_per_workflow * backlog)
        model["per_1000_task_executions_combined"] = {
            "shape": f"the same workflows, {backlog} in flight, drained by a busy worker with combined calls: per task "
            "one submission with pollNext and one completion with pollNext (each claiming the next), plus per round "
            "the poll that starts each chain, the pollNext that ends it with nothing and the poller's empty poll",
            "stratoflow": stratoflow_cost(combined, 1000),
            "step_functions": step_functions_tasks(tasks_per_workflow, 1000),
        }
    if "empty polls" in flows:
        rounds_per_hour = 3600 / idle_poll_seconds
        model["idle_worker_per_hour"] = {
            "shape": f"a worker with both pollers and no work: a workflow poll and a task poll every "
            f"{idle_poll_seconds:g} s (the SDK's default poll_interval), {rounds_per_hour * 2:,.0f} empty polls an "
            "hour; a larger poll_interval divides it",
            "poll_seconds": idle_poll_seconds,
            "stratoflow": stratoflow_cost(flows["empty polls"], rounds_per_hour),
        }
    return model
