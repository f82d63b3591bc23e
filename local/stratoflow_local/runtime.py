"""The local Lambda runtime: every container is an OS process running its function through `awslambdaric`.

A container is what Lambda calls an execution environment: `python -m awslambdaric <Handler>` started in the
function's code folder with exactly the environment Lambda would give it (the template's variables, Globals merged,
plus the `AWS_LAMBDA_*` variables, the region, credentials and the stack's endpoint), talking to a Runtime API of its
own (`stratoflow_local.runtime_api`). Module state lives as long as the process; nothing is shared between
containers or with the stack's process.

- A new container is a cold start: it is ready once its handler module is loaded and it asks for its first
  invocation; an init error (`/runtime/init/error`) fails the invocation that was waiting for it, as in Lambda.
- A warm container is reused (the most recently used first). One container runs one invocation at a time.
- Concurrency per function is bounded by the template's `ReservedConcurrentExecutions` and by a local cap
  (`max_containers`, default `STRATOFLOW_MAX_CONTAINERS` or 8); an invocation past the bound waits for a container.
- A handler past its `Timeout` is killed and reported as Lambda reports it (`Sandbox.Timedout`); a container that
  exits or crashes fails its invocation (`Runtime.ExitError`) and is replaced by the next invocation.
- Containers idle for `idle_seconds` (default `STRATOFLOW_IDLE_SECONDS` or 600) are stopped. A container whose
  stack's process is gone exits too: `awslambdaric` gives up once its Runtime API connection closes.

Each container signs its AWS calls with an access key id of its own (`AKLOCAL_<function>_<n>`), so the endpoint can
tell which function and invocation made a call (`invocation_of`), and `add_invocation_listener` learns of every
invocation as it is handed to a container: together they let tests inject faults at the endpoint.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stratoflow_local.runtime_api import Invocation, RuntimeApi
from stratoflow_local.template import FunctionSpec, LocalTemplate

logger = logging.getLogger(__name__)

DEFAULT_MAX_CONTAINERS = 8
DEFAULT_IDLE_SECONDS = 600.0
MIN_INIT_SECONDS = 10.0  # Lambda's limit on the init phase; a longer Timeout gives init that long
ACCESS_KEY_PREFIX = "AKLOCAL_"
SECRET_ACCESS_KEY = "local-secret"

InvocationListener = Callable[[str, str, str], None]  # (function, request id, container's access key id)


def max_containers_from_environment(environ: Mapping[str, str] = os.environ) -> int:
    raw = environ.get("STRATOFLOW_MAX_CONTAINERS")
    return max(1, int(raw)) if raw else DEFAULT_MAX_CONTAINERS


def idle_seconds_from_environment(environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get("STRATOFLOW_IDLE_SECONDS")
    return float(raw) if raw else DEFAULT_IDLE_SECONDS


class FunctionError(Exception):
    """The invocation failed: what Lambda's Invoke would report (`errorType`, `errorMessage`, `stackTrace`)."""

    def __init__(
        self, function: str, error_type: str, error_message: str, stack_trace: Iterable[str] = (), request_id: str = ""
    ) -> None:
        super().__init__(f"{function}: {error_type}: {error_message}")
        self.function = function
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = list(stack_trace)
        self.request_id = request_id

    @classmethod
    def from_report(cls, function: str, body: bytes, error_type: str = "", request_id: str = "") -> FunctionError:
        """From the JSON a runtime posts to `/invocation/{id}/error` or `/init/error`."""
        try:
            report = json.loads(body or b"{}")
        except ValueError:
            report = {"errorMessage": body.decode(errors="replace")}
        if not isinstance(report, dict):
            report = {"errorMessage": str(report)}
        trace = report.get("stackTrace") or []
        return cls(
            function,
            str(report.get("errorType") or error_type or "Runtime.Unknown"),
            str(report.get("errorMessage", "")),
            [str(line) for line in trace] if isinstance(trace, list) else [str(trace)],
            request_id,
        )

    def report(self) -> dict[str, Any]:
        """The error as Lambda's Invoke returns it."""
        return {"errorMessage": self.error_message, "errorType": self.error_type, "stackTrace": self.stack_trace}


def site_packages() -> list[Path]:
    """The stack's own site-packages: the stand-in for the dependencies layer (and where awslambdaric lives)."""
    paths = sysconfig.get_paths()
    return [Path(paths[key]) for key in ("purelib", "platlib") if key in paths and Path(paths[key]).is_dir()]


