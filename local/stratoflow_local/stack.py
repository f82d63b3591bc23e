"""`LocalStack`: the whole application on one machine, wired from template.yaml alone.

    with LocalStack(template_path="template.yaml", port=0, tokens="acme:tok-acme") as stack:
        requests.get(stack.url + "/v1/health")
        stack.wait_idle()

Parts: an AWS endpoint (the embedded moto endpoint, or `AWS_ENDPOINT_URL` when set) with the template's table,
queues and schedule groups; the Lambda runtime (every container an `awslambdaric` process of its own, see
`stratoflow_local.runtime`), whose first container of each function starts, all at once, while the stack starts; the
HTTP front door; the stream poller; the scheduler emulator; the periodic ticker (the sweeper, every `sweep_seconds`,
default `STRATOFLOW_SWEEP_SECONDS` or 2 s). Everything invokes the functions through the runtime.

The stack's own process gets the environment the functions share (table name, schedule group, endpoint, region,
dummy credentials) for tools and tests that use the shared layer in process, such as seeding tokens; moto's backends
are process-global too. So only one `LocalStack` runs per process at a time; the environment is restored on `stop()`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from stratoflow_local.gateway import ApiGateway, HttpFrontDoor
from stratoflow_local.operator_sources import OperatorSources
from stratoflow_local.persistence import RequestJournal, StreamCheckpoints
from stratoflow_local.resources import client, provision
from stratoflow_local.runtime import FunctionError, LambdaRuntime
from stratoflow_local.scheduler import PeriodicTicker, SchedulerEmulator
from stratoflow_local.streams import FED_POLL_INTERVAL, StreamPoller
from stratoflow_local.template import LocalNames, LocalTemplate, load_template
from stratoflow_local.tokens import DEV_TOKEN, TokenSpec, parse_token, parse_tokens, store_tokens

logger = logging.getLogger(__name__)

DEFAULT_SWEEP_SECONDS = 2.0
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class _ActiveStack:
    """The one stack that may run in this process."""

    lock = threading.Lock()
    stack: LocalStack | None = None


def sweep_seconds_from_environment(environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get("STRATOFLOW_SWEEP_SECONDS")
    return float(raw) if raw else DEFAULT_SWEEP_SECONDS


# Function settings the whole local stack takes from its own environment (`STRATOFLOW_<name>`), this process included.
STACK_WIDE_SETTINGS = ("TIMER_LAST_MILE_S",)


def function_overrides(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`STRATOFLOW_TIMER_LAST_MILE_S` is every function's `TIMER_LAST_MILE_S` (0 turns the timers' last mile off)."""
    return {name: environ[f"STRATOFLOW_{name}"] for name in STACK_WIDE_SETTINGS if environ.get(f"STRATOFLOW_{name}")}


def tokens_from(tokens: str | Sequence[str | TokenSpec] | None) -> list[TokenSpec]:
    """None: `STRATOFLOW_TOKENS`, or one dev token when that is unset; a string: `STRATOFLOW_TOKENS` syntax."""
    if tokens is None:
        text = os.environ.get("STRATOFLOW_TOKENS", "").strip()
        return parse_tokens(text) if text else [parse_token(DEV_TOKEN)]
    if isinstance(tokens, str):
        return parse_tokens(tokens)
    return [token if isinstance(token, TokenSpec) else parse_token(token) for token in tokens]


def start_endpoint(state_dir: Path | None = None) -> Any:
    """The embedded endpoint (moto on loopback, linearizable); plain moto's server if that module is missing.

    With `state_dir`, the endpoint replays that folder's journal of earlier requests and journals new ones, so the
    stack's state survives a restart; without, it starts empty.
    """
    try:
        from stratoflow_local.embedded_endpoint import EmbeddedAwsEndpoint  # noqa: PLC0415 - optional module
    except ImportError:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        class _PlainMoto:
            def __init__(self) -> None:
                self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
                self.url = ""

            def start(self) -> str:
                self._server.start()
                host, port = self._server.get_host_and_port()
                self.url = f"http://{host}:{port}"
                return self.url

            def stop(self) -> None:
                self._server.stop()

        endpoint: Any = _PlainMoto()
    else:
        endpoint = EmbeddedAwsEndpoint(journal=RequestJournal(state_dir) if state_dir is not None else None)
    endpoint.start()
    if state_dir is None:
        # moto's backends are process-global: start every embedded stack from empty (a journaled one starts from its
        # journal, replayed into an emptied moto).
        requests.post(f"{endpoint.url}/moto-api/reset", timeout=10).raise_for_status()
    return endpoint


def simulate_cold_start() -> None:
    """Forget what the shared package cached per process (settings, clients), as a new execution environment would.

    A stack after another one in the same process has a new endpoint; `functools.lru_cache`'d module functions of
    the `stratoflow` package are its once-per-cold-start state.
    """
    for name, module in list(sys.modules.items()):
        if name != "stratoflow" and not name.startswith("stratoflow."):
            continue
        for value in list(vars(module).values()):
            cache_clear = getattr(value, "cache_clear", None)
            if callable(cache_clear) and getattr(value, "__module__", None) == name:
                cache_clear()


