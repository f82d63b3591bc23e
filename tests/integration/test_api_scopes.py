"""Which token scopes open which routes, beyond the plain client/worker split."""

from __future__ import annotations

from typing import Any

from stratoflow.services import runtime
from stratoflow.tokens import put_token, resolve_token, revoke_token


def test_a_worker_token_reads_the_rest_of_a_history_but_not_the_caller_api(api: Any) -> None:
    # Given a workflow started by a caller
    started = api.post("/v1/workflows", json={"kind": "scoped", "queue": "scopes-q"})
    assert started.status_code == 201
    workflow_id = started.json()["workflowExecutionId"]
    worker = api.as_token("tok-acme-worker")

    # When a worker-only token reads its history (a poll points workers there for pages after the first)
    page = worker.get(f"/v1/workflows/{workflow_id}/events", params={"afterSequence": 0, "limit": 10})

    # Then it may, while the rest of the caller API stays closed to it
    assert page.status_code == 200
    assert [event["type"] for event in page.json()["events"]] == ["WORKFLOW_STARTED"]
    assert page.json()["nextAfterSequence"] is None
    refused = worker.get(f"/v1/workflows/{workflow_id}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "PERMISSION_DENIED"


def test_an_api_document_example_token_is_accepted(local_stack: Any) -> None:
    # api.md's example seeds short tokens such as `acme:tok-a`: they must be storable and usable.
    put_token(runtime(), "acme", "tok-a", frozenset({"client"}))
    try:
        principal = resolve_token(runtime(), "tok-a")
        assert principal is not None
        assert (principal.tenant, principal.scopes) == ("acme", frozenset({"client"}))
    finally:
        assert revoke_token(runtime(), "tok-a") is True
