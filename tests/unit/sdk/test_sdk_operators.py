"""The SDK's side of the operator controls: cleanup deadlines, cancel_on for children, terminated children and a
terminated workflow, replayed from hand-built histories."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from stratoflow_sdk import (
    ChildWorkflowFailedError,
    ChildWorkflowTerminatedError,
    WorkflowContext,
    WorkflowStatus,
    replay_history,
    workflow,
)

from tests.unit.sdk.sdk_history_builder import RUN, History

SEEN: dict[str, Any] = {}


@workflow(kind="ops-parent")
async def parent(ctx: WorkflowContext, _: Any) -> Any:
    child = ctx.start_child("ops-child", None, name="c", cancel_on=[{"eventType": "order.cancelled",
                                                                     "match": {"orderId": "o-1"}}])
    try:
        return await child
    except ChildWorkflowTerminatedError as terminated:
        return {"terminated": terminated.reason, "isFailure": isinstance(terminated, ChildWorkflowFailedError)}
    except ChildWorkflowFailedError:
        return "failed"


@workflow(kind="ops-cleanup")
async def cleanup(ctx: WorkflowContext, _: Any) -> Any:
    try:
        await ctx.sleep(3600)
    finally:
        SEEN["deadline"] = ctx.cleanup_deadline
    return None


def started_parent() -> History:
    return History().child_initiated(1, "c", "ops-child")


def test_start_child_sends_cancel_on() -> None:
    result = replay_history(parent, History().events, execution_id=RUN)
    (command,) = result.commands
    assert command["cancelOn"] == [{"eventType": "order.cancelled", "match": {"orderId": "o-1"}}]


def test_a_terminated_child_is_a_failure_the_workflow_can_tell_apart() -> None:
    history = started_parent().add(
        "CHILD_WORKFLOW_FAILED", childExecutionName="c", childWorkflowExecutionId=f"{RUN}:child:1",
        error={"code": "TERMINATED", "message": "operator stop"}, cancelled=False, terminated=True,
    )
    result = replay_history(parent, history.events, execution_id=RUN)
    assert result.commands == [
        {"type": "COMPLETE_WORKFLOW", "output": {"terminated": "operator stop", "isFailure": True}}
    ]


def test_a_failed_child_is_not_taken_for_a_terminated_one() -> None:
    history = started_parent().add(
        "CHILD_WORKFLOW_FAILED", childExecutionName="c", childWorkflowExecutionId=f"{RUN}:child:1",
        error={"type": "Boom"}, cancelled=False, terminated=False,
    )
    assert replay_history(parent, history.events, execution_id=RUN).commands == [
        {"type": "COMPLETE_WORKFLOW", "output": "failed"}
    ]


def test_cleanup_code_sees_the_cleanup_deadline() -> None:
    history = History().timer_started(1, 3_600_000).add(
        "CANCELLATION_REQUESTED", reason="shutdown", requestedBy="api", cleanupDeadline="2026-11-24T06:05:00.000Z"
    )
    SEEN.clear()
    replay_history(cleanup, history.events, execution_id=RUN)
    assert SEEN["deadline"] == datetime(2026, 11, 24, 6, 5, tzinfo=UTC)
    without = History().timer_started(1, 3_600_000).add(
        "CANCELLATION_REQUESTED", reason="shutdown", requestedBy="api", cleanupDeadline=None
    )
    SEEN.clear()
    replay_history(cleanup, without.events, execution_id=RUN)
    assert SEEN["deadline"] is None


def test_a_terminated_history_replays_to_its_end_with_nothing_more_to_send() -> None:
    history = History().timer_started(1, 3_600_000).add(
        "WORKFLOW_TERMINATED", reason="runaway", requestedBy="api"
    )
    result = replay_history(cleanup, history.events, execution_id=RUN)
    assert (result.commands, result.finished) == ([], True)


def test_terminated_is_a_terminal_status() -> None:
    assert WorkflowStatus("TERMINATED").is_terminal


@pytest.mark.parametrize(
    "cancel_on",
    [[{"match": {}}], [{"eventType": "e", "match": {"a": 1, "b": 2}}], [{"eventType": "e"}] * 6, "e"],
)
def test_malformed_cancel_on_fails_in_the_workflow(cancel_on: Any) -> None:
    @workflow(kind=f"ops-bad-{abs(hash(str(cancel_on)))}")
    async def bad(ctx: WorkflowContext, _: Any) -> Any:
        try:
            ctx.start_child("x", cancel_on=cancel_on)
        except ValueError:
            return "refused"
        return "sent"

    assert replay_history(bad, History().events, execution_id=RUN).commands == [
        {"type": "COMPLETE_WORKFLOW", "output": "refused"}
    ]
