"""The web console's operator controls in headless Chromium: Terminate behind its confirmation (a reason is
required), the termination banner, the cleanup-deadline countdown, and the batch list with its progress."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stratoflow_local.stack import LocalStack
from stratoflow_sdk import BatchFilter, Client, WorkflowStatus

from tests.support.browser import attributes, by_id, chromium, click, sign_in, texts, wait
from tests.support.http import wait_until
from tests.support.operators import TOKEN, new_queue, start_with_open_work


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def client(local_stack: LocalStack) -> Client:
    return Client(local_stack.url, TOKEN)


def test_terminate_needs_a_reason_and_shows_the_termination(local_stack: LocalStack, browser: Any,
                                                              client: Client) -> None:
    workflow_id = start_with_open_work(client, new_queue())
    sign_in(browser, local_stack.url)
    browser.get(f"{local_stack.url}/console#/workflows/{workflow_id}")
    wait(browser, lambda d: texts(d, "#status-badge .badge") == ["WAITING"], "the execution's page")

    click(browser, "terminate-button")
    wait(browser, lambda d: by_id(d, "action-dialog").is_displayed(), "the terminate dialog")
    browser.execute_script("document.getElementById('action-reason').required = false")
    click(browser, "action-confirm")
    wait(browser, lambda d: by_id(d, "action-error").is_displayed(), "the missing reason to be pointed out")
    assert by_id(browser, "action-error").text == "A reason is required."
    assert client.get_workflow(workflow_id).status is WorkflowStatus.WAITING

    by_id(browser, "action-reason").send_keys("stuck on the provider")
    click(browser, "action-confirm")
    wait(browser, lambda d: texts(d, "#status-badge .badge") == ["TERMINATED"], "TERMINATED on the page")
    banner = wait(browser, lambda d: by_id(d, "banner").text, "the termination banner")
    assert "Terminated" in banner and "by api" in banner and "stuck on the provider" in banner
    wait(browser, lambda d: by_id(d, "cancel-button").get_attribute("disabled") is not None, "cancel disabled")
    wait(browser, lambda d: "WORKFLOW_TERMINATED" in attributes(d, "#timeline tbody tr", "data-type"),
         "the terminal event in the timeline")


def test_a_cleanup_deadline_counts_down_on_the_banner(local_stack: LocalStack, browser: Any,
                                                        client: Client) -> None:
    workflow_id = start_with_open_work(client, new_queue())
    client.cancel_workflow(workflow_id, reason="maintenance", cleanup_timeout=3600)
    sign_in(browser, local_stack.url)
    browser.get(f"{local_stack.url}/console#/workflows/{workflow_id}")
    banner = wait(browser, lambda d: "Cleanup deadline" in by_id(d, "banner").text and by_id(d, "banner").text,
                  "the deadline on the banner")
    assert "maintenance" in banner and "left" in banner
    first = texts(browser, ".countdown")[0]
    wait(browser, lambda d: texts(d, ".countdown") and texts(d, ".countdown")[0] != first, "the countdown to tick")


def test_the_batch_list_shows_progress(local_stack: LocalStack, browser: Any, client: Client) -> None:
    kind = f"console-batch-{new_queue()}"
    for n in range(3):
        client.start_workflow(kind, n, queue=new_queue())
    batch = client.start_batch("CANCEL", BatchFilter(kind=kind), reason="console test")
    wait_until(lambda: client.get_batch(batch.batch_id).status.is_terminal, 30, "the batch to end")
    sign_in(browser, local_stack.url)
    click(browser, "nav-batches")
    row = wait(browser, lambda d: [r for r in texts(d, "#batch-table tbody tr") if batch.batch_id in r],
               "the batch in the list")[0]
    assert "COMPLETED" in row and "3 done / 0 failed / 0 skipped of 3" in row and "console test" in row
