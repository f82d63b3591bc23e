"""Cancellation scopes: which awaits a cancellation reaches."""

from __future__ import annotations

import asyncio
import contextvars
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._replay import WorkflowRuntime

#: The innermost scope of the current asyncio task (asyncio copies it into the tasks that task creates).
current_scope_var: contextvars.ContextVar[CancellationScope | None] = contextvars.ContextVar(
    "stratoflow_scope", default=None
)

#: Reasons are free text; keep them within the 1024 characters api.md allows a workflow cancel reason.
MAX_REASON = 1024


def reason_text(value: Any) -> str | None:
    """A cancel reason as api.md takes it: a string of at most 1024 characters, or None."""
    return None if value is None else str(value)[:MAX_REASON]


class CancellationScope:
    """A region of workflow code with its own cancellation; use as ``async with ctx.cancellation_scope(...)``.

    ``shield=True``: cancellation of enclosing scopes (including the workflow being asked to cancel) does not reach
    the body, which can still schedule and await tasks, timers and children; code after the block sees the
    cancellation again at its next await. ``cancel()`` cancels the body of this scope; the resulting
    :class:`asyncio.CancelledError` ends the block and is not propagated past it (unless an enclosing scope is
    cancelled too).
    """

    def __init__(self, runtime: WorkflowRuntime, *, shield: bool, parent: CancellationScope | None = None) -> None:
        self._runtime = runtime
        self.shield = shield
        self._parent = parent
        self._cancelled = False
        self._reason: str | None = None
        self._token: contextvars.Token[CancellationScope | None] | None = None

    @property
    def cancel_requested(self) -> bool:
        """Whether ``cancel()`` was called on this scope (for the root scope: whether the workflow was)."""
        return self._cancelled

    @property
    def cancelled(self) -> bool:
        """Whether awaits inside this scope raise :class:`asyncio.CancelledError` (this or an unshielded outer
        scope is cancelled)."""
        return self._effective()[0]

    def cancel(self, reason: str | None = None) -> None:
        """Cancel every await inside the scope, now and until the scope exits."""
        if self._cancelled:
            return
        self._cancelled = True
        self._reason = reason_text(reason)
        self._runtime.cancel_waiters()

    def _effective(self) -> tuple[bool, str | None]:
        scope: CancellationScope | None = self
        while scope is not None:
            if scope._cancelled:
                return True, scope._reason
            if scope.shield:
                return False, None
            scope = scope._parent
        return False, None

    async def __aenter__(self) -> CancellationScope:
        if self._token is not None:
            raise RuntimeError("a cancellation scope can be entered only once")
        self._parent = current_scope_var.get() or self._runtime.root_scope
        self._token = current_scope_var.set(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if self._token is not None:
            current_scope_var.reset(self._token)
        own_cancel = self._cancelled and exc_type is not None and issubclass(exc_type, asyncio.CancelledError)
        outer_cancelled = self._parent is not None and self._parent._effective()[0]
        return own_cancel and not outer_cancelled
