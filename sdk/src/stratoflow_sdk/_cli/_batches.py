"""``stratoflow batch …``: cancel or terminate many executions at once, and follow the batch."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .._client import Client
from .._operators import Batch, BatchFilter, BatchItemOutcome, BatchOperation
from .._types import WorkflowStatus
from ._app import invocation, output_json
from ._render import console, details, dumps, emit_json, emit_records, relative, status_text, table, when
from ._render import parse_duration as _parse_duration
from ._workflows import duration_option

LIVE_STATUSES = [s.value for s in WorkflowStatus if not s.is_terminal]
OUTCOMES = [o.value for o in BatchItemOutcome]


def parse_time(value: str | None, what: str) -> datetime | None:
    """An ISO-8601 time (``2026-12-07T03:00:00Z``, UTC unless it says otherwise) or a duration ago (``2h``)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return datetime.now(UTC) - _parse_duration(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither an ISO-8601 time nor a duration ago (e.g. 2h)",
                                     param_hint=what) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def progress_counts(batch: Batch) -> str:
    """``7 done / 1 failed / 2 skipped of 10`` (``of ?`` while the batch is still listing)."""
    matched = "?" if batch.matched is None else str(batch.matched)
    return f"{batch.succeeded} done / {batch.failed} failed / {batch.skipped} skipped of {matched}"


def summary_line(batch: Batch) -> str:
    """The line printed when a batch ends."""
    return f"Batch {batch.batch_id} {batch.status}: {progress_counts(batch)}"


@click.group("batch")
def batch_group() -> None:
    """Batches: cancel or terminate every execution a filter selects."""


@batch_group.command("start")
@click.option("--operation", type=click.Choice(["cancel", "terminate"], case_sensitive=False), required=True)
@click.option("--kind", help="Only executions of this kind.")
@click.option("--queue", help="Only executions on this queue.")
@click.option("--status", "statuses", multiple=True, type=click.Choice(LIVE_STATUSES, case_sensitive=False),
              help="Only these live statuses (default: every live one). Repeatable.")
@click.option("--created-after", metavar="TIME", help="Created at or after TIME (ISO-8601, or a duration ago: 2h).")
@click.option("--created-before", metavar="TIME", help="Created before TIME (ISO-8601, or a duration ago).")
@click.option("--id", "ids", multiple=True, metavar="ID", help="These executions (repeatable, up to 1000).")
@click.option("--reason", help="Why (required unless --dry-run).")
@click.option("--no-cascade", is_flag=True, help="Leave the descendants alone.")
@click.option("--cleanup-timeout", metavar="DURATION", help="For cancel: terminate what has not cleaned up in time.")
@click.option("--max-per-second", type=click.IntRange(1, 1000), help="Pace (server default 50).")
@click.option("--dry-run", is_flag=True, help="Only count the executions that match now.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="Print the new batch and return without following it.")
@click.option("--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
              help="Seconds between progress reads.")
def start(operation: str, kind: str | None, queue: str | None, statuses: tuple[str, ...],
          created_after: str | None, created_before: str | None, ids: tuple[str, ...], reason: str | None,
          no_cascade: bool, cleanup_timeout: str | None, max_per_second: int | None, dry_run: bool, yes: bool,
          no_wait: bool, interval: float) -> None:
    """Cancel or terminate every execution that matches the filter, with a live progress bar."""
    state = invocation()
    selection = BatchFilter(
        kind=kind, queue=queue, statuses=[s.upper() for s in statuses] or None,
        created_after=parse_time(created_after, "--created-after"),
        created_before=parse_time(created_before, "--created-before"),
        workflow_execution_ids=list(ids) or None,
    )
    if not selection.to_json():
        raise click.UsageError("give a filter: --kind, --queue, --status, --created-after, --created-before or --id")
    if not dry_run and not reason:
        raise click.UsageError("--reason is required (unless --dry-run)")
    chosen = BatchOperation(operation.upper())
    client = state.client
    timeout = duration_option(cleanup_timeout, "--cleanup-timeout")
    if dry_run or not yes:
        matched = client.start_batch(chosen, selection, dry_run=True)
        if dry_run:
            if state.text:
                console().print(f"{matched} workflow executions match.")
            else:
                output_json({"matched": matched})
            return
        verb = "Cancel" if chosen is BatchOperation.CANCEL else "Terminate"
        if not click.confirm(f"{verb} {matched} workflow executions?", default=False, err=True):
            click.echo("Aborted: nothing was changed.", err=True)
            raise SystemExit(1)
    batch = client.start_batch(chosen, selection, reason=reason, cascade=not no_cascade, cleanup_timeout=timeout,
                               max_per_second=max_per_second)
    if no_wait:
        _print_batch(batch)
        return
    final = _follow(client, batch, interval)
    if not state.text:
        output_json(dict(final.raw))


def _follow(client: Client, batch: Batch, interval: float) -> Batch:
    """Poll the batch until it ends: a progress bar on text output, one JSON line per change with -o jsonl."""
    state = invocation()
    if not state.text:
        last: dict[str, Any] | None = None
        while True:
            if state.output == "jsonl" and dict(batch.raw) != last:
                last = dict(batch.raw)
                emit_json(last, pretty=False)
            if batch.status.is_terminal:
                return batch
            time.sleep(interval)
            batch = client.get_batch(batch.batch_id)
    out = console()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
                   TimeElapsedColumn(), console=out)
    verb = "Cancelling" if batch.operation is BatchOperation.CANCEL else "Terminating"
    with bar:
        task = bar.add_task(verb, total=batch.matched, counts=progress_counts(batch))
        while True:
            bar.update(task, total=batch.matched, completed=batch.reached, counts=progress_counts(batch))
            if batch.status.is_terminal:
                break
            time.sleep(interval)
            batch = client.get_batch(batch.batch_id)
    out.print(summary_line(batch))
    return batch