@dataclass(frozen=True)
class ContainerSettings:
    """What every container of a runtime shares: where AWS is, which region, and variables added to all of them."""

    endpoint_url: str
    region: str
    extra_environment: Mapping[str, str]
    log_file: Path | None = None


def container_environment(
    spec: FunctionSpec, settings: ContainerSettings, runtime_api: str, access_key_id: str, log_stream: str
) -> dict[str, str]:
    """The environment of one container: what Lambda sets, over the function's own variables from the template."""
    python_path = [spec.code_dir, *spec.layer_dirs, *site_packages()]
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        **spec.environment,
        **settings.extra_environment,
        # Lambda's reserved variables: the function's own environment cannot change them.
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ACCESS_KEY_ID": access_key_id,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        # Local only: the stack's endpoint, no account-id endpoints, no X-Ray daemon to send traces to.
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join(str(path) for path in python_path),
    }


_container_numbers = itertools.count(1)


class Container:
    """One execution environment of one function: an `awslambdaric` process and its Runtime API."""

    def __init__(self, spec: FunctionSpec, settings: ContainerSettings) -> None:
        self.spec = spec
        self.number = next(_container_numbers)
        self.access_key_id = f"{ACCESS_KEY_PREFIX}{spec.logical_id}_{self.number}"
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self.cold = True
        self.init_seconds = 0.0
        self.invocations = 0
        self.last_handler_seconds = 0.0
        self.last_used = time.monotonic()
        self.current_request_id: str | None = None
        self.exit_code: int | None = None
        self._settings = settings
        self._changed = threading.Event()
        self._api = RuntimeApi(f"{spec.logical_id}-{self.number}", self._changed.set)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The container's process id once it started (for measuring it; nothing in the stack needs it)."""
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self.exit_code is None and not self._closed

    def start(self) -> None:
        """Start the process and wait until it is ready for its first invocation; raise `FunctionError` if not."""
        spec = self._settings
        environment = container_environment(self.spec, spec, self._api.address, self.access_key_id, self.log_stream)
        # The containers' logs go to this process's stderr (as `sam local` prints them), or to a file.
        output: Any = 2
        if spec.log_file is not None:
            self._log = output = spec.log_file.open("ab", buffering=0)
        started = time.monotonic()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", self.spec.handler],
            cwd=self.spec.code_dir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal stops the stack, which stops its containers
        )
        threading.Thread(target=self._watch, name=f"container-{self.access_key_id}", daemon=True).start()
        deadline = started + max(MIN_INIT_SECONDS, float(self.spec.timeout))
        while not self._api.ready.is_set():
            if self._api.init_failed.is_set() or self.exit_code is not None:
                self._wait_exit(1.0)
                self.close()
                if self._api.init_error is not None:
                    body = json.dumps(self._api.init_error).encode()
                    raise FunctionError.from_report(self.spec.logical_id, body, "Runtime.Unknown")
                raise FunctionError(
                    self.spec.logical_id,
                    "Runtime.ExitError",
                    f"Runtime exited without providing a reason ({self._exit_text()})",
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                raise FunctionError(
                    self.spec.logical_id, "Sandbox.Timedout", f"Init timed out after {deadline - started:.2f} seconds"
                )
            self._changed.wait(min(remaining, 0.5))
            self._changed.clear()
            if self._api.ready.is_set():
                break
        self.init_seconds = time.monotonic() - started

    def _watch(self) -> None:
        process = self._process
        assert process is not None
        code = process.wait()
        self.exit_code = code
        self._changed.set()

    def _wait_exit(self, timeout: float) -> None:
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)

    def _exit_text(self) -> str:
        code = self.exit_code
        if code is None:
            return "running"
        return f"signal: {-code}" if code < 0 else f"exit status {code}"

    def invoke(self, payload: bytes, request_id: str) -> bytes:
        """Run one invocation; the handler's answer (JSON), or `FunctionError`."""
        timeout = float(self.spec.timeout)
        invocation = Invocation(
            request_id=request_id,
            payload=payload,
            function_arn=self.spec.arn,
            deadline_ms=int((time.time() + timeout) * 1000),
            trace_id=_trace_id(),
        )
        self.current_request_id = request_id
        self.invocations += 1
        try:
            self._api.offer(invocation)
            finished = self._wait(invocation, timeout)
        finally:
            self.current_request_id = None
            self.cold = False
            self.last_used = time.monotonic()
        function = self.spec.logical_id
        if not finished:
            self._api.abandon(invocation)
            self.close()
            raise FunctionError(
                function,
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                request_id=request_id,
            )
        self.last_handler_seconds = invocation.handler_seconds
        if invocation.outcome == "response":
            return invocation.body
        if invocation.outcome == "error":
            raise FunctionError.from_report(function, invocation.body, invocation.error_type, request_id)
        self._api.abandon(invocation)
        self._wait_exit(1.0)
        raise FunctionError(
            function,
            "Runtime.ExitError",
            f"RequestId: {request_id} Error: Runtime exited with error: {self._exit_text()}",
            request_id=request_id,
        )

    def _wait(self, invocation: Invocation, timeout: float) -> bool:
        """Until the invocation is answered (True), the container exits (True, outcome ""), or the deadline."""
        deadline = time.monotonic() + timeout
        while not invocation.done.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
            if self.exit_code is not None:
                return True  # died: `invocation.outcome` stays "" unless it answered first
            if time.monotonic() >= deadline:
                return False
        return True

    def close(self) -> None:
        self._closed = True
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            self._wait_exit(5.0)
        self._api.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


