"""A deterministic asyncio event loop for workflow code.

No real time, no threads, no I/O: the only things that make progress are callbacks queued with ``call_soon`` (task
steps and future callbacks), run strictly first-in first-out. Replay drives it step by step after delivering each
history event, so the same history always produces the same interleaving.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable
from typing import Any


class WorkflowEventLoop(asyncio.AbstractEventLoop):
    """The event loop of one replay. ``violation`` builds the exception for a non-deterministic call."""

    def __init__(self, time_fn: Callable[[], float], violation: Callable[[str], BaseException]) -> None:
        self._ready: deque[asyncio.Handle] = deque()
        self._closed = False
        self._time_fn = time_fn
        self._violation = violation
        self.tasks: list[asyncio.Task[Any]] = []
        self.errors: list[dict[str, Any]] = []

    # --- what workflow code may use ------------------------------------------------------------------------------

    def call_soon(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        if self._closed:
            raise RuntimeError("the workflow event loop is closed")
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: str | None = None, context: contextvars.Context | None = None,
                    **kwargs: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=self, name=name, context=context)
        self.tasks.append(task)
        return task

    def time(self) -> float:
        return self._time_fn()

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return not self._closed

    def is_closed(self) -> bool:
        return self._closed

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        # After close, pending tasks being garbage-collected report themselves here: nothing to do.
        if not self._closed:
            self.errors.append(context)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        self.call_exception_handler(context)

    def get_exception_handler(self) -> None:
        return None

    # --- what it may not -----------------------------------------------------------------------------------------

    def call_later(  # type: ignore[override]
        self, delay: float, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.TimerHandle:
        raise self._violation(
            "asyncio timers (asyncio.sleep, wait_for, timeout, call_later) use real time and are not deterministic; "
            "use ctx.sleep() or with_timeout() in workflow code"
        )

    def call_at(  # type: ignore[override]
        self, when: float, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.TimerHandle:
        return self.call_later(0, callback, *args, context=context)

    def call_soon_threadsafe(  # type: ignore[override]
        self, callback: Callable[..., object], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Handle:
        raise self._violation("threads cannot schedule work on a workflow's event loop")

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        raise self._violation("run_in_executor is not allowed in workflow code; run the work in a task")

    def run_until_complete(self, future: Any) -> Any:
        raise RuntimeError("the workflow event loop is driven by replay")

    def run_forever(self) -> None:
        raise RuntimeError("the workflow event loop is driven by replay")

    def stop(self) -> None:
        raise RuntimeError("the workflow event loop is driven by replay")

    # --- driving -------------------------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        """Whether a callback is waiting to run."""
        return bool(self._ready)

    def run_one(self) -> None:
        """Run the oldest ready callback."""
        handle = self._ready.popleft()
        if not handle.cancelled():
            handle._run()

    def close(self) -> None:
        self._closed = True
        self._ready.clear()