def _print_batch(batch: Batch) -> None:
    if not invocation().text:
        output_json(dict(batch.raw))
        return
    console().print(details([
        ("Batch", batch.batch_id),
        ("Operation", str(batch.operation)),
        ("Status", status_text(batch.status)),
        ("Progress", progress_counts(batch)),
        ("Filter", dumps(batch.filter)),
        ("Reason", batch.reason or "-"),
        ("Cascade", "yes" if batch.cascade else "no"),
        ("Cleanup timeout", f"{batch.cleanup_timeout_ms} ms" if batch.cleanup_timeout_ms else "-"),
        ("Created", when(batch.created_at)),
        ("Completed", when(batch.completed_at)),
    ]))


@batch_group.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
def list_batches(limit: int) -> None:
    """Batches, newest first."""
    state = invocation()
    batches = list(islice(state.client.list_batches(page_size=min(limit, 100)), limit))
    if not state.text:
        emit_records(state.output, (dict(b.raw) for b in batches), "batches")
        return
    if not batches:
        console().print("No batches.")
        return
    console().print(table(
        ["ID", "OPERATION", "STATUS", "PROGRESS", "REASON", "CREATED"],
        [[b.batch_id, str(b.operation), status_text(b.status), progress_counts(b), b.reason,
          relative(b.created_at)] for b in batches]))


@batch_group.command("describe")
@click.argument("batch_id")
def describe(batch_id: str) -> None:
    """One batch and its progress."""
    _print_batch(invocation().client.get_batch(batch_id))


@batch_group.command("items")
@click.argument("batch_id")
@click.option("--outcome", type=click.Choice(OUTCOMES, case_sensitive=False), help="Only this outcome.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
def items(batch_id: str, outcome: str | None, limit: int) -> None:
    """The executions a batch reached and what came of each."""
    state = invocation()
    found = list(islice(state.client.batch_items(batch_id, outcome=outcome.upper() if outcome else None,
                                                 page_size=min(limit, 100)), limit))
    if not state.text:
        emit_records(state.output, (dict(i.raw) for i in found), "items")
        return
    if not found:
        console().print("No items.")
        return
    console().print(table(
        ["WORKFLOW", "OUTCOME", "ERROR", "AT"],
        [[i.workflow_execution_id, status_text(i.outcome),
          f"{i.error.get('code')}: {i.error.get('message')}" if i.error else "-", relative(i.at)] for i in found]))


@batch_group.command("stop")
@click.argument("batch_id")
def stop(batch_id: str) -> None:
    """Stop a running batch; executions it has not reached yet are left alone."""
    _print_batch(invocation().client.stop_batch(batch_id))
