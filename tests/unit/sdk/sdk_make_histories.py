"""Regenerates the golden histories under histories/ (run by hand, then review the diff).

    cd /work/main && PYTHONPATH=sdk/src:tests/unit/sdk .venv/bin/python tests/unit/sdk/sdk_make_histories.py

Each scenario drives one workflow through the fake server with scripted task outcomes, timer firings and cancel
requests. A fixture holds the final history and, for every submission, how much history the worker had been given
and the commands it sent; test_sdk_golden_histories replays each prefix and must reproduce those commands exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sdk_harness import Harness

HERE = Path(__file__).parent / "histories"


def _task_ids(h: Harness, execution_id: str) -> list[str]:
    return [t.id for t in h.pending_tasks(execution_id)]


def join_all_scenario(h: Harness) -> tuple[str, str]:
    run = h.start("join-all", [1, 2, 3])
    h.activate()
    first, second, third = _task_ids(h, run)
    h.complete(third, 6)
    h.complete(first, 2)
    h.activate()
    h.complete(second, 4)
    h.activate()
    return run, "join_all of three tasks completing out of order; the sum is returned once all are done"


def select_task_loser(h: Harness) -> tuple[str, str]:
    run = h.start("select-tasks")
    h.activate()
    _, b = _task_ids(h, run)
    h.complete(b, "from-b")
    h.activate()
    return run, "select(task a, task b): b completes first, so b wins and a (still pending) gets REQUEST_CANCEL_TASK"


def select_winner_by_sequence(h: Harness) -> tuple[str, str]:
    run = h.start("select-tasks")
    h.activate()
    a, b = _task_ids(h, run)
    h.complete(b, "from-b")
    h.complete(a, "from-a")
    h.activate()
    return run, ("select(task a, task b): both complete before the next activation, b first; the winner is b "
                 "(decided by event sequence, not argument position) and a, already closed, is not cancelled")


def select_timer_loser(h: Harness) -> tuple[str, str]:
    run = h.start("select-timer")
    h.activate()
    (work,) = _task_ids(h, run)
    h.complete(work, 42)
    h.activate()
    return run, "select(task, sleep(60)): the task wins and the timer gets CANCEL_TIMER"


def select_child_loser(h: Harness) -> tuple[str, str]:
    run = h.start("select-child")
    h.activate()  # the parent starts the child and a 30 s timer
    h.activate()  # the child starts its own 1 s timer
    (timer,) = h.server.started_timers(run)
    h.fire(run, timer.timer_id)
    h.activate()
    return run, ("select(child, sleep(30)): the timer fires first; the child gets "
                 "REQUEST_CANCEL_CHILD_WORKFLOW and the parent completes")


def timeout_fires(h: Harness) -> tuple[str, str]:
    run = h.start("timeout")
    h.activate()
    (timer,) = h.server.started_timers(run)
    h.fire(run, timer.timer_id)
    h.activate()
    return run, "with_timeout(task, 10): the timer fires first, the task gets REQUEST_CANCEL_TASK, TimeoutError"


def timeout_does_not_fire(h: Harness) -> tuple[str, str]:
    run = h.start("timeout")
    h.activate()
    (work,) = _task_ids(h, run)
    h.complete(work, "in-time")
    h.activate()
    return run, "with_timeout(task, 10): the task completes first and the timeout timer gets CANCEL_TIMER"


def cancel_with_shielded_cleanup(h: Harness) -> tuple[str, str]:
    run = h.start("order", {"sku": "B-1"})
    h.activate()
    (reserve,) = _task_ids(h, run)
    h.complete(reserve, "reserved")
    h.activate()
    h.client.cancel_workflow(run, reason="customer changed their mind")
    h.activate()  # the pending sleep is cancelled; the shielded scope schedules "release"
    (release,) = _task_ids(h, run)
    h.complete(release, "released")
    h.activate()  # still shielded: a 5 s timer
    (timer,) = h.server.started_timers(run)
    h.fire(run, timer.timer_id)
    h.activate()  # the CancelledError propagates: CANCEL_WORKFLOW
    return run, ("the workflow is asked to cancel while it sleeps: the timer is cancelled, the shielded cleanup "
                 "schedules a task and a timer after the request, and the re-raised CancelledError ends it CANCELLED")


def cancel_then_complete(h: Harness) -> tuple[str, str]:
    run = h.start("order-compensated", {"sku": "B-2"})
    h.activate()
    (reserve,) = _task_ids(h, run)
    h.complete(reserve, "reserved")
    h.activate()
    h.client.cancel_workflow(run, reason="stop")
    h.activate()
    (release,) = _task_ids(h, run)
    h.complete(release, "released")
    h.activate()
    return run, "the workflow catches the cancellation, cleans up in a shielded scope and returns: COMPLETE_WORKFLOW"


def cancel_before_first_activation(h: Harness) -> tuple[str, str]:
    run = h.start("order", {"sku": "B-3"})
    h.client.cancel_workflow(run, reason="too late")
    h.activate()
    return run, ("cancelled before any worker saw it: the code schedules its first task, is cancelled at once "
                 "(REQUEST_CANCEL_TASK in the same submission) and its shielded cleanup starts")


def operations_and_state(h: Harness) -> tuple[str, str]:
    run = h.start("operations")
    h.activate()
    (timer,) = h.server.started_timers(run)
    h.fire(run, timer.timer_id)
    h.activate()
    return run, "run_operation records a random value once; state set and cleared; now() and uuid4() replayed"


def fan_out_chunked(h: Harness) -> tuple[str, str]:
    run = h.start("fan-out", 30)
    h.activate()  # 24 tasks and a resume timer
    (resume,) = h.server.started_timers(run)
    h.fire(run, resume.timer_id)
    h.activate()  # the 6 remaining tasks
    for task in h.pending_tasks(run):
        h.complete(task.id, 2 * h.server.tasks[task.id].input)
    h.activate()
    return run, ("30 tasks in one activation: 24 and a resume timer go first; after it fires, replay regenerates "
                 "the 6 others; then the sum")


SCENARIOS: dict[str, Callable[[Harness], tuple[str, str]]] = {
    "join_all": join_all_scenario,
    "select_task_loser": select_task_loser,
    "select_winner_by_sequence": select_winner_by_sequence,
    "select_timer_loser": select_timer_loser,
    "select_child_loser": select_child_loser,
    "timeout_fires": timeout_fires,
    "timeout_does_not_fire": timeout_does_not_fire,
    "cancel_with_shielded_cleanup": cancel_with_shielded_cleanup,
    "cancel_then_complete": cancel_then_complete,
    "cancel_before_first_activation": cancel_before_first_activation,
    "operations_and_state": operations_and_state,
    "fan_out_chunked": fan_out_chunked,
}


def build(name: str) -> dict:
    harness = Harness()
    run, description = SCENARIOS[name](harness)
    execution = harness.server.execution(run)
    return {
        "description": description,
        "workflow": execution.kind,
        "workflowExecutionId": run,
        "queue": execution.queue,
        "finalStatus": execution.status,
        "activations": harness.activations(run),
        "events": harness.history(run),
    }


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name in SCENARIOS:
        (HERE / f"{name}.json").write_text(json.dumps(build(name), indent=2) + "\n")
        print("wrote", name)


if __name__ == "__main__":
    main()
