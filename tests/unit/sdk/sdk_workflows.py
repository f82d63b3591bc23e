"""Workflows the SDK tests replay (the golden histories name them by kind)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from stratoflow_sdk import (
    ParentClosePolicy,
    TaskFailedError,
    WorkflowContext,
    is_cancelled_error,
    join_all,
    select,
    with_timeout,
    workflow,
)


@workflow(kind="join-all")
async def join_all_workflow(ctx: WorkflowContext, numbers: list[int]) -> int:
    results = await join_all(*(ctx.schedule_task("double", n) for n in numbers))
    return sum(results)


@workflow(kind="select-tasks")
async def select_tasks(ctx: WorkflowContext, _: Any) -> dict[str, Any]:
    winner = await select(ctx.schedule_task("lookup-a", None), ctx.schedule_task("lookup-b", None))
    return {"index": winner.index, "value": winner.value}


@workflow(kind="select-timer")
async def select_timer(ctx: WorkflowContext, _: Any) -> dict[str, Any]:
    index, value = await select(ctx.schedule_task("work", None), ctx.sleep(60))
    return {"index": index, "value": value}


@workflow(kind="select-child")
async def select_child(ctx: WorkflowContext, _: Any) -> dict[str, Any]:
    child = ctx.start_child("leaf", {"n": 1}, name="leaf-1")
    index, value = await select(child, ctx.sleep(30))
    return {"index": index, "value": value}


@workflow(kind="timeout")
async def timeout_workflow(ctx: WorkflowContext, _: Any) -> dict[str, Any]:
    try:
        value = await with_timeout(ctx.schedule_task("work", None), 10)
    except TimeoutError:
        return {"timedOut": True}
    return {"timedOut": False, "value": value}


@workflow(kind="order")
async def order_workflow(ctx: WorkflowContext, order: dict[str, Any]) -> str:
    """Reserve, wait for payment, ship; if cancelled, release the reservation in a shielded scope."""
    try:
        await ctx.schedule_task("reserve", order)
        await ctx.sleep(3600)
        await ctx.schedule_task("ship", order)
        return "shipped"
    except asyncio.CancelledError:
        async with ctx.cancellation_scope(shield=True):
            await ctx.schedule_task("release", order)
            await ctx.sleep(5)
        raise


@workflow(kind="order-compensated")
async def compensated_order(ctx: WorkflowContext, order: dict[str, Any]) -> str:
    """Like ``order`` but swallows the cancellation after cleaning up: the execution completes."""
    try:
        await ctx.schedule_task("reserve", order)
        await ctx.sleep(3600)
        return "shipped"
    except asyncio.CancelledError:
        async with ctx.cancellation_scope(shield=True):
            await ctx.schedule_task("release", order)
        return "released"


@workflow(kind="operations")
async def operations_workflow(ctx: WorkflowContext, _: Any) -> dict[str, Any]:
    # A truly random side effect: replay must return the recorded value, never call it again.
    token = await ctx.run_operation("token", lambda: random.SystemRandom().randint(0, 10**12))
    ctx.set_state("phase", "started")
    ctx.set_state("token", token)
    await ctx.sleep(1)
    phase = ctx.get_state("phase")
    ctx.clear_state("phase")
    return {"token": token, "phase": phase, "after": ctx.get_state("phase"), "uuid": str(ctx.uuid4()),
            "now": ctx.now().isoformat()}


@workflow(kind="fan-out")
async def fan_out(ctx: WorkflowContext, count: int) -> int:
    results = await join_all(*(ctx.schedule_task("double", n) for n in range(count)))
    return sum(results)


@workflow(kind="leaf")
async def leaf(ctx: WorkflowContext, value: Any) -> Any:
    await ctx.sleep(1)
    return value


@workflow(kind="parent-abandon")
async def parent_abandon(ctx: WorkflowContext, _: Any) -> str:
    ctx.start_child("leaf", 1, name="kept", parent_close_policy=ParentClosePolicy.ABANDON)
    return "done"


@workflow(kind="program")
async def program(ctx: WorkflowContext, steps: list[dict[str, Any]]) -> list[Any]:
    """Interprets generated programs for the property tests; records what each step saw."""
    seen: list[Any] = []
    try:
        for number, step in enumerate(steps):
            seen.append(await _step(ctx, number, step))
    except asyncio.CancelledError:
        async with ctx.cancellation_scope(shield=True):
            seen.append(await _outcome(ctx.schedule_task("cleanup", len(seen))))
        raise
    return seen


async def _outcome(awaitable: Any) -> Any:
    try:
        return await awaitable
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return {"error": type(exc).__name__, "cancelled": is_cancelled_error(exc)}


async def _step(ctx: WorkflowContext, number: int, step: dict[str, Any]) -> Any:
    op = step["op"]
    if op == "task":
        return await _outcome(ctx.schedule_task("echo", number))
    if op == "sleep":
        await ctx.sleep(step["seconds"])
        return "slept"
    if op == "join":
        return await _outcome(join_all(*(ctx.schedule_task("echo", [number, i]) for i in range(step["n"]))))
    if op == "select":
        branches = []
        for branch in step["branches"]:
            if branch == "task":
                branches.append(ctx.schedule_task("echo", number))
            elif branch == "timer":
                branches.append(ctx.sleep(step["seconds"]))
            else:
                branches.append(ctx.start_child("leaf", number, name=f"child-{number}-{len(branches)}"))
        selected = await _outcome(select(*branches))
        return selected if isinstance(selected, dict) else selected.index
    if op == "timeout":
        try:
            return await with_timeout(ctx.schedule_task("echo", number), step["seconds"])
        except TimeoutError:
            return "timeout"
        except TaskFailedError:
            return "failed"
    if op == "child":
        return await _outcome(ctx.start_child("leaf", number, name=f"child-{number}"))
    if op == "operation":
        return await ctx.run_operation(f"op-{number}", lambda: random.SystemRandom().random())
    if op == "state":
        ctx.set_state(f"k{number % 3}", number)
        if number % 2:
            ctx.clear_state(f"k{number % 3}")
        return ctx.get_state(f"k{number % 3}")
    if op == "fanout":
        return await _outcome(join_all(*(ctx.schedule_task("echo", [number, i]) for i in range(step["n"]))))
    raise ValueError(f"unknown step {op!r}")


ALL_WORKFLOWS = [join_all_workflow, select_tasks, select_timer, select_child, timeout_workflow, order_workflow,
                 compensated_order, operations_workflow, fan_out, leaf, parent_abandon, program]
