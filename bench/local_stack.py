"""`make bench-local`: how fast the local stack is to develop on, measured through its HTTP front door and the SDK.

    python -m bench.local_stack            # writes bench/local_results.json and prints a Markdown table
    python -m bench.local_stack --quick    # fewer samples

It starts its own local stack (the Lambda-faithful runtime: every function in containers of its own, the embedded
endpoint) and measures:

- per route, the client's time for a request, split into the handler's own time (what the container spent between
  being handed the event and answering, as its Runtime API saw it), the runtime's cost of an invocation (finding the
  warm container, the payload there and back) and the front door's (everything else: HTTP in and out, routing,
  building the API Gateway event);
- end to end through the SDK with one worker (8 task slots) in a process of its own: 30 workflows of 3 sequential
  tasks (task executions per second), twice: the first run starts the containers its concurrency needs (cold
  starts), the second runs on them, as a developer's next run does; then one workflow of 10 sequential tasks
  (seconds from start to result, the median of three);
- what the SDK's second run costs in CPU per task execution, by process (the stack's, each function's containers,
  the worker's, read from /proc), and the AWS requests it makes at the embedded endpoint; with the CPU of the cheapest
  AWS call (a GetItem, in its client and in the endpoint), the throughput those figures allow on this machine;
- batches: a CANCEL batch at the default rate (50/s) over 100 and 1,000 executions, from `POST /v1/batches` to
  `COMPLETED`, and the AWS requests the batch runner made per execution (counted at the embedded endpoint, which
  knows each request's container by its access key).

Nothing is asserted: the figures are recorded, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
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

from bench.report import write_section  # noqa: E402

RESULTS = ROOT / "bench" / "local_results.json"
REPORT = ROOT / "docs" / "benchmarks.md"
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
    front_door_functions = {route.function for route in stack.template.routes}
    totals, handlers, runtimes, front_doors = [], [], [], []
    send(-1)  # one unmeasured request: the container warm, the token in its cache
    for index in range(samples):
        before = len(timings)
        started = time.perf_counter()
        response = send(index)
        total = time.perf_counter() - started
        if response.status_code >= 500:
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")
        # This request's invocations: the API's functions (a start's stream records invoke others meanwhile).
        mine = [timing for timing in list(timings)[before:] if timing.function in front_door_functions]
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

    leases: dict[str, str] = {}
    tasks: list[tuple[str, str]] = []

    def poll_workflow(index: int) -> requests.Response:
        response = session.post(f"{url}/v1/worker/workflows/poll", json={"queue": queue, "workerId": "bench"})
        if response.status_code == 200:
            claimed = response.json()
            leases[claimed["workflowExecution"]["workflowExecutionId"]] = claimed["leaseId"]
        return response

    def submit(index: int) -> requests.Response:
        workflow_id, lease_id = leases.popitem()
        command = {
            "type": "SCHEDULE_TASK",
            "taskExecutionId": f"t-{uuid.uuid4().hex[:12]}",
            "kind": "bench-step",
            "input": index,
        }
        return session.post(
            f"{url}/v1/worker/workflows/{workflow_id}/commands", json={"leaseId": lease_id, "commands": [command]}
        )

    def poll_task(index: int) -> requests.Response:
        response = session.post(f"{url}/v1/worker/tasks/poll", json={"queue": queue, "workerId": "bench"})
        if response.status_code == 200:
            claimed = response.json()
            tasks.append((claimed["task"]["taskExecutionId"], claimed["leaseId"]))
        return response

    def complete(index: int) -> requests.Response:
        task_id, lease_id = tasks.pop()
        return session.post(f"{url}/v1/worker/tasks/{task_id}/complete", json={"leaseId": lease_id, "output": index})

    routes = [
        ("GET /v1/health", lambda i: session.get(f"{url}/v1/health")),
        ("POST /v1/workflows", start),
        ("GET /v1/workflows/{id}", lambda i: session.get(f"{url}/v1/workflows/{ids[i]}")),
        ("POST /v1/worker/workflows/poll (claims one)", poll_workflow),
        ("POST /v1/worker/workflows/{id}/commands (SCHEDULE_TASK)", submit),
        ("POST /v1/worker/tasks/poll (claims one)", poll_task),
        ("POST /v1/worker/tasks/{id}/complete", complete),
        (
            "POST /v1/worker/tasks/poll (empty)",
            lambda i: session.post(f"{url}/v1/worker/tasks/poll", json={"queue": "none", "workerId": "bench"}),
        ),
    ]
    results = [measure_route(stack, session, name, send, samples) for name, send in routes]
    if stack.streams is not None:  # the starts' stream records delivered before the SDK's measures begin
        stack.streams.wait_idle(30)
    return results


WORKER_FUNCTIONS = ("WorkerApiFunction", "SubmitWorkflowCommandsFunction")


def run_worker(url: str, queue: str, stop: Any) -> None:
    """The SDK worker of the measure, in a process of its own, as a developer runs one; until `stop` is set."""
    with Worker(
        Client(url, TOKEN), queue=queue, workflows=[three_steps, ten_steps], tasks=[bench_step], max_concurrent_tasks=8
    ):
        stop.wait()


def fan_out(stack: LocalStack, client: Client, queue: str, workflows: int) -> tuple[float, int]:
    """(seconds, worker requests) for `workflows` workflows of 3 sequential tasks, started at once."""
    assert stack.runtime is not None
    timings = stack.runtime.timings
    before = len(timings)
    started = time.perf_counter()
    ids = [client.start_workflow("bench-three-steps", n, queue=queue).workflow_execution_id for n in range(workflows)]
    for workflow_id in ids:
        client.result(workflow_id, timeout=300, poll_interval=0.1)
    seconds = time.perf_counter() - started
    return seconds, sum(1 for timing in list(timings)[before:] if timing.function in WORKER_FUNCTIONS)


def _cpu_seconds(pid: int) -> float:
    """A live process's user and system CPU time, from /proc (Linux); 0.0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # after the command name: state is field 3, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_usage(stack: LocalStack, worker_pid: int) -> dict[str, float]:
    """CPU seconds used so far: this process (the stack's front door, Runtime API, embedded endpoint and event
    sources, and the measure's own result polls), the SDK worker's process, and each function's containers."""
    assert stack.runtime is not None
    times = os.times()
    usage = {"stack": times.user + times.system, "worker": _cpu_seconds(worker_pid)}
    for name, pool in stack.runtime.pools.items():
        usage[name] = sum(_cpu_seconds(container.pid) for container in pool.containers() if container.pid)
    return usage


