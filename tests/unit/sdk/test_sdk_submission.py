"""Planning submissions within api.md's rules: at most 25 commands, a first chunk plus a resume timer beyond."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stratoflow_sdk._history import is_resume_timer
from stratoflow_sdk._submission import MAX_COMMANDS_PER_SUBMISSION, check_submission, plan_submission
from stratoflow_sdk._values import deterministic_id


def tasks(count: int, run: str = "wf-1") -> list[dict[str, Any]]:
    return [{"type": "SCHEDULE_TASK", "taskExecutionId": f"{run}:task:{n}", "kind": "k"} for n in range(1, count + 1)]


def test_up_to_25_commands_go_in_one_submission() -> None:
    commands = [*tasks(24), {"type": "COMPLETE_WORKFLOW", "output": 1}]
    assert plan_submission(commands, execution_id="wf-1", resume_timers=0) == commands
    assert plan_submission([], execution_id="wf-1", resume_timers=0) == []


def test_more_than_25_commands_send_24_and_a_resume_timer() -> None:
    planned = plan_submission(tasks(26), execution_id="wf-1", resume_timers=2)
    assert planned[:24] == tasks(24)
    assert planned[24] == {"type": "START_TIMER", "timerId": "wf-1:resume:3", "durationMs": 1}


def test_an_explicit_chunk_size_is_honoured() -> None:
    planned = plan_submission(tasks(10), execution_id="wf-1", resume_timers=0, chunk=3)
    assert planned == [*tasks(3), {"type": "START_TIMER", "timerId": "wf-1:resume:1", "durationMs": 1}]


@given(count=st.integers(0, 80), resumes=st.integers(0, 5), chunk=st.none() | st.integers(1, 40))
def test_a_plan_is_a_valid_submission_and_an_in_order_prefix(count: int, resumes: int, chunk: int | None) -> None:
    commands = tasks(count)
    planned = plan_submission(commands, execution_id="wf-1", resume_timers=resumes, chunk=chunk)
    check_submission(planned)
    assert len(planned) <= MAX_COMMANDS_PER_SUBMISSION
    sent = [c for c in planned if c["type"] == "SCHEDULE_TASK"]
    assert sent == commands[: len(sent)]
    partial = len(sent) < count
    assert (bool(planned) and planned[-1]["type"] == "START_TIMER") is partial
    if partial:
        assert planned[-1]["timerId"] == f"wf-1:resume:{resumes + 1}"


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        (tasks(26), "at most 25"),
        ([{"type": "COMPLETE_WORKFLOW", "output": 1}, *tasks(1)], "followed by other commands"),
        ([{"type": "SUSPEND_WORKFLOW"}, *tasks(1)], "SUSPEND_WORKFLOW must be the last"),
    ],
)
def test_check_submission_refuses_what_the_api_refuses(commands: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_submission(commands)


def test_resume_timers_are_told_apart_from_workflow_timers() -> None:
    long_run = "r" * 126
    assert is_resume_timer("wf-1", "wf-1:resume:12")
    assert not is_resume_timer("wf-1", "wf-1:timer:12")
    assert not is_resume_timer("wf-1", "wf-2:resume:1")
    assert not is_resume_timer("wf-1", "wf-1:resume:x")
    hashed = deterministic_id(long_run, "resume", 4)
    assert hashed != f"{long_run}:resume:4" and is_resume_timer(long_run, hashed)
