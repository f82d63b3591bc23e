"""Parallel composition in workflow code: ``join_all``, ``select`` and ``with_timeout``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ._context import ChildWorkflowHandle, TaskHandle
from ._replay import WorkflowRuntime, current_runtime
from ._values import duration_ms


@dataclass(frozen=True)
class Selected:
    """The winner of :func:`select`: its position among the arguments and its value.

    Unpacks as ``index, value = await select(...)``.
    """

    index: int
    value: Any

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.value))


def _runtime(what: str) -> WorkflowRuntime:
    runtime = current_runtime.get()
    if runtime is None:
        raise RuntimeError(f"{what}() can only be used inside workflow code")
    return runtime


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _as_task(runtime: WorkflowRuntime, awaitable: Any) -> asyncio.Future[Any]:
    if isinstance(awaitable, asyncio.Future):
        if awaitable.get_loop() is not runtime.loop:
            raise ValueError("cannot wait on a future of another event loop in workflow code")
        return awaitable
    if inspect.iscoroutine(awaitable):
        return runtime.loop.create_task(awaitable)
    if inspect.isawaitable(awaitable):
        return runtime.loop.create_task(_await(awaitable))
    raise TypeError(f"expected an awaitable, got {awaitable!r}")


def _cancel(awaitable: Any, future: asyncio.Future[Any] | None) -> None:
    """Give up on a branch: cancel its task or handle (which cancels the task, timer or child behind it)."""
    if isinstance(awaitable, TaskHandle | ChildWorkflowHandle) and not awaitable.done():
        awaitable.cancel()
    if future is not None and not future.done():
        future.cancel()
    elif future is None and inspect.iscoroutine(awaitable):
        awaitable.close()  # never started: nothing to undo


async def _first_done(runtime: WorkflowRuntime, futures: Sequence[asyncio.Future[Any]]) -> asyncio.Future[Any]:
    # Done callbacks run first-in first-out after the event that completed their future, so "first" follows the
    # order of history events.
    winner: asyncio.Future[asyncio.Future[Any]] = runtime.loop.create_future()

    def on_done(future: asyncio.Future[Any]) -> None:
        if not winner.done():
            winner.set_result(future)

    for future in futures:
        future.add_done_callback(on_done)
    try:
        return await winner
    finally:
        for future in futures:
            future.remove_done_callback(on_done)


def _resolved_at(runtime: WorkflowRuntime, awaitable: Any) -> int | None:
    """The history sequence at which an awaitable was already resolved, ``None`` if it is not."""
    if isinstance(awaitable, TaskHandle | ChildWorkflowHandle) and awaitable.done():
        return awaitable._op.resolved_sequence or runtime.sequence
    if isinstance(awaitable, asyncio.Future) and awaitable.done():
        return runtime.sequence
    return None


async def join_all(*awaitables: Any) -> list[Any]:
    """Wait for every awaitable (task handles, child handles, coroutines) and return their results in order.

    The first failure (in history order) cancels the branches still running and is raised. If ``join_all`` itself
    is cancelled, every branch is cancelled.
    """
    runtime = _runtime("join_all")
    futures = [_as_task(runtime, a) for a in awaitables]
    pending = list(futures)
    try:
        while pending:
            done = await _first_done(runtime, pending)
            pending.remove(done)
            if done.cancelled() or done.exception() is not None:
                for position, future in enumerate(futures):
                    if future in pending:
                        _cancel(awaitables[position], future)
                return [done.result()]  # raises the branch's exception
    except BaseException:
        for position, future in enumerate(futures):
            if not future.done():
                _cancel(awaitables[position], future)
        raise
    return [future.result() for future in futures]


async def select(*awaitables: Any) -> Selected:
    """Wait for the first awaitable to finish, cancel the others, and return which one won and its value.

    The winner is the branch whose completing history event comes first, whatever its position among the
    arguments. Losers are cancelled: a task gets ``REQUEST_CANCEL_TASK``, a timer ``CANCEL_TIMER``, a child
    ``REQUEST_CANCEL_CHILD_WORKFLOW``. If the winner raised, that exception is raised (after the losers were
    cancelled).
    """
    runtime = _runtime("select")
    if not awaitables:
        raise ValueError("select() needs at least one awaitable")
    already = [(at, i) for i, a in enumerate(awaitables) if (at := _resolved_at(runtime, a)) is not None]
    if already:
        # Some branch already has its outcome: it wins without starting the others (no timer started for nothing).
        _, index = min(already)
        for position, awaitable in enumerate(awaitables):
            if position != index:
                _cancel(awaitable, awaitable if isinstance(awaitable, asyncio.Future) else None)
        return Selected(index, await _await(awaitables[index]))
    futures = [_as_task(runtime, a) for a in awaitables]
    try:
        winner = await _first_done(runtime, futures)
    except BaseException:
        for position, future in enumerate(futures):
            _cancel(awaitables[position], future)
        raise
    for position, future in enumerate(futures):
        if future is not winner:
            _cancel(awaitables[position], future)
    return Selected(futures.index(winner), winner.result())


async def with_timeout(awaitable: Any, seconds: float | timedelta) -> Any:
    """Await ``awaitable`` for at most ``seconds`` of workflow time (a durable timer).

    On timeout the awaitable is cancelled and :class:`TimeoutError` is raised; otherwise the timer is cancelled
    and the value returned.
    """
    runtime = _runtime("with_timeout")
    duration_ms(seconds, "timeout")
    selected = await select(awaitable, runtime.ctx.sleep(seconds))
    if selected.index == 1:
        raise TimeoutError(f"timed out after {seconds} s of workflow time")
    return selected.value
