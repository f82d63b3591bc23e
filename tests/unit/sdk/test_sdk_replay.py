"""Replay semantics on hand-built histories: matching, non-determinism, cancellation, scopes and helpers."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import pytest
from sdk_history_builder import RUN, History
from stratoflow_sdk import (
    ApplicationError,
    ChildWorkflowCancelledError,
    ChildWorkflowFailedError,
    NonDeterminismError,
    ReplayError,
    TaskCancelledError,
    TaskFailedError,
    UnknownEventError,
    WorkflowCancelledError,
    WorkflowContext,
    is_cancelled_error,
    join_all,
    replay_history,
    select,
    with_timeout,
    workflow,
)


def replay(wf: Any, history: History | list[dict[str, Any]], run: str = RUN) -> list[dict[str, Any]]:
    events = history.events if isinstance(history, History) else history
    return replay_history(wf, events, execution_id=run).commands


@workflow(kind="double-one")
async def double_one(ctx: WorkflowContext, value: int) -> int:
    return int(await ctx.schedule_task("double", value))


# --- matching and non-determinism ------------------------------------------------------------------------------


def test_first_activation_schedules_with_deterministic_ids() -> None:
    assert replay(double_one, History(input_value=21)) == [
        {"type": "SCHEDULE_TASK", "taskExecutionId": "wf-1:task:1", "kind": "double", "input": 21},
    ]


def test_matched_commands_are_not_sent_again() -> None:
    h = History(input_value=21).scheduled(1, "double", 21)
    assert replay(double_one, h) == []
    assert replay(double_one, h.completed(1, 42)) == [{"type": "COMPLETE_WORKFLOW", "output": 42}]


def test_a_changed_command_raises_non_determinism_naming_the_command_and_the_event() -> None:
    @workflow(kind="double-one")
    async def changed(ctx: WorkflowContext, value: int) -> int:
        return int(await ctx.schedule_task("triple", value))

    h = History(input_value=21).scheduled(1, "double", 21)
    with pytest.raises(NonDeterminismError) as caught:
        replay(changed, h)
    error = caught.value
    assert error.command == {"type": "SCHEDULE_TASK", "taskExecutionId": "wf-1:task:1", "kind": "triple",
                             "input": 21}
    assert error.event is not None and error.event.sequence == 2
    assert "SCHEDULE_TASK(taskExecutionId='wf-1:task:1', kind='triple')" in str(error)
    assert "#2 TASK_SCHEDULED(taskExecutionId='wf-1:task:1', kind='double')" in str(error)


def test_a_command_of_another_type_is_non_determinism() -> None:
    @workflow(kind="double-one")
    async def sleeps_first(ctx: WorkflowContext, value: int) -> None:
        await ctx.sleep(1)

    with pytest.raises(NonDeterminismError, match=r"START_TIMER\(timerId='wf-1:timer:1'\) where the history has "
                                                  r"#2 TASK_SCHEDULED"):
        replay(sleeps_first, History(input_value=1).scheduled(1, "double", 1))


def test_a_history_event_the_code_did_not_produce_is_non_determinism() -> None:
    h = History(input_value=1).scheduled(1, "double", 1).scheduled(2, "double", 2)
    with pytest.raises(NonDeterminismError, match=r"#3 TASK_SCHEDULED\(taskExecutionId='wf-1:task:2'.*has no "
                                                  r"matching command") as caught:
        replay(double_one, h)
    assert caught.value.command is None
    assert caught.value.event.sequence == 3


def test_returning_early_is_non_determinism_against_a_longer_history() -> None:
    @workflow(kind="double-one")
    async def returns_at_once(ctx: WorkflowContext, value: int) -> int:
        return value

    with pytest.raises(NonDeterminismError, match=r"COMPLETE_WORKFLOW.*#2 TASK_SCHEDULED"):
        replay(returns_at_once, History(input_value=1).scheduled(1, "double", 1))


def test_a_timer_cancelled_in_history_but_not_by_the_code_is_non_determinism() -> None:
    @workflow(kind="sleeper")
    async def sleeper(ctx: WorkflowContext, _: Any) -> None:
        await ctx.sleep(10)

    h = History().timer_started(1, 10_000).timer_cancelled(1)
    with pytest.raises(NonDeterminismError, match=r"#3 TIMER_CANCELLED.*had not cancelled it"):
        replay(sleeper, h)


def test_an_unknown_event_type_is_rejected_not_misread() -> None:
    h = History(input_value=1).scheduled(1, "double", 1).add("TASK_PAUSED", taskExecutionId="wf-1:task:1")
    with pytest.raises(UnknownEventError, match="'TASK_PAUSED'") as caught:
        replay(double_one, h)
    assert caught.value.event.sequence == 3


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda events: events[:1] + events[2:], "without gaps"),
        (lambda events: [events[1] | {"sequence": 1}], "starts with WORKFLOW_STARTED"),
        (lambda events: [events[0], events[1] | {"data": {"kind": "double"}}], "lacks taskExecutionId"),
    ],
)
def test_malformed_histories_are_refused(mangle: Any, message: str) -> None:
    events = History(input_value=1).scheduled(1, "double", 1).completed(1, 2).events
    with pytest.raises(ReplayError, match=message):
        replay(double_one, mangle(events))


def test_asyncio_sleep_in_workflow_code_is_refused() -> None:
    @workflow(kind="wall-clock")
    async def wall_clock(ctx: WorkflowContext, _: Any) -> None:
        await asyncio.sleep(1)

    with pytest.raises(NonDeterminismError, match=r"use ctx.sleep\(\)"):
        replay(wall_clock, History())


def test_a_function_that_is_not_a_workflow_is_refused() -> None:
    async def plain(ctx: WorkflowContext, _: Any) -> None:
        return None

    with pytest.raises(TypeError, match="not decorated with @workflow"):
        replay_history(plain, History().events, execution_id=RUN)


# --- outcomes ----------------------------------------------------------------------------------------------------


def test_an_exception_fails_the_workflow_with_its_type_and_message() -> None:
    @workflow(kind="boom")
    async def boom(ctx: WorkflowContext, _: Any) -> None:
        raise KeyError("no such order")

    assert replay(boom, History()) == [
        {"type": "FAIL_WORKFLOW", "error": {"type": "KeyError", "message": "'no such order'"}},
    ]


def test_an_application_error_reports_its_type_and_details() -> None:
    @workflow(kind="declined")
    async def declined(ctx: WorkflowContext, _: Any) -> None:
        raise ApplicationError("card declined", type="PaymentDeclined", details={"code": 51})

    assert replay(declined, History()) == [
        {"type": "FAIL_WORKFLOW", "error": {"type": "PaymentDeclined", "message": "card declined",
                                            "details": {"code": 51}}},
    ]


def test_a_huge_error_message_is_cut_so_the_failure_can_be_reported() -> None:
    @workflow(kind="verbose")
    async def verbose(ctx: WorkflowContext, _: Any) -> None:
        raise RuntimeError("x" * 1_000_000)

    (command,) = replay(verbose, History())
    assert command["error"] == {"type": "RuntimeError", "message": "x" * 8192}


def test_an_output_that_is_not_json_fails_the_workflow() -> None:
    @workflow(kind="bad-output")
    async def bad_output(ctx: WorkflowContext, _: Any) -> object:
        return object()

    (command,) = replay(bad_output, History())
    assert command["type"] == "FAIL_WORKFLOW"
    assert command["error"]["type"] == "TypeError"
    assert "workflow output is not JSON-serializable" in command["error"]["message"]


def test_a_failed_task_raises_task_failed_error_with_its_error() -> None:
    @workflow(kind="catches")
    async def catches(ctx: WorkflowContext, _: Any) -> Any:
        try:
            await ctx.schedule_task("charge")
        except TaskFailedError as exc:
            return {"task": exc.task_execution_id, "kind": exc.kind, "error": exc.error}
        return None

    h = History().scheduled(1, "charge").failed(1, {"type": "Declined", "message": "no funds"})
    assert replay(catches, h) == [{"type": "COMPLETE_WORKFLOW", "output": {
        "task": "wf-1:task:1", "kind": "charge", "error": {"type": "Declined", "message": "no funds"}}}]


def test_a_task_cancelled_through_the_api_fails_the_workflow_rather_than_cancelling_it() -> None:
    h = History(input_value=1).scheduled(1, "double", 1).task_cancelled(1, "double", "operator")
    (command,) = replay(double_one, h)
    assert command == {"type": "FAIL_WORKFLOW", "error": {
        "type": "TaskCancelledError", "message": "task wf-1:task:1 (double) was cancelled: operator"}}


@pytest.mark.parametrize(("cancelled", "expected"), [(False, "ChildWorkflowFailedError"),
                                                      (True, "ChildWorkflowCancelledError")])
def test_a_child_outcome_raises_the_matching_error(cancelled: bool, expected: str) -> None:
    @workflow(kind="parent")
    async def parent(ctx: WorkflowContext, _: Any) -> Any:
        try:
            return await ctx.start_child("leaf", 1, name="c")
        except ChildWorkflowFailedError as exc:
            return {"type": type(exc).__name__, "error": exc.error, "name": exc.child_execution_name}
        except ChildWorkflowCancelledError as exc:
            return {"type": type(exc).__name__, "error": exc.error, "name": exc.child_execution_name}

    h = History().child_initiated(1, "c", "leaf").child_failed(1, "c", {"code": "X"}, cancelled)
    assert replay(parent, h) == [{"type": "COMPLETE_WORKFLOW", "output": {
        "type": expected, "error": {"code": "X"}, "name": "c"}}]


def test_a_child_is_started_with_its_policy_and_a_default_name() -> None:
    @workflow(kind="parent")
    async def parent(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.start_child("leaf", {"x": 1}, queue="other")

    assert replay(parent, History()) == [{
        "type": "SCHEDULE_CHILD_WORKFLOW", "childExecutionName": "leaf-1", "childWorkflowExecutionId": "wf-1:child:1",
        "workflowKind": "leaf", "input": {"x": 1}, "parentClosePolicy": "REQUEST_CANCEL", "queue": "other"}]


def test_a_duplicate_child_name_is_refused_in_workflow_code() -> None:
    @workflow(kind="parent")
    async def parent(ctx: WorkflowContext, _: Any) -> Any:
        ctx.start_child("leaf", name="same")
        ctx.start_child("leaf", name="same")

    commands = replay(parent, History())
    assert commands[-1] == {"type": "FAIL_WORKFLOW", "error": {
        "type": "ValueError", "message": "child execution name 'same' is already used in this workflow execution"}}


# --- cancellation ------------------------------------------------------------------------------------------------


def test_an_uncaught_cancellation_cancels_the_workflow_with_the_request_reason() -> None:
    h = History(input_value=1).scheduled(1, "double", 1).cancel_requested("shutting down the shop")
    assert replay(double_one, h) == [
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "wf-1:task:1", "reason": "shutting down the shop"},
        {"type": "CANCEL_WORKFLOW", "reason": "shutting down the shop"},
    ]


def test_cancellation_is_level_triggered_outside_shields() -> None:
    """After the workflow is asked to cancel, unshielded work is not even sent."""

    @workflow(kind="stubborn")
    async def stubborn(ctx: WorkflowContext, _: Any) -> Any:
        with contextlib.suppress(asyncio.CancelledError):
            await ctx.sleep(100)
        handle = ctx.schedule_task("after")
        try:
            await handle
        except asyncio.CancelledError:
            return {"handleDone": handle.done(), "cancelRequested": ctx.cancel_requested,
                    "reason": ctx.cancel_reason}
        return None

    h = History().timer_started(1, 100_000).cancel_requested("stop")
    assert replay(stubborn, h) == [
        {"type": "CANCEL_TIMER", "timerId": "wf-1:timer:1"},
        {"type": "COMPLETE_WORKFLOW", "output": {"handleDone": True, "cancelRequested": True, "reason": "stop"}},
    ]


@workflow(kind="critical")
async def critical(ctx: WorkflowContext, _: Any) -> str:
    async with ctx.cancellation_scope(shield=True):
        await ctx.schedule_task("critical")
    await ctx.sleep(10)
    return "not reached when cancelled"


def test_a_cancel_arriving_inside_a_shield_waits_for_the_shield_to_end() -> None:
    h = History().scheduled(1, "critical").cancel_requested("stop")
    assert replay(critical, h) == []  # the shielded task keeps running
    assert replay(critical, h.completed(1, "ok")) == [{"type": "CANCEL_WORKFLOW", "reason": "stop"}]


def test_a_scope_cancelled_by_the_code_ends_its_block_only() -> None:
    @workflow(kind="scoped")
    async def scoped(ctx: WorkflowContext, _: Any) -> str:
        async with ctx.cancellation_scope() as scope:
            handle = ctx.schedule_task("slow")
            scope.cancel("enough")
            await handle
        return "after the scope"

    assert replay(scoped, History()) == [
        {"type": "SCHEDULE_TASK", "taskExecutionId": "wf-1:task:1", "kind": "slow", "input": None},
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "wf-1:task:1", "reason": "enough"},
        {"type": "COMPLETE_WORKFLOW", "output": "after the scope"},
    ]


def test_cancelling_a_handle_resolves_it_at_once() -> None:
    @workflow(kind="cancels")
    async def cancels(ctx: WorkflowContext, _: Any) -> Any:
        handle = ctx.schedule_task("slow")
        handle.cancel("no longer needed")
        try:
            await handle
        except TaskCancelledError as exc:
            return {"reason": exc.reason, "cancelled": is_cancelled_error(exc)}
        return None

    assert replay(cancels, History()) == [
        {"type": "SCHEDULE_TASK", "taskExecutionId": "wf-1:task:1", "kind": "slow", "input": None},
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "wf-1:task:1", "reason": "no longer needed"},
        {"type": "COMPLETE_WORKFLOW", "output": {"reason": "no longer needed", "cancelled": True}},
    ]


def test_a_cancel_request_for_a_task_already_closed_in_history_is_not_sent() -> None:
    """The timer wins at #4; the task's completion (#5) is later in history, so a cancel would change nothing."""

    @workflow(kind="race")
    async def race(ctx: WorkflowContext, _: Any) -> int:
        return (await select(ctx.schedule_task("work"), ctx.sleep(1))).index

    h = History().scheduled(1, "work").timer_started(1, 1000).fired(1).completed(1, "late")
    assert replay(race, h) == [{"type": "COMPLETE_WORKFLOW", "output": 1}]
    assert replay(race, h.events[:4]) == [
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "wf-1:task:1"},
        {"type": "COMPLETE_WORKFLOW", "output": 1},
    ]


