"""`make smoke` (stratoflow_local.smoke) passes against a healthy stack and fails with one line on a broken one."""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow_local import smoke


def test_the_smoke_tour_completes_a_workflow_and_cancels_another(local_stack: Any, api: Any) -> None:
    steps: list[str] = []
    workflow_id = smoke.run(local_stack.url, "tok-acme", timeout=30, say=steps.append)
    execution = api.get(f"/v1/workflows/{workflow_id}").json()
    assert (execution["status"], execution["output"]) == ("COMPLETED", {"status": "shipped"})
    types = [event["type"] for event in api.get(f"/v1/workflows/{workflow_id}/events").json()["events"]]
    assert types[0] == "WORKFLOW_STARTED" and types[-1] == "WORKFLOW_COMPLETED"
    assert {"TASK_SCHEDULED", "TIMER_STARTED", "TASK_COMPLETED", "TIMER_FIRED"} <= set(types)
    assert steps[-1].endswith("CANCELLING")


def test_a_refused_step_stops_the_tour_with_the_answer(local_stack: Any) -> None:
    with pytest.raises(smoke.SmokeFailure, match=r"POST /v1/workflows: expected 201, got 401"):
        smoke.run(local_stack.url, "not-a-token", timeout=5, say=lambda _: None)


def test_an_unreachable_server_is_one_line_and_exit_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--url", "http://127.0.0.1:9", "--token", "t", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("smoke test failed: GET /v1/health: no answer") and err.count("\n") == 1