def cpu_per_task(before: dict[str, float], after: dict[str, float], tasks: int) -> dict[str, Any]:
    """CPU milliseconds per task execution between two `cpu_usage` readings, by process and by function."""
    per_task = {name: max(0.0, after.get(name, 0.0) - before.get(name, 0.0)) * 1000 / tasks for name in after}
    functions = {name: round(ms, 1) for name, ms in sorted(per_task.items(), key=lambda item: -item[1])
                 if name not in ("stack", "worker") and ms > 0}
    containers = sum(ms for name, ms in per_task.items() if name not in ("stack", "worker"))
    total = per_task["stack"] + per_task["worker"] + containers
    return {
        "stack_process": round(per_task["stack"], 1),
        "containers": round(containers, 1),
        "sdk_worker": round(per_task["worker"], 1),
        "total": round(total, 1),
        "by_function": functions,
        # What the machine could do if every CPU did nothing else: the throughput this CPU cost allows.
        "ceiling_task_executions_per_second": _allowed(total),
        "containers_only_ceiling_task_executions_per_second": _allowed(containers),
    }


def _allowed(cpu_ms_per_task: float) -> float | None:
    """Task executions per second that this machine's CPUs could run at `cpu_ms_per_task` (None without a reading:
    the containers' CPU is read from /proc, which only Linux has)."""
    return round((os.cpu_count() or 1) * 1000 / cpu_ms_per_task, 1) if cpu_ms_per_task > 0 else None


