"""How cost grows: with history length (write path and poll), with cascade fan-out, with tasks to close.

Long histories are built with the domain's own `HistoryWriter` (99 events per transaction, uncounted) rather than
thousands of API round trips; everything measured afterwards goes through the handlers.
"""

from __future__ import annotations

from typing import Any

from bench.harness import TENANT, Harness, Sample
from bench.minimums import MINIMUMS, cascade_step_minimum, compare, ex, parent_close_minimum
from bench.operations import SIMPLE_COMMANDS
from bench.stats import group, summarize
from bench.workload import Worker, schedule_child, schedule_task

FANOUT = 10
EVENTS_PER_FIXTURE_TRANSACTION = 99


def append_events(harness: Harness, workflow_id: str, count: int) -> None:
    """Grow a history by `count` OPERATION_COMPLETED events, uncounted (a fixture, not a measurement)."""
    from stratoflow.dal.unit_of_work import UnitOfWork  # noqa: PLC0415
    from stratoflow.executions import HistoryWriter, require_execution  # noqa: PLC0415
    from stratoflow.services import runtime  # noqa: PLC0415

    with harness.meter.paused():
        written = 0
        while written < count:
            rt = runtime()
            execution = require_execution(rt.repo, TENANT, workflow_id)
            writer = HistoryWriter(execution, rt.now_ms())
            for number in range(written, min(count, written + EVENTS_PER_FIXTURE_TRANSACTION)):
                writer.append("OPERATION_COMPLETED", {"operationName": f"step-{number}", "result": {"ok": True}})
                written += 1
            unit = UnitOfWork()
            writer.stage(unit)
            rt.repo.commit(unit)


def history(harness: Harness, lengths: tuple[int, ...], cycles: int, cancels: int) -> dict[str, Any]:
    """Poll, submit, task cancel and workflow cancel on executions whose history holds `length` events."""
    results: dict[str, Any] = {}
    for length in lengths:
        harness.reset_table()
        workers = [Worker(harness, f"history-{length}-{k}") for k in range(cancels + 1)]
        ids = [worker.start() for worker in workers]
        for workflow_id in ids:
            append_events(harness, workflow_id, length - 1)  # WORKFLOW_STARTED is the first
        main = workers[0]
        for cycle in range(cycles + 1):
            measured = cycle > 0  # the first cycle creates the clients of the fresh table
            lease = main.poll(_label("poll workflow", length, measured))
            main.submit(lease, [schedule_task(f"h{length}-t{cycle}")], _label("submit SCHEDULE_TASK", length, measured))
            main.cancel_task(f"h{length}-t{cycle}", _label("cancel task", length, measured))
        for worker, workflow_id in zip(workers[1:], ids[1:], strict=True):
            worker.cancel(workflow_id, _label("workflow cancel", length, True))
        harness.clear_pending()
        results[str(length)] = _summaries(harness, length)
    return results


def _label(operation: str, length: int, measured: bool) -> str | None:
    return f"{operation} @ {length}" if measured else None


def _summaries(harness: Harness, size: int) -> dict[str, Any]:
    minimums = {
        "poll workflow": MINIMUMS["poll workflow"],
        "submit SCHEDULE_TASK": MINIMUMS["submit SCHEDULE_TASK"],
        "cancel task": MINIMUMS["cancel task"],
        "workflow cancel": [ex("GetItem", "WF"), ex("Tx", "WF", "EV")],
    }
    summaries = {}
    for label, samples in group(harness.samples).items():
        operation = label.rsplit(" @ ", 1)[0]
        summaries[operation] = summarize(operation, samples, minimums.get(operation))
    harness.samples.clear()
    return summaries


def _node_children(index: int, size: int) -> list[int]:
    first = index * FANOUT + 1
    return [child for child in range(first, first + FANOUT) if child <= size]


def build_tree(harness: Harness, worker: Worker, size: int) -> tuple[str, int]:
    """A root and `size` descendants, FANOUT children per node, breadth first; returns (root id, inner nodes).

    Only inner nodes are polled (leaves go to a queue of their own and stay PENDING, which is as live as WAITING).
    """
    ids = {0: worker.start()}
    index_of = {ids[0]: 0}
    inner = 0
    with harness.meter.paused():
        while True:
            lease = worker.try_poll()
            if lease is None:
                break  # every inner node has its children
            index = index_of[lease.workflow_id]
            commands = []
            for child in _node_children(index, size):
                ids[child] = f"{worker.queue}-n{child}"
                index_of[ids[child]] = child
                queue = worker.queue if _node_children(child, size) else f"{worker.queue}-leaves"
                commands.append({**schedule_child(f"n{child}", ids[child]), "queue": queue})
            inner += 1
            worker.submit(lease, commands)
    assert len(ids) == size + 1, f"built {len(ids) - 1} descendants instead of {size}"
    return ids[0], inner


