"""``stratoflow workflow …``: start, list, describe, history (with --follow), tree, cancel, terminate."""

from __future__ import annotations

import json
import shutil
import time
from itertools import islice
from typing import Any

import click
from rich.console import Group
from rich.tree import Tree

from .._client import Client
from .._errors import NotFoundError
from .._operators import CancelOn
from .._types import HistoryEvent, WorkflowExecution, WorkflowStatus
from ._app import invocation, output_json
from ._inspect import summarize
from ._render import (
    console,
    details,
    dumps,
    emit_json,
    emit_records,
    relative,
    shorten,
    status_text,
    table,
    text,
    when,
)
from ._render import parse_duration as _parse_duration

STATUSES = [status.value for status in WorkflowStatus]


def parse_json(value: str | None, what: str) -> Any:
    """A JSON option value, or a usage error that says what is wrong."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as error:
        raise click.BadParameter(f"not JSON ({error.args[0]})", param_hint=what) from error


def parse_cancel_on(value: str) -> CancelOn:
    """``TYPE`` or ``TYPE:KEY=VALUE``; VALUE is read as JSON when it is a number or boolean, else as a string."""
    if "=" not in value:
        return CancelOn(value)
    head, _, raw = value.partition("=")
    event_type, colon, key = head.rpartition(":")
    if not colon or not event_type or not key:
        raise click.BadParameter(f"{value!r} is not TYPE or TYPE:KEY=VALUE", param_hint="--cancel-on")
    try:
        match_value = json.loads(raw)
    except ValueError:
        match_value = raw
    if not isinstance(match_value, str | int | float | bool):
        match_value = raw
    return CancelOn(event_type, {key: match_value})


def duration_option(value: str | None, what: str) -> float | None:
    """A ``--cleanup-timeout``-like option in seconds."""
    if value is None:
        return None
    try:
        return _parse_duration(value).total_seconds()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=what) from error


@click.group("workflow")
def workflow_group() -> None:
    """Workflow executions."""


@workflow_group.command("start")
@click.argument("kind")
@click.option("--input", "input_json", metavar="JSON", help="The input, as JSON (default null).")
@click.option("--queue", default="default", show_default=True)
@click.option("--cancel-on", "cancel_on", multiple=True, metavar="TYPE[:KEY=VALUE]",
              help="Cancel the run when an event of TYPE (whose data has KEY=VALUE) arrives. Repeatable.")
@click.option("--idempotency-key", help="Starting again with the same key returns the first run.")
def start(kind: str, input_json: str | None, queue: str, cancel_on: tuple[str, ...],
          idempotency_key: str | None) -> None:
    """Start a workflow execution of KIND."""
    state = invocation()
    subscriptions = [parse_cancel_on(entry) for entry in cancel_on]
    execution = state.client.start_workflow(
        kind, parse_json(input_json, "--input"), queue=queue, idempotency_key=idempotency_key,
        cancel_on=subscriptions or None,
    )
    if not state.text:
        output_json(dict(execution.raw))
        return
    console().print(text(f"Started {execution.workflow_execution_id} ({execution.kind} on {execution.queue}): "),
                    status_text(execution.status), sep="")


def _list_rows(executions: list[WorkflowExecution]) -> list[list[Any]]:
    return [[e.workflow_execution_id, e.kind, e.queue, status_text(e.status), relative(e.created_at),
             relative(e.updated_at)] for e in executions]


@workflow_group.command("list")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Only this status.")
@click.option("--kind", help="Only this kind.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many to show (pages are followed until there are that many).")
def list_workflows(status: str | None, kind: str | None, limit: int) -> None:
    """Workflow executions, newest first."""
    state = invocation()
    executions = list(islice(
        state.client.list_workflows(status=status.upper() if status else None, kind=kind,
                                    page_size=min(limit, 100)), limit))
    if not state.text:
        emit_records(state.output, (dict(e.raw) for e in executions), "workflows")
        return
    if not executions:
        console().print("No workflow executions.")
        return
    console().print(table(["ID", "KIND", "QUEUE", "STATUS", "CREATED", "UPDATED"], _list_rows(executions)))


def describe_json(client: Client, execution_id: str) -> dict[str, Any]:
    """The execution and what its history says: cancel request, tasks, timers, children, outcome."""
    execution = client.get_workflow(execution_id)
    summary = summarize(client.iter_history(execution_id))
    return {"workflow": dict(execution.raw), **summary}


@workflow_group.command("describe")
@click.argument("workflow_execution_id")
def describe(workflow_execution_id: str) -> None:
    """An execution: status, cancel request, open tasks, timers and children, and how it ended."""
    state = invocation()
    report = describe_json(state.client, workflow_execution_id)
    if not state.text:
        output_json(report)
        return
    workflow = report["workflow"]
    pairs: list[tuple[str, Any]] = [
        ("Workflow", workflow["workflowExecutionId"]),
        ("Kind", workflow.get("kind")),
        ("Queue", workflow.get("queue")),
        ("Status", status_text(workflow.get("status"))),
        ("Created", when(workflow.get("createdAt"))),
        ("Updated", when(workflow.get("updatedAt"))),
        ("Input", shorten(workflow.get("input"), 160)),
    ]
    if workflow.get("parentWorkflowExecutionId"):
        pairs.append(("Parent", f"{workflow['parentWorkflowExecutionId']} "
                                f"(as {workflow.get('childExecutionName')})"))
    for entry in workflow.get("cancelOn") or []:
        pairs.append(("Cancel on", f"{entry.get('eventType')} {dumps(entry.get('match') or {})}"))
    request = report["cancelRequest"]
    if request is not None:
        pairs.append(("Cancel requested", f"{relative(request['at'])} by {request['requestedBy']}: "
                                          f"{request['reason'] or '(no reason)'}"))
    deadline = workflow.get("cleanupDeadline") or (request or {}).get("cleanupDeadline")
    if deadline:
        pairs.append(("Cleanup deadline", when(deadline)))
    outcome = report["outcome"]
    if outcome is not None:
        pairs.append(("Ended", f"{outcome['status']} {relative(outcome['at'])}"))
        for key in ("output", "error", "reason", "requestedBy"):
            if key in outcome:
                pairs.append((key.capitalize() if key != "requestedBy" else "Requested by",
                              shorten(outcome[key], 160)))
    parts: list[Any] = [details(pairs)]
    open_tasks = [t for t in report["tasks"] if t["state"] == "SCHEDULED"]
    if open_tasks:
        parts.append(table(["TASK", "KIND", "SCHEDULED"],
                           [[t["taskExecutionId"], t["kind"], relative(t["scheduledAt"])] for t in open_tasks],
                           title="\nPending tasks"))
    open_timers = [t for t in report["timers"] if t["state"] == "STARTED"]
    if open_timers:
        parts.append(table(["TIMER", "FIRES"], [[t["timerId"], when(t["fireAt"])] for t in open_timers],
                           title="\nTimers"))
    if report["children"]:
        parts.append(table(
            ["CHILD", "NAME", "KIND", "STATE"],
            [[c["childWorkflowExecutionId"], c["childExecutionName"], c["kind"],
              status_text(c["state"] + (" (cancel requested)" if c["cancelRequested"] and c["state"] == "RUNNING"
                                        else ""))] for c in report["children"]],
            title="\nChildren"))
    summary = (f"{len(report['tasks'])} tasks ({len(open_tasks)} open), {len(report['timers'])} timers "
               f"({len(open_timers)} open), {len(report['children'])} children")
    parts.append(text("\n" + summary))
    console().print(Group(*parts))


def _event_line(event: HistoryEvent) -> str:
    """``  12  03:02:54.135  11s ago  TASK_COMPLETED  {…}``: the time of day is UTC, the data cut to the terminal."""
    stamp = (event.to_json()["createdAt"] or "-").partition("T")[2].rstrip("Z") or "-"
    prefix = f"{event.sequence:>5}  {stamp:<12}  {relative(event.created_at):>10}  {event.type:<30} "
    room = max(40, shutil.get_terminal_size((160, 24)).columns - len(prefix))
    return prefix + shorten(event.data, room)


@workflow_group.command("history")
@click.argument("workflow_execution_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until the execution ends.")
@click.option("--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
              help="Seconds between polls with --follow.")
def history(workflow_execution_id: str, follow: bool, interval: float) -> None:
    """The events of an execution, oldest first (-o jsonl: one event a line; with --follow, json is jsonl too)."""
    state = invocation()
    client = state.client
    if not follow:
        events = list(client.iter_history(workflow_execution_id))
        if state.text:
            for event in events:
                click.echo(_event_line(event))
        else:
            emit_records(state.output, (e.to_json() for e in events), "events")
        return
    last = 0
    while True:
        # Read the status before the events: once it is terminal, the events read next are all there will be.
        ended = client.get_workflow(workflow_execution_id).status.is_terminal
        for event in client.iter_history(workflow_execution_id, after_sequence=last):
            last = event.sequence
            if state.text:
                click.echo(_event_line(event))
            else:
                emit_json(event.to_json(), pretty=False)
        if ended:
            return
        time.sleep(interval)


def _tree_json(client: Client, execution: WorkflowExecution, depth: int, seen: set[str]) -> dict[str, Any]:
    seen.add(execution.workflow_execution_id)
    node: dict[str, Any] = {
        "workflowExecutionId": execution.workflow_execution_id, "kind": execution.kind,
        "status": str(execution.status), "childExecutionName": execution.child_execution_name, "children": [],
    }
    if depth <= 0:
        return node
    for child in summarize(client.iter_history(execution.workflow_execution_id))["children"]:
        child_id = child["childWorkflowExecutionId"]
        if child_id in seen:
            continue
        try:
            child_execution = client.get_workflow(child_id)
        except NotFoundError:
            node["children"].append({"workflowExecutionId": child_id, "kind": child["kind"], "status": None,
                                     "childExecutionName": child["childExecutionName"], "children": []})
            continue
        node["children"].append(_tree_json(client, child_execution, depth - 1, seen))
    return node


def _tree_render(node: dict[str, Any], tree: Tree | None = None) -> Tree:
    label = text(f"{node['workflowExecutionId']}  {node['kind']}  ")
    label.append_text(status_text(node["status"]))
    if node.get("childExecutionName"):
        label.append(f"  (as {node['childExecutionName']})")
    branch = Tree(label) if tree is None else tree.add(label)
    for child in node["children"]:
        _tree_render(child, branch)
    return branch


@workflow_group.command("tree")
@click.argument("workflow_execution_id")
@click.option("--depth", type=click.IntRange(0, 100), default=10, show_default=True)
def tree(workflow_execution_id: str, depth: int) -> None:
    """An execution and its descendants, with their statuses."""
    state = invocation()
    client = state.client
    root = _tree_json(client, client.get_workflow(workflow_execution_id), depth, set())
    if not state.text:
        output_json(root)
        return
    console().print(_tree_render(root))


@workflow_group.command("cancel")
@click.argument("workflow_execution_id")
@click.option("--reason", help="Why (shown to the workflow code and in the history).")
@click.option("--no-cascade", is_flag=True, help="Leave the descendants alone.")
@click.option("--cleanup-timeout", metavar="DURATION",
              help="Terminate the run if its cleanup is not done in time (e.g. 30s, 5m, 1h; 1 s to 24 h).")
def cancel(workflow_execution_id: str, reason: str | None, no_cascade: bool, cleanup_timeout: str | None) -> None:
    """Ask an execution (and its descendants) to cancel; its workflow code runs its cleanup."""
    state = invocation()
    status = state.client.cancel_workflow(
        workflow_execution_id, reason=reason, cascade=not no_cascade,
        cleanup_timeout=duration_option(cleanup_timeout, "--cleanup-timeout"),
    )
    _report(workflow_execution_id, status)


@workflow_group.command("terminate")
@click.argument("workflow_execution_id")
@click.option("--reason", required=True, help="Why (required).")
@click.option("--no-cascade", is_flag=True, help="Leave the descendants to their parent-close policy.")
def terminate(workflow_execution_id: str, reason: str, no_cascade: bool) -> None:
    """End an execution at once: no more workflow code runs, its tasks and timers are cancelled."""
    state = invocation()
    _report(workflow_execution_id, state.client.terminate(workflow_execution_id, reason, cascade=not no_cascade))


def _report(workflow_execution_id: str, status: WorkflowStatus) -> None:
    if not invocation().text:
        output_json({"workflowExecutionId": workflow_execution_id, "status": str(status)})
        return
    console().print(text(f"{workflow_execution_id}: "), status_text(status), sep="")
