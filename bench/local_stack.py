"""`make bench-local`: how fast the local stack is to develop on, measured through its HTTP front door and the SDK.

    python -m bench.local_stack            # writes bench/local_results.json and prints a Markdown table
    python -m bench.local_stack --quick    # fewer samples

It starts its own local stack (the Lambda-faithful runtime: every function in containers of its own, the embedded
endpoint) and measures:

- per route, the client's time for a request, split into the handler's own time (what the container spent between
  being handed the event and answering, as its Runtime API saw it), the runtime's cost of an invocation (finding the
  warm container, the payload there and back) and the front door's (everything else: HTTP in and out, routing, the
  authorizer's cache, building the API Gateway event);
- end to end through the SDK with one worker (8 task slots): 30 workflows of 3 sequential tasks (task executions per
  second), and one workflow of 10 sequential tasks (seconds from start to result).

Nothing is asserted: the figures are recorded, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "layers" / "stratoflow", ROOT / "local", ROOT / "sdk" / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import requests  # noqa: E402
from stratoflow_local.stack import LocalStack  # noqa: E402
from stratoflow_sdk import Client, Worker, WorkflowContext, task, workflow  # noqa: E402

RESULTS = ROOT / "bench" / "local_results.json"
TOKEN = "tok-bench"


@task(kind="bench-step")
def bench_step(value: int) -> int:
    return value + 1


@workflow(kind="bench-three-steps")
async def three_steps(ctx: WorkflowContext, value: int) -> int:
    for _ in range(3):
        value = await ctx.schedule_task("bench-step", value)
    return value


@workflow(kind="bench-ten-steps")
async def ten_steps(ctx: WorkflowContext, value: int) -> int:
    for _ in range(10):
        value = await ctx.schedule_task("bench-step", value)
    return value


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def measure_route(
    stack: LocalStack, session: requests.Session, name: str, send: Callable[[int], requests.Response], samples: int
) -> dict[str, Any]:
    """`samples` sequential requests; each one's time split by the invocations the runtime timed meanwhile."""
    assert stack.runtime is not None
    timings = stack.runtime.timings
    totals, handlers, runtimes, front_doors = [], [], [], []
    send(-1)  # one unmeasured request: the authorizer's answer cached, the container warm
    for index in range(samples):
        before = len(timings)
        started = time.perf_counter()
        response = send(index)
        total = time.perf_counter() - started
        if response.status_code >= 500:
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")
        # Only this request's invocations: the stack is otherwise idle (nothing scheduled, no stream records).
        mine = list(timings)[before:] if len(timings) < timings.maxlen else list(timings)[-1:]
        invoked = sum(timing.seconds for timing in mine)
        handler = sum(timing.handler_seconds for timing in mine)
        totals.append(total)
        handlers.append(handler)
        runtimes.append(invoked - handler)
        front_doors.append(total - invoked)
    return {
        "route": name,
        "samples": samples,
        "p50_ms": _ms(statistics.median(totals)),
        "p90_ms": _ms(_percentile(totals, 0.9)),
        "handler_p50_ms": _ms(statistics.median(handlers)),
        "runtime_p50_ms": _ms(statistics.median(runtimes)),
        "front_door_p50_ms": _ms(statistics.median(front_doors)),
    }


def measure_routes(stack: LocalStack, samples: int) -> list[dict[str, Any]]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    url = stack.url
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    ids: list[str] = []

    def start(index: int) -> requests.Response:
        response = session.post(f"{url}/v1/workflows", json={"kind": "bench", "queue": queue, "input": index})
        ids.append(response.json()["workflowExecutionId"])
        return response

    routes = [
        ("GET /v1/health", lambda i: session.get(f"{url}/v1/health")),
        ("POST /v1/workflows", start),
        ("GET /v1/workflows/{id}", lambda i: session.get(f"{url}/v1/workflows/{ids[i]}")),
        (
            "POST /v1/worker/tasks/poll (empty)",
            lambda i: session.post(f"{url}/v1/worker/tasks/poll", json={"queue": "none", "workerId": "bench"}),
        ),
    ]
    results = [measure_route(stack, session, name, send, samples) for name, send in routes]
    stack.streams.wait_idle(30) if stack.streams else None
    return results


def measure_sdk(stack: LocalStack, workflows: int) -> dict[str, Any]:
    client = Client(stack.url, TOKEN)
    queue = f"bench-sdk-{uuid.uuid4().hex[:6]}"
    with Worker(client, queue=queue, workflows=[three_steps, ten_steps], tasks=[bench_step], max_concurrent_tasks=8):
        client.result(client.start_workflow("bench-three-steps", 0, queue=queue).workflow_execution_id, timeout=60)
        started = time.perf_counter()
        ids = [
            client.start_workflow("bench-three-steps", n, queue=queue).workflow_execution_id for n in range(workflows)
        ]
        for workflow_id in ids:
            client.result(workflow_id, timeout=300, poll_interval=0.02)
        fan_seconds = time.perf_counter() - started
        sequential = []
        for _ in range(3):
            started = time.perf_counter()
            workflow_id = client.start_workflow("bench-ten-steps", 0, queue=queue).workflow_execution_id
            client.result(workflow_id, timeout=120, poll_interval=0.02)
            sequential.append(time.perf_counter() - started)
    return {
        "workflows": workflows,
        "tasks": workflows * 3,
        "seconds": round(fan_seconds, 2),
        "task_executions_per_second": round(workflows * 3 / fan_seconds, 1),
        "ten_step_workflow_seconds": round(statistics.median(sequential), 2),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| route | p50 ms | p90 ms | handler p50 ms | runtime p50 ms | front door p50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["routes"]:
        lines.append(
            f"| `{row['route']}` | {row['p50_ms']} | {row['p90_ms']} | {row['handler_p50_ms']} | "
            f"{row['runtime_p50_ms']} | {row['front_door_p50_ms']} |"
        )
    sdk = result["sdk"]
    lines += [
        "",
        "| through the SDK (one worker, 8 task slots) | figure |",
        "|---|---:|",
        f"| {sdk['workflows']} workflows x 3 sequential tasks | {sdk['task_executions_per_second']} task executions/s "
        f"({sdk['seconds']} s) |",
        f"| one workflow of 10 sequential tasks, start to result | {sdk['ten_step_workflow_seconds']} s |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    samples, workflows = (20, 10) if args.quick else (200, 30)
    os.environ.setdefault("STRATOFLOW_IDLE_SECONDS", "600")
    with tempfile.TemporaryDirectory(prefix="stratoflow-bench-local-") as folder:
        log = Path(folder) / "containers.log"
        with LocalStack(ROOT / "template.yaml", tokens=f"bench:{TOKEN}", container_log=log) as stack:
            routes = measure_routes(stack, samples)
            sdk = measure_sdk(stack, workflows)
    result = {
        "profile": "quick" if args.quick else "full",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runtime": "Lambda-faithful (awslambdaric processes), embedded endpoint",
        "routes": routes,
        "sdk": sdk,
        "markdown": "",
    }
    result["markdown"] = markdown(result)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(result["markdown"])
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
