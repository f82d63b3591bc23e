"""Client of the Stratoflow HTTP API: the caller API and the worker API of api.md."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, overload
from urllib.parse import quote

from ._errors import (
    WorkflowCancelledError,
    WorkflowFailedError,
    WorkflowTerminatedError,
    api_error_from_response,
)
from ._operators import Batch, BatchFilter, BatchItem, BatchItemOutcome, BatchOperation, CancelOn, duration_ms
from ._transport import RequestsTransport, Transport, TransportResponse
from ._types import (
    HeartbeatResult,
    HistoryEvent,
    HistoryPage,
    PollRequest,
    SubmitResult,
    TaskActivation,
    TaskExecution,
    TaskReport,
    TaskStatus,
    WorkflowActivation,
    WorkflowExecution,
    WorkflowStatus,
    parse_timestamp,
)

#: The largest page api.md allows on the history endpoint.
MAX_HISTORY_PAGE = 1000


class Client:
    """A client for one Stratoflow endpoint and token.

    ``base_url`` is the stack's root, e.g. ``http://127.0.0.1:3000`` for the local stack or the API Gateway stage
    URL. Every method maps one api.md route; error responses raise the :class:`ApiError` subclass of their code,
    and a request that gets no response raises :class:`TransportError`. Pass ``transport`` to replace the HTTP
    layer (tests use an in-memory one).
    """

    def __init__(
        self, base_url: str, token: str, *, transport: Transport | None = None, timeout: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._transport: Transport = transport if transport is not None else RequestsTransport()
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    # --- plumbing ------------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> TransportResponse:
        all_headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items()
                 if v is not None}
        response = self._transport.request(
            method, self.base_url + path, headers=all_headers, params=query or None, json_body=body,
            timeout=self._timeout,
        )
        if response.status >= 400:
            raise api_error_from_response(response.status, response.body, response.text)
        return response

    @staticmethod
    def _object(response: TransportResponse) -> Mapping[str, Any]:
        if not isinstance(response.body, Mapping):
            raise api_error_from_response(502, None, f"expected a JSON object, got: {response.text[:200]!r}")
        return response.body

    @staticmethod
    def _id(value: str) -> str:
        # Ids are opaque: escape everything so an odd id can only ever be a 404.
        return quote(value, safe="")

    # --- caller API (scope `client`) -----------------------------------------------------------------------------

    def start_workflow(
        self,
        kind: str,
        input: Any = None,
        *,
        queue: str = "default",
        idempotency_key: str | None = None,
        cancel_on: Sequence[CancelOn | Mapping[str, Any]] | None = None,
    ) -> WorkflowExecution:
        """Start a workflow execution (``POST /v1/workflows``).

        With ``idempotency_key``, repeating the same call within 24 h returns the first execution instead of
        starting another; the same key with another body raises :class:`ConflictError`. ``cancel_on`` subscribes
        the execution to events that cancel it (:class:`CancelOn` entries, or ``cancelOn`` JSON objects).
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        body: dict[str, Any] = {"kind": kind, "input": input, "queue": queue}
        if cancel_on is not None:
            body["cancelOn"] = [entry.to_json() if isinstance(entry, CancelOn) else dict(entry) for entry in cancel_on]
        response = self._call("POST", "/v1/workflows", body=body, headers=headers)
        return WorkflowExecution.from_json(self._object(response))

    def get_workflow(self, workflow_execution_id: str) -> WorkflowExecution:
        """Read one execution (``GET /v1/workflows/{id}``)."""
        return WorkflowExecution.from_json(
            self._object(self._call("GET", f"/v1/workflows/{self._id(workflow_execution_id)}"))
        )

    def wait_workflow(
        self, workflow_execution_id: str, *, timeout: float = 60.0, poll_interval: float = 0.2
    ) -> WorkflowExecution:
        """Poll the execution until it is terminal and return it; raise :class:`TimeoutError` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            execution = self.get_workflow(workflow_execution_id)
            if execution.status.is_terminal:
                return execution
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"workflow {workflow_execution_id} is still {execution.status} after {timeout} s"
                )
            time.sleep(min(poll_interval, remaining))

    def result(self, workflow_execution_id: str, *, timeout: float = 60.0, poll_interval: float = 0.2) -> Any:
        """Wait until the execution ends and return its output.

        Raises :class:`WorkflowFailedError` (``FAILED``), :class:`WorkflowCancelledError` (``CANCELLED``),
        :class:`WorkflowTerminatedError` (``TERMINATED``) or :class:`TimeoutError` when it is still running after
        ``timeout`` seconds.
        """
        execution = self.wait_workflow(workflow_execution_id, timeout=timeout, poll_interval=poll_interval)
        if execution.status is WorkflowStatus.FAILED:
            raise WorkflowFailedError(workflow_execution_id, execution.error)
        if execution.status is WorkflowStatus.TERMINATED:
            raise WorkflowTerminatedError(workflow_execution_id, execution.terminated_reason)
        if execution.status is WorkflowStatus.CANCELLED:
            reason = execution.cancel_reason
            if reason is None and isinstance(execution.error, Mapping):
                reason = execution.error.get("reason")
            raise WorkflowCancelledError(workflow_execution_id, reason)
        return execution.output

    def cancel_workflow(
        self,
        workflow_execution_id: str,
        *,
        reason: str | None = None,
        cascade: bool = True,
        cleanup_timeout: float | timedelta | None = None,
    ) -> WorkflowStatus:
        """Ask an execution to cancel (``POST /v1/workflows/{id}/cancel``); returns its status (``CANCELLING``).

        With ``cascade`` (the default) every live descendant is asked too. ``cleanup_timeout`` (seconds or a
        timedelta, 1 s to 24 h) gives the cleanup a deadline: an execution still live then is terminated. A
        terminal execution raises :class:`FailedPreconditionError`.
        """
        body: dict[str, Any] = {"cascade": cascade}
        if reason is not None:
            body["reason"] = reason
        if cleanup_timeout is not None:
            body["cleanupTimeoutMs"] = duration_ms(cleanup_timeout, "cleanup_timeout")
        response = self._call("POST", f"/v1/workflows/{self._id(workflow_execution_id)}/cancel", body=body)
        return WorkflowStatus(self._object(response)["status"])

    def cancel(
        self,
        workflow_execution_id: str,
        *,
        reason: str | None = None,
        cascade: bool = True,
        cleanup_timeout: float | timedelta | None = None,
    ) -> WorkflowStatus:
        """The same as :meth:`cancel_workflow`."""
        return self.cancel_workflow(
            workflow_execution_id, reason=reason, cascade=cascade, cleanup_timeout=cleanup_timeout
        )

    def terminate(self, workflow_execution_id: str, reason: str, *, cascade: bool = True) -> WorkflowStatus:
        """End a live execution at once (``POST /v1/workflows/{id}/terminate``); returns ``TERMINATED``.

        No workflow code runs afterwards; its open tasks and timers are cancelled, and with ``cascade`` (the
        default) every live descendant is terminated too. ``reason`` is required (1-1024 characters). A terminal
        execution raises :class:`FailedPreconditionError`.
        """
        response = self._call(
            "POST", f"/v1/workflows/{self._id(workflow_execution_id)}/terminate",
            body={"reason": reason, "cascade": cascade},
        )
        return WorkflowStatus(self._object(response)["status"])

    def send_event(
        self, event_type: str, data: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> str:
        """Deliver a business event (``POST /v1/events``); returns its ``eventId``.

        Every live execution subscribed to ``event_type`` (``cancel_on`` of its start) whose match holds is
        cancelled. With ``idempotency_key``, a repeated delivery is recognised and cancels nothing twice.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        response = self._call(
            "POST", "/v1/events", body={"eventType": event_type, "data": dict(data or {})}, headers=headers
        )
        return str(self._object(response)["eventId"])

    # --- batches -------------------------------------------------------------------------------------------------

    @overload
    def start_batch(
        self,
        operation: BatchOperation | str,
        filter: BatchFilter | Mapping[str, Any],
        *,
        reason: str | None = ...,
        cascade: bool = ...,
        cleanup_timeout: float | timedelta | None = ...,
        max_per_second: int | None = ...,
        dry_run: Literal[False] = ...,
        idempotency_key: str | None = ...,
    ) -> Batch: ...

    @overload
    def start_batch(
        self,
        operation: BatchOperation | str,
        filter: BatchFilter | Mapping[str, Any],
        *,
        reason: str | None = ...,
        cascade: bool = ...,
        cleanup_timeout: float | timedelta | None = ...,
        max_per_second: int | None = ...,
        dry_run: Literal[True],
        idempotency_key: str | None = ...,
    ) -> int: ...

    def start_batch(
        self,
        operation: BatchOperation | str,
        filter: BatchFilter | Mapping[str, Any],
        *,
        reason: str | None = None,
        cascade: bool = True,
        cleanup_timeout: float | timedelta | None = None,
        max_per_second: int | None = None,
        dry_run: bool = False,
        idempotency_key: str | None = None,
    ) -> Batch | int:
        """Cancel or terminate every execution a filter selects (``POST /v1/batches``).

        Returns the new :class:`Batch` (it runs asynchronously: follow it with :meth:`get_batch`), or with
        ``dry_run=True`` the number of executions that match now, changing nothing. ``reason`` is required unless
        it is a dry run; ``max_per_second`` (1-1000, server default 50) bounds the pace.
        """
        body: dict[str, Any] = {
            "operation": str(BatchOperation(operation)),
            "filter": filter.to_json() if isinstance(filter, BatchFilter) else dict(filter),
            "cascade": cascade,
        }
        if reason is not None:
            body["reason"] = reason
        if cleanup_timeout is not None:
            body["cleanupTimeoutMs"] = duration_ms(cleanup_timeout, "cleanup_timeout")
        if max_per_second is not None:
            body["maxPerSecond"] = max_per_second
        if dry_run:
            body["dryRun"] = True
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        data = self._object(self._call("POST", "/v1/batches", body=body, headers=headers))
        if dry_run:
            return int(data["matched"])
        return Batch.from_json(data)

    def get_batch(self, batch_id: str) -> Batch:
        """Read one batch and its progress (``GET /v1/batches/{id}``)."""
        return Batch.from_json(self._object(self._call("GET", f"/v1/batches/{self._id(batch_id)}")))

    def list_batches(self, *, page_size: int = 50) -> Iterator[Batch]:
        """Batches newest first (``GET /v1/batches``), following ``nextToken`` lazily."""
        for item in self._pages("/v1/batches", "batches", {"limit": page_size}):
            yield Batch.from_json(item)

    def batch_items(
        self, batch_id: str, *, outcome: BatchItemOutcome | str | None = None, page_size: int = 50
    ) -> Iterator[BatchItem]:
        """The executions a batch reached and their outcomes (``GET /v1/batches/{id}/items``), page after page."""
        params = {"outcome": str(outcome) if outcome is not None else None, "limit": page_size}
        for item in self._pages(f"/v1/batches/{self._id(batch_id)}/items", "items", params):
            yield BatchItem.from_json(item)

    def stop_batch(self, batch_id: str) -> Batch:
        """Stop a running batch (``POST /v1/batches/{id}/stop``); executions not yet reached are left alone.

        A finished batch raises :class:`FailedPreconditionError`.
        """
        return Batch.from_json(self._object(self._call("POST", f"/v1/batches/{self._id(batch_id)}/stop", body={})))

    def _pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        token: str | None = None
        while True:
            body = self._object(self._call("GET", path, params={**params, "nextToken": token}))
            yield from body.get(key) or []
            token = body.get("nextToken")
            if not token:
                return

    def cancel_task(self, task_execution_id: str, *, reason: str | None = None) -> TaskStatus:
        """Cancel a PENDING or RUNNING task (``POST /v1/tasks/{id}/cancel``); returns ``CANCELLED``."""
        body = {"reason": reason} if reason is not None else {}
        response = self._call("POST", f"/v1/tasks/{self._id(task_execution_id)}/cancel", body=body)
        return TaskStatus(self._object(response)["status"])

    def history_page(
        self, workflow_execution_id: str, *, after_sequence: int = 0, limit: int = 100
    ) -> HistoryPage:
        """One page of history (``GET /v1/workflows/{id}/events``)."""
        response = self._call(
            "GET",
            f"/v1/workflows/{self._id(workflow_execution_id)}/events",
            params={"afterSequence": after_sequence, "limit": limit},
        )
        body = self._object(response)
        return HistoryPage(
            events=[HistoryEvent.from_json(e) for e in body.get("events") or []],
            next_after_sequence=body.get("nextAfterSequence"),
        )

    def iter_history(
        self, workflow_execution_id: str, *, after_sequence: int = 0, page_size: int = MAX_HISTORY_PAGE
    ) -> Iterator[HistoryEvent]:
        """Every event after ``after_sequence``, fetching page after page until ``nextAfterSequence`` is null."""
        cursor: int | None = after_sequence
        while cursor is not None:
            page = self.history_page(workflow_execution_id, after_sequence=cursor, limit=page_size)
            yield from page.events
            if page.next_after_sequence is not None and page.next_after_sequence <= cursor:
                # A server bug that would loop forever; stop rather than spin.
                raise api_error_from_response(502, None, f"history cursor did not advance past {cursor}")
            cursor = page.next_after_sequence

    def history(self, workflow_execution_id: str, *, page_size: int = MAX_HISTORY_PAGE) -> list[HistoryEvent]:
        """The whole history of an execution (all pages)."""
        return list(self.iter_history(workflow_execution_id, page_size=page_size))

    def list_workflows(
        self, *, status: WorkflowStatus | str | None = None, kind: str | None = None, page_size: int = 50
    ) -> Iterator[WorkflowExecution]:
        """Executions newest first (``GET /v1/workflows``), following ``nextToken`` lazily page after page."""
        params = {"status": str(status) if status is not None else None, "kind": kind, "limit": page_size}
        for item in self._pages("/v1/workflows", "workflows", params):
            yield WorkflowExecution.from_json(item)

    def create_task(
        self,
        kind: str,
        input: Any = None,
        *,
        queue: str = "default",
        max_retries: int = 0,
        timeout_ms: int | None = None,
    ) -> TaskExecution:
        """Create a standalone task (``POST /v1/tasks``)."""
        body = {"kind": kind, "input": input, "queue": queue, "maxRetries": max_retries, "timeoutMs": timeout_ms}
        return TaskExecution.from_json(self._object(self._call("POST", "/v1/tasks", body=body)))

    def get_task(self, task_execution_id: str) -> TaskExecution:
        """Read one task (``GET /v1/tasks/{id}``)."""
        return TaskExecution.from_json(self._object(self._call("GET", f"/v1/tasks/{self._id(task_execution_id)}")))

    def health(self) -> bool:
        """Whether ``GET /v1/health`` answers ``{"status": "ok"}``."""
        body = self._call("GET", "/v1/health").body
        return isinstance(body, Mapping) and body.get("status") == "ok"

    # --- worker API (scope `worker`) -----------------------------------------------------------------------------

    def poll_workflow(
        self, queue: str, worker_id: str, *, kinds: Sequence[str] | None = None, lease_ms: int | None = None
    ) -> WorkflowActivation | None:
        """Claim one ready execution (``POST /v1/worker/workflows/poll``); ``None`` when nothing is ready."""
        poll = PollRequest(queue, worker_id, kinds, lease_ms)
        response = self._call("POST", "/v1/worker/workflows/poll", body=poll.to_json())
        if response.status == 204 or response.body is None:
            return None
        return _workflow_activation(self._object(response))

    def submit_commands(
        self,
        workflow_execution_id: str,
        lease_id: str,
        commands: Sequence[Mapping[str, Any]],
        *,
        poll_next: PollRequest | None = None,
    ) -> SubmitResult:
        """Submit one atomic batch of commands (``POST /v1/worker/workflows/{id}/commands``); releases the lease.

        With ``poll_next``, the same request then claims the next ready execution as that workflow poll would:
        ``SubmitResult.next`` (``None`` when nothing was ready).
        """
        body: dict[str, Any] = {"leaseId": lease_id, "commands": [dict(c) for c in commands]}
        if poll_next is not None:
            body["pollNext"] = poll_next.to_json()
        response = self._call("POST", f"/v1/worker/workflows/{self._id(workflow_execution_id)}/commands", body=body)
        data = self._object(response)
        claimed = data.get("next")
        return SubmitResult(
            status=WorkflowStatus(data["status"]),
            events=[HistoryEvent.from_json(e) for e in data.get("events") or []],
            next=_workflow_activation(claimed) if isinstance(claimed, Mapping) else None,
        )

    def poll_task(
        self, queue: str, worker_id: str, *, kinds: Sequence[str] | None = None, lease_ms: int | None = None
    ) -> TaskActivation | None:
        """Claim one task (``POST /v1/worker/tasks/poll``); ``None`` when nothing is ready."""
        poll = PollRequest(queue, worker_id, kinds, lease_ms)
        response = self._call("POST", "/v1/worker/tasks/poll", body=poll.to_json())
        if response.status == 204 or response.body is None:
            return None
        return _task_activation(self._object(response))

    def heartbeat_task(self, task_execution_id: str, lease_id: str, details: Any = None) -> HeartbeatResult:
        """Extend a task's lease (``POST /v1/worker/tasks/{id}/heartbeat``) and learn whether it was cancelled."""
        body: dict[str, Any] = {"leaseId": lease_id}
        if details is not None:
            body["details"] = details
        data = self._object(
            self._call("POST", f"/v1/worker/tasks/{self._id(task_execution_id)}/heartbeat", body=body)
        )
        return HeartbeatResult(
            cancel_requested=bool(data.get("cancelRequested")),
            lease_expires_at=parse_timestamp(data.get("leaseExpiresAt")),
        )

    def complete_task(self, task_execution_id: str, lease_id: str, output: Any) -> TaskStatus:
        """Report a task's output (``POST /v1/worker/tasks/{id}/complete``)."""
        return self._close_task(task_execution_id, "complete", {"leaseId": lease_id, "output": output}).status

    def fail_task(self, task_execution_id: str, lease_id: str, error: Any, *, retryable: bool = True) -> TaskStatus:
        """Report a failed attempt (``POST /v1/worker/tasks/{id}/fail``); ``PENDING`` when it will be retried."""
        body = {"leaseId": lease_id, "error": error, "retryable": retryable}
        return self._close_task(task_execution_id, "fail", body).status

    def complete_task_and_poll(
        self, task_execution_id: str, lease_id: str, output: Any, poll_next: PollRequest
    ) -> TaskReport:
        """Report a task's output and claim the next task in the same request (``pollNext``)."""
        body = {"leaseId": lease_id, "output": output}
        return self._close_task(task_execution_id, "complete", body, poll_next)

    def fail_task_and_poll(
        self, task_execution_id: str, lease_id: str, error: Any, poll_next: PollRequest, *, retryable: bool = True
    ) -> TaskReport:
        """Report a failed attempt and claim the next task in the same request (``pollNext``)."""
        body = {"leaseId": lease_id, "error": error, "retryable": retryable}
        return self._close_task(task_execution_id, "fail", body, poll_next)

    def _close_task(
        self, task_execution_id: str, action: str, body: dict[str, Any], poll_next: PollRequest | None = None
    ) -> TaskReport:
        if poll_next is not None:
            body = {**body, "pollNext": poll_next.to_json()}
        path = f"/v1/worker/tasks/{self._id(task_execution_id)}/{action}"
        data = self._object(self._call("POST", path, body=body))
        claimed = data.get("next")
        return TaskReport(
            status=TaskStatus(data["status"]),
            next=_task_activation(claimed) if isinstance(claimed, Mapping) else None,
        )


def _workflow_activation(data: Mapping[str, Any]) -> WorkflowActivation:
    """A workflow poll's claim (also a combined call's ``next``)."""
    return WorkflowActivation(
        execution=WorkflowExecution.from_json(data["workflowExecution"]),
        events=[HistoryEvent.from_json(e) for e in data.get("events") or []],
        next_after_sequence=data.get("nextAfterSequence"),
        lease_id=str(data["leaseId"]),
        lease_expires_at=parse_timestamp(data.get("leaseExpiresAt")),
    )


def _task_activation(data: Mapping[str, Any]) -> TaskActivation:
    """A task poll's claim (also a combined call's ``next``)."""
    return TaskActivation(
        task=TaskExecution.from_json(data["task"]),
        lease_id=str(data["leaseId"]),
        lease_expires_at=parse_timestamp(data.get("leaseExpiresAt")),
    )
