"""The Lambda Runtime API, served to one container process: what `awslambdaric` in that process talks to.

    GET  /2018-06-01/runtime/invocation/next             blocks until the container is given an invocation
    POST /2018-06-01/runtime/invocation/{id}/response    the handler's answer
    POST /2018-06-01/runtime/invocation/{id}/error       the handler raised (errorType, errorMessage, stackTrace)
    POST /2018-06-01/runtime/init/error                  the handler module could not be loaded

Each container has a listening socket of its own on 127.0.0.1, so the server knows which container is calling
without anything in the request. The runtime interface client keeps one persistent HTTP/1.1 connection for `next`
and the results: every answer has a Content-Length (the client crashes without one, 202s included), is written with
one `sendall` and the sockets have TCP_NODELAY, so a warm invocation costs a couple of loopback round trips.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
_ACCEPTED = json.dumps({"status": "OK"}).encode()


@dataclass
class Invocation:
    """One invocation handed to a container; `done` is set once the container answered (or died)."""

    request_id: str
    payload: bytes
    function_arn: str
    deadline_ms: int
    trace_id: str
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str = ""  # "response" | "error"
    body: bytes = b""
    error_type: str = ""
    delivered: float = 0.0  # perf_counter() when the container was handed it
    answered: float = 0.0  # and when it answered

    @property
    def handler_seconds(self) -> float:
        """The handler's own time, as the container's side of the Runtime API saw it."""
        return max(0.0, self.answered - self.delivered) if self.delivered else 0.0

    def finish(self, outcome: str, body: bytes, error_type: str = "") -> None:
        if self.done.is_set():
            return
        self.outcome, self.body, self.error_type = outcome, body, error_type
        self.answered = time.perf_counter()
        self.done.set()


class RuntimeApi:
    """The Runtime API of one container: hand it invocations with `offer`, learn when it is ready with `ready`."""

    def __init__(self, name: str, on_change: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self._on_change = on_change  # called when the container becomes ready or reports an init error
        self._condition = threading.Condition()
        self._pending: Invocation | None = None
        self._current: Invocation | None = None
        self._closed = False
        self.ready = threading.Event()  # set by the container's first `next`
        self.init_error: dict[str, Any] | None = None
        self.init_failed = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name=f"runtime-api-{name}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """`host:port`, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._socket.getsockname()[:2]
        return f"{host}:{port}"

    # ------------------------------------------------------------ the runtime's side

    def offer(self, invocation: Invocation) -> None:
        """Give the container its next invocation (it must be idle: one invocation at a time, as in Lambda)."""
        with self._condition:
            if self._closed:
                raise RuntimeError(f"{self.name}: the Runtime API is closed")
            if self._pending is not None or self._current is not None:
                raise RuntimeError(f"{self.name}: the container is busy")
            self._pending = invocation
            self._condition.notify_all()

    def abandon(self, invocation: Invocation) -> None:
        """Forget `invocation` (timed out or its container died); a late answer for it is refused."""
        with self._condition:
            if self._pending is invocation:
                self._pending = None
            if self._current is invocation:
                self._current = None

    def close(self) -> None:
        with self._condition:
            self._closed = True
            current, self._current = self._current, None
            self._condition.notify_all()
        if current is not None:
            current.finish("error", b"", "Runtime.Closed")
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    # ------------------------------------------------------------ the container's side

    def _accept(self) -> None:
        while True:
            try:
                connection, address = self._socket.accept()
            except OSError:
                return
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._connections.add(connection)
            threading.Thread(
                target=self._serve, args=(connection, address), name=f"runtime-api-{self.name}-conn", daemon=True
            ).start()

    def _serve(self, connection: socket.socket, address: Any) -> None:
        try:
            _Handler(connection, address, self)  # type: ignore[arg-type]  # only `server` attributes are read
        except OSError:
            pass
        finally:
            self._connections.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()

    def next_invocation(self) -> Invocation | None:
        """Block until there is an invocation for the container; None once the Runtime API is closed."""
        with self._condition:
            if not self.ready.is_set():
                self.ready.set()
                self._on_change()
            while self._pending is None and not self._closed:
                self._condition.wait()
            if self._closed:
                return None
            invocation = self._pending
            assert invocation is not None
            self._pending = None
            invocation.delivered = time.perf_counter()
            self._current = invocation
            return invocation

    def finish(self, request_id: str, outcome: str, body: bytes, error_type: str = "") -> bool:
        with self._condition:
            invocation = self._current
            if invocation is None or invocation.request_id != request_id:
                return False
            self._current = None
        invocation.finish(outcome, body, error_type)
        return True

    def report_init_error(self, body: bytes) -> None:
        try:
            error = json.loads(body or b"{}")
        except ValueError:
            error = {"errorMessage": body.decode(errors="replace"), "errorType": "Runtime.Unknown"}
        self.init_error = error if isinstance(error, dict) else {"errorMessage": str(error)}
        self.init_failed.set()
        self._on_change()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi  # type: ignore[assignment]  # the container's Runtime API stands in for a socketserver

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._answer(HTTPStatus.NOT_FOUND, b'{"errorType":"InvalidPath"}')
            return
        invocation = self.server.next_invocation()
        if invocation is None:
            self.close_connection = True
            return
        self._answer(
            HTTPStatus.OK,
            invocation.payload,
            [
                ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
                ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
                ("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn),
                ("Lambda-Runtime-Trace-Id", invocation.trace_id),
            ],
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path
        if path == f"{API_PREFIX}/init/error":
            self.server.report_init_error(body)
            self._answer(HTTPStatus.ACCEPTED, _ACCEPTED)
            return
        prefix = f"{API_PREFIX}/invocation/"
        request_id, _, outcome = path.removeprefix(prefix).partition("/")
        if not path.startswith(prefix) or outcome not in ("response", "error"):
            self._answer(HTTPStatus.NOT_FOUND, b'{"errorType":"InvalidPath"}')
            return
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") or ""
        if self.server.finish(request_id, outcome, body, error_type):
            self._answer(HTTPStatus.ACCEPTED, _ACCEPTED)
        else:
            self._answer(HTTPStatus.BAD_REQUEST, b'{"errorType":"InvalidRequestID"}')

    def _answer(self, status: HTTPStatus, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        lines = [f"HTTP/1.1 {status.value} {status.phrase}", "Content-Type: application/json"]
        lines += [f"{name}: {value}" for name, value in headers or []]
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def epoch_ms(seconds_from_now: float) -> int:
    return int((time.time() + seconds_from_now) * 1000)