def test_a_child_cancelled_by_a_timeout_can_be_awaited_for_its_outcome() -> None:
    @workflow(kind="patient")
    async def patient(ctx: WorkflowContext, _: Any) -> Any:
        child = ctx.start_child("leaf", 1, name="c")
        try:
            return await with_timeout(child, 5)
        except TimeoutError:
            try:
                return await child
            except ChildWorkflowCancelledError as exc:
                return {"childCancelled": True, "error": exc.error}

    h = History().child_initiated(1, "c", "leaf").timer_started(1, 5000).fired(1)
    assert replay(patient, h) == [
        {"type": "REQUEST_CANCEL_CHILD_WORKFLOW", "childExecutionName": "c", "childWorkflowExecutionId": "wf-1:child:1",
         "reason": "cancelled by the parent workflow"},
    ]
    h.add("CHILD_WORKFLOW_CANCELLATION_REQUESTED", childExecutionName="c", childWorkflowExecutionId="wf-1:child:1",
          reason="cancelled by the parent workflow")
    h.child_failed(1, "c", {"code": "CANCELLED"}, cancelled=True)
    assert replay(patient, h) == [
        {"type": "COMPLETE_WORKFLOW", "output": {"childCancelled": True, "error": {"code": "CANCELLED"}}}]


def test_a_failed_child_cancel_request_is_visible_on_the_handle() -> None:
    @workflow(kind="observer")
    async def observer(ctx: WorkflowContext, _: Any) -> Any:
        child = ctx.start_child("leaf", 1, name="c")
        child.cancel("stop")
        output = await child
        return {"output": output, "cancelFailure": child.cancel_failure}

    h = History().child_initiated(1, "c", "leaf")
    h.add("CHILD_WORKFLOW_CANCELLATION_REQUESTED", childExecutionName="c", childWorkflowExecutionId="wf-1:child:1",
          reason="stop")
    h.add("CHILD_WORKFLOW_CANCELLATION_FAILED", childExecutionName="c", childWorkflowExecutionId="wf-1:child:1",
          error={"code": "FAILED_PRECONDITION"})
    h.child_completed(1, "c", "finished anyway")
    assert replay(observer, h) == [{"type": "COMPLETE_WORKFLOW", "output": {
        "output": "finished anyway", "cancelFailure": {"code": "FAILED_PRECONDITION"}}}]