@dataclass
class _Start:
    """A container starting for a waiting invocation: done once it is idle in the pool or its init failed."""

    done: bool = False
    error: BaseException | None = None


class FunctionPool:
    """The containers of one function: reuse an idle one, start one while below `limit`, else wait for one."""

    def __init__(self, spec: FunctionSpec, settings: ContainerSettings, limit: int) -> None:
        self.spec = spec
        self.limit = limit
        self._settings = settings
        self._idle: list[Container] = []
        self._busy: set[Container] = set()
        self._count = 0
        self._condition = threading.Condition()
        self._closed = False
        self.cold_starts = 0
        self.start_log: deque[tuple[float, float]] = deque(maxlen=1000)  # (began, ready) epoch seconds, newest last

    @property
    def size(self) -> int:
        """How many containers exist (idle, busy or starting)."""
        with self._condition:
            return self._count

    def containers(self) -> list[Container]:
        with self._condition:
            return [*self._idle, *self._busy]

    @contextlib.contextmanager
    def container(self) -> Iterator[Container]:
        container = self._acquire()
        try:
            yield container
        finally:
            self._release(container)

    def _acquire(self) -> Container:
        """An idle container, else one started for this invocation. While it starts, a container released by another
        invocation is taken instead (the started one then waits idle): a local start takes seconds on a loaded
        machine, far longer than a warm container stays busy, and nothing would wait on it in a warm Lambda fleet."""
        start: _Start | None = None
        with self._condition:
            while True:
                if self._closed:
                    raise RuntimeError(f"{self.spec.logical_id}: the runtime is stopped")
                container = self._take_idle()
                if container is not None:
                    return container
                if start is not None and start.done:
                    if start.error is not None:
                        raise start.error
                    start = None  # another invocation took the container it started
                    continue
                if start is None and self._count < self.limit:
                    self._count += 1
                    start = _Start()
                    name = f"start-{self.spec.logical_id}"
                    threading.Thread(target=self._start, args=(start,), name=name, daemon=True).start()
                self._condition.wait()

    def _take_idle(self) -> Container | None:
        while self._idle:
            container = self._idle.pop()
            if container.alive:
                self._busy.add(container)
                return container
            self._discard(container)
        return None

    def _start(self, start: _Start) -> None:
        container = Container(self.spec, self._settings)
        began = time.time()
        try:
            container.start()
        except BaseException as error:
            with self._condition:
                self._count -= 1
                start.error, start.done = error, True
                self._condition.notify_all()
            return
        with self._condition:
            self.cold_starts += 1
            self.start_log.append((began, time.time()))
            start.done = True
            closed = self._closed
            if closed:
                self._count -= 1
            else:
                self._idle.append(container)
            self._condition.notify_all()
        if closed:
            container.close()

    def _release(self, container: Container) -> None:
        with self._condition:
            self._busy.discard(container)
            if container.alive and not self._closed:
                self._idle.append(container)
            else:
                self._count -= 1
                container.close()
            self._condition.notify_all()

    def _discard(self, container: Container) -> None:
        self._count -= 1
        container.close()

    def warm(self) -> None:
        """Start one container now (if none exists), so that the first request finds it warm."""
        if self.size == 0:
            with self.container():
                pass

    def reap(self, idle_seconds: float) -> int:
        """Stop the containers idle for longer than `idle_seconds`; how many were stopped."""
        now = time.monotonic()
        with self._condition:
            stale = [c for c in self._idle if not c.alive or now - c.last_used > idle_seconds]
            self._idle = [c for c in self._idle if c not in stale]
            self._count -= len(stale)
            self._condition.notify_all()
        for container in stale:
            container.close()
        return len(stale)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            containers = [*self._idle, *self._busy]
            self._idle.clear()
            self._condition.notify_all()
        for container in containers:
            container.close()