def cascade(harness: Harness, sizes: tuple[int, ...]) -> dict[str, Any]:
    """Cancel the root of a tree with cascade; follow the stream until every descendant is CANCELLING."""
    results: dict[str, Any] = {}
    for size in sizes:
        harness.reset_table()
        worker = Worker(harness, f"tree-{size}")
        root, inner = build_tree(harness, worker, size)
        harness.clear_pending()
        harness.samples.clear()
        worker.cancel(root, "root")
        waves = 0
        while harness.pending.get("OutboxDispatcherFunction"):
            harness.deliver("step", "OutboxDispatcherFunction")
            waves += 1
        samples = list(harness.samples)
        harness.samples.clear()
        results[str(size)] = _cascade_summary(samples, size, inner, waves)
    return results


def _cascade_summary(samples: list[Sample], size: int, inner: int, waves: int) -> dict[str, Any]:
    calls = [call for sample in samples for call in sample.calls if call.service == "dynamodb"]
    requested = sum(
        1 for call in calls if call.operation == "TransactWriteItems" for item in call.items if item.kind == "EV"
    )
    assert requested == size + 1, f"cascade reached {requested - 1} of {size} descendants"
    expected = [ex("GetItem", "WF"), ex("Tx", "WF", "EV", "OUTBOX:CASCADE")]
    for node in range(inner):
        children = _node_children(node, size)
        expected += cascade_step_minimum(0)[:1]
        for child in children:
            grandchildren = bool(_node_children(child, size))
            kinds = ("WF", "EV", "OUTBOX:CASCADE") if grandchildren else ("WF", "EV")
            expected += [ex("GetItem", "WF"), ex("Tx", *kinds)]
        expected += cascade_step_minimum(0)[1:]
    comparison = compare(expected, [call for sample in samples for call in sample.calls])
    seconds = sum(sample.seconds for sample in samples)
    return {
        "descendants": size,
        "inner_nodes": inner,
        "stream_invocations": len(samples) - 1,
        "waves": waves,
        "dynamodb_requests": len(calls),
        "requests_per_descendant": round(len(calls) / size, 3),
        "minimum_requests": comparison.minimum_requests,
        "minimum_requests_per_descendant": round(comparison.minimum_requests / size, 3),
        "request_ratio": round(comparison.request_ratio or 0.0, 3),
        "capacity_ratio": round(comparison.capacity_ratio or 0.0, 3),
        "rru": round(comparison.actual.rru, 1),
        "wru": round(comparison.actual.wru, 1),
        "gsi_wru": round(comparison.actual.gsi_wru, 1),
        "units_per_descendant": round(
            (comparison.actual.rru + comparison.actual.wru + comparison.actual.gsi_wru) / size, 2
        ),
        "handler_seconds": round(seconds, 3),
        "extra": sorted(set(comparison.extra)),
    }


def parent_close(harness: Harness, task_counts: tuple[int, ...]) -> dict[str, Any]:
    """Complete a workflow that ran `n` tasks; measure its close follow-up (flow 7) from the stream."""
    results: dict[str, Any] = {}
    for count in task_counts:
        harness.reset_table()
        worker = Worker(harness, f"close-{count}")
        worker.start()
        with harness.meter.paused():
            lease = worker.poll()
            scheduled = 0
            while scheduled < count:
                batch = min(25, count - scheduled)
                worker.submit(lease, [schedule_task(f"{worker.queue}-t{scheduled + n}") for n in range(batch)])
                scheduled += batch
                for _ in range(batch):
                    worker.run_one_task()
                lease = worker.poll()
        worker.submit(lease, [SIMPLE_COMMANDS["COMPLETE_WORKFLOW"]], "complete")
        harness.deliver("close")
        samples = group(harness.samples)
        harness.samples.clear()
        close = summarize("parent close (stream)", samples["close"], parent_close_minimum())
        results[str(count)] = {
            "tasks": count,
            "complete": summarize("submit COMPLETE_WORKFLOW (spawned)", samples["complete"], None),
            "close": close,
        }
    return results
