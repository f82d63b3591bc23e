"""The `stratoflow` CLI against the fake server: every command, its text and JSON output, prompts and exit codes.

The CLI is invoked as a person would (arguments, standard input), through click's CliRunner; the fake server stands
in for the stack by being passed as the transport. tests/integration/test_cli*.py run it against the local stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sdk_fake_server import FakeServer, FakeTransport
from sdk_harness import Harness
from stratoflow_sdk import TransportError, TransportResponse, WorkflowStatus
from stratoflow_sdk._cli import EXIT_API_ERROR, EXIT_UNREACHABLE, EXIT_USAGE, cli
from stratoflow_sdk._cli._render import parse_duration, relative
from stratoflow_sdk._cli._workflows import parse_cancel_on


class Stack:
    """A fake server and a way to run the CLI on it."""

    def __init__(self, server: FakeServer | None = None) -> None:
        self.h = Harness(server)
        self.server = self.h.server
        self.runner = CliRunner()

    def run(self, *args: str, input: str | None = None, transport: Any = None) -> Result:
        return self.runner.invoke(cli, ["--token", "tok", *args], input=input,
                                  obj=transport or FakeTransport(self.server), catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self.run("-o", "json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def jsonl(self, *args: str) -> list[Any]:
        result = self.run("-o", "jsonl", *args)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def stack() -> Stack:
    return Stack()


# --- workflow ----------------------------------------------------------------------------------------------------


def test_start_prints_the_new_execution_and_sends_input_queue_and_cancel_on(stack: Stack) -> None:
    result = stack.run("workflow", "start", "order", "--input", '{"sku": "B-1"}', "--queue", "orders",
                       "--cancel-on", "order.cancelled:orderId=o-1", "--cancel-on", "shop:closed")
    assert result.exit_code == 0, result.output
    (request,) = stack.server.requests_to("POST", "/v1/workflows")
    assert request.body == {"kind": "order", "input": {"sku": "B-1"}, "queue": "orders", "cancelOn": [
        {"eventType": "order.cancelled", "match": {"orderId": "o-1"}}, {"eventType": "shop:closed", "match": {}}]}
    (execution,) = stack.server.executions.values()
    assert result.stdout == f"Started {execution.id} (order on orders): PENDING\n"

    started = stack.json("workflow", "start", "order")
    assert started["status"] == "PENDING" and started["kind"] == "order" and started["cancelOn"] == []


@pytest.mark.parametrize(("text", "event_type", "match"), [
    ("order.cancelled", "order.cancelled", {}),
    ("order.cancelled:orderId=o-1", "order.cancelled", {"orderId": "o-1"}),
    ("a:b:count=7", "a:b", {"count": 7}),
    ("t:flag=true", "t", {"flag": True}),
    ('t:id="7"', "t", {"id": "7"}),
])
def test_cancel_on_is_type_or_type_key_value(text: str, event_type: str, match: dict[str, Any]) -> None:
    parsed = parse_cancel_on(text)
    assert (parsed.event_type, dict(parsed.match)) == (event_type, match)


def test_list_shows_a_table_and_json_follows_pages_up_to_the_limit(stack: Stack) -> None:
    runs = [stack.h.start("leaf", n) for n in range(5)]
    result = stack.run("workflow", "list", "--kind", "leaf")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "KIND", "QUEUE", "STATUS", "CREATED", "UPDATED"]
    assert [line.split()[0] for line in lines[1:]] == list(reversed(runs))
    assert all("PENDING" in line for line in lines[1:])

    listed = stack.json("workflow", "list", "--limit", "3")
    assert [w["workflowExecutionId"] for w in listed["workflows"]] == list(reversed(runs))[:3]
    assert [w["workflowExecutionId"] for w in stack.jsonl("workflow", "list", "--status", "pending")] == \
        list(reversed(runs))
    assert stack.run("workflow", "list", "--status", "COMPLETED").stdout == "No workflow executions.\n"


def test_describe_derives_open_work_and_the_cancel_request_from_the_history(stack: Stack) -> None:
    run = stack.h.start("order", {"sku": "x"})
    stack.h.activate()  # schedules the reserve task
    stack.h.complete(stack.h.pending_tasks(run)[0].id, "r-1")
    stack.h.activate()  # starts the one-hour timer
    stack.h.client.cancel_workflow(run, reason="changed my mind", cleanup_timeout=timedelta(minutes=5))

    report = stack.json("workflow", "describe", run)
    assert report["workflow"]["status"] == "CANCELLING"
    assert report["cancelRequest"]["reason"] == "changed my mind"
    assert report["cancelRequest"]["requestedBy"] == "api"
    assert report["cancelRequest"]["cleanupDeadline"] == report["workflow"]["cleanupDeadline"]
    assert [(t["kind"], t["state"]) for t in report["tasks"]] == [("reserve", "COMPLETED")]
    assert [t["state"] for t in report["timers"]] == ["STARTED"]
    assert report["children"] == [] and report["outcome"] is None

    text = stack.run("workflow", "describe", run).stdout
    assert "Status            CANCELLING" in text
    assert "Cancel requested" in text and "by api: changed my mind" in text
    assert "Cleanup deadline" in text
    assert "Timers" in text and "1 tasks (0 open), 1 timers (1 open), 0 children" in text


def test_describe_shows_children_and_the_terminal_outcome(stack: Stack) -> None:
    run = stack.h.start("select-child")
    stack.h.activate()
    stack.h.client.terminate(run, "operator")
    report = stack.json("workflow", "describe", run)
    (child,) = report["children"]
    assert (child["childExecutionName"], child["kind"], child["state"]) == ("leaf-1", "leaf", "RUNNING")
    assert report["outcome"]["status"] == "TERMINATED" and report["outcome"]["reason"] == "operator"
    text = stack.run("workflow", "describe", run).stdout
    assert "Ended" in text and "TERMINATED" in text and "Children" in text and "leaf-1" in text


def test_history_prints_every_event_and_jsonl_is_one_event_a_line(stack: Stack) -> None:
    run = stack.h.start("leaf", 1)
    stack.h.activate()
    lines = stack.run("workflow", "history", run).stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2"]
    assert "WORKFLOW_STARTED" in lines[0] and "TIMER_STARTED" in lines[1]
    events = stack.jsonl("workflow", "history", run)
    assert [(e["sequence"], e["type"]) for e in events] == [(1, "WORKFLOW_STARTED"), (2, "TIMER_STARTED")]
    assert [e["type"] for e in stack.json("workflow", "history", run)["events"]] == [
        "WORKFLOW_STARTED", "TIMER_STARTED"]


class EndsWhileFollowed:
    """A transport that lets the workflow finish after the follower has read the execution a few times."""

    def __init__(self, stack: Stack, run: str, after_reads: int) -> None:
        self.stack, self.run, self.after_reads = stack, run, after_reads
        self.inner = FakeTransport(stack.server)
        self.reads = 0

    def request(self, method: str, url: str, *, headers: Mapping[str, str], params: Mapping[str, str] | None = None,
                json_body: Any = None, timeout: float | None = None) -> TransportResponse:
        if method == "GET" and url.endswith(f"/v1/workflows/{self.run}"):
            self.reads += 1
            if self.reads == self.after_reads:
                timer = self.stack.server.started_timers(self.run)[0]
                self.stack.h.fire(self.run, timer.timer_id)
                self.stack.h.activate()
        return self.inner.request(method, url, headers=headers, params=params, json_body=json_body, timeout=timeout)


def test_history_follow_prints_new_events_and_ends_with_the_execution(stack: Stack) -> None:
    run = stack.h.start("leaf", 1)
    stack.h.activate()
    transport = EndsWhileFollowed(stack, run, after_reads=3)
    result = stack.run("-o", "jsonl", "workflow", "history", run, "--follow", "--interval", "0.05",
                       transport=transport)
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == ["WORKFLOW_STARTED", "TIMER_STARTED", "TIMER_FIRED", "WORKFLOW_COMPLETED"]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    assert transport.reads == 3


def test_tree_shows_descendants_with_statuses(stack: Stack) -> None:
    run = stack.h.start("select-child")
    stack.h.activate()
    tree = stack.json("workflow", "tree", run)
    assert (tree["workflowExecutionId"], tree["status"]) == (run, "WAITING")
    (child,) = tree["children"]
    assert (child["kind"], child["status"], child["childExecutionName"], child["children"]) == (
        "leaf", "PENDING", "leaf-1", [])
    lines = stack.run("workflow", "tree", run).stdout.splitlines()
    assert lines[0] == f"{run}  select-child  WAITING"
    assert lines[1].startswith("└── ") and "leaf  PENDING  (as leaf-1)" in lines[1]


def test_cancel_and_terminate(stack: Stack) -> None:
    run = stack.h.start("leaf", 1)
    result = stack.run("workflow", "cancel", run, "--reason", "r", "--no-cascade", "--cleanup-timeout", "1m30s")
    assert (result.exit_code, result.stdout) == (0, f"{run}: CANCELLING\n")
    (request,) = stack.server.requests_to("POST", f"/v1/workflows/{run}/cancel")
    assert request.body == {"cascade": False, "reason": "r", "cleanupTimeoutMs": 90_000}
    assert stack.json("workflow", "terminate", run, "--reason", "stuck") == {
        "workflowExecutionId": run, "status": "TERMINATED"}
    assert stack.h.client.get_workflow(run).status is WorkflowStatus.TERMINATED


# --- errors and exit codes ---------------------------------------------------------------------------------------


def test_an_api_refusal_prints_code_and_message_and_exits_3(stack: Stack) -> None:
    run = stack.h.start("leaf", 1)
    stack.h.client.terminate(run, "gone")
    result = stack.run("workflow", "cancel", run)
    assert result.exit_code == EXIT_API_ERROR
    assert result.stderr == 'error: FAILED_PRECONDITION: workflow is TERMINATED currentStatus="TERMINATED"\n'
    result = stack.run("-o", "json", "workflow", "describe", "missing")
    assert result.exit_code == EXIT_API_ERROR
    assert json.loads(result.stderr)["error"]["code"] == "NOT_FOUND"
    unknown = stack.runner.invoke(cli, ["--token", "nope", "workflow", "list"], obj=FakeTransport(stack.server))
    assert unknown.exit_code == EXIT_API_ERROR and unknown.stderr.startswith("error: UNAUTHENTICATED: ")


def test_usage_errors_exit_2(stack: Stack) -> None:
    assert stack.run("workflow", "start", "k", "--input", "{nope").exit_code == EXIT_USAGE
    assert stack.run("workflow", "cancel", "x", "--cleanup-timeout", "soon").exit_code == EXIT_USAGE
    assert stack.run("workflow", "terminate", "x").exit_code == EXIT_USAGE  # --reason is required
    assert stack.run("batch", "start", "--operation", "cancel", "--reason", "r").exit_code == EXIT_USAGE
    assert stack.run("batch", "start", "--operation", "cancel", "--kind", "k").exit_code == EXIT_USAGE
    no_token = CliRunner(env={"STRATOFLOW_TOKEN": None}).invoke(cli, ["workflow", "list"])
    assert no_token.exit_code == EXIT_USAGE and "no token" in no_token.stderr


def test_an_unreachable_server_is_one_line_and_exit_4(stack: Stack) -> None:
    class Refused:
        def request(self, method: str, url: str, **kwargs: Any) -> TransportResponse:
            raise TransportError(f"{method} {url}: connection refused")

    result = stack.run("--url", "http://127.0.0.1:9", "workflow", "list", transport=Refused())
    assert result.exit_code == EXIT_UNREACHABLE
    assert result.stderr.count("\n") == 1 and "cannot reach the Stratoflow API at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.output


# --- batch -------------------------------------------------------------------------------------------------------


def test_batch_start_asks_first_and_no_changes_nothing(stack: Stack) -> None:
    runs = [stack.h.start("leaf", n) for n in range(3)]
    result = stack.run("batch", "start", "--operation", "cancel", "--kind", "leaf", "--reason", "r", input="n\n")
    assert result.exit_code == 1
    assert "Cancel 3 workflow executions? [y/N]" in result.stderr
    assert "Aborted: nothing was changed." in result.stderr
    assert stack.server.batches == {}
    assert all(stack.h.client.get_workflow(r).status is WorkflowStatus.PENDING for r in runs)


def test_batch_start_confirmed_shows_progress_to_the_end() -> None:
    stack = Stack(FakeServer(batch_step=1))
    runs = [stack.h.start("leaf", n) for n in range(3)]
    stack.h.client.terminate(runs[0], "gone")
    result = stack.run("batch", "start", "--operation", "terminate", "--kind", "leaf", "--status", "pending",
                       "--status", "cancelling", "--id", runs[0], "--id", runs[1], "--id", runs[2], "--id", "nope",
                       "--reason", "bad deploy", "--max-per-second", "5", "--interval", "0.05", input="y\n")
    assert result.exit_code == 0, result.output
    assert "Terminate 4 workflow executions? [y/N]" in result.stderr
    (batch_id,) = stack.server.batches
    assert result.stdout.splitlines()[-1] == (
        f"Batch {batch_id} COMPLETED: 2 done / 1 failed / 1 skipped of 4")
    assert "Terminating" in result.stdout and "━" in result.stdout
    dry_run, real = stack.server.requests_to("POST", "/v1/batches")
    assert dry_run.body["dryRun"] is True
    assert real.body == {"operation": "TERMINATE", "filter": {
        "kind": "leaf", "statuses": ["PENDING", "CANCELLING"], "workflowExecutionIds": [*runs, "nope"]},
        "cascade": True, "reason": "bad deploy", "maxPerSecond": 5}


def test_batch_dry_run_json_and_yes_skips_the_prompt(stack: Stack) -> None:
    for n in range(2):
        stack.h.start("leaf", n)
    assert stack.json("batch", "start", "--operation", "cancel", "--kind", "leaf", "--dry-run") == {"matched": 2}
    assert stack.run("batch", "start", "--operation", "cancel", "--kind", "leaf", "--dry-run").stdout == \
        "2 workflow executions match.\n"
    final = stack.json("batch", "start", "--operation", "cancel", "--kind", "leaf", "--reason", "r", "--yes",
                       "--cleanup-timeout", "10m", "--created-after", "2026-01-01T00:00:00Z")
    assert (final["status"], final["succeeded"], final["matched"]) == ("COMPLETED", 2, 2)
    (request,) = [r for r in stack.server.requests_to("POST", "/v1/batches") if not r.body.get("dryRun")]
    assert request.body["cleanupTimeoutMs"] == 600_000
    assert request.body["filter"]["createdAfter"] == "2026-01-01T00:00:00.000Z"


def test_batch_list_describe_items_and_stop() -> None:
    stack = Stack(FakeServer(batch_step=1))
    for n in range(3):
        stack.h.start("leaf", n)
    started = stack.json("batch", "start", "--operation", "cancel", "--kind", "leaf", "--reason", "r", "--yes",
                         "--no-wait")
    batch_id = started["batchId"]
    assert started["status"] == "RUNNING"
    assert stack.json("batch", "describe", batch_id)["succeeded"] == 1
    stopped = stack.json("batch", "stop", batch_id)
    assert stopped["status"] == "STOPPED"
    assert stack.run("batch", "stop", batch_id).exit_code == EXIT_API_ERROR
    listed = stack.run("batch", "list").stdout.splitlines()
    assert listed[0].split()[:4] == ["ID", "OPERATION", "STATUS", "PROGRESS"]
    assert batch_id in listed[1] and "STOPPED" in listed[1] and "1 done / 0 failed / 0 skipped of 3" in listed[1]
    items = stack.jsonl("batch", "items", batch_id, "--outcome", "succeeded")
    assert [i["outcome"] for i in items] == ["SUCCEEDED"]
    assert stack.run("batch", "items", batch_id, "--outcome", "failed").stdout == "No items.\n"
    assert "Status           STOPPED" in stack.run("batch", "describe", batch_id).stdout


# --- event -------------------------------------------------------------------------------------------------------


def test_event_send_cancels_the_subscribers(stack: Stack) -> None:
    run = stack.json("workflow", "start", "leaf", "--cancel-on", "order.cancelled:orderId=o-1")["workflowExecutionId"]
    sent = stack.json("event", "send", "order.cancelled", "--data", '{"orderId": "o-1"}')
    assert stack.h.client.get_workflow(run).status is WorkflowStatus.CANCELLING
    assert stack.h.client.history(run)[-1].data["requestedBy"] == f"event:{sent['eventId']}"
    assert stack.run("event", "send", "x", "--data", "[1]").exit_code == EXIT_USAGE


# --- helpers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("500ms", 0.5), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "m5", "1h 30"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_relative_times() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert relative(now, now) == "just now"
    assert relative(now - timedelta(seconds=12), now) == "12s ago"
    assert relative(now - timedelta(seconds=200), now) == "3m20s ago"
    assert relative(now - timedelta(hours=2, minutes=5), now) == "2h05m ago"
    assert relative(now + timedelta(seconds=45), now) == "in 45s"
    assert relative("2026-12-05T03:00:00.000Z", now) == "2d00h ago"
    assert relative(None, now) == "-"
