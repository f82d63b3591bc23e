"""The `stratoflow` CLI's operator commands against the local stack: terminate, cancel with a cleanup timeout,
batches (the prompt answered both ways, the progress bar's end state, list / describe / items / stop), events with
cancel-on subscriptions, and the TERMINATED status in lists.
"""

from __future__ import annotations

import json

import pytest
from stratoflow_local.stack import LocalStack
from stratoflow_sdk import BatchStatus, Client, WorkflowStatus

from tests.support.http import wait_until
from tests.support.operators import TOKEN, cli_json, new_queue, run_cli, start_with_open_work

LATENESS = 10.0  # locally, stream-driven effects land within 2 s and deadlines within 2 s; this bounds the waits


@pytest.fixture
def client(local_stack: LocalStack) -> Client:
    return Client(local_stack.url, TOKEN)


def status_of(client: Client, workflow_id: str) -> WorkflowStatus:
    return client.get_workflow(workflow_id).status


def test_terminate_ends_the_run_and_its_child_and_describe_says_why(local_stack: LocalStack, client: Client) -> None:
    workflow_id = start_with_open_work(client, new_queue())
    result = run_cli(local_stack.url, "workflow", "terminate", workflow_id, "--reason", "stuck on the provider")
    assert (result.exit_code, result.stdout) == (0, f"{workflow_id}: TERMINATED\n")
    wait_until(lambda: status_of(client, f"{workflow_id}.shipping") is WorkflowStatus.TERMINATED, LATENESS,
               "the cascade to terminate the child")

    report = cli_json(local_stack.url, "workflow", "describe", workflow_id)
    assert report["workflow"]["status"] == "TERMINATED"
    assert report["workflow"]["terminatedReason"] == "stuck on the provider"
    assert (report["outcome"]["status"], report["outcome"]["reason"], report["outcome"]["requestedBy"]) == (
        "TERMINATED", "stuck on the provider", "api")
    text = run_cli(local_stack.url, "workflow", "describe", workflow_id).stdout
    assert "TERMINATED" in text and "stuck on the provider" in text
    tree = run_cli(local_stack.url, "workflow", "tree", workflow_id).stdout.splitlines()
    assert tree == [f"{workflow_id}  order-saga  TERMINATED",
                    f"└── {workflow_id}.shipping  shipping  TERMINATED  (as shipping)"]
    listed = cli_json(local_stack.url, "workflow", "list", "--status", "TERMINATED", "--limit", "100")["workflows"]
    assert workflow_id in {w["workflowExecutionId"] for w in listed}

    again = run_cli(local_stack.url, "workflow", "terminate", workflow_id, "--reason", "again")
    assert again.exit_code == 3 and again.stderr.startswith("error: FAILED_PRECONDITION: ")
    assert 'currentStatus="TERMINATED"' in again.stderr


def test_cancel_with_a_cleanup_timeout_shows_the_deadline_then_terminates(
        local_stack: LocalStack, client: Client) -> None:
    workflow_id = start_with_open_work(client, new_queue())
    result = run_cli(local_stack.url, "workflow", "cancel", workflow_id, "--reason", "deploy", "--cleanup-timeout",
                     "1s")
    assert result.exit_code == 0, result.output
    report = cli_json(local_stack.url, "workflow", "describe", workflow_id)
    deadline = report["workflow"]["cleanupDeadline"]
    assert deadline is not None and report["cancelRequest"]["cleanupDeadline"] == deadline
    # Nobody cleans up: the deadline passes and the platform terminates it.
    wait_until(lambda: status_of(client, workflow_id) is WorkflowStatus.TERMINATED, LATENESS, "the deadline")
    ended = cli_json(local_stack.url, "workflow", "describe", workflow_id)
    assert (ended["outcome"]["reason"], ended["outcome"]["requestedBy"]) == ("cleanup timeout", "cleanup-timeout")
    assert ended["workflow"]["cleanupDeadline"] == deadline
    assert "Cleanup deadline" in run_cli(local_stack.url, "workflow", "describe", workflow_id).stdout


def test_batch_start_declined_changes_nothing(local_stack: LocalStack, client: Client) -> None:
    kind = f"batch-{new_queue()}"
    runs = [client.start_workflow(kind, n, queue=new_queue()).workflow_execution_id for n in range(3)]
    result = run_cli(local_stack.url, "batch", "start", "--operation", "cancel", "--kind", kind, "--reason", "r",
                     input="n\n")
    assert result.exit_code == 1
    assert "Cancel 3 workflow executions? [y/N]" in result.stderr
    assert "Aborted: nothing was changed." in result.stderr
    assert all(status_of(client, run) is WorkflowStatus.PENDING for run in runs)
    assert all(b.reason != "r" or kind not in json.dumps(dict(b.filter)) for b in client.list_batches())


