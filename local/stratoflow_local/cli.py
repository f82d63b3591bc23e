"""`python -m stratoflow_local serve | invoke | tokens` (PYTHONPATH: layers/stratoflow and local)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from stratoflow_local.operator_sources import event_bus_names
from stratoflow_local.resources import provision
from stratoflow_local.runtime import FunctionError, LambdaRuntime
from stratoflow_local.stack import DUMMY_CREDENTIALS, LocalStack, start_endpoint, tokens_from
from stratoflow_local.template import load_template
from stratoflow_local.tokens import ALL_SCOPES, SAMPLE_TOKEN, TokenSpec, parse_token, revoke, store_tokens

DEFAULT_TEMPLATE = "template.yaml"
DEFAULT_STATE_DIR = ".stratoflow/state"


class _KeyValueFormatter(logging.Formatter):
    """`level logger: message key=value ...` with the record's `extra` fields."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = {key: value for key, value in vars(record).items() if key not in self._STANDARD}
        if extras:
            text += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        return text


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("stratoflow_local")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


# ---------------------------------------------------------------- the running stack's state file

STATE_FILE = Path(".stratoflow") / "local.json"


def _environment_options(pairs: Sequence[str]) -> dict[str, str]:
    """`--env NAME=VALUE` options: variables added to every function's environment."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise SystemExit(f"--env takes NAME=VALUE, not {pair!r}")
        values[name] = value
    return values


def write_state(stack: LocalStack, path: Path = STATE_FILE) -> None:
    """Tell `invoke` (and tools) where the running stack is: its URL, port and AWS endpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "url": stack.url,
        "port": int(stack.url.rsplit(":", 1)[1]),
        "endpoint_url": stack.endpoint_url,
        "region": stack.template.names.region,
        "template": str(stack.template.path),
        "pid": os.getpid(),
    }
    path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def remove_state(path: Path = STATE_FILE) -> None:
    """Remove the state file if this process wrote it (another `serve` may have started since)."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid():
            path.unlink()


def running_stack(template: Path, path: Path = STATE_FILE) -> dict[str, Any] | None:
    """The state of a `serve` of `template` that is up (its process alive, its endpoint answering), else None."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if Path(state["template"]) != template.resolve():
            return None
        os.kill(int(state["pid"]), 0)
        requests.get(f"{state['endpoint_url']}/moto-api/", timeout=2)
    except (OSError, ValueError, KeyError, TypeError, requests.RequestException):
        return None
    return dict(state)


# ---------------------------------------------------------------- serve


def _serve(arguments: argparse.Namespace) -> int:

    state_dir = None if arguments.in_memory else Path(arguments.state_dir)
    if state_dir is not None and arguments.reset:
        shutil.rmtree(state_dir, ignore_errors=True)
    stack = LocalStack(
        template_path=arguments.template,
        port=arguments.port,
        state_dir=state_dir,
        duplicate_deliveries=arguments.duplicate_deliveries,
        reorder=arguments.reorder,
        seed=arguments.seed,
        sweep_seconds=arguments.sweep_seconds,
        access_log=not arguments.quiet,
        parameters=dict(item.split("=", 1) for item in arguments.parameter),
        environment=_environment_options(arguments.env),
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    started = time.monotonic()
    try:
        stack.start()
    except OSError as refused:
        if refused.errno != errno.EADDRINUSE:
            raise
        print(
            f"port {arguments.port} is already in use (another `make local`?); pick another one: PORT=3001 make local",
            file=sys.stderr,
        )
        return 2
    try:
        write_state(stack)
        print(f"ready on {stack.url}", flush=True)
        if state_dir is None:
            print("state is kept in memory only (--in-memory): it is gone when the stack stops", flush=True)
        else:
            print(
                f"state is kept in {state_dir} ({stack.replayed_requests} earlier requests replayed); "
                "`make local-reset` starts clean",
                flush=True,
            )
        for spec in stack.tokens:
            print(f"token {spec.token} (tenant {spec.tenant}, scopes {'+'.join(sorted(spec.scopes))})", flush=True)
        if stack.tokens:
            token = stack.tokens[0].token
            print(f'try: curl -s -H "Authorization: Bearer {token}" {stack.url}/v1/workflows', flush=True)
        print(f"     curl -s {stack.url}/v1/health", flush=True)
        print(
            f"endpoint {stack.endpoint_url} (AWS_ENDPOINT_URL for tools, e.g. tokens create --endpoint-url)", flush=True
        )
        print(
            f"started in {time.monotonic() - started:.1f} s, one warm container per function "
            f"(make invoke FN=... EVENT=... runs against this stack)",
            flush=True,
        )
        for logical_id, error in stack.warm_errors.items():
            print(f"warning: {logical_id} failed to start: {error.error_type}: {error.error_message}", flush=True)
        for bus in event_bus_names(stack.template):
            print(f"event bus {bus} on {stack.endpoint_url} (PutEvents, source stratoflow.<tenant>)", flush=True)
        # A signal may be delivered to any of the stack's threads; Python runs its handler in the main thread only
        # once that thread wakes, so it must wake now and then rather than block for good.
        while not stopping.wait(0.5):
            pass
    finally:
        remove_state()
        stack.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0


# ---------------------------------------------------------------- invoke


def _invoke(arguments: argparse.Namespace) -> int:
    """Invoke one function in a container of its own, against the running `serve` of the same template if one is
    up (its data, as `sam local invoke` against a local endpoint), else against a fresh embedded endpoint."""
    template_path = Path(arguments.template)
    template = load_template(template_path, dict(item.split("=", 1) for item in arguments.parameter))
    if arguments.function not in template.functions:
        print(f"no function {arguments.function!r}; the template has: {', '.join(template.functions)}", file=sys.stderr)
        return 2
    event = (
        json.loads(Path(arguments.event).read_text(encoding="utf-8"))
        if arguments.event != "-"
        else json.load(sys.stdin)
    )
    endpoint: Any = None
    state = running_stack(template_path)
    endpoint_url = state["endpoint_url"] if state else os.environ.get("AWS_ENDPOINT_URL")
    for key, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    if not endpoint_url:
        endpoint = start_endpoint()
        endpoint_url = str(endpoint.url)
    runtime: LambdaRuntime | None = None
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_REGION": template.names.region,
                "AWS_DEFAULT_REGION": template.names.region,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                **template.shared_environment(),
            }
        )
        if state:
            print(f"against the running stack {state['url']} (endpoint {endpoint_url})", file=sys.stderr)
        else:
            # Logs go to stderr (as `sam local invoke` does), the response alone to stdout.
            with contextlib.redirect_stdout(sys.stderr):
                provision(template, endpoint_url)
                if endpoint is not None:
                    # The API samples under events/ carry the token of SAMPLE_TOKEN: a fresh endpoint knows it too.
                    store_tokens([*tokens_from(None), parse_token(SAMPLE_TOKEN)])
        runtime = LambdaRuntime(
            template, endpoint_url, max_containers=1, extra_environment=_environment_options(arguments.env)
        )
        try:
            response = runtime.invoke(arguments.function, event)
        except FunctionError as error:
            print(json.dumps(error.report(), indent=2))
            return 1
        print(json.dumps(response, indent=2, default=str))
        return 0
    finally:
        if runtime is not None:
            runtime.close()
        if endpoint is not None:
            endpoint.stop()