def test_is_cancelled_error_recognises_every_cancellation() -> None:
    assert is_cancelled_error(asyncio.CancelledError())
    assert is_cancelled_error(TaskCancelledError(task_execution_id="t", kind="k"))
    assert is_cancelled_error(ChildWorkflowCancelledError("x", child_workflow_execution_id="c",
                                                          child_execution_name="n", kind="k", error=None))
    assert is_cancelled_error(WorkflowCancelledError("w", "r"))
    assert not is_cancelled_error(TaskFailedError(task_execution_id="t", kind="k", error={}))
    assert not is_cancelled_error(TimeoutError())
    assert not is_cancelled_error(None)


# --- composition -------------------------------------------------------------------------------------------------


def test_join_all_cancels_the_remaining_branches_on_the_first_failure() -> None:
    @workflow(kind="all-or-nothing")
    async def all_or_nothing(ctx: WorkflowContext, _: Any) -> Any:
        try:
            await join_all(ctx.schedule_task("a"), ctx.schedule_task("b"), ctx.schedule_task("c"))
        except TaskFailedError as exc:
            return exc.task_execution_id
        return None

    h = History().scheduled(1, "a").scheduled(2, "b").scheduled(3, "c").failed(2, {"type": "X"})
    assert replay(all_or_nothing, h) == [
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "wf-1:task:1"},
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "wf-1:task:3"},
        {"type": "COMPLETE_WORKFLOW", "output": "wf-1:task:2"},
    ]


