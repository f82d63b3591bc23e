"""Terminate (operators.md): end a live execution at once, without running its code, and its descendants with it.

A terminate is one transaction for the execution (WORKFLOW_TERMINATED as its terminal event, the parent's
CHILD_WORKFLOW_FAILED {terminated: true} when it has a live parent) plus the close work every end does, carried out
after the commit by the outbox (semantics.md flow 7). With a cascade, the close follow-up terminates every live child
instead of applying its parentClosePolicy, and each child's own close carries the cascade on, so every descendant is
terminated with `requestedBy: "workflow:<root>"` and the root's reason.
"""

from __future__ import annotations

from typing import Any

from stratoflow.dal.repository import commit_or_retry
from stratoflow.dal.unit_of_work import UnitOfWork, run_optimistic
from stratoflow.errors import FailedPrecondition
from stratoflow.executions import HistoryWriter, get_execution, is_live, require_execution
from stratoflow.lifecycle import end_execution
from stratoflow.records import ChildLink, Execution
from stratoflow.runtime import Runtime
from stratoflow.states import WorkflowStatus

# The key of a close follow-up's payload that turns the parent-close policy into a terminate of every live child.
CLOSE_TERMINATES = "terminate"
REQUESTED_BY_API = "api"
CLEANUP_TIMEOUT_REASON = "cleanup timeout"
REQUESTED_BY_CLEANUP_TIMEOUT = "cleanup-timeout"


def stage_terminate(
    rt: Runtime,
    uow: UnitOfWork,
    execution: Execution,
    *,
    reason: str,
    requested_by: str,
    cascade_root: str | None,
) -> HistoryWriter:
    """Add the termination of a live execution to `uow`: its terminal event, its end, its parent's outcome event."""
    if not is_live(execution):
        raise FailedPrecondition(f"workflow execution is {execution.status}", execution.status)
    history = HistoryWriter(execution, rt.now_ms())
    close_payload = {CLOSE_TERMINATES: {"reason": reason, "root": cascade_root}} if cascade_root else None
    end_execution(
        rt,
        uow,
        history,
        WorkflowStatus.TERMINATED,
        value={"reason": reason, "requestedBy": requested_by},
        close_payload=close_payload,
    )
    history.stage(uow)
    return history


def terminate_workflow(rt: Runtime, tenant: str, workflow_id: str, *, reason: str, cascade: bool) -> dict[str, Any]:
    """`POST /v1/workflows/{id}/terminate`: any live status → TERMINATED; terminal → 409 with currentStatus."""

    def attempt() -> dict[str, Any]:
        execution = require_execution(rt.repo, tenant, workflow_id)
        uow = UnitOfWork()
        stage_terminate(
            rt,
            uow,
            execution,
            reason=reason,
            requested_by=REQUESTED_BY_API,
            cascade_root=workflow_id if cascade else None,
        )
        commit_or_retry(rt.repo, uow)
        return {"workflowExecutionId": workflow_id, "status": WorkflowStatus.TERMINATED.value}

    return run_optimistic(attempt)


def terminate_child(rt: Runtime, link: ChildLink, cascade: dict[str, Any]) -> bool:
    """The close of a terminated parent: its live child is terminated too (idempotent: a redelivery finds it ended).

    Returns whether this call terminated it.
    """

    def attempt() -> bool:
        child = get_execution(rt.repo, link.tenant, link.child_id)
        if child is None or child.parent_id != link.parent_id or not is_live(child):
            return False
        uow = UnitOfWork()
        stage_terminate(
            rt,
            uow,
            child,
            reason=cascade["reason"],
            requested_by=f"workflow:{cascade['root']}",
            cascade_root=cascade["root"],
        )
        commit_or_retry(rt.repo, uow)
        return True

    return run_optimistic(attempt)
