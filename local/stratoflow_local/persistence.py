"""Local state that survives a restart: a write-ahead journal of the embedded endpoint's committed requests.

moto keeps everything in memory and its backends cannot be pickled (they hold locks), so the state is kept as the
requests that changed it. The endpoint handles one request at a time (`embedded_endpoint`), so the order in which
requests committed is the order of the journal, and replaying it into a fresh moto rebuilds the same tables, items,
stream records (moto numbers them by position, so they come back with the same sequence numbers), schedules and
queues.

- Only requests that changed something are journaled: answered 2xx and not a read (`Get*`, `Query`, `Scan`,
  `Describe*`, `List*`, the stream's `GetRecords`/`GetShardIterator`, SQS's `ReceiveMessage`, any HTTP `GET`).
  A refused write (a failed condition, a cancelled transaction) changed nothing and is not kept.
- The line is written, and flushed to the operating system, before the answer leaves the endpoint: a write that was
  acknowledged is in the journal even if the process is killed the next instant. One JSON object per line; a line
  cut short by a kill is the journal's tail and is dropped (and truncated away) when the journal is loaded.
- `POST /moto-api/reset` through a journaled endpoint empties the journal too.
- The stream poller keeps, beside the journal, the last sequence number each mapping delivered per shard
  (`StreamCheckpoints`), written atomically (a temporary file renamed over the old one), so after a restart it goes
  on where it stopped instead of delivering the whole history again.

Not kept: anything outside the endpoint (warm containers and their token caches). A kill of the machine
(rather than of the process) may lose what the operating system had not yet written to disk.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

WsgiApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

logger = logging.getLogger(__name__)

JOURNAL_FILE = "requests.jsonl"
CHECKPOINT_FILE = "streams.json"

# `ReceiveMessage` only makes messages invisible for a while: after a restart they may as well be visible again (they
# are delivered at least once anyway), and the queue emulators poll it several times a second.
_READ_OPERATIONS = ("Get", "Query", "Scan", "Describe", "List", "BatchGet", "ReceiveMessage")
# Headers a request is routed and parsed by; the rest (connection handling, user agent, lengths) is left out.
_KEPT_HEADERS = ("HTTP_HOST", "HTTP_AUTHORIZATION", "HTTP_X_AMZ_TARGET", "CONTENT_TYPE", "HTTP_X_AMZ_DATE")


def is_mutation(environ: dict[str, Any], body: bytes) -> bool:
    """Whether a request may have changed the endpoint's state (moto's own API aside)."""
    path = str(environ.get("PATH_INFO", ""))
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    if path.startswith("/moto-api/") or method in ("GET", "HEAD", "OPTIONS"):
        return False
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    operation = target.rpartition(".")[2] if target else _query_action(environ, body)
    return not operation.startswith(_READ_OPERATIONS)


def _query_action(environ: dict[str, Any], body: bytes) -> str:
    """The `Action` of a query-protocol request (SQS, EventBridge), else ''."""
    for text in (str(environ.get("QUERY_STRING", "")), body[:2048].decode("utf-8", errors="replace")):
        for pair in text.split("&"):
            name, _, value = pair.partition("=")
            if name == "Action":
                return value
    return ""


class RequestJournal:
    """An append-only file of committed requests: `record` under the endpoint's lock, `replay` at start."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / JOURNAL_FILE
        self._file: io.BufferedWriter | None = None
        self._lock = threading.Lock()

    def entries(self) -> list[dict[str, Any]]:
        """The journal's complete lines, in order; a torn last line (from a kill) is cut off the file."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        entries: list[dict[str, Any]] = []
        good_length = 0
        for line in data.splitlines(keepends=True):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no line end")
                entries.append(json.loads(line))
            except ValueError:
                logger.warning("dropping a torn journal tail", extra={"bytes": len(data) - good_length})
                with self.path.open("r+b") as handle:
                    handle.truncate(good_length)
                break
            good_length += len(line)
        return entries

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def record(self, environ: dict[str, Any], body: bytes) -> None:
        entry = {
            "method": environ.get("REQUEST_METHOD", "POST"),
            "path": environ.get("PATH_INFO", "/"),
            "query": environ.get("QUERY_STRING", ""),
            "headers": {key: environ[key] for key in _KEPT_HEADERS if key in environ},
            "body": base64.b64encode(body).decode("ascii"),
        }
        line = json.dumps(entry, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            if self._file is None:
                return
            # One write of the whole line, flushed before the request is answered.
            self._file.write(line)
            self._file.flush()

    def clear(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.seek(0)
                self._file.truncate()
                self._file.flush()

    def replay(self, application: WsgiApplication) -> int:
        """Feed every journaled request to `application` (a WSGI app) in order; returns how many were replayed."""
        count = 0
        for entry in self.entries():
            status = call(
                application,
                entry["method"],
                entry["path"],
                base64.b64decode(entry["body"]),
                entry["query"],
                entry["headers"],
            )
            if not status.startswith("2"):
                # The same requests in the same order give the same answers; a refusal means the journal and
                # moto disagree (another moto version, say), which is worth a word but not worth stopping for.
                logger.warning("journaled request answered differently on replay", extra={"status": status})
            count += 1
        return count


def call(
    application: WsgiApplication,
    method: str,
    path: str,
    body: bytes = b"",
    query: str = "",
    headers: dict[str, str] | None = None,
) -> str:
    """Run one request through a WSGI application in process; returns its status line."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "0",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(body)),
        **(headers or {}),
    }
    status: list[str] = []
    result = application(environ, lambda code, headers, exc_info=None: status.append(code))
    for _ in _drain(result):
        pass
    return status[0] if status else "500 no answer"


def _drain(result: Iterable[bytes]) -> Iterator[bytes]:
    try:
        yield from result
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


class StreamCheckpoints:
    """The last stream sequence number each mapping delivered, per shard, kept across restarts."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / CHECKPOINT_FILE
        self._lock = threading.Lock()
        try:
            self._positions: dict[str, dict[str, str]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._positions = {}

    def get(self, mapping: str, shard_id: str) -> str | None:
        with self._lock:
            return self._positions.get(mapping, {}).get(shard_id)

    def save(self, mapping: str, shard_id: str, sequence_number: str) -> None:
        with self._lock:
            self._positions.setdefault(mapping, {})[shard_id] = sequence_number
            text = json.dumps(self._positions, sort_keys=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)  # atomic: a kill leaves the old file or the new one, never half of one

    def clear(self) -> None:
        with self._lock:
            self._positions = {}
            self.path.unlink(missing_ok=True)