def _get_items(url: str, calls: int, answer: Any) -> None:
    """In a process of its own, as a container's: `calls` GetItems of one small item; sends back its CPU seconds."""
    from bench.embedded_dynamodb import client_for, create_bench_table  # noqa: PLC0415  (a process of its own)

    client = client_for(url)
    table = create_bench_table(client)
    key = {"pk": {"S": "WF#bench"}, "sk": {"S": "WF"}}
    for _ in range(50):  # the connection made, botocore's caches warm
        client.get_item(TableName=table, Key=key)
    answer.send("ready")
    answer.recv()
    started = time.process_time()
    for _ in range(calls):
        client.get_item(TableName=table, Key=key)
    answer.send(time.process_time() - started)
    client.delete_table(TableName=table)


def measure_call_cost(stack: LocalStack, calls: int) -> dict[str, float]:
    """CPU milliseconds of the cheapest AWS call, a GetItem of a small item through the stack's endpoint: the
    client's (botocore in a process of its own, as in a container) and the endpoint's (this process, whose other
    threads are idle meanwhile)."""
    spawn = multiprocessing.get_context("spawn")
    here, there = spawn.Pipe()
    child = spawn.Process(
        target=_get_items, args=(stack.endpoint_url, calls, there), name="bench-get-items", daemon=True
    )
    child.start()
    try:
        if not here.poll(120):
            raise RuntimeError("the GetItem process did not get ready within 120 s")
        here.recv()
        before = os.times()
        here.send("go")
        if not here.poll(600):
            raise RuntimeError("the GetItem process did not finish within 600 s")
        client_seconds = here.recv()
        after = os.times()
    finally:
        child.join(60)
    endpoint_seconds = (after.user + after.system) - (before.user + before.system)
    return {
        "client_cpu_ms": round(client_seconds * 1000 / calls, 2),
        "endpoint_cpu_ms": round(endpoint_seconds * 1000 / calls, 2),
    }


def measure_sdk(stack: LocalStack, workflows: int) -> dict[str, Any]:
    assert stack.runtime is not None
    client = Client(stack.url, TOKEN)
    queue = f"bench-sdk-{uuid.uuid4().hex[:6]}"
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    worker = spawn.Process(target=run_worker, args=(stack.url, queue, stop), name="bench-sdk-worker")
    worker.start()
    try:
        client.result(client.start_workflow("bench-three-steps", 0, queue=queue).workflow_execution_id, timeout=60)
        cold_starts = sum(pool.cold_starts for pool in stack.runtime.pools.values())
        first_seconds, _ = fan_out(stack, client, queue, workflows)
        started_containers = sum(pool.cold_starts for pool in stack.runtime.pools.values()) - cold_starts
        # Again, now that the first run has started the containers its concurrency needed: a developer's second run.
        assert worker.pid is not None and stack.aws_endpoint is not None
        endpoint_requests: Counter[str] = Counter()
        stack.aws_endpoint.request_hook = lambda request: endpoint_requests.update((request.service or "?",))
        cpu_before = cpu_usage(stack, worker.pid)
        cold_starts = sum(pool.cold_starts for pool in stack.runtime.pools.values())
        try:
            seconds, worker_requests = fan_out(stack, client, queue, workflows)
        finally:
            stack.aws_endpoint.request_hook = None
        cpu = cpu_per_task(cpu_before, cpu_usage(stack, worker.pid), workflows * 3)
        cpu["containers_started"] = sum(pool.cold_starts for pool in stack.runtime.pools.values()) - cold_starts
        sequential = []
        for _ in range(3):
            started = time.perf_counter()
            workflow_id = client.start_workflow("bench-ten-steps", 0, queue=queue).workflow_execution_id
            client.result(workflow_id, timeout=120, poll_interval=0.1)
            sequential.append(time.perf_counter() - started)
    finally:
        stop.set()
        worker.join(60)
    return {
        "workflows": workflows,
        "tasks": workflows * 3,
        "first_run_seconds": round(first_seconds, 2),
        "first_run_task_executions_per_second": round(workflows * 3 / first_seconds, 1),
        "containers_started_in_first_run": started_containers,
        "seconds": round(seconds, 2),
        "task_executions_per_second": round(workflows * 3 / seconds, 1),
        "worker_requests_per_task_execution": round(worker_requests / (workflows * 3), 2),
        "cpu_ms_per_task_execution": cpu,
        "endpoint_requests_per_task_execution": {
            service: round(number / (workflows * 3), 1) for service, number in endpoint_requests.most_common()
        },
        "ten_step_workflow_seconds": round(statistics.median(sequential), 2),
    }


