"""Combined calls: a worker's write (complete, fail, submit) and its next poll in one request (`pollNext`).

The write commits first and its answer stands whatever the poll part finds. The poll part is the poll route's own
domain call with the body's `pollNext` (tenant, queue, kinds, lease, dispatch index: every rule of a poll), and its
claim is answered in `next`: null when nothing is ready, and null too when the poll part fails after the write
committed (logged) — the worker then polls as usual, instead of retrying a write that already happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stratoflow import tasks, workflows
from stratoflow.observability import logger
from stratoflow.services import runtime

from stratoflow_api.models import PollBody


def claim_workflow(tenant: str, poll: PollBody) -> dict[str, Any] | None:
    """What `POST /v1/worker/workflows/poll` with `poll` as its body claims."""
    claimed = workflows.poll_workflow(
        runtime(), tenant, queue=poll.queue, worker_id=poll.workerId or "", kinds=poll.kinds, lease_ms=poll.leaseMs
    )
    if claimed is not None:
        logger.info(
            "workflow claimed",
            extra={
                "workerId": poll.workerId,
                "workflowExecutionId": claimed["workflowExecution"]["workflowExecutionId"],
            },
        )
    return claimed


def claim_task(tenant: str, poll: PollBody) -> dict[str, Any] | None:
    """What `POST /v1/worker/tasks/poll` with `poll` as its body claims."""
    return tasks.poll_task(runtime(), tenant, queue=poll.queue, kinds=poll.kinds, lease_ms=poll.leaseMs)


def with_next(
    outcome: dict[str, Any],
    tenant: str,
    poll: PollBody | None,
    claim: Callable[[str, PollBody], dict[str, Any] | None],
) -> dict[str, Any]:
    """`outcome` (the committed write's answer), with `next` when the request asked for a poll."""
    if poll is None:
        return outcome
    try:
        claimed = claim(tenant, poll)
    except Exception:  # the write committed: its answer must reach the worker whatever the poll part met
        logger.exception("the poll part of a combined call failed; answered next: null", extra={"queue": poll.queue})
        claimed = None
    return {**outcome, "next": claimed}
