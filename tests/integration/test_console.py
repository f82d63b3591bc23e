"""The web console in headless Chromium against the local stack: the token prompt, the list, an execution's page
with its timeline and children, and Cancel behind its confirmation.

The terminate button and the batch list are in test_console_operators.py (they need the operator endpoints).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from stratoflow_local.stack import LocalStack
from stratoflow_sdk import Client, WorkflowStatus

from tests.support.browser import attributes, by_id, chromium, click, css, sign_in, texts, wait
from tests.support.operators import TOKEN, new_queue, start_with_open_work

# `CONSOLE_SCREENSHOT=docs/console-execution.png` refreshes the README's picture of the console from this test.
SCREENSHOT = os.environ.get("CONSOLE_SCREENSHOT")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def client(local_stack: LocalStack) -> Client:
    return Client(local_stack.url, TOKEN)


def test_the_page_needs_no_token_and_carries_a_content_security_policy(local_stack: LocalStack) -> None:
    page = requests.get(f"{local_stack.url}/console", timeout=30)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    script = requests.get(f"{local_stack.url}/console/console.js", timeout=30)
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    missing = requests.get(f"{local_stack.url}/console/secrets.txt", timeout=30)
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "NOT_FOUND", "message": "no such console file"}}


def test_a_refused_token_asks_again_and_the_token_stays_in_session_storage(
        local_stack: LocalStack, browser: Any) -> None:
    browser.get(f"{local_stack.url}/console")
    browser.execute_script("window.sessionStorage.clear()")
    browser.get(f"{local_stack.url}/console")
    wait(browser, lambda d: by_id(d, "token-input").is_displayed(), "the token prompt")
    by_id(browser, "token-input").send_keys("not-a-token")
    click(browser, "token-submit")
    wait(browser, lambda d: by_id(d, "token-input").is_displayed() and by_id(d, "error").is_displayed(),
         "the prompt again, with the refusal")
    assert "UNAUTHENTICATED" in by_id(browser, "error").text

    sign_in(browser, local_stack.url)
    assert browser.execute_script("return window.sessionStorage.getItem('stratoflow.token')") == TOKEN
    assert browser.execute_script("return window.localStorage.length") == 0


def test_the_list_filters_by_kind_and_links_to_the_execution(
        local_stack: LocalStack, browser: Any, client: Client) -> None:
    kind = f"console-{new_queue()}"
    workflow_id = client.start_workflow(kind, {"n": 1}, queue=new_queue()).workflow_execution_id
    sign_in(browser, local_stack.url)
    by_id(browser, "filter-kind").send_keys(kind)
    by_id(browser, "filter-status").send_keys("PENDING")
    css(browser, "form.filters button[type=submit]")[0].click()
    # The unfiltered list (rendered first) holds the execution too: wait for the filtered one, which holds it alone.
    wait(browser, lambda d: len(rows := texts(d, "#workflow-table tbody tr")) == 1 and workflow_id in rows[0],
         "the execution alone in the filtered list")
    (row,) = texts(browser, "#workflow-table tbody tr")
    assert "PENDING" in row and kind in row
    wait(browser, lambda d: css(d, "#workflow-table tbody tr a")[0].click() or True, "the link to be clickable")
    wait(browser, lambda d: texts(d, "#status-badge .badge") == ["PENDING"]
         and workflow_id in by_id(d, "execution").text, "the execution's page")


def test_an_execution_page_shows_its_timeline_children_and_cancels_behind_a_confirmation(
        local_stack: LocalStack, browser: Any, client: Client) -> None:
    queue = new_queue()
    workflow_id = start_with_open_work(client, queue)
    sign_in(browser, local_stack.url)
    browser.get(f"{local_stack.url}/console#/workflows/{workflow_id}")

    wait(browser, lambda d: len(texts(d, "#timeline tbody tr")) == 4, "the four events of the timeline")
    assert attributes(browser, "#timeline tbody tr", "data-type") == [
        "WORKFLOW_STARTED", "TASK_SCHEDULED", "TIMER_STARTED", "CHILD_WORKFLOW_INITIATED"]
    first = texts(browser, "#timeline tbody tr")[0]
    assert "ago" in first and "+0s" in first
    assert texts(browser, "#status-badge .badge") == ["WAITING"]
    (child,) = wait(browser, lambda d: texts(d, "#tree li"), "the children tree")
    assert f"{workflow_id}.shipping" in child and "PENDING" in child

    click(browser, "tab-grouped")
    subjects = attributes(browser, "#grouped tbody tr", "data-subject")
    assert subjects == ["workflow", f"task:{workflow_id}.reserve", "timer:payment-window",
                        f"child:{workflow_id}.shipping"]
    click(browser, "tab-raw")
    wait(browser, lambda d: f'"workflowExecutionId": "{workflow_id}"' in by_id(d, "raw-json").text, "the raw JSON")
    click(browser, "tab-timeline")

    # The confirmation: backing out changes nothing.
    click(browser, "cancel-button")
    wait(browser, lambda d: by_id(d, "action-dialog").is_displayed(), "the cancel dialog")
    click(browser, "action-dismiss")
    wait(browser, lambda d: not by_id(d, "action-dialog").is_displayed(), "the dialog to close")
    assert client.get_workflow(workflow_id).status is WorkflowStatus.WAITING

    click(browser, "cancel-button")
    wait(browser, lambda d: by_id(d, "action-dialog").is_displayed(), "the cancel dialog")
    by_id(browser, "action-reason").send_keys("customer asked")
    click(browser, "action-confirm")

    wait(browser, lambda d: texts(d, "#status-badge .badge") == ["CANCELLING"], "CANCELLING on the page")
    banner = wait(browser, lambda d: by_id(d, "banner").text, "the cancel banner")
    assert "Cancellation requested" in banner and "by api" in banner and "customer asked" in banner
    wait(browser, lambda d: css(d, "#timeline tbody tr[data-type=CANCELLATION_REQUESTED]"),
         "the cancel request in the timeline (auto-refresh)")
    wait(browser, lambda d: any("CANCELLING" in li for li in texts(d, "#tree li")), "the cascade in the tree")
    execution = client.get_workflow(workflow_id)
    assert (execution.status, execution.cancel_reason) == (WorkflowStatus.CANCELLING, "customer asked")
    if SCREENSHOT:
        browser.save_screenshot(str(Path(SCREENSHOT).resolve()))