@dataclass(frozen=True)
class InvocationTiming:
    function: str
    seconds: float  # from `invoke` to its answer: a free container found (or started), the payload there and back
    handler_seconds: float  # what the container spent between being handed the event and answering


class LambdaRuntime:
    """Invokes the template's functions, each in containers (processes) of its own."""

    def __init__(
        self,
        template: LocalTemplate,
        endpoint_url: str,
        *,
        max_containers: int | None = None,
        idle_seconds: float | None = None,
        extra_environment: Mapping[str, str] | None = None,
        log_file: str | Path | None = None,
    ) -> None:
        self.template = template
        cap = max_containers if max_containers is not None else max_containers_from_environment()
        self.idle_seconds = idle_seconds if idle_seconds is not None else idle_seconds_from_environment()
        settings = ContainerSettings(
            endpoint_url=endpoint_url,
            region=template.names.region,
            extra_environment=dict(extra_environment or {}),
            log_file=Path(log_file) if log_file is not None else None,
        )
        self._pools = {
            logical_id: FunctionPool(spec, settings, _limit(spec, cap))
            for logical_id, spec in template.functions.items()
        }
        self._listeners: list[InvocationListener] = []
        # The latest invocations' (function, seconds in `invoke`, seconds in the handler): what `make bench-local`
        # reads to tell the runtime's own cost from the handlers'.
        self.timings: deque[InvocationTiming] = deque(maxlen=10_000)
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="container-reaper", daemon=True)
        self._reaper.start()

    def pool(self, logical_id: str) -> FunctionPool:
        try:
            return self._pools[logical_id]
        except KeyError:
            raise KeyError(f"no function {logical_id!r} in {self.template.path}") from None

    @property
    def pools(self) -> Mapping[str, FunctionPool]:
        return dict(self._pools)

    def add_invocation_listener(self, listener: InvocationListener) -> None:
        self._listeners.append(listener)

    def remove_invocation_listener(self, listener: InvocationListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def invocation_of(self, access_key_id: str) -> tuple[str, str | None] | None:
        """(function, request id of the invocation it is running, or None) of the container with that key."""
        if not access_key_id.startswith(ACCESS_KEY_PREFIX):
            return None
        for logical_id, pool in self._pools.items():
            for container in pool.containers():
                if container.access_key_id == access_key_id:
                    return logical_id, container.current_request_id
        return None

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke synchronously (RequestResponse); the handler's answer, or `FunctionError`."""
        pool = self.pool(logical_id)
        payload = json.dumps(event).encode()
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        with pool.container() as container:
            for listener in list(self._listeners):
                listener(logical_id, request_id, container.access_key_id)
            body = container.invoke(payload, request_id)
            self.timings.append(
                InvocationTiming(logical_id, time.perf_counter() - started, container.last_handler_seconds)
            )
        return json.loads(body) if body else None

    def warm(self, logical_ids: Iterable[str] | None = None) -> dict[str, FunctionError]:
        """Start one container of each function, all at once; the init errors by function."""
        wanted = list(self._pools) if logical_ids is None else [name for name in logical_ids if name in self._pools]
        errors: dict[str, FunctionError] = {}

        def start(logical_id: str) -> None:
            try:
                self._pools[logical_id].warm()
            except FunctionError as error:
                errors[logical_id] = error

        threads = [threading.Thread(target=start, args=(name,), name=f"warm-{name}") for name in wanted]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return errors

    def _reap(self) -> None:
        period = max(0.5, min(30.0, self.idle_seconds / 4))
        while not self._stopping.wait(period):
            for pool in self._pools.values():
                pool.reap(self.idle_seconds)

    def close(self) -> None:
        self._stopping.set()
        pools = list(self._pools.values())
        threads = [threading.Thread(target=pool.close) for pool in pools]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._reaper.join(5)


def _limit(spec: FunctionSpec, cap: int) -> int:
    if spec.reserved_concurrency is not None:
        return max(1, min(cap, spec.reserved_concurrency))
    return cap
