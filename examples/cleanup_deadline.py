"""A cleanup that overruns its deadline: cancel with a cleanup timeout, and the platform terminates what is late.

The workflow waits for an order to ship. Cancelled, it releases the reserved stock in a shielded scope: a task that
takes far longer than the caller is willing to wait. The caller cancels with `cleanupTimeoutMs` (two seconds here),
so the execution carries a `cleanupDeadline` (the workflow sees it as `ctx.cleanup_deadline`), and when it is still
cleaning up at that instant the platform terminates it: `WORKFLOW_TERMINATED {reason: "cleanup timeout",
requestedBy: "cleanup-timeout"}`, its running task cancelled (the task's next heartbeat says so), nothing appended
after. Without a deadline the same cleanup would run to its end.

With `make local` running in another terminal:

    make example NAME=cleanup_deadline
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import requests
from stratoflow_sdk import (
    Client,
    TaskCancelledError,
    TransportError,
    Worker,
    WorkflowContext,
    task,
    task_context,
    workflow,
)

STARTED = time.monotonic()
CLEANUP_TIMEOUT_MS = 2_000


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.2f}s] {message}", flush=True)


@task(kind="release-stock")
def release_stock(order: dict[str, Any]) -> str:
    context = task_context()
    say(f"  task release-stock: releasing {order['items']} item(s), {order['seconds']} s of work")
    done_at = time.monotonic() + order["seconds"]
    try:
        while time.monotonic() < done_at:
            context.heartbeat()  # raises TaskCancelledError once the task was cancelled
            time.sleep(0.05)
    except TaskCancelledError:
        say("  task release-stock: cancelled (the workflow was terminated), stopping")
        raise
    return "released"


@workflow(kind="cleanup-deadline")
async def ship_order(ctx: WorkflowContext, order: dict[str, Any]) -> str:
    try:
        await ctx.sleep(3600)  # waiting for the carrier
        return "shipped"
    except BaseException:
        if not ctx.cancel_requested:
            raise
        deadline = ctx.cleanup_deadline
        ctx.set_state("cleanupDeadline", deadline.isoformat() if deadline else None)
        async with ctx.cancellation_scope(shield=True):
            await ctx.schedule_task("release-stock", order)  # cleanup that outlives the deadline
        raise


def cancel_with_deadline(url: str, token: str, workflow_id: str, timeout_ms: int) -> dict[str, Any]:
    """`POST /v1/workflows/{id}/cancel` with `cleanupTimeoutMs`."""
    response = requests.post(
        f"{url}/v1/workflows/{workflow_id}/cancel",
        json={"reason": "order withdrawn", "cleanupTimeoutMs": timeout_ms},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def run(url: str, token: str, queue: str, *, cleanup_seconds: float = 30.0,
        cleanup_timeout_ms: int = CLEANUP_TIMEOUT_MS) -> dict[str, Any]:
    """Run a worker and one execution, cancel it with a cleanup deadline; return how it ended."""
    client = Client(url, token)
    order = {"orderId": f"o-{uuid.uuid4().hex[:6]}", "items": 3, "seconds": cleanup_seconds}
    with Worker(client, queue=queue, workflows=[ship_order], tasks=[release_stock], shutdown_grace=15.0):
        workflow_id = client.start_workflow("cleanup-deadline", order, queue=queue).workflow_execution_id
        say(f"started {workflow_id} on queue {queue}")
        while not any(e.type == "TIMER_STARTED" for e in client.history(workflow_id)):
            time.sleep(0.05)
        cancel_with_deadline(url, token, workflow_id, cleanup_timeout_ms)
        deadline = client.get_workflow(workflow_id).raw["cleanupDeadline"]
        say(f"cancelled with a {cleanup_timeout_ms} ms cleanup timeout: deadline {deadline}")
        execution = client.wait_workflow(workflow_id, timeout=60, poll_interval=0.05)
        say(f"ended {execution.status}: {execution.raw.get('terminatedReason') or execution.cancel_reason}")
        task_id = next(e.data["taskExecutionId"] for e in client.history(workflow_id) if e.type == "TASK_SCHEDULED")
        for _ in range(200):  # the close work cancels the task asynchronously (locally within 2 s)
            if str(client.get_task(task_id).status) != "RUNNING":
                break
            time.sleep(0.05)
    history = client.history(workflow_id)
    last = history[-1]
    state = next((e.data["value"] for e in history if e.type == "STATE_SET"), None)
    say(f"last event: {last.type} {last.data}; cleanup task {client.get_task(task_id).status}")
    return {
        "workflowExecutionId": workflow_id,
        "status": str(execution.status),
        "cleanupDeadline": deadline,
        "seenByWorkflow": state,
        "lastEvent": {"type": last.type, "data": dict(last.data)},
        "cleanupTask": str(client.get_task(task_id).status),
    }


def main() -> None:
    url = os.environ.get("STRATOFLOW_URL", "http://127.0.0.1:3000")
    token = os.environ.get("STRATOFLOW_TOKEN", "dev-token")
    try:  # one clear line instead of a traceback (and worker warnings) when no server is up
        Client(url, token).health()
    except TransportError:
        raise SystemExit(f"cannot reach Stratoflow at {url}: is `make local` running?") from None
    run(url, token, f"examples-{uuid.uuid4().hex[:8]}")


if __name__ == "__main__":
    main()