def test_select_with_an_already_resolved_branch_starts_nothing_for_the_others() -> None:
    @workflow(kind="late-select")
    async def late_select(ctx: WorkflowContext, _: Any) -> Any:
        handle = ctx.schedule_task("a")
        await ctx.sleep(5)
        index, value = await select(ctx.sleep(60), handle)
        return [index, value]

    h = History().scheduled(1, "a").timer_started(1, 5000).completed(1, "A").fired(1)
    assert replay(late_select, h) == [{"type": "COMPLETE_WORKFLOW", "output": [1, "A"]}]


def test_select_accepts_coroutines_and_reports_the_winner() -> None:
    @workflow(kind="coroutines")
    async def coroutines(ctx: WorkflowContext, _: Any) -> Any:
        async def two_steps() -> str:
            await ctx.schedule_task("first")
            return "both"

        selected = await select(two_steps(), ctx.sleep(30))
        return [selected.index, selected.value]

    h = History().scheduled(1, "first").timer_started(1, 30_000).completed(1, None)
    assert replay(coroutines, h) == [{"type": "CANCEL_TIMER", "timerId": "wf-1:timer:1"},
                                     {"type": "COMPLETE_WORKFLOW", "output": [0, "both"]}]


def test_a_losing_branch_is_cancelled_before_the_code_goes_on() -> None:
    """Regression guard: the loser's CANCEL_TIMER used to follow the next command, queued for the next loop turn."""

    @workflow(kind="then-sleep")
    async def then_sleep(ctx: WorkflowContext, _: Any) -> None:
        await with_timeout(ctx.schedule_task("work"), 300)
        await ctx.sleep(3600)

    h = History().scheduled(1, "work").timer_started(1, 300_000).completed(1, "ok")
    assert replay(then_sleep, h) == [
        {"type": "CANCEL_TIMER", "timerId": "wf-1:timer:1"},
        {"type": "START_TIMER", "timerId": "wf-1:timer:2", "durationMs": 3_600_000},
    ]


