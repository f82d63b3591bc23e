"""End-to-end shapes the cost model prices: every invocation and request of a whole flow, stream steps included."""

from __future__ import annotations

from typing import Any

from bench.harness import Harness, Sample
from bench.operations import SIMPLE_COMMANDS
from bench.workload import Lease, Worker, schedule_task, start_timer

TASKS_PER_WORKFLOW = 10
#: Workflows in flight at once in the combined-calls flow: the backlog a busy worker drains.
BACKLOG = 10
#: The SDK's default `poll_interval`: an idle worker's two pollers each poll this often.
IDLE_POLL_SECONDS = 0.2
SEQUENTIAL = "sequential tasks"
COMBINED = "sequential tasks, combined calls"
EMPTY_POLLS = "empty polls"


def sequential_tasks(harness: Harness, run: str, tasks: int = TASKS_PER_WORKFLOW) -> None:
    """A workflow that runs `tasks` tasks one after the other, then completes (and is closed from the stream).

    Every request the SDK's worker makes for it: a poller re-polls at once after each claim, so each claimed workflow
    and each claimed task is followed by an empty poll (its reports stay plain: no backlog).
    """
    label = f"flow: {SEQUENTIAL}"
    worker = Worker(harness, f"flow-tasks-{run}")
    worker.start(label)
    for number in range(tasks):
        lease = worker.poll(label)
        worker.poll_nothing(label)
        worker.submit(lease, [schedule_task(f"{worker.queue}-t{number}")], label)
        worker.run_one_task(label, label)
        worker.poll_task_nothing(label)
    lease = worker.poll(label)
    worker.poll_nothing(label)
    worker.submit(lease, [SIMPLE_COMMANDS["COMPLETE_WORKFLOW"]], label)
    harness.deliver(label)


def sequential_tasks_combined(
    harness: Harness, run: str, tasks: int = TASKS_PER_WORKFLOW, workflows: int = BACKLOG
) -> None:
    """`workflows` workflows of `tasks` sequential tasks, drained by a busy worker with combined calls.

    Each round: one poll claims the first ready execution, each submission claims the next (the last finds none), and
    the poller's poll after the chain comes back empty; then the same for the tasks with completions. Per task that is
    one submission and one completion, plus 4 / `workflows` requests for the polls at the ends of the chains.
    """
    label = f"flow: {COMBINED}"
    worker = Worker(harness, f"flow-combined-{run}")
    for _ in range(workflows):
        worker.start(label)
    for number in range(tasks + 1):
        lease: Lease | None = worker.poll(label)
        while lease is not None:
            last = number == tasks
            command = SIMPLE_COMMANDS["COMPLETE_WORKFLOW"] if last else schedule_task(f"{lease.workflow_id}-t{number}")
            lease = worker.submit_and_poll(lease, [command], label)
        worker.poll_nothing(label)
        if number == tasks:
            break
        claimed: tuple[str, str] | None = worker.poll_task(label)
        while claimed is not None:
            claimed = worker.complete_and_poll(*claimed, label)
        worker.poll_task_nothing(label)
    harness.deliver(label)


def empty_polls(harness: Harness, run: str) -> None:
    """One round of an idle worker's pollers: a workflow poll and a task poll, both empty."""
    label = f"flow: {EMPTY_POLLS}"
    worker = Worker(harness, f"flow-idle-{run}")
    worker.poll_nothing(label)
    worker.poll_task_nothing(label)


def workflow_cancellation(harness: Harness, run: str) -> None:
    """Cancel a workflow that has a running task and a started timer; its code cleans up and ends CANCELLED."""
    label = "flow: workflow cancellation"
    worker = Worker(harness, f"flow-wfc-{run}")
    workflow_id = worker.start()
    task_id = f"{worker.queue}-t"
    worker.submit(worker.poll(), [schedule_task(task_id), start_timer("t-1")])
    harness.deliver(None)
    worker.poll_task()
    worker.cancel(workflow_id, label)
    lease = worker.poll(label)
    cleanup = [
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": task_id, "reason": "workflow cancelled"},
        {"type": "CANCEL_TIMER", "timerId": "t-1"},
        SIMPLE_COMMANDS["CANCEL_WORKFLOW"],
    ]
    worker.submit(lease, cleanup, label)
    harness.deliver(label)


def task_cancellation(harness: Harness, run: str) -> None:
    """Cancel a running task through the API; its workflow is woken, sees TASK_CANCELLED and goes on waiting."""
    label = "flow: task cancellation"
    worker = Worker(harness, f"flow-tc-{run}")
    worker.start()
    task_id = f"{worker.queue}-t"
    worker.submit(worker.poll(), [schedule_task(task_id)])
    worker.poll_task()
    worker.cancel_task(task_id, label)
    worker.submit(worker.poll(label), [], label)


def measure_flows(harness: Harness, runs: int) -> dict[str, Any]:
    harness.reset_table()
    for run in range(runs):
        sequential_tasks(harness, f"r{run}")
        sequential_tasks_combined(harness, f"r{run}")
        empty_polls(harness, f"r{run}")
        workflow_cancellation(harness, f"r{run}")
        task_cancellation(harness, f"r{run}")
        harness.clear_pending()
    grouped: dict[str, list[Sample]] = {}
    for sample in harness.samples:
        grouped.setdefault(sample.label, []).append(sample)
    harness.samples.clear()
    memory = {info.logical_id: info.memory_mb for info in harness.template.functions.values()}
    return {label.removeprefix("flow: "): _totals(samples, runs, memory) for label, samples in grouped.items()}


def _totals(samples: list[Sample], runs: int, memory: dict[str, int]) -> dict[str, Any]:
    """Per run of the flow: invocations by trigger, DynamoDB units, Lambda GB-seconds, log bytes."""
    api = [sample for sample in samples if sample.function not in _NON_API]
    calls = [call for sample in samples for call in sample.calls]
    dynamo = [call for call in calls if call.service == "dynamodb"]
    return {
        "runs": runs,
        "api_requests": len(api) / runs,
        "lambda_invocations": len(samples) / runs,
        "stream_invocations": sum(1 for sample in samples if sample.function in _STREAM) / runs,
        "dynamodb_requests": len(dynamo) / runs,
        "scheduler_requests": sum(1 for call in calls if call.service == "scheduler") / runs,
        "rru": sum(call.rru for call in dynamo) / runs,
        "wru": sum(call.wru + call.gsi_wru for call in dynamo) / runs,
        "gsi_wru": sum(call.gsi_wru for call in dynamo) / runs,
        "lambda_seconds": sum(sample.seconds for sample in samples) / runs,
        "aws_seconds": sum(sample.aws_seconds for sample in samples) / runs,
        "gb_seconds": sum(sample.seconds * memory[sample.function] / 1024 for sample in samples) / runs,
        "log_bytes": sum(sample.log_bytes for sample in samples) / runs,
    }


_STREAM = frozenset({"OutboxDispatcherFunction", "PropagateChildCancelFunction"})
_NON_API = _STREAM | {"FireTimerFunction", "SweeperFunction", "AuthorizerFunction"}
