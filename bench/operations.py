"""Every API operation, command kind and asynchronous step, measured in realistic sequences.

Each procedure runs a short story on its own queue (start, poll, submit, ...) and labels the steps it measures;
unlabelled steps are set-up. A workflow only becomes ready again when someone else appends an event, so commands that
need an earlier one (cancel a task, a timer or a child) schedule a second "wake" task with it and complete that task
before polling again. Stream follow-ups are delivered, one record per invocation, right after the step that caused
them, under their own labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.harness import Harness, Sample
from bench.workload import Worker, schedule_child, schedule_task, start_timer

SIMPLE_COMMANDS: dict[str, dict[str, Any]] = {
    "RECORD_OPERATION": {"type": "RECORD_OPERATION", "operationName": "charge", "result": {"ok": True, "id": "c-1"}},
    "SET_STATE": {"type": "SET_STATE", "key": "stage", "value": {"name": "charged", "attempts": 1}},
    "CLEAR_STATE": {"type": "CLEAR_STATE", "key": "stage"},
    "COMPLETE_WORKFLOW": {"type": "COMPLETE_WORKFLOW", "output": {"ok": True, "receipt": "r-12345"}},
    "FAIL_WORKFLOW": {"type": "FAIL_WORKFLOW", "error": {"code": "DECLINED", "message": "card declined"}},
    "CANCEL_WORKFLOW": {"type": "CANCEL_WORKFLOW", "reason": "benchmark"},
    "SUSPEND_WORKFLOW": {"type": "SUSPEND_WORKFLOW", "reason": "benchmark"},
}


class Procedures:
    def __init__(self, harness: Harness, run: str) -> None:
        self.harness = harness
        self.run = run

    def worker(self, name: str) -> Worker:
        return Worker(self.harness, f"q-{self.run}-{name}")

    def all(self) -> list[Callable[[], None]]:
        simple = [self._simple(kind) for kind in SIMPLE_COMMANDS]
        return [
            *simple,
            self.no_commands,
            self.schedule_task_and_cancel_it,
            self.start_timer_and_fire_it,
            self.schedule_child,
            self.request_cancel_task,
            self.cancel_timer,
            self.request_cancel_child,
            self.complete_child,
            self.complete_spawned,
            self.cancel_with_cascade,
            self.nothing_ready,
            self.token_lookup,
        ]

    # ------------------------------------------------------------ one command, no prerequisite

    def _simple(self, kind: str) -> Callable[[], None]:
        def procedure() -> None:
            worker = self.worker(kind.lower())
            workflow_id = worker.start("start workflow")
            worker.read(workflow_id, "read workflow")
            lease = worker.poll("poll workflow")
            worker.submit(lease, [SIMPLE_COMMANDS[kind]], f"submit {kind}")

        return procedure

    def no_commands(self) -> None:
        worker = self.worker("empty")
        worker.start("start workflow")
        worker.submit(worker.poll("poll workflow"), [], "submit (no commands)")

    def schedule_task_and_cancel_it(self) -> None:
        worker = self.worker("task")
        worker.start("start workflow")
        lease = worker.poll("poll workflow")
        worker.submit(lease, [schedule_task(f"{worker.queue}-t")], "submit SCHEDULE_TASK")
        task_id, _ = worker.poll_task("task poll")
        worker.cancel_task(task_id, "cancel task")

    def start_timer_and_fire_it(self) -> None:
        worker = self.worker("timer")
        workflow_id = worker.start("start workflow")
        lease = worker.poll("poll workflow")
        answer = worker.submit(lease, [start_timer("t-1")], "submit START_TIMER")
        self.harness.deliver("timer schedule create (stream)")
        fire_at = answer["events"][0]["data"]["fireAt"]
        self.harness.fire_timer(workflow_id, "t-1", fire_at, "fire timer")
        self.harness.deliver("timer schedule delete after fire (stream)")

    def schedule_child(self) -> None:
        worker = self.worker("child")
        worker.start("start workflow")
        lease = worker.poll("poll workflow")
        child = schedule_child("shipment", f"{worker.queue}-c")
        worker.submit(lease, [{**child, "queue": f"{worker.queue}-children"}], "submit SCHEDULE_CHILD_WORKFLOW")

    # ------------------------------------------------------------ commands that need an earlier one

    def _woken(self, worker: Worker, earlier: list[dict[str, Any]]) -> str:
        """Start, submit `earlier` with a wake task, run the wake task, poll again; the lease of the second poll."""
        workflow_id = worker.start("start workflow")
        lease = worker.poll("poll workflow")
        worker.submit(lease, [*earlier, schedule_task(f"{worker.queue}-wake")])
        self.harness.deliver("timer schedule create (stream)")
        task_id, task_lease = worker.poll_task("task poll")
        worker.heartbeat(task_id, task_lease, "task heartbeat")
        worker.complete(task_id, task_lease, "task complete")
        return workflow_id

    def request_cancel_task(self) -> None:
        worker = self.worker("rct")
        task_id = f"{worker.queue}-t"
        self._woken(worker, [schedule_task(task_id, queue=f"{worker.queue}-other")])
        command = {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": task_id, "reason": "benchmark"}
        worker.submit(worker.poll("poll workflow"), [command], "submit REQUEST_CANCEL_TASK")

    def cancel_timer(self) -> None:
        worker = self.worker("ct")
        self._woken(worker, [start_timer("t-1")])
        worker.submit(worker.poll("poll workflow"), [{"type": "CANCEL_TIMER", "timerId": "t-1"}], "submit CANCEL_TIMER")
        self.harness.deliver("timer schedule delete after cancel (stream)")

    def request_cancel_child(self) -> None:
        worker = self.worker("rcc")
        child_id = f"{worker.queue}-c"
        self._woken(worker, [{**schedule_child("shipment", child_id), "queue": f"{worker.queue}-children"}])
        command = {
            "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
            "childExecutionName": "shipment",
            "childWorkflowExecutionId": child_id,
            "reason": "benchmark",
        }
        worker.submit(worker.poll("poll workflow"), [command], "submit REQUEST_CANCEL_CHILD_WORKFLOW")
        self.harness.deliver("child cancel propagation (stream)")

    def complete_child(self) -> None:
        worker = self.worker("cc")
        worker.start("start workflow")
        worker.submit(worker.poll("poll workflow"), [schedule_child("shipment", f"{worker.queue}-c")])
        child = worker.poll("poll workflow")
        worker.submit(child, [SIMPLE_COMMANDS["COMPLETE_WORKFLOW"]], "submit COMPLETE_WORKFLOW (child)")

    def complete_spawned(self) -> None:
        worker = self.worker("close")
        worker.start("start workflow")
        worker.submit(worker.poll("poll workflow"), [schedule_task(f"{worker.queue}-t")], "submit SCHEDULE_TASK")
        worker.run_one_task("task poll", "task complete")
        lease = worker.poll("poll workflow")
        worker.submit(lease, [SIMPLE_COMMANDS["COMPLETE_WORKFLOW"]], "submit COMPLETE_WORKFLOW (spawned)")
        self.harness.deliver("parent close (stream)")

    def cancel_with_cascade(self) -> None:
        worker = self.worker("cascade")
        workflow_id = worker.start("start workflow")
        children = [
            {**schedule_child(f"part-{n}", f"{worker.queue}-c{n}"), "queue": f"{worker.queue}-children"}
            for n in range(2)
        ]
        worker.submit(worker.poll("poll workflow"), children)
        worker.cancel(workflow_id, "workflow cancel (cascade)")
        self.harness.deliver("cascade step (stream)")

    def nothing_ready(self) -> None:
        self.worker("idle").poll_nothing("poll workflow (nothing ready)")

    def token_lookup(self) -> None:
        self.harness.look_up_token("token lookup (read workflow)")


def measure_operations(harness: Harness, iterations: int, table_every: int) -> list[Sample]:
    """Run every procedure `iterations` times (after one warm-up round); return the labelled samples."""
    for iteration in range(-1, iterations):
        if iteration >= 0 and iteration % table_every == 0:
            harness.reset_table()
        if iteration == 0:
            harness.samples.clear()  # the warm-up round creates clients and fills caches
        for procedure in Procedures(harness, f"i{iteration}").all():
            procedure()
            harness.clear_pending()
    samples = list(harness.samples)
    harness.samples.clear()
    return samples