def measure_batch(stack: LocalStack, executions: int) -> dict[str, Any]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    kind = f"bench-batch-{uuid.uuid4().hex[:6]}"
    for _ in range(executions):
        session.post(f"{stack.url}/v1/workflows", json={"kind": kind, "queue": "bench-batch"}).raise_for_status()
    time.sleep(0.002)  # the batch's snapshot (createdAt) is after the last start
    endpoint = stack.aws_endpoint
    runtime = stack.runtime
    assert endpoint is not None and runtime is not None
    counted: Counter[str] = Counter()

    def count(request: Any) -> None:
        owner = runtime.invocation_of(request.access_key_id or "")
        if owner is not None and owner[0] == "BatchRunnerFunction":
            counted[f"{request.service}:{request.operation}"] += 1

    endpoint.request_hook = count
    try:
        started = time.perf_counter()
        body = {"operation": "CANCEL", "filter": {"kind": kind}, "reason": "bench", "cascade": False}
        created = session.post(f"{stack.url}/v1/batches", json=body)
        created.raise_for_status()
        batch_id = created.json()["batchId"]
        while True:
            batch = session.get(f"{stack.url}/v1/batches/{batch_id}").json()
            if batch["status"] != "RUNNING":
                break
            if time.perf_counter() - started > 900:
                raise RuntimeError(f"batch {batch_id} still running after 900 s: {batch}")
            time.sleep(0.1)
        seconds = time.perf_counter() - started
    finally:
        endpoint.request_hook = None
    dynamodb = sum(number for name, number in counted.items() if name.startswith("dynamodb:"))
    return {
        "executions": executions,
        "status": batch["status"],
        "succeeded": batch["succeeded"],
        "seconds": round(seconds, 1),
        "executions_per_second": round(executions / seconds, 1),
        "runner_dynamodb_requests_per_execution": round(dynamodb / executions, 2),
        "runner_requests": dict(sorted(counted.items())),
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
        "| through the SDK (one worker in its own process, 8 task slots) | figure |",
        "|---|---:|",
        f"| {sdk['workflows']} workflows x 3 sequential tasks, first run (containers start as concurrency rises) | "
        f"{sdk.get('first_run_task_executions_per_second', '-')} task executions/s "
        f"({sdk.get('first_run_seconds', '-')} s, {sdk.get('containers_started_in_first_run', '-')} containers "
        "started) |",
        f"| the same again, on the containers the first run started | {sdk['task_executions_per_second']} task "
        f"executions/s ({sdk['seconds']} s) |",
        f"| the worker's requests per task execution there (worker API and submissions) | "
        f"{sdk.get('worker_requests_per_task_execution', '-')} |",
        f"| one workflow of 10 sequential tasks, start to result | {sdk['ten_step_workflow_seconds']} s |",
    ]
    cpu = sdk.get("cpu_ms_per_task_execution")
    if cpu:
        by_function = ", ".join(f"{name.removesuffix('Function')} {ms}" for name, ms in cpu["by_function"].items())
        lines += [
            "",
            "| CPU per task execution, the second run above | figure |",
            "|---|---:|",
            f"| the stack's process (front door, Runtime API, embedded endpoint, event sources), ms | "
            f"{cpu['stack_process']} |",
            f"| the Lambda containers ({by_function}), ms | {cpu['containers']} |",
            f"| the SDK worker, ms | {cpu['sdk_worker']} |",
            f"| all of it, ms | {cpu['total']} |",
            f"| task executions/s that CPU allows on {result['machine']['cpus']} CPUs doing nothing else | "
            f"{cpu['ceiling_task_executions_per_second']} |",
            f"| the same for the containers' CPU alone (an endpoint and a front door that cost nothing) | "
            f"{cpu['containers_only_ceiling_task_executions_per_second']} |",
        ]
    requests_per_task = sdk.get("endpoint_requests_per_task_execution")
    call = result.get("aws_call")
    if requests_per_task and call:
        total = round(sum(requests_per_task.values()), 1)
        services = ", ".join(f"{service} {number}" for service, number in requests_per_task.items())
        per_call = call["client_cpu_ms"] + call["endpoint_cpu_ms"]
        floor = total * per_call
        lines += [
            f"| AWS requests at the embedded endpoint per task execution ({services}) | {total} |",
            f"| CPU of the cheapest of them, a GetItem: in its client (botocore, a process of its own) + in the "
            f"endpoint, ms | {call['client_cpu_ms']} + {call['endpoint_cpu_ms']} |",
            f"| those requests at that price, and nothing else, ms | {round(floor, 1)} |",
            f"| task executions/s that allows on {result['machine']['cpus']} CPUs | "
            f"{_allowed(floor)} |",
        ]
    if result.get("batches"):
        lines += [
            "",
            "| CANCEL batch at 50/s | seconds to COMPLETED | executions/s | batch runner's DynamoDB requests per "
            "execution |",
            "|---|---:|---:|---:|",
        ]
        for row in result["batches"]:
            lines.append(
                f"| {row['executions']} executions | {row['seconds']} | {row['executions_per_second']} | "
                f"{row['runner_dynamodb_requests_per_execution']} |"
            )
    return "\n".join(lines)


