"""The CLI's root: global options, the shared state of one invocation, and how failures become exit codes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import requests

from .._client import Client
from .._errors import ApiError, TransportError
from .._transport import Transport
from ._render import OUTPUTS, emit_json

DEFAULT_URL = "http://127.0.0.1:3000"

#: Exit codes: 0 success; 1 aborted at a prompt; 2 a usage error (click's own code); 3 the API refused the request
#: (its error code is printed); 4 the API could not be reached.
EXIT_ABORTED = 1
EXIT_USAGE = 2
EXIT_API_ERROR = 3
EXIT_UNREACHABLE = 4


@dataclass
class Invocation:
    """What the global options chose; commands reach it with ``click.get_current_context().obj``."""

    url: str
    token: str | None
    output: str
    transport: Transport | None = None

    @property
    def client(self) -> Client:
        """A client on ``--url`` with ``--token``; a usage error when there is no token."""
        if not self.token:
            raise click.UsageError("no token: pass --token or set STRATOFLOW_TOKEN")
        return Client(self.url, self.token, transport=self.transport)

    @property
    def text(self) -> bool:
        """Whether the output is for people (``-o text``)."""
        return self.output == "text"


def invocation() -> Invocation:
    """The current invocation's state."""
    obj = click.get_current_context().find_object(Invocation)
    if obj is None:  # pragma: no cover - every command runs under the root group
        raise RuntimeError("the stratoflow CLI was invoked without its root group")
    return obj


def _connection_reason(error: BaseException) -> str:
    cause = error.__cause__
    if isinstance(cause, requests.Timeout):
        return "the request timed out"
    if isinstance(cause, requests.ConnectionError):
        return "connection refused or host unreachable"
    return type(cause).__name__ if cause is not None else str(error)


def fail_api(error: ApiError, output: str) -> NoReturn:
    """Print the API's error (code and message, details in JSON modes) on stderr and exit 3."""
    if output == "text":
        extra = "".join(f" {key}={json.dumps(value)}" for key, value in sorted(error.details.items()))
        click.echo(f"error: {error.code}: {error.message}{extra}", err=True)
    else:
        body = {"error": {"code": error.code, "message": error.message, "status": error.status, **error.details}}
        click.echo(json.dumps(body, sort_keys=True), err=True)
    raise SystemExit(EXIT_API_ERROR)


def fail_unreachable(error: TransportError, url: str) -> NoReturn:
    """One line on stderr, never a traceback, and exit 4."""
    click.echo(f"error: cannot reach the Stratoflow API at {url}: {_connection_reason(error)}", err=True)
    raise SystemExit(EXIT_UNREACHABLE)


class RootGroup(click.Group):
    """The ``stratoflow`` group: turns API refusals and connection failures into their exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as error:
            state = ctx.find_object(Invocation)
            fail_api(error, state.output if state else "text")
        except TransportError as error:
            state = ctx.find_object(Invocation)
            fail_unreachable(error, state.url if state else "?")


def output_json(value: Any) -> None:
    """Pretty JSON for ``-o json``, one compact line for ``-o jsonl``."""
    emit_json(value, pretty=invocation().output == "json")


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--url", envvar="STRATOFLOW_URL", default=DEFAULT_URL, show_default=True, show_envvar=True,
              help="The stack's base URL (the API stage URL of a deployed stack).")
@click.option("--token", envvar="STRATOFLOW_TOKEN", show_envvar=True, help="A bearer token with the client scope.")
@click.option("-o", "--output", type=click.Choice(OUTPUTS), default="text", show_default=True,
              help="text for people; json or jsonl (one object a line) for scripts.")
@click.pass_context
def root(ctx: click.Context, url: str, token: str | None, output: str) -> None:
    """Operate Stratoflow: start, inspect, cancel and terminate workflow executions, run batches, send events.

    \b
    Exit codes: 0 success, 1 aborted at a prompt, 2 usage error,
    3 the API refused the request (its error code is printed), 4 the API could not be reached.
    """
    # A Transport passed as the context's object (``cli.main(obj=transport)``) replaces HTTP, as tests do.
    transport = ctx.obj if isinstance(ctx.obj, Transport) else None
    ctx.obj = Invocation(url=url.rstrip("/"), token=token, output=output, transport=transport)
