"""The `stratoflow` CLI against the local stack, used as an operator would: start, list, describe, history (and
--follow), tree, cancel, errors and exit codes, token create, and the installed console script.

The tests that need the operator endpoints (terminate, batches, events, cleanup deadlines, cancel-on) are in
test_cli_operators.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from stratoflow_local.stack import LocalStack
from stratoflow_sdk import Client, WorkflowStatus

from tests.integration.conftest import REPO
from tests.support.http import wait_until
from tests.support.operators import (
    TOKEN,
    claim,
    cli_command,
    cli_environment,
    cli_json,
    cli_process,
    finish,
    new_queue,
    run_cli,
    start_with_open_work,
)


@pytest.fixture
def client(local_stack: LocalStack) -> Client:
    return Client(local_stack.url, TOKEN)


def test_start_then_list_and_describe_a_pending_execution(local_stack: LocalStack) -> None:
    queue = new_queue()
    result = run_cli(local_stack.url, "workflow", "start", "cli-demo", "--input", '{"n": 1}', "--queue", queue)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Started ") and result.stdout.endswith(f"(cli-demo on {queue}): PENDING\n")
    workflow_id = result.stdout.split()[1]

    listed = cli_json(local_stack.url, "workflow", "list", "--kind", "cli-demo", "--limit", "100")["workflows"]
    (mine,) = [w for w in listed if w["workflowExecutionId"] == workflow_id]
    assert (mine["status"], mine["queue"], mine["input"]) == ("PENDING", queue, {"n": 1})

    table = run_cli(local_stack.url, "workflow", "list", "--kind", "cli-demo", "--status", "PENDING").stdout
    assert table.splitlines()[0].split() == ["ID", "KIND", "QUEUE", "STATUS", "CREATED", "UPDATED"]
    assert any(line.split()[:4] == [workflow_id, "cli-demo", queue, "PENDING"] for line in table.splitlines())

    report = cli_json(local_stack.url, "workflow", "describe", workflow_id)
    assert report["workflow"]["status"] == "PENDING"
    assert (report["cancelRequest"], report["tasks"], report["timers"], report["children"], report["outcome"]) == (
        None, [], [], [], None)


def test_list_follows_pages_up_to_the_limit(local_stack: LocalStack, client: Client) -> None:
    kind = f"cli-page-{new_queue()}"
    started = [client.start_workflow(kind, n, queue=new_queue()).workflow_execution_id for n in range(4)]
    ids = [line for line in run_cli(local_stack.url, "-o", "jsonl", "workflow", "list", "--kind", kind,
                                    "--limit", "3").stdout.splitlines()]
    assert [json.loads(line)["workflowExecutionId"] for line in ids] == list(reversed(started))[:3]


def test_describe_shows_the_open_work_and_the_cancel_request(local_stack: LocalStack, client: Client) -> None:
    queue = new_queue()
    workflow_id = start_with_open_work(client, queue)
    before = run_cli(local_stack.url, "workflow", "describe", workflow_id).stdout
    assert "Status" in before and "WAITING" in before
    assert "Pending tasks" in before and f"{workflow_id}.reserve" in before and "reserve-stock" in before
    assert "Timers" in before and "payment-window" in before and "(in 59m" in before
    assert "Children" in before and f"{workflow_id}.shipping" in before
    assert "1 tasks (1 open), 1 timers (1 open), 1 children" in before

    cancelled = run_cli(local_stack.url, "workflow", "cancel", workflow_id, "--reason", "customer asked")
    assert (cancelled.exit_code, cancelled.stdout) == (0, f"{workflow_id}: CANCELLING\n")

    report = cli_json(local_stack.url, "workflow", "describe", workflow_id)
    assert report["workflow"]["status"] == "CANCELLING"
    request = report["cancelRequest"]
    assert (request["reason"], request["requestedBy"]) == ("customer asked", "api") and request["at"]
    assert [(t["taskExecutionId"], t["kind"], t["state"]) for t in report["tasks"]] == [
        (f"{workflow_id}.reserve", "reserve-stock", "SCHEDULED")]
    assert [(t["timerId"], t["state"]) for t in report["timers"]] == [("payment-window", "STARTED")]
    assert [(c["childExecutionName"], c["kind"]) for c in report["children"]] == [("shipping", "shipping")]
    text = run_cli(local_stack.url, "workflow", "describe", workflow_id).stdout
    assert "Cancel requested" in text and "by api: customer asked" in text


def test_tree_shows_the_child_and_the_cascade(local_stack: LocalStack, client: Client) -> None:
    queue = new_queue()
    workflow_id = start_with_open_work(client, queue)
    tree = cli_json(local_stack.url, "workflow", "tree", workflow_id)
    assert (tree["workflowExecutionId"], tree["status"]) == (workflow_id, "WAITING")
    assert [(c["workflowExecutionId"], c["status"], c["childExecutionName"]) for c in tree["children"]] == [
        (f"{workflow_id}.shipping", "PENDING", "shipping")]

    assert run_cli(local_stack.url, "workflow", "cancel", workflow_id, "--reason", "stop").exit_code == 0
    wait_until(lambda: client.get_workflow(f"{workflow_id}.shipping").status is WorkflowStatus.CANCELLING, 10,
               "the cascade to reach the child")
    lines = run_cli(local_stack.url, "workflow", "tree", workflow_id).stdout.splitlines()
    assert lines[0] == f"{workflow_id}  order-saga  CANCELLING"
    assert lines[1] == f"└── {workflow_id}.shipping  shipping  CANCELLING  (as shipping)"


def test_cancel_without_cascade_leaves_the_child(local_stack: LocalStack, client: Client) -> None:
    queue = new_queue()
    workflow_id = start_with_open_work(client, queue)
    result = cli_json(local_stack.url, "workflow", "cancel", workflow_id, "--no-cascade")
    assert result == {"workflowExecutionId": workflow_id, "status": "CANCELLING"}
    local_stack.wait_idle()
    assert client.get_workflow(f"{workflow_id}.shipping").status is WorkflowStatus.PENDING


def test_history_lists_every_event_and_jsonl_is_one_event_a_line(local_stack: LocalStack, client: Client) -> None:
    workflow_id = start_with_open_work(client, new_queue())
    events = [json.loads(line) for line in
              run_cli(local_stack.url, "-o", "jsonl", "workflow", "history", workflow_id).stdout.splitlines()]
    assert [(e["sequence"], e["type"]) for e in events] == [
        (1, "WORKFLOW_STARTED"), (2, "TASK_SCHEDULED"), (3, "TIMER_STARTED"), (4, "CHILD_WORKFLOW_INITIATED")]
    lines = run_cli(local_stack.url, "workflow", "history", workflow_id).stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2", "3", "4"]
    assert "TIMER_STARTED" in lines[2] and '"timerId":"payment-window"' in lines[2]


def test_history_follow_prints_events_as_they_land_and_ends_with_the_execution(
        local_stack: LocalStack, client: Client) -> None:
    queue = new_queue()
    workflow_id = client.start_workflow("follow-me", None, queue=queue).workflow_execution_id
    follower = cli_process(["--url", local_stack.url, "--token", TOKEN, "-o", "jsonl", "workflow", "history",
                            workflow_id, "--follow", "--interval", "0.1"])
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        assert (first["sequence"], first["type"]) == (1, "WORKFLOW_STARTED")
        # The follower is running and has printed what there was; now the execution moves on, then ends.
        activation = claim(client, queue)
        client.submit_commands(workflow_id, activation.lease_id, [
            {"type": "START_TIMER", "timerId": "t1", "durationMs": 3_600_000}])
        assert json.loads(follower.stdout.readline())["type"] == "TIMER_STARTED"
        client.cancel_workflow(workflow_id, reason="done watching")
        finish(client, queue, workflow_id)
        rest = [json.loads(line) for line in follower.stdout.read().splitlines()]
        assert [e["type"] for e in rest] == ["CANCELLATION_REQUESTED", "WORKFLOW_CANCELLED"]
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()


# --- errors and exit codes ---------------------------------------------------------------------------------------


def test_an_api_refusal_prints_its_code_and_exits_3(local_stack: LocalStack, client: Client) -> None:
    missing = run_cli(local_stack.url, "workflow", "describe", "no-such-execution")
    assert missing.exit_code == 3
    assert missing.stderr.startswith("error: NOT_FOUND: ") and missing.stderr.count("\n") == 1
    queue = new_queue()
    workflow_id = client.start_workflow("cli-demo", None, queue=queue).workflow_execution_id
    client.cancel_workflow(workflow_id)
    finish(client, queue, workflow_id)
    refused = run_cli(local_stack.url, "-o", "json", "workflow", "cancel", workflow_id)
    assert refused.exit_code == 3
    error = json.loads(refused.stderr)["error"]
    assert (error["code"], error["currentStatus"], error["status"]) == ("FAILED_PRECONDITION", "CANCELLED", 409)
    unknown_token = run_cli(local_stack.url, "workflow", "list", token="not-a-token")
    assert unknown_token.exit_code == 3 and unknown_token.stderr.startswith("error: UNAUTHENTICATED: ")


def test_usage_errors_exit_2_and_send_nothing(local_stack: LocalStack) -> None:
    assert run_cli(local_stack.url, "workflow", "start", "k", "--input", "{not json").exit_code == 2
    assert run_cli(local_stack.url, "workflow", "cancel", "x", "--cleanup-timeout", "later").exit_code == 2
    no_token = run_cli(local_stack.url, "workflow", "list", token=None)
    assert no_token.exit_code == 2 and "no token: pass --token or set STRATOFLOW_TOKEN" in no_token.stderr


def test_the_console_script_runs_and_an_unreachable_server_is_one_line(local_stack: LocalStack) -> None:
    started = subprocess.run([*cli_command(), "--url", local_stack.url, "--token", TOKEN, "-o", "json", "workflow",
                              "start", "cli-script"], capture_output=True, text=True, env=cli_environment(),
                             timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["kind"] == "cli-script"

    unreachable = subprocess.run([*cli_command(), "--url", "http://127.0.0.1:9", "--token", TOKEN, "workflow",
                                  "list"], capture_output=True, text=True, env=cli_environment(), timeout=60,
                                 check=False)
    assert unreachable.returncode == 4
    assert unreachable.stderr == ("error: cannot reach the Stratoflow API at http://127.0.0.1:9: "
                                  "connection refused or host unreachable\n")
    assert unreachable.stdout == ""

    environment = {**cli_environment(), "STRATOFLOW_URL": local_stack.url, "STRATOFLOW_TOKEN": TOKEN}
    from_environment = subprocess.run([*cli_command(), "-o", "json", "workflow", "list", "--limit", "1"],
                                      capture_output=True, text=True, env=environment, timeout=60, check=False)
    assert from_environment.returncode == 0 and len(json.loads(from_environment.stdout)["workflows"]) == 1


def test_token_create_makes_a_token_the_api_accepts(local_stack: LocalStack) -> None:
    created = subprocess.run(
        [*cli_command(), "-o", "json", "token", "create", "--tenant", "acme", "--scopes", "client",
         "--endpoint-url", local_stack.endpoint_url, "--region", "us-east-1"],
        capture_output=True, text=True, env=cli_environment(), timeout=60, check=False, cwd=REPO)
    assert created.returncode == 0, created.stderr
    token = json.loads(created.stdout)
    assert (token["tenant"], token["scopes"]) == ("acme", ["client"]) and len(token["token"]) >= 32
    listed = run_cli(local_stack.url, "workflow", "list", "--limit", "1", token=token["token"])
    assert listed.exit_code == 0, listed.output
    # The older entry point keeps working.
    legacy = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else "python",
         "-m", "stratoflow_local", "tokens", "create", "--tenant", "acme", "--endpoint-url",
         local_stack.endpoint_url],
        capture_output=True, text=True, env={**cli_environment(), "AWS_REGION": "us-east-1"}, timeout=60,
        check=False, cwd=REPO)
    assert legacy.returncode == 0, legacy.stderr
    assert json.loads(legacy.stdout)["tenant"] == "acme"