BEFORE = """Before the changes described in docs/local-stack.md ("Speed"), the same measures on this machine gave:
`GET /v1/health` 48 ms at p50, a workflow poll 137 ms, a submit 92 ms, a task poll 132 ms, a task complete 124 ms
(the handlers' own time 28, 15, 22 and 22 ms); through the SDK 1.3 task executions/s for 30 workflows x 3 tasks and
7.3 s for one workflow of 10 sequential tasks; a 1,000-execution batch 228 s; `make test` 21 minutes."""

COMBINED_CALLS = """Combined calls and concurrent activations in the SDK, measured back to back with the code
before them (QUICK profile, no batches, both while the machine was shared at a load average of 13-14 on 2 CPUs):
10 workflows x 3 tasks went from 6.17 to 4.23 worker requests per task execution (worker API and submissions:
-31 %), at 2.2 task executions/s before and 1.4 after; one 10-step workflow took 3.54 s before and 4.82 s after.
Repeated runs on that machine spread over 2.0-2.3 task executions/s and 4.2-9.4 s for the 10 steps, with one or
four concurrent activations alike: the speed difference is within the noise of the shared machine, the request
count is not."""

WHERE_THE_TIME_GOES = """Where the time goes (the 10 x 3 measure, with a timestamp around every request at the
embedded endpoint, the runtime's handler timings, and cProfile around moto's processing under the endpoint's lock):

- **The embedded endpoint's one lock is the bottleneck.** moto's processing under it adds up to 60-65 % of the wall
  time (about 10 s of 16 s), for about 20 DynamoDB requests per task execution (per task: 7.6 Query, 7 GetItem,
  3 UpdateItem, 2.5 TransactWriteItems) besides the local event sources' Streams `GetRecords` and SQS
  `ReceiveMessage` polls (another 14-20 per task). With four activations and eight tasks in flight a request waits for
  the lock three to four times as long as it holds it, so more concurrency in the worker adds no throughput here; it
  does in AWS, where DynamoDB serves requests in parallel.
- **Inside moto**, a third of the time under the lock was its model-driven response serializer
  (`moto/core/serialize.py`, 113,000 member visits for 1,000 answers), and an eighth was finding the backend for each
  request's host (listing moto's package directory and matching every service's URL patterns), which the endpoint
  now remembers per host; an `UpdateItem` held the lock 20 ms, a `Query` 8 ms, a `GetItem` 7 ms. The endpoint now
  renders DynamoDB's item answers without that serializer, parses an update expression once per text and validates
  it in fewer walks, and builds items in linear time (docs/local-stack.md, "Speed").
- **The handlers** spend their time waiting on those requests: a claiming poll is a `Query` of the dispatch index and
  a conditional `UpdateItem` (and, for a workflow, the history `Query`), 75-110 ms in the handler on the loaded
  machine against 8-15 ms for an empty poll; a submission is 35-60 ms.
- **The front door and the runtime** add 2-8 ms per request: not where the time goes.

The embedded endpoint's own cost, measured back to back on the code before and after those changes (the 10 x 3
measure and three 10-step workflows; the CPU time of the thread serving each request, taken around moto's processing
under the lock, so that it does not depend on the machine's load, which was 21-28 on 2 CPUs for both runs):

| request | CPU ms under the lock, before | after |
|---|---:|---:|
| `GetItem` | 6.0 | 2.6 |
| `UpdateItem` | 11.9 | 5.7 |
| `Query` | 4.5 | 3.1 |
| `TransactWriteItems` | 6.3 | 5.2 |
| Streams `GetRecords` (unchanged) | 1.9 | 1.7 |
| SQS `ReceiveMessage` (unchanged) | 2.1 | 1.9 |
| all requests of the measure | 13.7 s | 8.2 s |

The lock is held 40 % less for the same work. At that load the wall-clock figures say little (10 x 3 took 56 s before
and 35 s after, the 10 steps 44 s and 24 s); what is left under the lock is moto's request parsing and Flask dispatch
(1-2 ms on every request), its expression evaluation, and index queries that still look at every item of the table.

The levers left: fewer reads per claim (the dispatch index projecting what the claim's answer needs), fewer requests
per task execution (the combined calls take the worker from 6 to about 2 per task while a backlog lasts), and an
index for moto's index queries."""


