"""``stratoflow event send`` and ``stratoflow token create``."""

from __future__ import annotations

import contextlib
import io
import json
import os

import click

from ._app import EXIT_USAGE, invocation, output_json
from ._render import console
from ._workflows import parse_json


@click.group("event")
def event_group() -> None:
    """Business events: they cancel the executions that subscribed to them (workflow start --cancel-on)."""


@event_group.command("send")
@click.argument("event_type")
@click.option("--data", "data_json", metavar="JSON", help="The event's data, a JSON object (default {}).")
@click.option("--idempotency-key", help="Sending again with the same key is recognised and cancels nothing twice.")
def send(event_type: str, data_json: str | None, idempotency_key: str | None) -> None:
    """Send an event of EVENT_TYPE."""
    state = invocation()
    data = parse_json(data_json, "--data")
    if data is not None and not isinstance(data, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    event_id = state.client.send_event(event_type, data, idempotency_key=idempotency_key)
    if not state.text:
        output_json({"eventId": event_id})
        return
    console().print(f"Sent {event_type} as event {event_id}")


@click.group("token")
def token_group() -> None:
    """API tokens of a stack (written to its table directly, with AWS credentials)."""


@token_group.command("create")
@click.option("--tenant", required=True, help="The tenant the token belongs to.")
@click.option("--scopes", default="client,worker", show_default=True, help="client, worker or client,worker.")
@click.option("--token", "token_value", help="The token (default: a new random one).")
@click.option("--stack-name", help="A deployed stack: its table is read from the stack's TableName output.")
@click.option("--table-name", help="The stack's table (its TableName output); default: the local stack's table.")
@click.option("--region", help="The stack's region (default: AWS_REGION / AWS_DEFAULT_REGION).")
@click.option("--endpoint-url", help="The local stack's AWS endpoint (`make local` prints it).")
def create(tenant: str, scopes: str, token_value: str | None, stack_name: str | None, table_name: str | None,
           region: str | None, endpoint_url: str | None) -> None:
    """Create a token for TENANT; only its hash is stored. Prints the token once."""
    try:
        # The table's item format belongs to the server package, which the repository's checkout provides.
        from stratoflow_local.cli import main as local_main  # noqa: PLC0415
    except ImportError:
        click.echo("error: token create writes to the stack's table through the Stratoflow server package: run it "
                   "from a Stratoflow checkout (PYTHONPATH=layers/stratoflow:local), or use "
                   "`python -m stratoflow_local tokens create` there", err=True)
        raise SystemExit(EXIT_USAGE) from None
    if region:
        os.environ["AWS_REGION"] = region
        os.environ["AWS_DEFAULT_REGION"] = region
    arguments = ["tokens", "create", "--tenant", tenant, "--scopes", scopes]
    for flag, value in (("--token", token_value), ("--stack-name", stack_name), ("--table-name", table_name),
                        ("--endpoint-url", endpoint_url)):
        if value:
            arguments += [flag, value]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = local_main(arguments)
    except SystemExit as stop:  # its own usage errors (no table name, no region) are messages
        if isinstance(stop.code, str):
            click.echo(f"error: {stop.code}", err=True)
            raise SystemExit(EXIT_USAGE) from None
        raise
    if code != 0:
        raise SystemExit(code)
    created = json.loads(printed.getvalue().strip().splitlines()[-1])
    if not invocation().text:
        output_json(created)
        return
    console().print(f"Token for tenant {created['tenant']} (scopes {', '.join(created['scopes'])}):")
    click.echo(created["token"])