def test_plain_asyncio_gather_works_on_handles() -> None:
    @workflow(kind="gather")
    async def gather(ctx: WorkflowContext, _: Any) -> Any:
        return await asyncio.gather(ctx.schedule_task("a"), ctx.schedule_task("b"))

    h = History().scheduled(1, "a").scheduled(2, "b").completed(2, "B").completed(1, "A")
    assert replay(gather, h) == [{"type": "COMPLETE_WORKFLOW", "output": ["A", "B"]}]


def test_code_that_spins_without_awaiting_history_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stratoflow_sdk._replay.MAX_STEPS_PER_EVENT", 1000)

    @workflow(kind="spin")
    async def spin(ctx: WorkflowContext, _: Any) -> None:
        while True:
            await asyncio.sleep(0)

    with pytest.raises(ReplayError, match="seems to spin"):
        replay(spin, History())


def test_nothing_follows_the_terminal_command() -> None:
    @workflow(kind="background")
    async def background(ctx: WorkflowContext, _: Any) -> str:
        async def later() -> None:
            await ctx.sleep(1)
            ctx.schedule_task("never")

        asyncio.get_running_loop().create_task(later())
        return "done"

    assert replay(background, History()) == [
        {"type": "START_TIMER", "timerId": "wf-1:timer:1", "durationMs": 1000},
        {"type": "COMPLETE_WORKFLOW", "output": "done"},
    ]


