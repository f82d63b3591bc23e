"""docs/benchmarks.md and docs/benchmarks-scaling.png from bench/results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.flows import TASKS_PER_WORKFLOW

ORDER = [
    "start workflow",
    "read workflow",
    "token lookup (read workflow)",
    "poll workflow",
    "poll workflow (nothing ready)",
    "submit SCHEDULE_TASK",
    "submit REQUEST_CANCEL_TASK",
    "submit START_TIMER",
    "submit CANCEL_TIMER",
    "submit SCHEDULE_CHILD_WORKFLOW",
    "submit REQUEST_CANCEL_CHILD_WORKFLOW",
    "submit RECORD_OPERATION",
    "submit SET_STATE",
    "submit CLEAR_STATE",
    "submit COMPLETE_WORKFLOW",
    "submit COMPLETE_WORKFLOW (spawned)",
    "submit COMPLETE_WORKFLOW (child)",
    "submit FAIL_WORKFLOW",
    "submit CANCEL_WORKFLOW",
    "submit SUSPEND_WORKFLOW",
    "submit (no commands)",
    "task poll",
    "task heartbeat",
    "task complete",
    "cancel task",
    "timer schedule create (stream)",
    "timer schedule delete after cancel (stream)",
    "fire timer",
    "timer schedule delete after fire (stream)",
    "child cancel propagation (stream)",
    "workflow cancel (cascade)",
    "cascade step (stream)",
    "parent close (stream)",
]

_ONE_ITEM_TRANSACTION = (
    "The only item written is the {item} item, but `DynamoRepository.commit` always sends "
    "TransactWriteItems, and a one-item transaction costs twice the write units of a PutItem with the same "
    "condition. Fix proposal: send a lone action as a plain conditional write and map its "
    "ConditionalCheckFailedException to `TransactionConflict([label])`."
)

# Why an operation does more than the design's minimum (every ratio above 1.0 has one).
EXPLANATIONS = {
    "submit SUSPEND_WORKFLOW": _ONE_ITEM_TRANSACTION.format(item="execution"),
    "submit (no commands)": _ONE_ITEM_TRANSACTION.format(item="execution"),
    "task heartbeat": _ONE_ITEM_TRANSACTION.format(item="task"),
}


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"${value:,.4f}" if value >= 0.0001 or value == 0 else f"${value:.6f}"


def _price(value: float) -> str:
    text = f"{value:.10f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def _operations_table(operations: dict[str, Any]) -> list[str]:
    lines = [
        "| operation | function | n | p50 ms | p95 ms | p99 ms | in AWS calls | DynamoDB requests (min) | ratio "
        "| RRU | WRU table + GSI | capacity ratio | other AWS calls |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    labels = [label for label in ORDER if label in operations] + sorted(set(operations) - set(ORDER))
    for label in labels:
        op = operations[label]
        latency, capacity, minimum = op["latency"], op["capacity"], op.get("minimum") or {}
        requests = op["dynamodb_requests"]
        count = (
            _f(requests["mean"], 0) if requests["min"] == requests["max"] else f"{requests['min']}-{requests['max']}"
        )
        lines.append(
            f"| {label} | {op['function'].removesuffix('Function')} | {op['samples']} | {_f(latency['p50_ms'])} "
            f"| {_f(latency['p95_ms'])} | {_f(latency['p99_ms'])} | {latency['aws_share']:.0%} "
            f"| {count} ({_f(minimum.get('requests'))}) | {_f(minimum.get('request_ratio'), 2)} "
            f"| {_f(capacity['rru'])} | {_f(capacity['wru'], 0)} + {_f(capacity['gsi_wru'], 0)} "
            f"| {_f(minimum.get('capacity_ratio'), 2)} | {', '.join(op['other_requests']) or ''} |"
        )
    return lines


def _above_one(operations: dict[str, Any]) -> list[str]:
    lines = []
    for label in [label for label in ORDER if label in operations] + sorted(set(operations) - set(ORDER)):
        minimum = operations[label].get("minimum") or {}
        ratios = [minimum.get("request_ratio") or 0.0, minimum.get("capacity_ratio") or 0.0]
        if max(ratios) <= 1.0:
            continue
        extra = "; ".join(sorted(set(minimum.get("extra", []))))
        why = EXPLANATIONS.get(label, "NOT EXPLAINED — add a sentence to bench/report.py.")
        lines.append(
            f"- **{label}** — requests {_f(ratios[0], 2)}, capacity {_f(ratios[1], 2)} (extra: {extra}). {why}"
        )
    return lines


def _history_table(history: dict[str, Any]) -> list[str]:
    lines = [
        "| history events | poll: requests, RRU, p50 ms | submit SCHEDULE_TASK: requests, WRU, p50 ms "
        "| cancel task: requests, WRU, p50 ms | workflow cancel: requests, WRU, p50 ms |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for length, ops in history.items():
        cells = []
        for name in ("poll workflow", "submit SCHEDULE_TASK", "cancel task", "workflow cancel"):
            op = ops.get(name)
            if op is None:
                cells.append("—")
                continue
            units = (
                op["capacity"]["rru"] if name == "poll workflow" else op["capacity"]["wru"] + op["capacity"]["gsi_wru"]
            )
            cells.append(f"{_f(op['dynamodb_requests']['mean'], 0)}, {_f(units)}, {_f(op['latency']['p50_ms'])}")
        lines.append(f"| {int(length):,} | " + " | ".join(cells) + " |")
    return lines


def _cascade_table(cascade: dict[str, Any]) -> list[str]:
    lines = [
        "| descendants | inner nodes | stream invocations (waves) | DynamoDB requests | per descendant "
        "| minimum per descendant | request ratio | capacity ratio | RRU | WRU table + GSI | units per descendant "
        "| handler seconds |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, row in cascade.items():
        lines.append(
            f"| {int(size):,} | {row['inner_nodes']} | {row['stream_invocations']} ({row['waves']}) "
            f"| {row['dynamodb_requests']:,} | {row['requests_per_descendant']:.2f} "
            f"| {row['minimum_requests_per_descendant']:.2f} | {row['request_ratio']:.3f} "
            f"| {row['capacity_ratio']:.3f} | {_f(row['rru'], 0)} | {_f(row['wru'], 0)} + {_f(row['gsi_wru'], 0)} "
            f"| {row['units_per_descendant']:.2f} | {row['handler_seconds']:.1f} |"
        )
    return lines


def _close_table(close: dict[str, Any]) -> list[str]:
    lines = [
        "| tasks the workflow ran | close: DynamoDB requests | RRU | WRU | p50 ms | request ratio to the design |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for count, row in close.items():
        op = row["close"]
        lines.append(
            f"| {int(count):,} | {_f(op['dynamodb_requests']['mean'], 0)} | {_f(op['capacity']['rru'])} "
            f"| {_f(op['capacity']['wru'] + op['capacity']['gsi_wru'])} | {_f(op['latency']['p50_ms'])} "
            f"| {_f(op['minimum']['request_ratio'], 2)} |"
        )
    return lines


COLD_VARIANT_ORDER = ("default", "tracing", "uncompiled")


def _cold_table(cold: dict[str, Any]) -> list[str]:
    variants = [name for name in COLD_VARIANT_ORDER if name in cold["variants"]]
    header = "| function | " + " | ".join(f"{name}: CPU ms | x boto3" for name in variants) + " | default: wall ms |"
    lines = [header, "| --- |" + " ---: | ---: |" * len(variants) + " ---: |"]
    default = cold["variants"]["default"]["functions"]
    for function in sorted(default, key=lambda name: default[name]["cpu_median_ms"], reverse=True):
        cells = []
        for name in variants:
            row = cold["variants"][name]["functions"][function]
            cells.append(f"{row['cpu_median_ms']:.0f} | {row['ratio']:.2f}{'' if row['goal_met'] else ' (over)'}")
        lines.append(f"| {function} | " + " | ".join(cells) + f" | {default[function]['median_ms']:.0f} |")
    boto3 = cold["boto3"]
    boto3_cells = " | ".join(f"{boto3['cpu_median_ms']:.0f} | 1.00" for _ in variants)
    lines.append(f"| `import boto3` alone | {boto3_cells} | {boto3['median_ms']:.0f} |")
    return lines


def _cold_heaviest(cold: dict[str, Any]) -> list[str]:
    lines = []
    for name in COLD_VARIANT_ORDER:
        variant = cold["variants"].get(name)
        if variant is None:
            continue
        heaviest = variant["heaviest"]
        imports = ", ".join(f"`{entry['module']}` {entry['ms']:.0f} ms" for entry in heaviest["top_imports"])
        lines.append(f"- *{name}*, {variant['description']}, {heaviest['function']}: {imports}.")
    return lines


def _cold_start(cold: dict[str, Any]) -> list[str]:
    if "variants" not in cold:
        return ["Measured by an earlier version of the benchmark: run `python -m bench --only coldstart`."]
    default = cold["variants"]["default"]
    over = sorted(name for name, row in default["functions"].items() if not row["goal_met"])
    ratios = [row["ratio"] for row in default["functions"].values()]
    verdict = (
        f"**met**: every handler of the default deployment imports in {min(ratios):.2f}-{max(ratios):.2f}x boto3's time"
        if not over
        else f"**not met** by {', '.join(over)} ({min(ratios):.2f}-{max(ratios):.2f}x boto3's time)"
    )
    return [
        f"Measured on {cold['date']} at commit {cold['commit']} (`python -m bench --only coldstart` runs this part "
        f"alone), load average {cold['load_average_before']} before and {cold['load_average_after']} after. What is "
        f"imported is the artifact of `sam build` (`{cold['build']}`, rebuilt when older than the sources), as "
        "Lambda imports it: a fresh `python -S -B` per sample whose path holds the function's build folder, the "
        "`python/` folder of each of its built layers and the packages the Lambda runtime provides (boto3 and its "
        "dependencies), in Lambda's order, with the function's environment from the template and the variables "
        "Lambda sets. `-B` stands for Lambda's read-only `/var/task` and `/opt`: what a cold start compiles is not "
        "kept for the next one. The measure is CPU time: once a warm-up run has put the files in the page cache an "
        "import is CPU-bound, and on this shared machine wall time adds the wait for a core (it is shown for the "
        "default deployment); Lambda gives a function a fixed share of a CPU for its memory size, so there wall time "
        f"follows CPU time. Medians of {cold['repeats']} rounds; each round imports boto3 alone, then every "
        "handler, in each variant: *default* is the default deployment (tracing off), *tracing* is "
        "`Tracing=Active`, *uncompiled* is the default with every `.pyc` of the build removed (what "
        f"`BuildMethod: python3.11` shipped). Goal, each handler at most {cold['goal_ratio']}x boto3's import in the "
        f"same run, default deployment: {verdict}.",
        "",
        *_cold_table(cold),
        "",
        "Heaviest packages of the slowest handler of each variant (outermost import of each, cumulative, "
        "`python -X importtime`; wall time, so the load inflates them and only their order means much):",
        "",
        *_cold_heaviest(cold),
        "",
        "What the numbers decided. Before (commit 7311f97 as its `sam build` shipped it, measured the same way on "
        "the same day, on a loaded machine): 4.0-5.3x boto3's, 1.15-1.54 s of CPU against boto3's 0.29 s.",
        "",
        "- **`.pyc` in the build.** `BuildMethod: python3.11` ships no `.pyc`, and Lambda cannot write them, so "
        "every cold start compiled every module it imported, botocore included (the dependencies layer brings its "
        "own, which comes before the runtime's on the path). Each layer now has a `Makefile` (`BuildMethod: "
        "makefile`) that compiles it with `--invalidation-mode unchecked-hash`: a timestamp `.pyc` would be stale "
        "once zipping changes its source's mtime. Compare *default* with *uncompiled*. `make check-build` fails on "
        "a layer module without a hash-based `.pyc`.",
        "- **Tracing off by default.** Powertools' `Tracer()` imports the X-Ray SDK and patches botocore even "
        "when disabled; `stratoflow.observability` now builds it only when tracing is on and hands out `TracingOff` "
        "otherwise. Tracing is the template's `Tracing` parameter (`PassThrough` by default); `Active` brings "
        "back the X-Ray SDK (compare *tracing* with *default*) and X-Ray's price, $5.00 per million traces recorded "
        "beyond the free tier. With tracing on, the SDK patches botocore alone (`stratoflow.observability."
        "TRACED_MODULES`): every AWS call here goes through it, PynamoDB's included, while Powertools' default "
        "patches every library the SDK supports and imports each one it finds (sqlite3 among them); measured "
        "interleaved at load average 25, 24-54 ms of CPU less per function with tracing on.",
        "- **Imports only some requests need.** The OpenAPI document alone needs Powertools' OpenAPI models and "
        "every function's routes: both are imported when `GET /v1/openapi.json` first asks for it "
        "(`stratoflow_api.operations.security_schemes`, `public_routes.build_resolver`). The command batch's body "
        "sits with the submit route, so no other function builds the command models, and the request and answer "
        "models build their validators on first use (`defer_build`). boto3 is imported when the first scheduler or "
        "SQS client is created: the table goes through PynamoDB, which needs only botocore, so most cold starts never "
        "load boto3 or s3transfer.",
        "- **pydantic only where it validates.** The settings were a pydantic model, and `stratoflow.subscriptions` "
        "(imported by event delivery and parent close) defined the `cancelOn` models, so every function loaded "
        "pydantic and built a model at import. The settings are now a frozen dataclass with the same checks "
        "(`TABLE_NAME` required, three integer ranges) and errors that name the variable; the `cancelOn` models moved "
        "to `stratoflow.cancel_on`, which only the functions that accept a `cancelOn` import. The sweeper, the "
        "outbox dispatcher and child-cancel propagation no longer import pydantic; the error body and `cancelOn` "
        "models build on first use like the others, so no function builds a model of its own at import (Powertools' "
        "validation builds one). Measured before and after, interleaved in the same rounds, on the same build but "
        "for the shared layer (5 rounds, load average about 20): sweeper 389 → 296 ms of CPU, outbox dispatcher "
        "433 → 349, child-cancel propagation 481 → 374, batch runner 487 → 446, cancel on event 388 → 371; the API "
        "functions and fire timer, which validate with pydantic anyway, moved within the noise (-22 to +35 ms). "
        "`tests/unit/test_cold_imports.py` fails if a function that validates nothing with pydantic imports it, or "
        "if any cold start imports boto3.",
        "- **What is left** is what the design asks each function to load: botocore (most of boto3's own import, "
        "through PynamoDB), Powertools' logger and metrics, PynamoDB's models and the domain: 1.1-1.5x boto3 in the "
        "loaded runs for the functions without pydantic. The event parsers add pydantic (about 60 ms of CPU, its "
        "first model included) and Powertools' batch package (which loads asyncio); the API functions add pydantic, "
        "Powertools' event handler with validation (its package loads every resolver, asyncio and every event class, "
        "about 45 ms, and its validation builds its own request model), the routes and their answer models (about 50 "
        "ms; `stratoflow_api.response_models` defines all 26 answers, of which a function uses a few). These are the "
        "real tools (request validation is Powertools' resolver with pydantic), so the API functions stay near the "
        "goal rather than well under it; ratios move by about 0.1 between runs, more under load: at a load average "
        "of 18-29 (2026-12-07, commit 6cb30de) the five API functions, whose imports differ by one route module, "
        "spread from 1.57x to 2.47x in one run.",
        "- **No garbage collection during the import.** A cold start builds modules, classes and functions that "
        "live as long as the process, and the collector kept re-scanning them while they were built: with it off "
        "during the import, the worker API's import took 435 ms of CPU instead of 501 and the sweeper's 258 instead "
        "of 288 (medians of 9, load average about 14). Each handler turns it off before its first import and, at "
        "its end, freezes what the import built (`gc.freeze()`: moved out of every later scan, so the saving is not "
        "paid back at the first collection) and turns it on again; `tests/unit/test_cold_imports.py` checks both. "
        "Its cost is three lines in each handler and an `E402` exception for them in the lint settings.",
        "- **Measured and not taken.** "
        "*One module of answers per function*: `response_models` is shared by every API function and the "
        "OpenAPI document; splitting it saves each API function a part of its 10-35 ms, not worth a second place "
        "for answers. *`PYDANTIC_DISABLE_PLUGINS`*: no measurable change (pydantic's plugin look-up is cheap here). "
        "*Powertools submodules*: importing `aws_lambda_powertools.event_handler.api_gateway` or "
        "`utilities.batch.base` still runs their package's `__init__`, which imports the rest; only Powertools can "
        "make those lazy.",
        "- **arm64** was not measured (no arm64 machine here); Lambda bills arm64 20% less per GB-second, so it "
        "is worth measuring in an account before switching.",
    ]


def _moto_check(operations: dict[str, Any]) -> str:
    examples = []
    for label in ("read workflow", "poll workflow", "cancel task", "submit SCHEDULE_TASK"):
        op = operations.get(label)
        if op is None:
            continue
        computed = op["capacity"]["rru"] + op["capacity"]["wru"] + op["capacity"]["gsi_wru"]
        examples.append(f"{label} {op['moto_reported_units']:g} reported against {computed:g} computed")
    return "; ".join(examples)


def _cost_lines(results: dict[str, Any]) -> list[str]:
    model, flows, prices = results["cost_model"], results["flows"], results["prices"]
    lines = [
        f"List prices, {prices['region']}, before free tiers, as known on {prices['as_of']} (not re-read that day):",
        "",
        "| item | price | source |",
        "| --- | ---: | --- |",
    ]
    for price in prices["prices"].values():
        lines.append(f"| {price['name']} | {_price(price['dollars'])} {price['per']} | {price['source']} |")
    lines += [
        "",
        "Measured flows (per run; Lambda time is the in-process handler time against the embedded endpoint, at each "
        "function's memory from template.yaml — in AWS, DynamoDB round trips are slower than moto's on loopback, "
        "but duration is a small line either way; stream records are delivered one per invocation, where AWS "
        "batches up to 25, so stream invocations are an upper bound):",
        "",
        "| flow | API requests | Lambda invocations (stream) | DynamoDB requests | RRU | WRU (of which GSI) "
        "| Scheduler calls | Lambda GB-s | log bytes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, flow in flows.items():
        lines.append(
            f"| {name} | {flow['api_requests']:.0f} "
            f"| {flow['lambda_invocations']:.0f} ({flow['stream_invocations']:.0f}) "
            f"| {flow['dynamodb_requests']:.0f} | {flow['rru']:.1f} | {flow['wru']:.0f} ({flow['gsi_wru']:.0f}) "
            f"| {flow['scheduler_requests']:.0f} | {flow['gb_seconds']:.3f} | {flow['log_bytes']:.0f} |"
        )
    lines += [
        "",
        "| per 1,000 | API Gateway | Lambda requests | Lambda duration | DynamoDB writes | DynamoDB reads "
        "| logs | **Stratoflow** | Step Functions Standard | Step Functions Express |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, title in (
        ("per_1000_task_executions", "task executions"),
        ("per_1000_task_executions_combined", "task executions, combined calls (a backlog)"),
        ("per_1000_workflow_cancellations", "workflow cancellations"),
        ("per_1000_task_cancellations", "task cancellations"),
    ):
        entry = model.get(key)
        if entry is None:
            continue  # results of a run before the flow existed
        ours, sfn = entry["stratoflow"], entry["step_functions"]
        if key.startswith("per_1000_task_executions"):
            standard, express = sfn["standard"]["total"], sfn["express"]["total"]
        else:
            standard, express = sfn["standard_with_cleanup"], sfn["express"]
        lines.append(
            f"| {title} | {_usd(ours['api_gateway'])} | {_usd(ours['lambda_requests'])} "
            f"| {_usd(ours['lambda_duration'])} | {_usd(ours['dynamodb_writes'])} | {_usd(ours['dynamodb_reads'])} "
            f"| {_usd(ours['logs'])} | **{_usd(ours['total'])}** | {_usd(standard)} | {_usd(express)} |"
        )
    idle = model.get("idle_worker_per_hour")
    if idle is not None:
        ours = idle["stratoflow"]
        lines.append(
            f"| an idle worker, per hour | {_usd(ours['api_gateway'])} | {_usd(ours['lambda_requests'])} "
            f"| {_usd(ours['lambda_duration'])} | {_usd(ours['dynamodb_writes'])} | {_usd(ours['dynamodb_reads'])} "
            f"| {_usd(ours['logs'])} | **{_usd(ours['total'])}** | $0 | $0 |"
        )
    return lines


def _floor_lines(results: dict[str, Any]) -> list[str]:
    """The least this design can cost per 1,000 task executions, against what the flows measured."""
    floor = results["cost_model"].get("price_floor")
    if floor is None:
        return []  # results of a run before the floor was computed
    measured = results["cost_model"]["per_1000_task_executions"]["stratoflow"]["total"]
    flow = results["flows"]["sequential tasks"]
    lines = [
        "### The floor under this design",
        "",
        "The least 1,000 task executions can cost when every state change and its events are one atomic write. The "
        "count leaves out reads, Lambda time, logs and stream steps, which can only add. It keeps the writes and the "
        "worker's requests. DynamoDB bills every write in a transaction twice, and a task's schedule and its "
        "completion each change three items: its execution, its event and the task.",
        "",
        "| write | table WRU | index WRU |",
        "| --- | ---: | ---: |",
    ]
    for what, table, index in floor["task_writes"]:
        lines.append(f"| per task: {what} | {table} | {index} |")
    for what, table, index in floor["workflow_writes"]:
        lines.append(f"| per workflow: {what} | {table} | {index} |")
    lines += [
        "",
        "| worker | requests per task | API Gateway | Lambda requests | DynamoDB writes | **floor** "
        "| x Step Functions Standard |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, worker in floor["workers"].items():
        lines.append(
            f"| {name} | {worker['requests_per_task']:.1f} | {_usd(worker['api_gateway'])} "
            f"| {_usd(worker['lambda_requests'])} | {_usd(worker['dynamodb_writes'])} | **{_usd(worker['total'])}** "
            f"| {worker['x_step_functions_standard']:.2f} |"
        )
    per_task = flow["wru"] / TASKS_PER_WORKFLOW
    lines += [
        "",
        f"Per task the floor writes {floor['wru_per_task']:g} table WRU and {floor['gsi_wru_per_task']:g} index WRU, "
        f"{floor['wru_per_task'] + floor['gsi_wru_per_task']:g} in all; the measured flow writes "
        f"{per_task:.1f} (its table above), for {_usd(measured)} per 1,000 task executions. Half of Step Functions "
        f"Standard is {_usd(floor['step_functions_standard'] / 2)}: below the floor of either worker, even before "
        "any read. A lower price needs fewer items per state change or writes outside a transaction, and this "
        "design keeps each state change and its events in one atomic write.",
        "",
    ]
    return lines


def _embedded_lines(embedded: dict[str, Any]) -> list[str]:
    sizes = sorted(embedded["embedded_endpoint"]["committed_ms"], key=int)
    lines = [
        "| table items | plain moto: committed / cancelled ms | embedded endpoint: committed / cancelled ms |",
        "| ---: | ---: | ---: |",
    ]
    for size in sizes:
        plain, ours = embedded["plain_moto"], embedded["embedded_endpoint"]
        lines.append(
            f"| {int(size):,} | {plain['committed_ms'][size]:,.1f} / {plain['cancelled_ms'][size]:,.1f} "
            f"| {ours['committed_ms'][size]:.1f} / {ours['cancelled_ms'][size]:.1f} |"
        )
    samples = embedded["samples_per_size"]
    lines += [
        "",
        f"Medians of {samples['embedded_endpoint']} samples per size on the embedded endpoint and "
        f"{samples['plain_moto']} on plain moto (`bench/embedded_dynamodb.py`, moto {embedded['moto_version']}). "
        "Largest/smallest ratio on the embedded endpoint: "
        + ", ".join(
            f"{kind.removesuffix('_ms')} {ratio}"
            for kind, ratio in embedded["embedded_ratio_largest_to_smallest"].items()
        )
        + " "
        f"(done when ≤ 1.5: {embedded['done']}).",
    ]
    return lines


_DIRTY = "uncommitted_changes_in_code_under_test"
_API_FUNCTIONS = ("CallerApi", "CancelTask", "WorkerApi", "SubmitWorkflowCommands")


def _ratio_above_one(op: dict[str, Any]) -> bool:
    minimum = op.get("minimum") or {}
    return max(minimum.get("request_ratio") or 0.0, minimum.get("capacity_ratio") or 0.0) > 1.0


def _findings(results: dict[str, Any]) -> list[str]:
    """What the numbers of this run show; each finding only when the run shows it."""
    ops = results["operations"]
    findings = []
    api = [op for op in ops.values() if op["function"].removesuffix("Function") in _API_FUNCTIONS]
    if api and not any(_ratio_above_one(op) for op in api):
        findings.append(
            "- **No redundant reads on any API path.** Every API operation issues the design's minimum number of "
            "requests and capacity; write-path cost is independent of history length."
        )
    one_item = sorted(
        label for label, op in ops.items() if any("one-item" in x for x in op.get("minimum", {}).get("extra", []))
    )
    if one_item:
        findings.append(
            f"- **One-item transactions** ({', '.join(one_item)}): twice the write units of a conditional write; a "
            "change in `DynamoRepository.commit` would fix every caller."
        )
    stream = [label for label in STREAM_READERS if label in ops and _ratio_above_one(ops[label])]
    if stream:
        findings.append(
            f"- **Stream steps read what the record carries** ({', '.join(stream)}): the outbox item, and for "
            "child-cancel propagation also the link (twice the minimum requests there)."
        )
    flow = results["flows"]["sequential tasks"]
    share = flow["gsi_wru"] / flow["wru"] if flow["wru"] else 0.0
    findings.append(
        f"- **Index writes are {share:.0%} of the write units** of the sequential-tasks flow: every claim or release "
        "moves the execution or task in `DispatchIndex` (`dispatchAt` is the key: a delete and a put), and a task "
        "enters and leaves `SweepIndex` with its lease. `ListIndex` projects keys only, so it is written once per "
        "execution, when it is created (a listing reads the items with BatchGetItem)."
    )
    close = results["scaling"]["parent_close"]
    if close:
        fewest, most = close[min(close, key=int)], close[max(close, key=int)]
        if most["close"]["dynamodb_requests"]["mean"] > fewest["close"]["dynamodb_requests"]["mean"]:
            findings.append(
                f"- **Parent close is linear in the tasks a workflow ever ran**: "
                f"{fewest['close']['dynamodb_requests']['mean']:g} requests after {fewest['tasks']} task, "
                f"{most['close']['dynamodb_requests']['mean']:g} after {most['tasks']} (proposal above)."
            )
        else:
            findings.append(
                f"- **Parent close is flat in the tasks a workflow ran**: "
                f"{most['close']['dynamodb_requests']['mean']:g} requests after {fewest['tasks']} task and after "
                f"{most['tasks']} (a task's end removes its reference)."
            )
    fired = ops.get("timer schedule delete after fire (stream)")
    if fired and fired["other_requests"]:
        findings.append(
            "- **In AWS, a fired timer costs one more dispatcher invocation and a DeleteSchedule that finds "
            "nothing** (the one-time schedule deleted itself, `ActionAfterCompletion: DELETE`): narrowing the "
            "timer MODIFY filter to `NewImage.status = CANCELLED` would drop both (a schedule still pending when "
            "the sweeper fired its timer late would then fire into fire-timer, which ignores a timer that is no "
            "longer STARTED)."
        )
    return findings


STREAM_READERS = ("child cancel propagation (stream)", "cascade step (stream)", "parent close (stream)")

# Measured once, when the stream steps began to act on the record's NewImage and a task's end began to remove its
# reference (`python -m bench --only operations,parent-close,flows`); kept as the record of that change.
STREAM_STEPS_BEFORE_AFTER = [
    "### Stream steps and parent close: before and after",
    "",
    "Requests and units are exact (they do not depend on load). *Before*: the full run of 2026-11-25 above this "
    "change (parent close had since gained an execution read, for `cancelOn` subscriptions: 7 requests after 1 "
    "task when this change began); *after*: the same procedures at this change.",
    "",
    "| operation | requests (min): before → after | RRU before → after | WRU table + GSI before → after |",
    "| --- | --- | --- | --- |",
    "| fire timer | 3 (2) → 2 (2) | 2.0 → 1.0 | 6 + 3 → 6 + 3 |",
    "| child cancel propagation (stream) | 4 (2) → 2 (2) | 3.0 → 1.0 | 8 + 3 → 8 + 3 |",
    "| cascade step (stream), two leaf children | 7 (6) → 6 (6) | 4.0 → 3.0 | 9 + 5 → 9 + 5 |",
    "| parent close (stream) after 1 task | 6 (5) → 4 (4) | 4.5 → 3.0 | 1 + 1 → 1 + 1 |",
    "| parent close (stream) after 10 tasks | 15 → 4 | 13.5 → 3.0 | 1 + 1 → 1 + 1 |",
    "| parent close (stream) after 100 tasks | 105 → 4 | 104.5 → 3.0 | 1 + 1 → 1 + 1 |",
    "| task complete, cancel task, submit REQUEST_CANCEL_TASK | 3 (3) → 3 (3) | 2.0 → 2.0 | 6 + 3 → 8 + 3 |",
    "| flow: 10 sequential tasks and the close | 121 → 110 | 67.0 → 56.5 | 291 → 311 (GSI 119 → 119) |",
    "| flow: workflow cancellation | 18 → 15 | 12.0 → 9.5 | 36 → 38 (GSI 13 → 13) |",
    "| flow: task cancellation | 8 → 8 | 4.5 → 4.5 | 16 → 18 (GSI 8 → 8) |",
    "",
    "What each step no longer reads: fire timer, the timer (the transaction's `status = STARTED` condition is the "
    "gate; the schedule's input and the queue's message carry the due time, which only the last mile's wait needs); "
    "child cancel propagation, the outbox item (the record's NewImage) and the child link (the child's own parent id "
    "and name prove parentage; the link's update is conditioned on `childWorkflowExecutionId`); cascade step and "
    "parent close, the outbox item, and close every finished task too (the design's minimum for close no longer "
    "counts a read per finished task: none has a reference left). The guard that read gave is kept by writes: child-"
    "cancel propagation deletes the outbox item under `attribute_exists` in its transaction; a cascade step changes a"
    " child only while it is not yet `CANCELLING` (a redelivery finds it `CANCELLING`), and gives an already "
    "`CANCELLING` child its cascade item only with a check that the step's own item still exists; close changes only "
    "open tasks and STARTED timers. The sweeper's re-drive, which has only keys, still reads the item.",
    "",
    "Parent close: three ways to find open tasks were weighed against the price per task (a WRU is $0.625 per "
    "million, so 2 WRU per task are $0.00125 per 1,000 task executions, 3.4% of today's $0.0367 and 9% of the "
    "$0.01375 that half of Step Functions Standard allows).",
    "",
    "- *Delete the reference in the write that ends the task* (chosen first): +2 WRU per task end (one more item in "
    "a transaction), exact, a consistent query at close, no change to items or indexes. Measured: 29.1 → 31.1 WRU "
    "per task in the sequential-tasks flow; reads drop (close no longer reads finished tasks), so DynamoDB's share of "
    "1,000 task executions goes from $0.0190 to $0.0201.",
    "- *A sparse index of open tasks* (an attribute on the task item while it is open, `KEYS_ONLY`): one index "
    "put and one index delete per task (2 WRU), but no `TASKREF#` item (2 WRU less in the scheduling transaction), so "
    "about the same price as before. Not chosen: an index is only eventually consistent, and close must see a task "
    "scheduled in the very transaction that ended the workflow (their stream record and index entry are not "
    "ordered); a missed task would stay PENDING and be handed to a worker.",
    "- *Open task ids on the execution item* (the writes that schedule and end a task write it anyway): no "
    "`TASKREF#` item at all (2 WRU less per task than before, 4 less than the chosen way), but the most-written item "
    "grows by every open task's id (up to 128 characters): crossing a KB adds 2 WRU to every transaction that "
    "writes the execution and 1 to its list entry, so a fan-out of a few dozen open tasks pays more per task than "
    "the chosen way; it needs a bound with a fall-back to references beyond it. Chosen next, with that bound.",
    "",
    "The open task ids now live on the execution, up to 200 bytes of ids (a handful of tasks), with `TASKREF#` "
    "items beyond that. Since `ListIndex` projects keys only, a larger execution no longer costs an index write. "
    "Measured in the same flows at that change (with the keys-only `ListIndex` just before it): scheduling, "
    "completing and cancelling a task write 6 WRU instead of 8; parent close takes 3 requests instead of 4 "
    "(no reference query); the sequential-tasks flow writes 239 WRU instead of 311 (GSI 87 instead of 119), "
    "23.9 per task instead of 31.1; the workflow-cancellation flow 33 instead of 38, and the task-cancellation "
    "flow 13 instead of 18.",
]


def render(results: dict[str, Any], plot_name: str) -> str:
    meta = results["meta"]
    profile = meta["profile"]
    ops = results["operations"]
    history, cascade, close = (results["scaling"][key] for key in ("history", "cascade", "parent_close"))
    cold = results["cold_start"]
    seconds = meta["seconds"]
    model = results["cost_model"]
    per_task = model["per_1000_task_executions"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python -m bench`{' --quick' if profile['name'] == 'quick' else ''}) on "
        f"{meta['date']} at commit {meta['git']['commit']}"
        f"{' (with uncommitted changes to the code under test)' if meta['git'][_DIRTY] else ''}"
        f": profile *{profile['name']}*, Python {meta['python']}, {meta['cpus']} CPUs, moto "
        f"{meta['versions']['moto']}, boto3 {meta['versions']['boto3']}, PynamoDB {meta['versions']['pynamodb']}; "
        f"{seconds['total']:.0f} s in all. The machine was shared (load average {meta['load_average_before'][0]} "
        f"before, {meta['load_average_after'][0]} after on {meta['cpus']} CPUs), so latencies are indicative; "
        "request counts and capacity units are exact and do not depend on load. Raw numbers: `bench/results.json`. "
        "Nothing here is asserted by `make test`.",
        "",
        "## How it is measured",
        "",
        "- **Stack.** `bench/harness.py` runs the real handlers (`functions/*/app.py`) in this process against the "
        "embedded endpoint (`EmbeddedAwsEndpoint`, moto behind one lock). The table is created from the `Table` "
        "Properties of `template.yaml`; API handlers get API Gateway HTTP API (payload 2.0) events carrying the "
        "bench tenant's bearer token (each function resolves it, cached per container: the cached path is what "
        "every operation measures, the lookup its own operation); stream handlers get DynamoDB stream records built "
        "from the old and new images of "
        "every item a request changed, routed by the template's own filter patterns and delivered one record per "
        "invocation right after the step that wrote them; fire-timer gets its schedule's input. The `LocalStack` of "
        "`stratoflow_local` is not used: its stream poller, scheduler and sweeper run on background threads, which "
        "would blur which invocation made which request and compete for the two cores.",
        "- **Requests.** Every AWS call is counted through botocore's event system: PynamoDB creates one botocore "
        "session per connection and thread (`Connection.session` → `botocore.session.get_session()`), so the meter "
        "hands it sessions with handlers on `before-parameter-build`, `after-call` and `after-call-error` for "
        "`dynamodb` and `scheduler`, and registers the same on boto3's default session.",
        "- **Capacity.** Each request asks for `ReturnConsumedCapacity: TOTAL`, but moto answers constants "
        "whatever the item sizes (0.5 per GetItem or UpdateItem, 1.0 per Query, PutItem or DeleteItem, nothing for "
        "TransactWriteItems: `moto_reported_units` in `results.json`), so "
        "the units below are **computed** from item sizes with DynamoDB's published rules: 1 RRU per 4 KB "
        "strongly consistent (half eventually consistent; a Query sums what it read; index queries are eventually "
        "consistent), 1 WRU per KB of the larger of the old and new item, x2 inside TransactWriteItems, and one "
        "index write per KB of each GSI entry a change adds, removes or changes (two when the index key changes), "
        "not doubled inside transactions (AWS's pages do not say; measurements against DynamoDB published by "
        "emulator projects, e.g. nubo-db/dynoxide#188 and paritysuite/dynamodb-conformance#67, show the doubling "
        "applies to the table only, and a ConditionCheck is billed as a 2-unit write). Old and new "
        "images are read from the endpoint's backend under its lock; that time is subtracted from latencies. "
        f"Capacity units per operation, moto against computed: {_moto_check(ops)}.",
        "- **Minimum.** For each operation, the fewest requests docs/design.md allows (e.g. cancel task: read the "
        "task, read the workflow, one transaction of task + event + workflow); the minimum capacity is that of the "
        "matching measured requests and transaction items. *Capacity ratio* weighs reads and writes by their "
        "on-demand prices (a WRU costs five RRUs).",
        "- **Latency.** Handler time in process, p50/p95/p99 over *n* samples, and the share of it spent inside AWS "
        "calls (from `before-parameter-build` to `after-call`). moto's Query scans the whole table, so tables are "
        "recreated every few rounds; the endpoint's werkzeug server also closes the connection after each response, "
        "so every request opens a new loopback connection. Both inflate local AWS time relative to DynamoDB.",
        "",
        "## Per operation",
        "",
        f"{profile['iterations']} rounds of every procedure in `bench/operations.py` after one warm-up round; steps "
        "that occur in several procedures (start, poll, task poll, ...) have more samples. Histories are short here "
        "(1-6 events); see *Scaling* for long ones. *Other AWS calls* are EventBridge Scheduler calls. With "
        f"{profile['iterations']} samples, p99 is close to the largest sample.",
        "",
        *_operations_table(ops),
        "",
        "### Ratios above 1.0",
        "",
        *(_above_one(ops) or ["None."]),
        "",
        "Every other operation issues exactly the design's minimum: no redundant read was found on any path an API "
        "request takes (start, poll, every command kind, task poll, heartbeat and complete, cancel task, workflow "
        "cancel).",
        "",
        "## Cold start",
        "",
        *_cold_start(cold),
        "",
        "## Scaling",
        "",
        f"![cost against history length and fan-out]({plot_name})",
        "",
        "### History length",
        "",
        f"{profile['history_cycles']} cycles of poll → submit SCHEDULE_TASK → cancel task on one execution per length, "
        f"and {profile['history_cancels']} workflow cancels of other executions of that length; histories are grown "
        "with the domain's own `HistoryWriter` (99 events per transaction, not counted). Each cycle adds two events "
        "(TASK_SCHEDULED, TASK_CANCELLED), so the shortest history ends a few events longer than its row says.",
        "",
        *_history_table(history),
        "",
        "The write path is flat: submit, cancel task and workflow cancel issue the same requests and write the same "
        f"units at {min(map(int, history)):,} and at {max(map(int, history)):,} events (they read the execution item, "
        "never the history). The poll reads the "
        "history page it returns — up to 1,000 events, so its read units grow with the history up to 1,000 events and "
        "then stay at the page bound. Local poll latency grows further because moto's Query scans and sorts the "
        "whole table; DynamoDB's does not.",
        "",
        "### Workflow cancel with cascade",
        "",
        "A root with 10 children per node, breadth first (leaves stay PENDING, as live as WAITING); the API cancel "
        "of the root, then every cascade record the stream produces, one invocation each, until all descendants "
        "are CANCELLING (checked: one CANCELLATION_REQUESTED per descendant).",
        "",
        *_cascade_table(cascade),
        "",
        f"Requests per descendant are constant (≈ {cascade[max(cascade, key=int)]['requests_per_descendant']:.1f}: "
        "one read and one transaction per descendant, plus one query and one outbox delete per inner node; the "
        "step takes the outbox item from the stream record's NewImage). Each level is one more stream hop, so "
        "completion time grows with "
        "depth, not with fan-out; handler seconds are the sum of all invocations (one at a time here; in AWS each "
        "shard batch runs in parallel with other shards).",
        "",
        "### Parent close",
        "",
        "A workflow that ran *n* tasks (all finished) completes; its close record is delivered:",
        "",
        *_close_table(close),
        "",
        "An execution keeps its open tasks' ids on itself (up to 200 bytes of ids, then `TASKREF#` items). A task's "
        "end removes it in the transaction that tells its workflow (complete, fail, cancel, `REQUEST_CANCEL_TASK`). "
        "The ending write copies the ids into the close record, so close reads and cancels only the open tasks. It "
        "queries references only when the execution wrote any. Its requests do not grow with the tasks the workflow "
        "ran. What still grows is the capacity of the child and timer queries, which read closed children and "
        "timers and filter them out. *Stream steps and parent close: before and after* below has the numbers, and "
        "the ways of finding open tasks that were weighed.",
        "",
        *STREAM_STEPS_BEFORE_AFTER,
        "",
        "## Cost model",
        "",
        *_cost_lines(results),
        "",
        f"- Shape priced per task execution: {per_task['shape']}.",
        "- Step Functions Standard: one transition per Task state plus the final Succeed state, the worker reached "
        "through `.waitForTaskToken` or an activity (their API calls are not billed). Express cannot wait for an "
        "external worker (no `.waitForTaskToken`, no activities, 5-minute limit): its column assumes each task runs "
        f"inline for {1.0:.0f} s at the smallest billed memory (64 MB), which is a different, weaker shape.",
        "- Cancellations: Standard's `StopExecution` costs no transition but runs no cleanup; the column prices a "
        "cleanup branch of 3 states (cancel the task, the timer, end) for workflow cancellations and 1 for tasks. "
        "Express does not support `StopExecution`.",
        "- Worker requests: the task-execution rows count every request the SDK's worker makes for the flow, the "
        "empty poll each poller makes right after a claim included; "
        + (
            f"the combined-calls row prices {model['per_1000_task_executions_combined']['shape']}; "
            if "per_1000_task_executions_combined" in model
            else ""
        )
        + (
            f"the idle row prices {model['idle_worker_per_hour']['shape']} (Step Functions charges nothing while idle)."
            if "idle_worker_per_hour" in model
            else ""
        ),
        "- API Gateway is an HTTP API ($1.00 per million requests; a REST API would be $3.50). It has no authorizer: "
        "each API function resolves the bearer token itself and keeps it 300 s per container. Not in the totals: "
        "those token lookups (one GetItem of 0.5 RRU per container and token per 5 minutes; see `token lookup` "
        "above), an idle worker's polls (the idle row), the sweeper (one "
        "index Query per shard per minute), DynamoDB storage and streams (GetRecords by Lambda triggers is free), "
        "data transfer. " + results["cost_model"]["x_ray_note"],
        "",
        *_floor_lines(results),
        "## Embedded endpoint: transaction latency against table size",
        "",
        *_embedded_lines(results["embedded_endpoint"]),
        "",
        "## Findings",
        "",
        *_findings(results),
        "",
        "## Left out",
        "",
        "- Latency under concurrency (one caller at a time here), real AWS latencies and API Gateway's own latency; "
        "the sweeper's periodic cost; Idempotency-Key paths, list and history endpoints (their costs follow the "
        "same rules: one more item in the creating transaction, one Query page per call).",
        "- Capacity of Query pages that filter items out is estimated from the returned items' average size "
        "(the measured flows filter nothing out except closed children/timers at close).",
    ]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: PLC0415

    plain = FuncFormatter(lambda value, _: f"{value:g}")

    history = results["scaling"]["history"]
    cascade = results["scaling"]["cascade"]
    close = results["scaling"]["parent_close"]
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.8))

    lengths = [int(length) for length in history]
    for name, marker in (
        ("poll workflow", "o"),
        ("submit SCHEDULE_TASK", "s"),
        ("cancel task", "^"),
        ("workflow cancel", "v"),
    ):
        rows = [history[str(length)][name] for length in lengths]
        units = [row["capacity"]["rru"] + row["capacity"]["wru"] + row["capacity"]["gsi_wru"] for row in rows]
        requests = sorted({row["dynamodb_requests"]["mean"] for row in rows})
        count = f"{requests[0]:g} requests" if len(requests) == 1 else f"{requests[0]:g}-{requests[-1]:g} requests"
        left.plot(lengths, units, marker=marker, label=f"{name} ({count} at every length)")
    left.set_xscale("log")
    left.set_yscale("log")
    left.yaxis.set_major_formatter(plain)
    left.yaxis.set_minor_formatter(plain)
    left.set_xticks(lengths)
    left.xaxis.set_major_formatter(plain)
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("events in the history")
    left.set_ylabel("request units per operation (RRU + WRU, GSI included)")
    left.set_title("History length: the poll reads its page, writes stay flat", fontsize=10)
    left.legend(fontsize=7)
    left.grid(True, which="both", alpha=0.3)

    sizes = [int(size) for size in cascade]
    middle.plot(
        sizes, [cascade[str(s)]["requests_per_descendant"] for s in sizes], marker="o", label="requests / descendant"
    )
    middle.plot(
        sizes,
        [cascade[str(s)]["minimum_requests_per_descendant"] for s in sizes],
        marker="x",
        linestyle="--",
        label="design minimum / descendant",
    )
    middle.plot(
        sizes, [cascade[str(s)]["units_per_descendant"] for s in sizes], marker="s", label="request units / descendant"
    )
    middle.set_xscale("log")
    middle.xaxis.set_major_formatter(plain)
    middle.set_ylim(bottom=0)
    middle.set_xlabel("descendants cancelled (fan-out 10)")
    middle.set_title("Workflow cancel with cascade: constant per descendant", fontsize=10)
    middle.legend(fontsize=7)
    middle.grid(True, which="both", alpha=0.3)

    counts = [int(count) for count in close]
    right.plot(
        counts, [close[str(c)]["close"]["dynamodb_requests"]["mean"] for c in counts], marker="o", label="requests"
    )
    right.plot(counts, [close[str(c)]["close"]["capacity"]["rru"] for c in counts], marker="s", label="read units")
    right.set_xscale("log")
    right.set_yscale("log")
    right.xaxis.set_major_formatter(plain)
    right.yaxis.set_major_formatter(plain)
    right.set_xlabel("tasks the workflow ran (all finished)")
    right.set_title("Parent close: linear in the tasks ever scheduled", fontsize=10)
    right.legend(fontsize=7)
    right.grid(True, which="both", alpha=0.3)

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# ---------------------------------------------------------------- sections written by other scripts

# docs/benchmarks.md ends with sections that other scripts measure and write (`make bench-local`, the batch and timer
# measurements); `make bench` re-renders everything above this line and keeps everything below it.
KEPT_MARK = "<!-- Below: sections written by their own scripts; make bench keeps them. -->"


def kept_sections(path: Path) -> str:
    """The part of the report that `make bench` keeps (from the mark on), or just the mark."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    start = text.find(KEPT_MARK)
    return text[start:] if start >= 0 else KEPT_MARK + "\n"


def write_section(path: Path, name: str, markdown: str) -> None:
    """Put `markdown` as the kept section `name` of the report (replacing its earlier version, else appended)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if KEPT_MARK not in text:
        text = text.rstrip("\n") + "\n\n" + KEPT_MARK + "\n"
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