WHAT_LIMITS_IT_NOW = """What limits it now (a profile of the SDK measure's second run, after the changes above and three
more: every PynamoDB model of a container shares one connection, so a cold container builds one botocore client
instead of fourteen; the endpoint hands DynamoDB requests to moto's view without the Flask app around it, about 1 ms
less per request; and an index query projects its items without moto's JSON round trip per attribute, 0.5 → 0.05 ms
per item. Before these, the writes above took 38, 100, 62, 88 and 75 ms at p50, the SDK measure ran at 2.9 task
executions/s and the 10 steps took 4.5 s):

- **The stack's own process is the ceiling.** It serves the front door, the runtime's Runtime API, the embedded
  endpoint and the event sources, and it runs at about 85 % of one CPU for the whole measure, while the Lambda
  containers together use about 40 % of the other (the SDK worker, in its own process, 5 %). One Python process
  holds one lock on moto and one GIL, so more concurrency in the worker adds nothing.
- **In that process** (samples holding the GIL): the endpoint's HTTP server (werkzeug's request parsing and
  response writing) 16 %, `Query` 15 %, `UpdateItem` 15 % (half of it moto parsing the condition expression),
  the other requests (Streams `GetRecords`, SQS, request dispatch) 14 %, and the stream consumers' client side
  (botocore parsing the records) 13 %.
- **Per task execution** the endpoint serves about 23 requests: 2.6 `Query`, 2.0 `UpdateItem`, 1.3 `GetItem` and
  1.3 `TransactWriteItems` for the submissions; 2.1 `UpdateItem`, 2.0 `GetItem`, 1.8 `Query` and 1.0
  `TransactWriteItems` for the worker API; 2.8 Streams `GetRecords` and 1.5 SQS `ReceiveMessage` for the event
  sources; the rest for the caller's result polls, the outbox and the sweeper. Every API request already makes the
  design's minimum (docs/benchmarks.md, "Per operation").
- **The first run** starts 12-13 containers (WorkerApi and SubmitWorkflowCommands grow to 8 each as the worker's
  concurrency rises), each a cold start of about a second of CPU on a machine that has two: hence the two figures.
- **In the handlers** botocore's client side is about 60 % of each AWS call's CPU (signing, event hooks, parsing);
  it runs in parallel in the containers, so it shows in latency (a sequential workflow's step is four requests on
  the critical path, about 330 ms), not in throughput.

50 task executions per second would need the endpoint to serve those 23 requests in about 20 ms together, under
1 ms each; moto takes 2-5 ms of CPU for each, its HTTP server included. The goals of this page are not met on
moto."""