# ---------------------------------------------------------------- tokens


def _token_environment(arguments: argparse.Namespace) -> None:
    if arguments.endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = arguments.endpoint_url
        os.environ["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            os.environ.setdefault(key, value)
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        raise SystemExit("set AWS_REGION (or AWS_DEFAULT_REGION) to the stack's region")
    table_name = arguments.table_name or (_stack_table(arguments.stack_name) if arguments.stack_name else None)
    if not table_name:
        if not arguments.endpoint_url:
            raise SystemExit("--stack-name or --table-name is required for a deployed stack")

        template = load_template(arguments.template)
        table_name = next(iter(template.tables.values())).name
    os.environ["TABLE_NAME"] = table_name


def _stack_table(stack_name: str) -> str:
    """The deployed stack's `TableName` output, read from CloudFormation."""
    import boto3  # noqa: PLC0415 - only this path talks to CloudFormation
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except (BotoCoreError, ClientError) as error:
        raise SystemExit(f"cannot read stack {stack_name!r}: {error}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if "TableName" not in outputs:
        raise SystemExit(f"stack {stack_name!r} has no TableName output; is it a Stratoflow stack?")
    return outputs["TableName"]


def _tokens(arguments: argparse.Namespace) -> int:

    _token_environment(arguments)
    if arguments.action == "create":
        scopes = frozenset(arguments.scopes.replace("+", ",").split(",")) if arguments.scopes else ALL_SCOPES
        token = arguments.token or secrets.token_urlsafe(32)
        store_tokens([TokenSpec(arguments.tenant, token, scopes)])
        print(json.dumps({"tenant": arguments.tenant, "token": token, "scopes": sorted(scopes)}))
        return 0
    if revoke(arguments.token):
        print(json.dumps({"revoked": True}))
        return 0
    print(json.dumps({"revoked": False, "reason": "no such token"}))
    return 1


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stratoflow_local", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("STRATOFLOW_LOCAL_LOG_LEVEL", "WARNING"))
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the local stack in the foreground")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument("--template", default=DEFAULT_TEMPLATE)
    serve.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    serve.add_argument("--sweep-seconds", type=float, default=None)
    serve.add_argument("--duplicate-deliveries", action="store_true", help="deliver every stream record twice")
    serve.add_argument("--reorder", action="store_true", help="reorder records of different items in a batch")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--quiet", action="store_true", help="no access log")
    serve.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="where local state is kept across restarts")
    serve.add_argument("--reset", action="store_true", help="forget the state kept in --state-dir first")
    serve.add_argument("--in-memory", action="store_true", help="keep no state across restarts")
    serve.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="add to every function")
    serve.set_defaults(run=_serve)

    invoke = commands.add_parser("invoke", help="invoke one function with an event file (like sam local invoke -e)")
    invoke.add_argument("function", help="logical id, e.g. CallerApiFunction")
    invoke.add_argument("event", help="event JSON file, or - for standard input")
    invoke.add_argument("--template", default=DEFAULT_TEMPLATE)
    invoke.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    invoke.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="add to the function")
    invoke.set_defaults(run=_invoke)

    tokens = commands.add_parser("tokens", help="create or revoke API tokens")
    tokens_actions = tokens.add_subparsers(dest="action", required=True)
    for action in ("create", "revoke"):
        sub = tokens_actions.add_parser(action)
        sub.add_argument("--stack-name", help="a deployed stack: its table is read from the TableName output")
        sub.add_argument("--table-name", help="the stack's table (TableName output); default: the local table")
        sub.add_argument("--endpoint-url", help="the local stack's endpoint (serve prints it)")
        sub.add_argument("--template", default=DEFAULT_TEMPLATE)
        if action == "create":
            sub.add_argument("--tenant", required=True)
            sub.add_argument("--token", help="default: a new random token")
            sub.add_argument("--scopes", help="client, worker or client,worker (default)")
        else:
            sub.add_argument("--token", required=True)
        sub.set_defaults(run=_tokens)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    _configure_logging(arguments.log_level.upper())
    return int(arguments.run(arguments))