class _Environment:
    """Set variables in os.environ and put the previous values back afterwards."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str], only_if_missing: bool = False) -> None:
        for key, value in values.items():
            if only_if_missing and os.environ.get(key):
                continue
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


class LocalStack:
    """The application from `template_path`, served on `http://127.0.0.1:<port>` (`port=0`: any free port)."""

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        port: int = 0,
        *,
        duplicate_deliveries: bool = False,
        reorder: bool = False,
        seed: int = 0,
        duplicate_schedule_invocations: bool = False,
        sweep_seconds: float | None = None,
        tokens: str | Sequence[str | TokenSpec] | None = None,
        endpoint_url: str | None = None,
        parameters: Mapping[str, str] | None = None,
        prewarm: bool = True,
        access_log: bool = False,
        max_containers: int | None = None,
        idle_seconds: float | None = None,
        environment: Mapping[str, str] | None = None,
        container_log: str | Path | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        """`max_containers`: per function (default `STRATOFLOW_MAX_CONTAINERS` or 8); `idle_seconds`: idle
        containers are stopped after that long (default `STRATOFLOW_IDLE_SECONDS` or 600); `environment`: variables
        added to every function's environment; `container_log`: a file the containers' output is appended to
        (default: this process's stdout and stderr); `state_dir`: where the embedded endpoint journals its state so that
        it survives a restart (default: none, in memory)."""
        self.template_path = Path(template_path)
        self.port = port
        self.duplicate_deliveries = duplicate_deliveries
        self.reorder = reorder
        self.seed = seed
        self.duplicate_schedule_invocations = duplicate_schedule_invocations
        self.sweep_seconds = sweep_seconds if sweep_seconds is not None else sweep_seconds_from_environment()
        self.token_specs = tokens_from(tokens)
        self._endpoint_override = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.parameters = dict(parameters or {})
        self.prewarm = prewarm
        self.access_log = access_log
        self.max_containers = max_containers
        # Where the embedded endpoint journals its state and the stream mappings their positions (None: in memory).
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.replayed_requests = 0
        self.idle_seconds = idle_seconds
        self.environment = {**function_overrides(), **(environment or {})}
        self.container_log = container_log
        self.template: LocalTemplate = load_template(self.template_path, self.parameters, LocalNames())
        self.endpoint_url = ""
        self.url = ""
        self.runtime: LambdaRuntime | None = None
        self.gateway: ApiGateway | None = None
        self.streams: StreamPoller | None = None
        self.scheduler: SchedulerEmulator | None = None
        self.periodic: PeriodicTicker | None = None
        self.operator_sources: OperatorSources | None = None
        self.warm_errors: dict[str, FunctionError] = {}
        self._endpoint: Any = None
        self._front_door: HttpFrontDoor | None = None
        self._environment = _Environment()
        self._started = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        with _ActiveStack.lock:
            if _ActiveStack.stack is not None:
                raise RuntimeError(
                    "another LocalStack is running in this process; moto's backends and the stack's environment are "
                    "process-wide, so stop it first (or run this one in a subprocess: python -m stratoflow_local serve)"
                )
            _ActiveStack.stack = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._started = True
        template = self.template
        if self._endpoint_override:
            self.endpoint_url = self._endpoint_override
            self._environment.set(DUMMY_CREDENTIALS, only_if_missing=True)
        else:
            self._endpoint = start_endpoint(self.state_dir)
            self.endpoint_url = str(self._endpoint.url)
            self.replayed_requests = int(getattr(self._endpoint, "replayed", 0))
            self._environment.set(DUMMY_CREDENTIALS)
        self._environment.set(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_REGION": template.names.region,
                "AWS_DEFAULT_REGION": template.names.region,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                **template.shared_environment(),
                **{key: value for key, value in self.environment.items() if key in STACK_WIDE_SETTINGS},
            }
        )
        # No X-Ray daemon locally; Powertools' Tracer would otherwise try to emit segments.
        self._environment.set({"POWERTOOLS_TRACE_DISABLED": "true"}, only_if_missing=True)
        simulate_cold_start()
        self.runtime = LambdaRuntime(
            template,
            self.endpoint_url,
            max_containers=self.max_containers,
            idle_seconds=self.idle_seconds,
            extra_environment=self.environment,
            log_file=self.container_log,
        )
        # The first container of every function starts while the endpoint is provisioned: a handler loads nothing
        # from AWS at import, so the two overlap and the stack is ready sooner.
        warming = threading.Thread(target=self._warm, name="warm-containers") if self.prewarm else None
        if warming is not None:
            warming.start()
        try:
            stream_arns = provision(template, self.endpoint_url)
            if self.token_specs:
                store_tokens(self.token_specs)
        finally:
            if warming is not None:
                warming.join()
        self.streams = StreamPoller(
            template,
            self.invoke,
            self.endpoint_url,
            stream_arns,
            duplicate_deliveries=self.duplicate_deliveries,
            reorder=self.reorder,
            seed=self.seed,
            checkpoints=StreamCheckpoints(self.state_dir) if self.state_dir is not None and self._endpoint else None,
        )
        self.scheduler = SchedulerEmulator(
            template, self.invoke, self.endpoint_url, duplicate_invocations=self.duplicate_schedule_invocations
        )
        self.operator_sources = OperatorSources(template, self.invoke, self.endpoint_url)  # queues, buses
        add_change_listener = getattr(self._endpoint, "add_change_listener", None)
        if add_change_listener is not None:
            # The embedded endpoint says when something changed: the event sources wake then, and poll only rarely
            # otherwise (every poll takes the endpoint's one lock). SQS is still polled often, for delayed messages.
            self.streams.poll_interval = FED_POLL_INTERVAL
            self.scheduler.poll_interval = FED_POLL_INTERVAL
            self.operator_sources.buses.poll_interval = FED_POLL_INTERVAL
            add_change_listener(self._changed)
        self.streams.start()
        self.scheduler.start()
        self.operator_sources.start()
        self.periodic = PeriodicTicker(template, self.invoke, self.sweep_seconds if self.sweep_seconds > 0 else None)
        if self.sweep_seconds > 0:
            self.periodic.start()
        self.gateway = ApiGateway(template, self.invoke)
        self._front_door = HttpFrontDoor(self.gateway, self.port, access_log=self.access_log)
        self._front_door.start()
        self.url = self._front_door.url

    def _changed(self, service: str) -> None:
        """The embedded endpoint committed a change to `service` (called on its request thread: only wake-ups)."""
        if service == "dynamodb" and self.streams is not None:
            self.streams.wake()
        elif service == "scheduler" and self.scheduler is not None:
            self.scheduler.wake()
        elif service in ("sqs", "events") and self.operator_sources is not None:
            self.operator_sources.wake()

    def _warm(self) -> None:
        assert self.runtime is not None
        self.warm_errors = self.runtime.warm()
        for logical_id, error in self.warm_errors.items():
            logger.warning("function failed to start", extra={"function": logical_id, "error": str(error)})

    def stop(self) -> None:
        try:
            if self._front_door is not None:
                self._front_door.stop()
            if self.periodic is not None:
                self.periodic.stop()
            if self.scheduler is not None:
                self.scheduler.stop()
            if self.operator_sources is not None:
                self.operator_sources.stop()
                self.operator_sources = None
            if self.streams is not None:
                self.streams.stop()
            if self.runtime is not None:
                self.runtime.close()
            if self._endpoint is not None:
                self._endpoint.stop()
        finally:
            self._front_door = None
            self.runtime = None
            self.periodic = self.scheduler = self.streams = None
            self._endpoint = None
            self._environment.restore()
            with _ActiveStack.lock:
                if _ActiveStack.stack is self:
                    _ActiveStack.stack = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------ for tests and tools

    @property
    def aws_endpoint(self) -> Any:
        """The embedded endpoint (for its request hook), or None when the stack uses an external one."""
        return self._endpoint

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function of the template in one of its containers (`FunctionError` if the invocation fails)."""
        if self.runtime is None:
            raise RuntimeError("the stack is not running")
        return self.runtime.invoke(logical_id, event)

    @contextmanager
    def time_held(self) -> Iterator[None]:
        """Nothing fires by the clock inside: no schedule (the scheduler emulator), no sweep (overdue timers, expired
        leases) and no queue delivery (a short timer's delayed message on the timer queue). What falls due meanwhile
        runs after, late, as AWS may run it late. For tests of a race a timer must lose however loaded the machine
        is; after it, `wait_idle` and `operator_sources.queues.wait_idle` wait for the late deliveries (inside it,
        `wait_idle` would wait for a scheduler cycle that does not come, and time out)."""
        if self.scheduler is None or self.periodic is None or self.operator_sources is None:
            raise RuntimeError("the stack is not running")
        with self.scheduler.held(), self.periodic.held(), self.operator_sources.queues.held():
            yield

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every stream record written so far (and what its delivery wrote) is delivered, and every
        schedule due by now has fired; raise `TimeoutError` after `timeout` seconds."""
        if self.streams is None or self.scheduler is None:
            raise RuntimeError("the stack is not running")
        self.scheduler.wait_cycle(timeout)
        self.streams.wait_idle(timeout)

    @property
    def tokens(self) -> list[TokenSpec]:
        return list(self.token_specs)

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's endpoint."""
        return client(service, self.endpoint_url, self.template.names.region)


@contextmanager
def running(template_path: str | Path = "template.yaml", **options: Any) -> Iterator[LocalStack]:
    with LocalStack(template_path, **options) as stack:
        yield stack