KEEP_ALIVE = """Connections kept open (measured back to back, `--no-batches`, two runs each: on this shared machine
the same code's figures vary by up to a fifth from one run to the next). The embedded endpoint answered every request
with `Connection: close` (werkzeug's development server does), so each AWS call of a container or an event source
opened a TCP connection and the endpoint started a thread for it; it now keeps them open, and a query no longer
deep-copies the items it answers with (docs/local-stack.md, "Speed"). The SDK measure's second run went from 4.2-4.3
to 5.1-5.3 task executions/s, the stack's process from 199-206 to 165-168 CPU ms per task execution, the containers
from 83-85 to 82, and the 10-step workflow from 3.9 to 3.2-3.5 s."""

THE_CEILING = """What the CPU figures above say about the aim of 50 task executions/s on 2 CPUs: it would need all the
work of a task execution to cost at most 40 ms of CPU (2 CPUs x 1,000 ms / 50). The measure spends about 260 ms,
and parts that no change to the local stack can take away cost more than 40 ms on their own:

- **The Lambda containers** spend about 80 ms per task execution (the four invocations a task takes: its claim, its
  completion, the workflow's claim and its submission), which alone allows about 24 per second. That CPU is the
  functions' own code with boto3, PynamoDB and Powertools, in processes of their own as Lambda runs them.
- **The AWS requests** a task execution makes, about 21 at the endpoint (the design's minimum per API request,
  docs/benchmarks.md, "Per operation", plus the event sources' reads), cost 2-2.5 ms of CPU each in botocore on the
  calling side alone, for the cheapest one (a GetItem), and as much again in moto: at that price and with nothing
  else, 17-21 per second.

So on this machine the aim is out of reach with boto3 clients and moto behind a Lambda-faithful runtime; it would
take an endpoint that is not moto and handlers that do not use botocore."""


def section(result: dict[str, Any]) -> str:
    machine = result["machine"]
    return "\n".join(
        [
            "## The local stack: how fast it is to develop on",
            "",
            f"Generated by `make bench-local` (`python -m bench.local_stack`, profile *{result['profile']}*) on "
            f"{machine['cpus']} CPUs, Python {machine['python']}; runtime: {result['runtime']}. Each request's time is "
            "split into the handler's own time (as the container's Runtime API saw it), the runtime's (a warm "
            "container found, the event there and the answer back) and the front door's (everything else: HTTP, "
            "routing, the API Gateway event). Raw numbers: `bench/local_results.json`.",
            "",
            result["markdown"],
            "",
            f"Load average while it ran: {result['load_average'][0]} before, {result['load_average'][1]} after "
            f"(on {machine['cpus']} CPUs, shared with other work), so the times above are indicative; the request "
            "counts are exact.",
            "",
            COMBINED_CALLS,
            "",
            WHERE_THE_TIME_GOES,
            "",
            WHAT_LIMITS_IT_NOW,
            "",
            KEEP_ALIVE,
            "",
            THE_CEILING,
            "",
            BEFORE,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, and a batch of 100 executions only")
    parser.add_argument("--no-batches", action="store_true", help="skip the batch measurements")
    args = parser.parse_args()
    samples, workflows = (20, 10) if args.quick else (200, 30)
    batch_sizes = () if args.no_batches else (100,) if args.quick else (100, 1000)
    os.environ.setdefault("STRATOFLOW_IDLE_SECONDS", "600")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stratoflow-bench-local-") as folder:
        log = Path(folder) / "containers.log"
        with LocalStack(ROOT / "template.yaml", tokens=f"bench:{TOKEN}", container_log=log) as stack:
            routes = measure_routes(stack, samples)
            sdk = measure_sdk(stack, workflows)
            aws_call = measure_call_cost(stack, 200 if args.quick else 1000)
            batches = [measure_batch(stack, size) for size in batch_sizes]
    result = {
        "profile": "quick" if args.quick else "full",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "runtime": "Lambda-faithful (awslambdaric processes), embedded endpoint",
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "routes": routes,
        "sdk": sdk,
        "aws_call": aws_call,
        "batches": batches,
        "markdown": "",
    }
    result["markdown"] = markdown(result)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    write_section(REPORT, "local-stack", section(result))
    print(result["markdown"])
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} and {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
