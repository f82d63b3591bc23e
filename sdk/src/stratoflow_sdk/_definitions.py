"""The ``@workflow`` and ``@task`` decorators and the definitions they attach to functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._values import check_name

if TYPE_CHECKING:
    from ._context import WorkflowContext

F = TypeVar("F", bound=Callable[..., Any])

_WORKFLOW_ATTR = "__stratoflow_workflow__"
_TASK_ATTR = "__stratoflow_task__"


@dataclass(frozen=True)
class WorkflowDefinition:
    """A workflow kind and the ``async def fn(ctx, input)`` that implements it."""

    kind: str
    fn: Callable[[WorkflowContext, Any], Any]


@dataclass(frozen=True)
class TaskDefinition:
    """A task kind and the plain function ``fn(input)`` that implements it."""

    kind: str
    fn: Callable[[Any], Any]


def workflow(*, kind: str | None = None) -> Callable[[F], F]:
    """Mark ``async def fn(ctx, input)`` as the workflow ``kind`` (default: the function's name).

    The function is returned unchanged; pass it to ``Worker(workflows=[...])``. Workflow code must be deterministic:
    see the guide in docs/sdk.md.
    """

    def decorate(fn: F) -> F:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@workflow needs an 'async def' function, got {fn!r}")
        setattr(fn, _WORKFLOW_ATTR, WorkflowDefinition(check_name(kind or fn.__name__, "workflow kind"), fn))
        return fn

    return decorate


def task(*, kind: str | None = None) -> Callable[[F], F]:
    """Mark a plain (synchronous) function ``fn(input)`` as the task ``kind`` (default: the function's name).

    Task functions run in the Worker's thread pool; inside one, :func:`task_context` gives the attempt, heartbeats
    and cancellation.
    """

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            raise TypeError(f"@task needs a plain (non-async) function, got {fn!r}")
        setattr(fn, _TASK_ATTR, TaskDefinition(check_name(kind or fn.__name__, "task kind"), fn))
        return fn

    return decorate


def workflow_definition(fn: Any) -> WorkflowDefinition:
    """The definition ``@workflow`` attached to ``fn`` (or ``fn`` itself if it is one)."""
    if isinstance(fn, WorkflowDefinition):
        return fn
    definition = getattr(fn, _WORKFLOW_ATTR, None)
    if not isinstance(definition, WorkflowDefinition):
        raise TypeError(f"{fn!r} is not decorated with @workflow")
    return definition


def task_definition(fn: Any) -> TaskDefinition:
    """The definition ``@task`` attached to ``fn`` (or ``fn`` itself if it is one)."""
    if isinstance(fn, TaskDefinition):
        return fn
    definition = getattr(fn, _TASK_ATTR, None)
    if not isinstance(definition, TaskDefinition):
        raise TypeError(f"{fn!r} is not decorated with @task")
    return definition


def registry(items: Iterable[Any], lookup: Callable[[Any], Any]) -> dict[str, Any]:
    """Definitions by kind; two functions for one kind is a configuration error."""
    result: dict[str, Any] = {}
    for item in items:
        definition = lookup(item)
        if definition.kind in result and result[definition.kind].fn is not definition.fn:
            raise ValueError(f"two functions are registered for kind {definition.kind!r}")
        result[definition.kind] = definition
    return result