def test_finally_blocks_of_suspended_code_emit_nothing_when_the_activation_ends() -> None:
    @workflow(kind="tidy")
    async def tidy(ctx: WorkflowContext, _: Any) -> None:
        try:
            await ctx.sleep(10)
        finally:
            ctx.set_state("cleanup", True)

    assert replay(tidy, History()) == [{"type": "START_TIMER", "timerId": "wf-1:timer:1", "durationMs": 10_000}]
    assert replay(tidy, History().timer_started(1, 10_000).fired(1)) == [
        {"type": "SET_STATE", "key": "cleanup", "value": True},
        {"type": "COMPLETE_WORKFLOW", "output": None},
    ]


# --- deterministic helpers ---------------------------------------------------------------------------------------


@workflow(kind="clock")
async def clock(ctx: WorkflowContext, _: Any) -> Any:
    started = ctx.now().isoformat()
    await ctx.sleep(60)
    return {"started": started, "woke": ctx.now().isoformat(), "uuid": str(ctx.uuid4()),
            "random": ctx.random().randint(0, 10**9)}


def test_now_is_the_timestamp_of_the_event_being_processed() -> None:
    h = History().timer_started(1, 60_000).fired(1)
    (command,) = replay(clock, h)
    assert command["output"]["started"] == "2026-11-24T06:00:00+00:00"
    assert command["output"]["woke"] == "2026-11-24T06:00:02+00:00"


def test_random_and_uuid4_are_seeded_by_the_execution_id() -> None:
    def outputs(run: str) -> dict[str, Any]:
        h = History(run=run).timer_started(1, 60_000).fired(1)
        return replay(clock, h, run=run)[0]["output"]

    assert outputs("wf-a") == outputs("wf-a")
    assert outputs("wf-a")["uuid"] != outputs("wf-b")["uuid"]
    assert outputs("wf-a")["random"] != outputs("wf-b")["random"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", outputs("wf-a")["uuid"])


def test_ids_of_long_execution_ids_are_hashed_into_the_api_id_format() -> None:
    run = "x" * 125
    (command,) = replay(double_one, History(run=run, input_value=1), run=run)
    task_id = command["taskExecutionId"]
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", task_id)
    assert task_id.endswith(":task:1")
    assert replay(double_one, History(run=run, input_value=1), run=run)[0]["taskExecutionId"] == task_id


def test_is_replaying_is_true_until_the_last_event() -> None:
    seen: list[bool] = []

    @workflow(kind="observe")
    async def observe(ctx: WorkflowContext, _: Any) -> None:
        seen.append(ctx.is_replaying)
        await ctx.sleep(1)
        seen.append(ctx.is_replaying)

    replay(observe, History().timer_started(1, 1000).fired(1))
    assert seen == [True, False]


def test_operation_results_must_be_json() -> None:
    @workflow(kind="bad-operation")
    async def bad_operation(ctx: WorkflowContext, _: Any) -> Any:
        return await ctx.run_operation("thing", object)

    (command,) = replay(bad_operation, History())
    assert command["type"] == "FAIL_WORKFLOW"
    assert command["error"]["message"].startswith("result of operation 'thing' is not JSON-serializable")


def test_operation_results_are_json_round_tripped_on_the_first_run() -> None:
    """Regression guard: a tuple must come back as the list replay will read from the history."""

    @workflow(kind="tuple-operation")
    async def tuple_operation(ctx: WorkflowContext, _: Any) -> Any:
        value = await ctx.run_operation("pair", lambda: (1, 2))
        return isinstance(value, list)

    assert replay(tuple_operation, History())[-1] == {"type": "COMPLETE_WORKFLOW", "output": True}
