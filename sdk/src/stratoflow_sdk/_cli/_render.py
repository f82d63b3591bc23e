"""Output of the CLI: readable text (tables, relative times) or stable JSON / JSON lines for scripts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._types import parse_timestamp

OUTPUTS = ("text", "json", "jsonl")
STATUS_STYLES = {
    "PENDING": "cyan", "RUNNING": "blue", "WAITING": "blue", "CANCELLING": "yellow", "COMPLETED": "green",
    "FAILED": "red", "CANCELLED": "magenta", "TERMINATED": "bold red", "STOPPED": "magenta", "SUCCEEDED": "green",
    "SKIPPED": "dim",
}


def console(*, stderr: bool = False) -> Console:
    """A rich console on the current stdout (or stderr); wide and plain when it is not a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    probe = Console(file=stream)
    if probe.is_terminal:
        return Console(file=stream, highlight=False)
    # Piped or captured: no colours, and wide enough that ids are never cut.
    return Console(file=stream, highlight=False, width=200, no_color=True)


def dumps(value: Any) -> str:
    """Compact, key-ordered JSON: the same input always prints the same line."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def emit_json(value: Any, *, pretty: bool = True) -> None:
    """One JSON document on stdout."""
    if pretty:
        sys.stdout.write(json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n")
    else:
        sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def emit_records(output: str, records: Iterable[Mapping[str, Any]], key: str) -> None:
    """Records as a JSON array (``json``, under nothing but itself) or one object a line (``jsonl``)."""
    if output == "jsonl":
        for record in records:
            emit_json(record, pretty=False)
    else:
        emit_json({key: list(records)})


def status_text(status: str | None) -> Text:
    """A status, coloured on a terminal."""
    value = status or "-"
    return Text(value, style=STATUS_STYLES.get(value, ""))


def text(value: Any) -> Text:
    """User data as literal text (never read as rich markup)."""
    if value is None:
        return Text("-")
    return Text(value if isinstance(value, str) else dumps(value))


def shorten(value: Any, limit: int = 80) -> str:
    """A JSON value on one line, cut to ``limit`` characters."""
    rendered = value if isinstance(value, str) else dumps(value)
    return rendered if len(rendered) <= limit else rendered[: limit - 1] + "…"


def relative(value: datetime | str | None, now: datetime | None = None) -> str:
    """``12s ago``, ``3m ago``, ``in 45s``: how far a timestamp is from now."""
    moment = parse_timestamp(value) if isinstance(value, str) else value
    if moment is None:
        return "-"
    delta = (now or datetime.now(UTC)) - moment
    future = delta < timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 1:
        return "just now" if not future else "now"
    if seconds < 60:
        amount = f"{int(seconds)}s"
    elif seconds < 3600:
        amount = f"{int(seconds // 60)}m{int(seconds % 60):02d}s" if seconds < 600 else f"{int(seconds // 60)}m"
    elif seconds < 86400:
        amount = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    else:
        amount = f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"
    return f"in {amount}" if future else f"{amount} ago"


def when(value: datetime | str | None) -> str:
    """A timestamp with its relative time: ``2026-12-07T03:00:00.000Z (3m ago)``."""
    if value is None:
        return "-"
    stamp = value if isinstance(value, str) else value.astimezone(UTC).isoformat(timespec="milliseconds")
    return f"{stamp.replace('+00:00', 'Z')} ({relative(value)})"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> Table:
    """A borderless table with bold headers; cells are literal text unless they already are rich ``Text``."""
    grid = Table(box=None, header_style="bold", title=title, title_justify="left", title_style="bold",
                 pad_edge=False, show_edge=False)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else text(cell) for cell in row))
    return grid


def details(pairs: Iterable[tuple[str, Any]]) -> Table:
    """Aligned ``name  value`` lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(name, value if isinstance(value, Text) else text(value))
    return grid


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: str) -> timedelta:
    """``90``, ``90s``, ``500ms``, ``5m``, ``1h30m``, ``2d`` as a timedelta (a bare number is seconds)."""
    compact = value.strip().replace(" ", "")
    try:
        return timedelta(seconds=float(compact))
    except ValueError:
        pass
    position, seconds = 0, 0.0
    for match in _DURATION.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(compact) or not compact:
        raise ValueError(f"{value!r} is not a duration (examples: 30s, 5m, 1h30m, 500ms)")
    return timedelta(seconds=seconds)
