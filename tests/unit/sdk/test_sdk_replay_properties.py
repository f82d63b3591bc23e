"""Property tests: generated workflow programs run against the fake server under generated interleavings.

Whatever order tasks complete, fail or get cancelled in, timers fire in, and whenever the workflow is asked to cancel:
* every submission is exactly what replaying the history the worker had at that poll produces;
* replaying *any* prefix of the final history never raises and never produces a command that conflicts with the
  history that follows (its new commands are the next ones the history actually recorded);
* replaying the whole history of a finished execution adds nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sdk_harness import Harness
from sdk_workflows import program
from stratoflow_sdk import HistoryEvent, replay_history
from stratoflow_sdk._definitions import workflow_definition
from stratoflow_sdk._history import POSITIONAL_COMMANDS, POSITIONAL_EVENTS, command_matches_event, is_resume_timer
from stratoflow_sdk._submission import MAX_COMMANDS_PER_SUBMISSION, plan_submission

STEPS = st.one_of(
    st.fixed_dictionaries({"op": st.just("task")}),
    st.fixed_dictionaries({"op": st.just("sleep"), "seconds": st.integers(1, 5)}),
    st.fixed_dictionaries({"op": st.just("join"), "n": st.integers(1, 3)}),
    st.fixed_dictionaries({"op": st.just("select"), "seconds": st.integers(1, 5),
                           "branches": st.lists(st.sampled_from(["task", "timer", "child"]), min_size=2, max_size=3)}),
    st.fixed_dictionaries({"op": st.just("timeout"), "seconds": st.integers(1, 5)}),
    st.fixed_dictionaries({"op": st.just("child")}),
    st.fixed_dictionaries({"op": st.just("operation")}),
    st.fixed_dictionaries({"op": st.just("state")}),
    st.fixed_dictionaries({"op": st.just("fanout"), "n": st.integers(20, 30)}),
)
PROGRAMS = st.lists(STEPS, min_size=1, max_size=5)


def actions(h: Harness, root: str, cancelled: bool) -> list[tuple[Any, ...]]:
    """What could happen next in the world."""
    server = h.server
    found: list[tuple[Any, ...]] = []
    if any(server.ready(e) for e in server.executions):
        found.append(("activate",))
    for task in h.pending_tasks():
        found += [("complete", task.id), ("fail", task.id), ("cancel-task", task.id)]
    for timer in server.started_timers():
        found.append(("fire", timer.execution_id, timer.timer_id))
    if not cancelled and server.execution(root).status not in ("COMPLETED", "FAILED", "CANCELLED", "CANCELLING"):
        found.append(("cancel-workflow",))
    return found


def perform(h: Harness, root: str, action: tuple[Any, ...]) -> None:
    kind = action[0]
    if kind == "activate":
        h.activate()
    elif kind == "complete":
        h.complete(action[1], h.server.tasks[action[1]].input)
    elif kind == "fail":
        h.fail(action[1], {"type": "Boom", "message": "generated failure"})
    elif kind == "cancel-task":
        h.client.cancel_task(action[1], reason="generated")
    elif kind == "fire":
        h.fire(action[1], action[2])
    elif kind == "cancel-workflow":
        h.client.cancel_workflow(root, reason="generated")


def finish(h: Harness) -> None:
    """Let the world run to the end: activate, complete every task, fire every timer."""
    for _ in range(400):
        if any(h.server.ready(e) for e in h.server.executions):
            h.activate()
        elif h.pending_tasks():
            task = h.pending_tasks()[0]
            h.complete(task.id, task.input)
        elif h.server.started_timers():
            timer = h.server.started_timers()[0]
            h.fire(timer.execution_id, timer.timer_id)
        else:
            return
    raise AssertionError("the simulation did not settle")


def positional_events(run: str, events: list[dict[str, Any]]) -> list[HistoryEvent]:
    parsed = [HistoryEvent.from_json(e) for e in events]
    return [e for e in parsed if e.type in POSITIONAL_EVENTS
            and not (e.type == "TIMER_STARTED" and is_resume_timer(run, str(e.data["timerId"])))]


def check_execution(h: Harness, run: str) -> None:
    execution = h.server.execution(run)
    workflow = h.workflows[execution.kind]
    events = h.history(run)

    # Each submission is what replaying the history handed to the worker produces.
    for activation in h.activations(run):
        prefix = events[: activation["historyLength"]]
        result = replay_history(workflow, prefix, execution_id=run)
        if any(c["type"] == "RECORD_OPERATION" for c in result.commands):
            continue  # an operation that is new in this prefix runs again and draws another random number
        planned = plan_submission(result.commands, execution_id=run, resume_timers=result.resume_timers)
        assert planned == activation["commands"]
        assert len(planned) <= MAX_COMMANDS_PER_SUBMISSION

    # Any prefix replays without error, and its new commands are the history's next ones.
    recorded = positional_events(run, events)
    for cut in range(1, len(events) + 1):
        result = replay_history(workflow, events[:cut], execution_id=run)
        matched = len(positional_events(run, events[:cut]))
        new = [c for c in result.commands if c["type"] in POSITIONAL_COMMANDS]
        for command, event in zip(new, recorded[matched:], strict=False):
            if command["type"] == "RECORD_OPERATION" and event.type == "OPERATION_COMPLETED":
                assert command["operationName"] == event.data["operationName"]
            else:
                assert command_matches_event(command, event), (cut, command, event)

    if execution.status in ("COMPLETED", "FAILED", "CANCELLED"):
        final = replay_history(workflow, events, execution_id=run)
        assert final.commands == []
        assert final.finished


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=PROGRAMS, data=st.data())
def test_replay_is_consistent_under_any_interleaving(steps: list[dict[str, Any]], data: st.DataObject) -> None:
    h = Harness()
    root = h.start("program", steps)
    cancelled = False
    for _ in range(40):
        possible = actions(h, root, cancelled)
        if not possible:
            break
        action = possible[data.draw(st.integers(0, len(possible) - 1), label="action")]
        cancelled = cancelled or action[0] == "cancel-workflow"
        perform(h, root, action)
    finish(h)

    assert h.server.execution(root).status in ("COMPLETED", "FAILED", "CANCELLED")
    for run in list(h.server.executions):
        check_execution(h, run)


@settings(max_examples=25, deadline=None)
@given(steps=PROGRAMS)
def test_a_program_left_alone_completes_with_one_result_per_step(steps: list[dict[str, Any]]) -> None:
    h = Harness()
    root = h.start("program", steps)
    finish(h)
    execution = h.server.execution(root)
    assert execution.status == "COMPLETED"
    assert len(execution.output) == len(steps)
    assert workflow_definition(program).kind == "program"
