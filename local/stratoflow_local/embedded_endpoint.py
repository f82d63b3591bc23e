"""The local stack's embedded AWS endpoint: moto on loopback, one request at a time.

`EmbeddedAwsEndpoint` serves moto's WSGI application (every service: DynamoDB, DynamoDB Streams, EventBridge
Scheduler, EventBridge, SQS, ...) on a threaded werkzeug server bound to 127.0.0.1 (its connections kept alive between
requests, as AWS keeps them), and makes two changes to plain
moto that the local stack's correctness depends on:

- every request is handled under one lock, so requests are linearizable: a `TransactWriteItems` is atomic with
  respect to every other request, and moto's unsynchronised data structures are never changed while another
  request walks them;
- moto's `TransactWriteItems` is replaced, for as long as an endpoint runs, by a journaled copy that undoes exactly
  what a failed transaction wrote (`stratoflow_local.moto_transactions`), in time independent of table size.

It also takes some of moto's costs out of the lock without changing an answer: queries start from one partition
(`stratoflow_local.moto_queries`), stream records and DynamoDB's item operations are rendered to JSON by code
written for them instead of moto's model-driven serializer (`moto_queries`, `stratoflow_local.moto_responses`), and
update expressions are parsed once and validated in fewer walks (`stratoflow_local.moto_expressions`), and items
are built in linear time (`stratoflow_local.moto_items`).

`start()` first checks that moto is the pinned version with the internals the adapter uses
(`stratoflow_local.moto_pin.check_moto`) and raises `MotoPinError` otherwise.

Usage::

    with EmbeddedAwsEndpoint() as endpoint:
        dynamodb = boto3.client("dynamodb", **endpoint.client_kwargs())
        ...

Thread safety:

- Request bodies are read before the lock is taken and responses are buffered under it, so a slow client never
  holds the lock; the lock covers exactly moto's processing of one request.
- There is one such lock per process, shared by every endpoint, because moto's backends are process-global: every
  moto server or mock in the same process sees the same data. Requests that reach moto some other way (a plain
  `ThreadedMotoServer`, `mock_aws`) are not serialized by it. While an endpoint runs, every DynamoDB backend in the
  process uses the journaled transaction.
- `lock` is that lock (re-entrant). Code of the local stack that reads or changes moto's backends in process
  (instead of over HTTP) must hold it, or use `run_locked`, to be linearizable with requests. Never make a request
  to the endpoint while holding it: the request would wait for the lock forever.
- `start()` and `stop()` are meant to be called from one thread.

Request hook (for fault injection): `request_hook`, if set, sees every request (`AwsRequest`: who signed it, which
service and operation, botocore's per-call id that its retries share) before moto does, outside the lock, and may
answer it itself (`Answer`, e.g. a throttling error), drop the connection without processing it (`Drop.BEFORE`), or
let moto process it and then drop the connection so the answer is lost (`Drop.AFTER`).

Clients: pass `client_kwargs()` to boto3 (explicit `endpoint_url`, region, dummy credentials), or export
`environment()` to a process that builds its own clients. It sets `AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`, without
which botocore resolves DynamoDB (and Streams) to account-id endpoints instead of `AWS_ENDPOINT_URL`.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import io
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import get_input_stream

from stratoflow_local.moto_patches import moto_patched
from stratoflow_local.moto_pin import check_moto
from stratoflow_local.persistence import RequestJournal, call, is_mutation

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_REGION = "us-east-1"
# moto accepts any credentials; these map to its default account 123456789012.
DUMMY_ACCESS_KEY_ID = "testing"
DUMMY_SECRET_ACCESS_KEY = "testing"

StartResponse = Callable[..., Any]

# moto's backends are process-global, so the lock that serializes access to them is too: every endpoint in the
# process (and every caller of `run_locked`) shares it.
_MOTO_LOCK = threading.RLock()


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")


@dataclass(frozen=True)
class AwsRequest:
    """One request to the endpoint, as the request hook sees it (header names in lower case)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def _credential(self) -> tuple[str, str] | tuple[None, None]:
        match = _CREDENTIAL.search(self.headers.get("authorization", ""))
        return (match.group(1), match.group(2)) if match else (None, None)

    @property
    def access_key_id(self) -> str | None:
        """The access key id of the SigV4 signature: who sent the request."""
        return self._credential()[0]

    @property
    def service(self) -> str | None:
        """The service of the SigV4 credential scope (`dynamodb`, `scheduler`, ...)."""
        return self._credential()[1]

    @property
    def call_id(self) -> str | None:
        """botocore's `amz-sdk-invocation-id`: the same for every attempt (retry) of one API call."""
        return self.headers.get("amz-sdk-invocation-id")

    @property
    def operation(self) -> str:
        """The API operation: from `X-Amz-Target` (JSON protocols) or the method and path (REST protocols)."""
        target = self.headers.get("x-amz-target")
        if target:
            return target.rpartition(".")[2]
        collection, _, name = self.path.strip("/").partition("/")
        if self.service == "scheduler" and collection == "schedules":
            if not name:
                return "ListSchedules"
            verb = {"POST": "Create", "PUT": "Update", "DELETE": "Delete", "GET": "Get"}.get(self.method, self.method)
            return f"{verb}Schedule"
        return f"{self.method} {self.path}"

    def json(self) -> dict[str, object]:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Answer:
    """An answer the hook gives instead of moto's."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Drop(enum.Enum):
    """Close the connection without an answer: before moto sees the request, or after it processed it."""

    BEFORE = "before"
    AFTER = "after"


RequestHook = Callable[[AwsRequest], "Answer | Drop | None"]
# Told, after a request changed something, the service of its signature (`dynamodb`, `sqs`, `scheduler`, `events`):
# the local event sources wake on it instead of polling the endpoint, whose one lock every poll would take.
ChangeListener = Callable[[str], None]


def _drop_connection(environ: dict[str, object]) -> None:
    connection = environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    # The server's handler treats a ConnectionError as a dropped connection: nothing is written.
    raise ConnectionAbortedError("the request hook dropped the connection")


class _SerializedApplication:
    """WSGI middleware that runs the wrapped application under `lock`, one request at a time.

    Once closed (under the lock) it answers 503 instead, so no request reaches moto after `stop()` returns, even one
    accepted just before the server shut down.
    """

    def __init__(
        self,
        application: Callable[[dict[str, Any], StartResponse], Iterable[bytes]],
        lock: Any,
        journal: RequestJournal | None = None,
    ) -> None:
        self._application = application
        self._lock = lock
        self._journal = journal
        self.closed = False
        self.hook: RequestHook | None = None
        self.change_listeners: list[ChangeListener] = []

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        # Read the body before taking the lock: a slow client must not hold up everyone else.
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        decision = self._consult_hook(environ, body)
        if isinstance(decision, Answer):
            start_response(
                f"{decision.status} Hooked", [*decision.headers, ("Content-Length", str(len(decision.body)))]
            )
            return [decision.body]
        if decision is Drop.BEFORE:
            _drop_connection(environ)
        started: list[tuple[str, list[tuple[str, str]], Any]] = []
        chunks: list[bytes] = []

        def buffer_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [(status, headers, exc_info)]
            return chunks.append

        with self._lock:
            if self.closed:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Content-Length", "7")])
                return [b"stopped"]
            # The whole response is produced under the lock; only writing it to the socket happens outside.
            _read_whole(self._application(environ, buffer_start_response), chunks)
            status, headers, exc_info = started[0]
            changed = status.startswith("2") and is_mutation(environ, body)
            if self._journal is not None:
                self._journal_request(environ, body, status, changed)
        if changed:
            self._tell_listeners(environ)
        if decision is Drop.AFTER:
            _drop_connection(environ)
        start_response(status, headers, exc_info)
        return chunks

    def _journal_request(self, environ: dict[str, Any], body: bytes, status: str, changed: bool) -> None:
        """Under the lock, before the answer leaves: committed changes are journaled in commit order."""
        assert self._journal is not None
        if environ.get("PATH_INFO") == "/moto-api/reset" and status.startswith("2"):
            self._journal.clear()
        elif changed:
            self._journal.record(environ, body)

    def _tell_listeners(self, environ: dict[str, Any]) -> None:
        match = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        if match is None:
            return
        for listener in list(self.change_listeners):
            try:
                listener(match.group(2))
            except Exception:  # a listener's bug must not fail the request that already committed
                logging.getLogger(__name__).exception("change listener failed")

    def _consult_hook(self, environ: dict[str, Any], body: bytes) -> Answer | Drop | None:
        hook = self.hook
        if hook is None:
            return None
        headers = {
            key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        request = AwsRequest(str(environ.get("REQUEST_METHOD", "")), str(environ.get("PATH_INFO", "")), headers, body)
        return hook(request)


def _read_whole(result: Iterable[bytes], chunks: list[bytes]) -> None:
    """A WSGI application's answer body, appended to `chunks`; then the answer is closed, as WSGI requires."""
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _keep_alive_handler(moto_handler: type[Any], connections: set[socket.socket]) -> type[Any]:
    """moto's request handler (werkzeug's, with moto's header handling) answering over HTTP/1.1 keep-alive.

    werkzeug's development server ends every answer with `Connection: close`, so every AWS call of every container
    (and of the local event sources) paid a new TCP connection, and the server a new thread, per request. This
    handler builds the same environ (moto's `make_environ`) and runs the same application, but reads the request body
    whole first, answers with its `Content-Length` and keeps the connection for the client's next request, as AWS
    does. `connections` holds the open ones, so that `stop()` can close them.
    """

    class KeepAliveHandler(moto_handler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without TCP_NODELAY the body waits for the client's delayed
        # ACK (40 ms on Linux) on every response.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            connections.add(self.connection)

        def finish(self) -> None:
            connections.discard(self.connection)
            super().finish()

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Requests are not logged (werkzeug would format a line per request for a logger set to ERROR)."""

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.environ = environ = self.make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: werkzeug's reader stops at the last chunk
                body = environ["wsgi.input"].read()
            else:
                body = self.rfile.read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            answered: list[tuple[str, list[tuple[str, str]]]] = []
            chunks: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                answered[:] = [(status, headers)]
                return chunks.append

            try:
                _read_whole(self.server.app(environ, start_response), chunks)
            except ConnectionError:  # the request hook dropped the connection: nothing is written
                self.close_connection = True
                return
            except Exception:
                logging.getLogger(__name__).exception("the embedded endpoint failed to answer a request")
                answered[:] = [("500 Internal Server Error", [("Content-Type", "text/plain")])]
                chunks[:] = [b"Internal Server Error"]
                self.close_connection = True
            status, headers = answered[0]
            payload = b"".join(chunks)
            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

    return KeepAliveHandler


def _remembering_backends(dispatcher: type[Any]) -> type[Any]:
    """moto's dispatcher, remembering which backend serves each host.

    moto looks the backend up again for every request, listing its package directory (a stat per service) and
    matching the host against every service's URL patterns: about an eighth of the time the endpoint's lock is held.
    The answer depends only on the host and the installed moto, so it is kept (moto calls it under its own lock).
    """

    class RememberingDispatcher(dispatcher):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._backend_of_host: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backend_of_host:
                self._backend_of_host[host] = super().get_backend_for_host(host)
            return self._backend_of_host[host]

        def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET_PREFIX):
                return dynamodb_answer(environ, start_response)
            return super().__call__(environ, start_response)

    return RememberingDispatcher


DYNAMODB_TARGET_PREFIX = "DynamoDB_20120810."


def dynamodb_answer(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A DynamoDB request answered by moto's `DynamoHandler.dispatch`, as moto's server answers it, without Flask.

    moto's server hands every DynamoDB request, whatever its path, to that one view (its URL map for DynamoDB is
    `{"{0}/": DynamoHandler.dispatch}`), through a Flask app: a request context, URL matching, CORS headers and a
    Flask response around one call, about a tenth of the time the endpoint's lock is held per request. This makes the
    same call with the same request object (moto's `Request`, flagged as received by a server, as moto's
    `BackendRequest` is) and the same mapping of a `ClientError` to 400. Only the CORS headers, which no SDK reads,
    are not added. `moto_pin.check_moto` pins the URL map and the view wrapper's source.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415  (moto is imported only when a stack starts)
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415
    from werkzeug.wrappers import Response  # noqa: PLC0415

    request = _server_request_class()(environ)
    try:
        result = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    return Response(response=content, status=status, headers=headers)(environ, start_response)


@functools.cache
def _server_request_class() -> type[Any]:
    from moto.core.request import Request  # noqa: PLC0415

    return type("ServerRequest", (Request,), {"from_wsgi_server": True})


class EmbeddedAwsEndpoint:
    """moto's AWS services on `http://127.0.0.1:<port>`, linearizable and with journaled DynamoDB transactions.

    `port=0` picks a free port. `start()` returns the URL; `stop()` shuts the server down and, once no endpoint is
    left running, gives moto its own `TransactWriteItems` back. Data lives in moto's process-global backends and
    survives `stop()`.
    """

    def __init__(self, port: int = 0, region: str = DEFAULT_REGION, journal: RequestJournal | None = None) -> None:
        self._port = port
        self._region = region
        self._journal = journal
        self.replayed = 0
        self._lock = _MOTO_LOCK
        self._server: BaseWSGIServer | None = None
        self._connections: set[socket.socket] = set()  # kept alive between requests, closed by stop()
        self._application: _SerializedApplication | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._uninstall: Callable[[], None] | None = None
        self._hook: RequestHook | None = None

    @property
    def lock(self) -> threading.RLock:
        """The process-wide lock every request runs under; hold it to touch moto's backends in process."""
        return self._lock

    @property
    def request_hook(self) -> RequestHook | None:
        return self._hook

    @request_hook.setter
    def request_hook(self, hook: RequestHook | None) -> None:
        """See every request before moto does (fault injection); None removes the hook."""
        self._hook = hook
        if self._application is not None:
            self._application.hook = hook

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the embedded endpoint is not running; call start() first")
        return self._url

    @property
    def region(self) -> str:
        return self._region

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("the embedded endpoint is already running")
        check_moto()
        # Imported only once the pin check passed, so a changed moto fails with MotoPinError, not an ImportError.
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        patched = contextlib.ExitStack()
        patched.enter_context(moto_patched())
        try:
            moto_application = _remembering_backends(DomainDispatcherApplication)(create_backend_app)
            if self._journal is not None:
                self._restore(moto_application)
            application = _SerializedApplication(moto_application, self._lock, self._journal)
            application.hook = self._hook
            handler = _keep_alive_handler(MotoRequestHandler, self._connections)
            server = make_server("127.0.0.1", self._port, application, threaded=True, request_handler=handler)
        except BaseException:
            patched.close()
            raise
        self._server, self._application, self._uninstall = server, application, patched.close
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="embedded-aws-endpoint", daemon=True
        )
        self._thread.start()
        self._url = f"http://127.0.0.1:{server.server_port}"
        return self._url

    def _restore(self, moto_application: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        """Start moto from empty and replay the journal into it, before the first request is served."""
        assert self._journal is not None
        with self._lock:
            call(moto_application, "POST", "/moto-api/reset")  # moto's backends are process-global
            self.replayed = self._journal.replay(moto_application)
            self._journal.open()

    def stop(self) -> None:
        server, thread, application, uninstall = self._server, self._thread, self._application, self._uninstall
        if server is None:
            return
        self._server, self._thread, self._application, self._url, self._uninstall = None, None, None, None, None
        try:
            server.shutdown()
            server.server_close()
            if thread is not None:
                thread.join()
        finally:
            # Under the lock: waits for the request in progress, and turns away any accepted but not yet served.
            with self._lock:
                if application is not None:
                    application.closed = True
                if uninstall is not None:
                    uninstall()
                if self._journal is not None:
                    self._journal.close()
            # Clients holding a connection to this server reconnect, to whichever endpoint runs next.
            for connection in list(self._connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call `listener(service)` after each request that changed the endpoint's state, once the lock is released."""
        if self._application is None:
            raise RuntimeError("the embedded endpoint is not running; call start() first")
        self._application.change_listeners.append(listener)

    def run_locked(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `function` linearizably with every request (it must not call the endpoint over HTTP)."""
        with self._lock:
            return function(*args, **kwargs)

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for `boto3.client(service, **kwargs)` against this endpoint."""
        return {
            "endpoint_url": self.url,
            "region_name": self._region,
            "aws_access_key_id": DUMMY_ACCESS_KEY_ID,
            "aws_secret_access_key": DUMMY_SECRET_ACCESS_KEY,
        }

    def environment(self) -> dict[str, str]:
        """Environment variables that point botocore (and PynamoDB) in another process at this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "AWS_DEFAULT_REGION": self._region,
            "AWS_REGION": self._region,
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_ACCESS_KEY,
        }

    def __enter__(self) -> EmbeddedAwsEndpoint:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
