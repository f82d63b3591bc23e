"""Turning an activation's new commands into a submission that api.md accepts.

At most 25 commands fit one submission, and a heavy one can still be refused with 413. A submission always releases
the lease, so the rest cannot follow in a second submission of the same activation. Instead the SDK submits only a
first chunk and relies on replay: at the next activation the code runs again, the chunk's commands match their
events, and the commands that did not fit come out as new again, in the same order. To make sure there *is* a next
activation, a chunk that leaves commands behind ends with a 1 ms "resume" timer (``<executionId>:resume:<n>``),
whose ``TIMER_FIRED`` wakes the execution. Replay recognises resume timers by their id and ignores them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import PayloadTooLargeError
from ._history import TERMINAL_COMMANDS
from ._types import PollRequest, SubmitResult
from ._values import deterministic_id

if TYPE_CHECKING:
    from ._client import Client

#: api.md: at most 25 commands per submission.
MAX_COMMANDS_PER_SUBMISSION = 25
#: The shortest timer api.md allows.
RESUME_DELAY_MS = 1

_log = logging.getLogger("stratoflow_sdk.worker")


def resume_timer(execution_id: str, number: int) -> dict[str, Any]:
    """The ``START_TIMER`` of the ``number``-th resume timer of an execution."""
    return {"type": "START_TIMER", "timerId": deterministic_id(execution_id, "resume", number),
            "durationMs": RESUME_DELAY_MS}


def plan_submission(
    commands: Sequence[Mapping[str, Any]], *, execution_id: str, resume_timers: int, chunk: int | None = None
) -> list[dict[str, Any]]:
    """The next submission for ``commands``: all of them if they fit, else the first ``chunk`` and a resume timer.

    ``chunk`` defaults to as many as fit beside the resume timer (24).
    """
    if chunk is None:
        chunk = first_chunk_size(len(commands))
    if chunk >= len(commands) and len(commands) <= MAX_COMMANDS_PER_SUBMISSION:
        return [dict(c) for c in commands]
    chunk = max(1, min(chunk, len(commands) - 1, MAX_COMMANDS_PER_SUBMISSION - 1))
    return [dict(c) for c in commands[:chunk]] + [resume_timer(execution_id, resume_timers + 1)]


def first_chunk_size(total: int) -> int:
    """How many of ``total`` new commands the first submission carries."""
    return total if total <= MAX_COMMANDS_PER_SUBMISSION else MAX_COMMANDS_PER_SUBMISSION - 1


def check_submission(commands: Sequence[Mapping[str, Any]]) -> None:
    """Check api.md's rules for one submission: ≤ 25 commands, nothing after a terminal command, SUSPEND last."""
    if len(commands) > MAX_COMMANDS_PER_SUBMISSION:
        raise ValueError(f"{len(commands)} commands; at most {MAX_COMMANDS_PER_SUBMISSION} fit one submission")
    for position, command in enumerate(commands):
        last = position == len(commands) - 1
        if command.get("type") in TERMINAL_COMMANDS and not last:
            raise ValueError(f"{command.get('type')} at position {position} is followed by other commands")
        if command.get("type") == "SUSPEND_WORKFLOW" and not last:
            raise ValueError("SUSPEND_WORKFLOW must be the last command")


def submit(
    client: Client,
    execution_id: str,
    lease_id: str,
    commands: Sequence[Mapping[str, Any]],
    *,
    resume_timers: int,
    poll_next: PollRequest | None = None,
) -> SubmitResult:
    """Submit the first chunk of ``commands``, halving the chunk on 413 (a refused submission changes nothing).

    With ``poll_next`` the accepted submission also claims the next ready execution (``SubmitResult.next``).
    """
    chunk = first_chunk_size(len(commands))
    while True:
        batch = plan_submission(commands, execution_id=execution_id, resume_timers=resume_timers, chunk=chunk)
        check_submission(batch)
        try:
            result = client.submit_commands(execution_id, lease_id, batch, poll_next=poll_next)
        except PayloadTooLargeError:
            if chunk <= 1:
                raise
            chunk //= 2
            _log.info("submission too large, splitting",
                      extra={"workflowExecutionId": execution_id, "nextChunk": chunk, "total": len(commands)})
            continue
        if chunk < len(commands):
            _log.info("submitted a first chunk; the rest follows at the next activation",
                      extra={"workflowExecutionId": execution_id, "submitted": chunk, "total": len(commands)})
        return result
