"""`python -m stratoflow_local serve | invoke | tokens` (PYTHONPATH: layers/stratoflow and local)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stratoflow_local.operator_sources import event_bus_names
from stratoflow_local.resources import provision
from stratoflow_local.runtime import FunctionError, LambdaRuntime
from stratoflow_local.stack import DUMMY_CREDENTIALS, LocalStack, start_endpoint, tokens_from
from stratoflow_local.template import load_template
from stratoflow_local.tokens import ALL_SCOPES, TokenSpec, revoke, store_tokens

DEFAULT_TEMPLATE = "template.yaml"


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


# ---------------------------------------------------------------- serve


def _serve(arguments: argparse.Namespace) -> int:

    stack = LocalStack(
        template_path=arguments.template,
        port=arguments.port,
        duplicate_deliveries=arguments.duplicate_deliveries,
        reorder=arguments.reorder,
        seed=arguments.seed,
        sweep_seconds=arguments.sweep_seconds,
        access_log=not arguments.quiet,
        parameters=dict(item.split("=", 1) for item in arguments.parameter),
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack.start()
    try:
        print(f"ready on {stack.url}", flush=True)
        for spec in stack.tokens:
            print(f"token {spec.token} (tenant {spec.tenant}, scopes {'+'.join(sorted(spec.scopes))})", flush=True)
        if stack.tokens:
            token = stack.tokens[0].token
            print(f'try: curl -s -H "Authorization: Bearer {token}" {stack.url}/v1/workflows', flush=True)
        print(f"     curl -s {stack.url}/v1/health", flush=True)
        print(
            f"endpoint {stack.endpoint_url} (AWS_ENDPOINT_URL for tools, e.g. tokens create --endpoint-url)", flush=True
        )
        for bus in event_bus_names(stack.template):
            print(f"event bus {bus} on {stack.endpoint_url} (PutEvents, source stratoflow.<tenant>)", flush=True)
        stopping.wait()
    finally:
        stack.stop()
        print("stopped", file=sys.stderr, flush=True)
    return 0


# ---------------------------------------------------------------- invoke


def _invoke(arguments: argparse.Namespace) -> int:

    template = load_template(arguments.template, dict(item.split("=", 1) for item in arguments.parameter))
    if arguments.function not in template.functions:
        print(f"no function {arguments.function!r}; the template has: {', '.join(template.functions)}", file=sys.stderr)
        return 2
    event = (
        json.loads(Path(arguments.event).read_text(encoding="utf-8"))
        if arguments.event != "-"
        else json.load(sys.stdin)
    )
    endpoint: Any = None
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint_url:
        endpoint = start_endpoint()
        endpoint_url = str(endpoint.url)
        os.environ.update(DUMMY_CREDENTIALS)
    try:
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_REGION": template.names.region,
                "AWS_DEFAULT_REGION": template.names.region,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                **template.functions[arguments.function].environment,
            }
        )
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        # Logs go to stderr (as `sam local invoke` does), the response alone to stdout.
        failure: dict[str, Any] | None = None
        with contextlib.redirect_stdout(sys.stderr):
            provision(template, endpoint_url)
            if endpoint is not None:
                store_tokens(tokens_from(None))
            try:
                response = LambdaRuntime(template).invoke(arguments.function, event)
            except FunctionError as error:
                failure = {
                    "errorMessage": error.error_message,
                    "errorType": error.error_type,
                    "stackTrace": traceback.format_exception(error.error),
                }
        print(json.dumps(failure if failure is not None else response, indent=2, default=str))
        return 1 if failure is not None else 0
    finally:
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
    table_name = arguments.table_name
    if not table_name:
        if not arguments.endpoint_url:
            raise SystemExit("--table-name is required for a deployed stack (the stack's TableName output)")

        template = load_template(arguments.template)
        table_name = next(iter(template.tables.values())).name
    os.environ["TABLE_NAME"] = table_name
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        raise SystemExit("set AWS_REGION (or AWS_DEFAULT_REGION) to the stack's region")


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
    serve.set_defaults(run=_serve)

    invoke = commands.add_parser("invoke", help="invoke one function with an event file (like sam local invoke -e)")
    invoke.add_argument("function", help="logical id, e.g. CallerApiFunction")
    invoke.add_argument("event", help="event JSON file, or - for standard input")
    invoke.add_argument("--template", default=DEFAULT_TEMPLATE)
    invoke.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    invoke.set_defaults(run=_invoke)

    tokens = commands.add_parser("tokens", help="create or revoke API tokens")
    tokens_actions = tokens.add_subparsers(dest="action", required=True)
    for action in ("create", "revoke"):
        sub = tokens_actions.add_parser(action)
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
