"""An order saga: reserve stock, charge the card, wait for the warehouse, ship — and undo it all on cancel.

Each step that succeeds adds its compensation to a list. When the order is cancelled, the workflow's awaits raise
`asyncio.CancelledError`; the shielded scope then runs the compensations in reverse order (refund, then release
the stock) as ordinary durable tasks, and re-raising ends the execution CANCELLED.

With `make local` running in another terminal:

    make example NAME=order_saga

`main()` runs a worker, starts one order, cancels it while it waits for the warehouse, and prints what happens.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

from stratoflow_sdk import (
    Client,
    TransportError,
    Worker,
    WorkflowCancelledError,
    WorkflowContext,
    task,
    task_context,
    workflow,
)

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.2f}s] {message}", flush=True)


# ---------------------------------------------------------------- tasks: plain functions, run in the worker's threads


@task(kind="reserve-stock")
def reserve_stock(order: dict[str, Any]) -> dict[str, Any]:
    say(f"  task reserve-stock: reserving {order['quantity']} x {order['sku']}")
    return {"reservationId": f"res-{order['orderId']}", "sku": order["sku"], "quantity": order["quantity"]}


@task(kind="charge-card")
def charge_card(order: dict[str, Any]) -> dict[str, Any]:
    context = task_context()
    say(f"  task charge-card: charging {order['amount']} (attempt {context.attempt})")
    for step in range(3):
        context.heartbeat({"step": step})  # raises TaskCancelledError if the charge was cancelled meanwhile
        time.sleep(0.05)  # talking to the payment provider
    return {"chargeId": f"ch-{order['orderId']}", "amount": order["amount"]}


@task(kind="ship-order")
def ship_order(request: dict[str, Any]) -> dict[str, Any]:
    say(f"  task ship-order: handing {request['reservation']['reservationId']} to the carrier")
    return {"trackingNumber": f"TRK-{request['orderId']}"}


@task(kind="refund-card")
def refund_card(charge: dict[str, Any]) -> dict[str, Any]:
    say(f"  task refund-card: refunding {charge['amount']} of {charge['chargeId']}")
    return {"refunded": charge["chargeId"]}


@task(kind="release-stock")
def release_stock(reservation: dict[str, Any]) -> dict[str, Any]:
    say(f"  task release-stock: releasing {reservation['reservationId']}")
    return {"released": reservation["reservationId"]}


TASKS = [reserve_stock, charge_card, ship_order, refund_card, release_stock]


# ---------------------------------------------------------------- the workflow: deterministic, replayed from history


@workflow(kind="order-saga")
async def order_saga(ctx: WorkflowContext, order: dict[str, Any]) -> dict[str, Any]:
    compensations: list[tuple[str, Any]] = []  # what undoes each step done so far
    try:
        reservation = await ctx.schedule_task("reserve-stock", order)
        compensations.append(("release-stock", reservation))
        charge = await ctx.schedule_task("charge-card", order, max_retries=2)
        compensations.append(("refund-card", charge))
        await ctx.sleep(order["warehouseSlotSeconds"])  # a durable timer: the worker may restart meanwhile
        shipment = await ctx.schedule_task("ship-order", {"orderId": order["orderId"], "reservation": reservation})
        return {"status": "shipped", "trackingNumber": shipment["trackingNumber"]}
    except asyncio.CancelledError:
        # Asked to cancel: undo what was done, newest first. The shield lets these tasks run to completion.
        if not ctx.is_replaying:  # the code re-runs from the start at every activation: log only what is new
            say(f"  workflow: cancelled ({ctx.cancel_reason}); compensating {len(compensations)} step(s)")
        async with ctx.cancellation_scope(shield=True):
            for kind, value in reversed(compensations):
                await ctx.schedule_task(kind, value)
        raise  # → CANCEL_WORKFLOW: the execution ends CANCELLED


WORKFLOWS = [order_saga]


# ---------------------------------------------------------------- running it


def wait_for_event(client: Client, workflow_id: str, event_type: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(event.type == event_type for event in client.history(workflow_id)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {event_type} in {workflow_id} after {timeout} s")
        time.sleep(0.05)


def run(url: str, token: str, queue: str, *, warehouse_slot_seconds: float = 60.0) -> dict[str, Any]:
    """Run a worker, start one order, cancel it while it waits for the warehouse; return what happened."""
    client = Client(url, token)
    order = {"orderId": uuid.uuid4().hex[:8], "sku": "KB-42", "quantity": 2, "amount": 129.9,
             "warehouseSlotSeconds": warehouse_slot_seconds}
    with Worker(client, queue=queue, workflows=WORKFLOWS, tasks=TASKS, shutdown_grace=10.0):
        execution = client.start_workflow("order-saga", order, queue=queue)
        workflow_id = execution.workflow_execution_id
        say(f"started order {order['orderId']} as {workflow_id} on queue {queue}")
        wait_for_event(client, workflow_id, "TIMER_STARTED")
        say("stock reserved and card charged; the order waits for its warehouse slot")
        say("cancelling the order (POST /v1/workflows/{id}/cancel)")
        client.cancel_workflow(workflow_id, reason="customer cancelled the order")
        try:
            output = client.result(workflow_id, timeout=60, poll_interval=0.05)
            status, reason = "COMPLETED", None
            say(f"the order completed: {output}")
        except WorkflowCancelledError as cancelled:
            status, reason = "CANCELLED", cancelled.reason
            say(f"the order ended CANCELLED ({reason})")
    history = client.history(workflow_id)
    say("history: " + ", ".join(event.type for event in history))
    tasks = {event.data["kind"]: str(client.get_task(event.data["taskExecutionId"]).status)
             for event in history if event.type == "TASK_SCHEDULED"}
    return {"workflowExecutionId": workflow_id, "status": status, "reason": reason, "tasks": tasks,
            "compensations": list(tasks)[2:]}


def main() -> None:
    url = os.environ.get("STRATOFLOW_URL", "http://127.0.0.1:3000")
    token = os.environ.get("STRATOFLOW_TOKEN", "dev-token")
    try:  # one clear line instead of a traceback (and worker warnings) when no server is up
        Client(url, token).health()
    except TransportError:
        raise SystemExit(f"cannot reach Stratoflow at {url}: is `make local` running?") from None
    result = run(url, token, f"examples-{uuid.uuid4().hex[:8]}")
    say(f"compensations run, in order: {', '.join(result['compensations'])}")


if __name__ == "__main__":
    main()
