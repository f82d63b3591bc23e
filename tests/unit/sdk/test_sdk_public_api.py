"""The public surface of stratoflow_sdk: exported names, where they live, decorators, enums, packaging."""

from __future__ import annotations

import inspect
import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import stratoflow_sdk
from stratoflow_sdk import (
    BatchItemOutcome,
    BatchOperation,
    BatchStatus,
    ParentClosePolicy,
    TaskStatus,
    WorkflowStatus,
    task,
    workflow,
)
from stratoflow_sdk._definitions import task_definition, workflow_definition

SDK_ROOT = Path(__file__).resolve().parents[3] / "sdk"

# Changing this list changes the public API: do it on purpose, with docs/sdk.md.
PUBLIC_API = [
    "ApiError", "ApplicationError", "Batch", "BatchFilter", "BatchItem", "BatchItemOutcome", "BatchOperation",
    "BatchStatus", "CancelOn", "CancellationScope", "ChildWorkflowCancelledError", "ChildWorkflowError",
    "ChildWorkflowTerminatedError",
    "ChildWorkflowFailedError", "ChildWorkflowHandle", "Client", "ConflictError", "FailedPreconditionError",
    "HistoryEvent", "InvalidArgumentError", "LeaseLostError", "NonDeterminismError", "NotFoundError",
    "ParentClosePolicy", "PayloadTooLargeError", "PollRequest", "PermissionDeniedError", "ReplayError", "ReplayResult",
    "RequestsTransport", "Selected", "StratoflowError", "TaskCancelledError", "TaskContext", "TaskDefinition",
    "TaskError", "TaskExecution", "TaskFailedError", "TaskHandle", "TaskStatus", "Transport", "TransportError",
    "TransportResponse", "UnauthenticatedError", "UnknownEventError", "Worker", "WorkflowCancelledError",
    "WorkflowContext", "WorkflowDefinition", "WorkflowExecution", "WorkflowFailedError", "WorkflowStatus",
    "WorkflowTerminatedError", "is_cancelled_error", "join_all", "replay_history", "select", "task", "task_context",
    "with_timeout", "workflow",
]


def test_the_exported_names_are_locked() -> None:
    assert sorted(stratoflow_sdk.__all__) == sorted(PUBLIC_API)
    assert len(stratoflow_sdk.__all__) == len(set(stratoflow_sdk.__all__))


def test_every_export_exists_is_documented_and_lives_in_a_private_module() -> None:
    for name in stratoflow_sdk.__all__:
        value: Any = getattr(stratoflow_sdk, name)
        assert inspect.getdoc(value), f"{name} has no docstring"
        assert value.__module__.startswith("stratoflow_sdk._"), f"{name} is defined in {value.__module__}"


def test_the_package_has_no_public_submodules() -> None:
    names = [module.name for module in pkgutil.iter_modules(stratoflow_sdk.__path__)]
    assert names and all(name.startswith("_") for name in names)


def test_public_methods_are_documented() -> None:
    for cls_name in ("Client", "Worker", "WorkflowContext", "TaskContext", "TaskHandle", "ChildWorkflowHandle",
                     "CancellationScope"):
        cls = getattr(stratoflow_sdk, cls_name)
        for name, member in vars(cls).items():
            if name.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                continue
            assert inspect.getdoc(member), f"{cls_name}.{name} has no docstring"


def test_enums_carry_the_api_values() -> None:
    assert [p.value for p in ParentClosePolicy] == ["REQUEST_CANCEL", "ABANDON"]
    assert [s.value for s in WorkflowStatus if s.is_terminal] == ["COMPLETED", "FAILED", "CANCELLED", "TERMINATED"]
    assert [s.value for s in BatchStatus if s.is_terminal] == ["COMPLETED", "STOPPED"]
    assert [o.value for o in BatchItemOutcome] == ["SUCCEEDED", "FAILED", "SKIPPED"]
    assert [o.value for o in BatchOperation] == ["CANCEL", "TERMINATE"]
    assert [s.value for s in TaskStatus if not s.is_terminal] == ["PENDING", "RUNNING"]
    assert ParentClosePolicy.ABANDON == "ABANDON"


def test_decorators_attach_definitions_and_return_the_function() -> None:
    async def checkout(ctx: Any, order: Any) -> None:
        return None

    def resize(image: Any) -> None:
        return None

    assert workflow()(checkout) is checkout
    assert workflow_definition(checkout).kind == "checkout"
    assert task(kind="images.resize")(resize) is resize
    assert task_definition(resize).kind == "images.resize"


@pytest.mark.parametrize(
    ("apply", "message"),
    [
        (lambda: workflow(kind="w")(lambda ctx, i: None), "needs an 'async def'"),
        (lambda: task(kind="t")(_async_task), "plain \\(non-async\\)"),
        (lambda: task(kind="bad kind!")(lambda i: None), "must be 1-128 characters"),
        (lambda: workflow(kind="x" * 129)(_async_task), "must be 1-128 characters"),
    ],
)
def test_decorators_refuse_misuse(apply: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        apply()


async def _async_task(value: Any) -> None:
    return None


def test_the_sdk_is_an_installable_src_layout_package() -> None:
    project = tomllib.loads((SDK_ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "stratoflow-sdk"
    assert project["requires-python"] == ">=3.11"
    assert project["dependencies"] == ["requests>=2.31,<3", "click>=8.1,<9", "rich>=13.7,<16"]
    assert project["scripts"] == {"stratoflow": "stratoflow_sdk._cli:main"}
    package = SDK_ROOT / "src" / "stratoflow_sdk"
    assert (package / "__init__.py").is_file() and (package / "py.typed").is_file()