def test_batch_start_confirmed_runs_to_the_end_with_its_progress(local_stack: LocalStack, client: Client) -> None:
    kind = f"batch-{new_queue()}"
    runs = [client.start_workflow(kind, n, queue=new_queue()).workflow_execution_id for n in range(4)]
    client.terminate(runs[0], "already gone")
    result = run_cli(local_stack.url, "batch", "start", "--operation", "terminate", "--kind", kind,
                     "--id", runs[0], "--id", runs[1], "--id", runs[2], "--id", runs[3],
                     "--reason", "bad deploy", "--max-per-second", "20", "--interval", "0.2", input="y\n")
    assert result.exit_code == 0, result.output
    # The count before the prompt is the dry run's: whether it counts the terminal one the server decides.
    assert "Terminate " in result.stderr and " workflow executions? [y/N]" in result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("Batch ") and last.endswith(" COMPLETED: 3 done / 0 failed / 1 skipped of 4")
    batch_id = last.split()[1]
    assert "Terminating" in result.stdout
    assert all(status_of(client, run) is WorkflowStatus.TERMINATED for run in runs)
    assert client.history(runs[1])[-1].data["requestedBy"] == f"batch:{batch_id}"

    described = cli_json(local_stack.url, "batch", "describe", batch_id)
    assert (described["status"], described["matched"], described["succeeded"], described["skipped"]) == (
        "COMPLETED", 4, 3, 1)
    assert batch_id in run_cli(local_stack.url, "batch", "list").stdout
    items = [json.loads(line) for line in run_cli(local_stack.url, "-o", "jsonl", "batch", "items", batch_id)
             .stdout.splitlines()]
    assert sorted((i["workflowExecutionId"], i["outcome"]) for i in items) == sorted(
        [(runs[0], "SKIPPED")] + [(run, "SUCCEEDED") for run in runs[1:]])
    skipped = cli_json(local_stack.url, "batch", "items", batch_id, "--outcome", "SKIPPED")["items"]
    assert [i["workflowExecutionId"] for i in skipped] == [runs[0]]


def test_batch_dry_run_json_prints_the_count_and_changes_nothing(local_stack: LocalStack, client: Client) -> None:
    kind = f"batch-{new_queue()}"
    runs = [client.start_workflow(kind, n, queue=new_queue()).workflow_execution_id for n in range(2)]
    assert cli_json(local_stack.url, "batch", "start", "--operation", "cancel", "--kind", kind, "--dry-run") == {
        "matched": 2}
    assert all(status_of(client, run) is WorkflowStatus.PENDING for run in runs)


def test_batch_yes_json_and_stop(local_stack: LocalStack, client: Client) -> None:
    kind = f"batch-{new_queue()}"
    for n in range(30):
        client.start_workflow(kind, n, queue=new_queue())
    started = cli_json(local_stack.url, "batch", "start", "--operation", "cancel", "--kind", kind, "--reason", "r",
                       "--yes", "--max-per-second", "1", "--no-wait")
    assert started["status"] == "RUNNING"
    stopped = cli_json(local_stack.url, "batch", "stop", started["batchId"])
    assert stopped["status"] == "STOPPED" and stopped["completedAt"] is not None
    refused = run_cli(local_stack.url, "batch", "stop", started["batchId"])
    assert refused.exit_code == 3 and 'currentStatus="STOPPED"' in refused.stderr
    assert client.get_batch(started["batchId"]).status is BatchStatus.STOPPED


def test_event_send_cancels_the_runs_that_subscribed(local_stack: LocalStack, client: Client) -> None:
    order = f"o-{new_queue()}"
    subscribed = cli_json(local_stack.url, "workflow", "start", "order-saga", "--queue", new_queue(),
                          "--cancel-on", f"order.cancelled:orderId={order}")
    other = cli_json(local_stack.url, "workflow", "start", "order-saga", "--queue", new_queue(),
                     "--cancel-on", "order.cancelled:orderId=someone-else")
    assert subscribed["cancelOn"] == [{"eventType": "order.cancelled", "match": {"orderId": order},
                                       "timeoutMs": None}]
    sent = run_cli(local_stack.url, "event", "send", "order.cancelled", "--data", json.dumps({"orderId": order}))
    assert sent.exit_code == 0 and sent.stdout.startswith("Sent order.cancelled as event ")
    event_id = sent.stdout.split()[-1]
    wait_until(lambda: status_of(client, subscribed["workflowExecutionId"]) is WorkflowStatus.CANCELLING, LATENESS,
               "the event to cancel the subscriber")
    request = cli_json(local_stack.url, "workflow", "describe", subscribed["workflowExecutionId"])["cancelRequest"]
    assert (request["reason"], request["requestedBy"]) == ("cancelOn order.cancelled", f"event:{event_id}")
    local_stack.wait_idle()
    assert status_of(client, other["workflowExecutionId"]) is WorkflowStatus.PENDING
