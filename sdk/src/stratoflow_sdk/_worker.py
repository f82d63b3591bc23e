"""The Worker: polls workflow activations and tasks, runs them, and shuts down gracefully."""

from __future__ import annotations

import concurrent.futures
import heapq
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import FrameType
from typing import Any

from ._client import Client
from ._definitions import TaskDefinition, WorkflowDefinition, registry, task_definition, workflow_definition
from ._errors import (
    ApiError,
    ApplicationError,
    FailedPreconditionError,
    LeaseLostError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ReplayError,
    TaskCancelledError,
    TransportError,
    UnauthenticatedError,
)
from ._history import merge_pages
from ._replay import error_value, replay_history
from ._submission import submit
from ._task_context import TaskContext
from ._types import PollRequest, SubmitResult, TaskActivation, TaskReport, TaskStatus, WorkflowActivation
from ._values import check_name, json_value

_log = logging.getLogger("stratoflow_sdk.worker")

#: Errors that no amount of retrying fixes: a bad token, a token without the scope, a wrong base URL.
_FATAL = (UnauthenticatedError, PermissionDeniedError, NotFoundError)
#: A poller stops the worker when this many polls in a row got one of them: a misconfiguration answers every
#: poll the same way, while a single odd answer (a proxy, a server restarting) is not worth stopping for.
_FATAL_IN_A_ROW = 3

#: When an activation's follow-ups come from the platform's stream a little after the commit (child cancel
#: requests, cascades, a parent closing) or a timer has just come due, empty workflow polls wait
#: ``poll_interval / 2**_IDLE_STEPS`` first and double the wait up to ``poll_interval``; otherwise they wait
#: ``poll_interval`` (unless woken).
_IDLE_STEPS = 3
#: Events showing that an execution has children, whose cancellation the platform propagates through its stream.
_CHILD_EVENTS = frozenset({"CHILD_WORKFLOW_INITIATED", "CHILD_WORKFLOW_CANCELLATION_REQUESTED"})
#: How long after a timer's due time the worker polls for its ``TIMER_FIRED`` (the platform fires it a little late).
_TIMER_MARGIN = 0.01
#: Due times of timers remembered for early polls (the nearest are kept).
_MAX_TIMER_HINTS = 1024


def run_workflow_activation(
    client: Client,
    activation: WorkflowActivation,
    workflows: Mapping[str, WorkflowDefinition],
    *,
    poll_next: PollRequest | None = None,
) -> SubmitResult:
    """Process one claimed execution: read the rest of its history, replay it, submit the new commands.

    Raises what went wrong; the Worker logs it. When nothing is submitted the lease simply expires and the
    execution is handed out again, so a fixed deployment resumes it. With ``poll_next`` the submission also claims
    the next ready execution (``SubmitResult.next``).
    """
    execution = activation.execution
    definition = workflows.get(execution.kind)
    if definition is None:
        raise ReplayError(f"no workflow registered for kind {execution.kind!r}")
    events = activation.events
    if activation.next_after_sequence is not None:
        # The poll returns one page; the rest comes from the history endpoint.
        events = merge_pages(
            events, client.iter_history(execution.workflow_execution_id,
                                        after_sequence=activation.next_after_sequence)
        )
    result = replay_history(definition, events, execution_id=execution.workflow_execution_id,
                            queue=execution.queue)
    return submit(client, execution.workflow_execution_id, activation.lease_id, result.commands,
                  resume_timers=result.resume_timers, poll_next=poll_next)


class Worker:
    """Runs workflows and tasks of one queue against a Stratoflow server.

    ``client`` is a :class:`Client` or a base URL (then ``token`` is required). ``workflows`` and ``tasks`` are
    functions decorated with ``@workflow`` / ``@task``. Use :meth:`run` in a worker process (blocks; SIGTERM or
    SIGINT stop it gracefully, a second signal skips the grace period) or :meth:`start` / :meth:`stop` (and the
    context manager) in tests and embedding programs.

    Up to ``max_concurrent_activations`` workflow activations (of different executions: a lease is held by one
    worker at a time) and ``max_concurrent_tasks`` task functions run at once. While the last poll of its kind found
    work, a report of a result asks for the next piece of work in the same request (a combined call: a submission
    claims the next ready execution, a task completion or failure the next task), and a slot that got one goes
    straight on with it; pollers re-poll at once after finding work and wait only when a poll came back empty.

    Work that this worker itself makes ready is polled for at once instead of after ``poll_interval``: a submission
    that schedules tasks of a kind it runs wakes its task poller, a task it completes or fails for good wakes its
    workflow poller (the workflow is ready in that same transaction), a retried task wakes the task poller, and a
    timer it started wakes the workflow poller when due. After an activation of an execution with children (whose
    cancellations the platform carries out just after the commit), empty workflow polls back off from a fraction
    of ``poll_interval`` up to it. Otherwise an empty poll waits ``poll_interval``.

    Shutdown stops polling, lets an activation in progress finish (replay is quick and its submission releases the
    lease), waits up to ``shutdown_grace`` seconds for running task functions, and then gives up the ones still
    running: each is reported failed with ``retryable: true`` and error type ``WorkerShutdown`` so the platform
    hands it to another worker (within its ``maxRetries``), and its code sees ``task_context().cancel_requested``.
    """

    def __init__(
        self,
        client: Client | str,
        token: str | None = None,
        queue: str = "default",
        *,
        workflows: Iterable[Any] = (),
        tasks: Iterable[Any] = (),
        worker_id: str | None = None,
        max_concurrent_tasks: int = 8,
        max_concurrent_activations: int = 4,
        workflow_lease_ms: int = 60_000,
        task_lease_ms: int = 60_000,
        heartbeat_interval: float | None = None,
        poll_interval: float = 0.2,
        max_backoff: float = 5.0,
        shutdown_grace: float = 30.0,
    ) -> None:
        if isinstance(client, str):
            if token is None:
                raise ValueError("a token is required when the worker is given a base URL")
            client = Client(client, token)
        if max_concurrent_tasks < 1:
            raise ValueError("max_concurrent_tasks must be at least 1")
        if max_concurrent_activations < 1:
            raise ValueError("max_concurrent_activations must be at least 1")
        for lease in (workflow_lease_ms, task_lease_ms):
            if not 1000 <= lease <= 300_000:
                raise ValueError("leases are 1000-300000 ms (api.md)")
        self.client = client
        self.queue = check_name(queue, "queue")
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._workflows: dict[str, WorkflowDefinition] = registry(workflows, workflow_definition)
        self._tasks: dict[str, TaskDefinition] = registry(tasks, task_definition)
        if not self._workflows and not self._tasks:
            raise ValueError("a worker needs at least one workflow or task")
        self._max_tasks = max_concurrent_tasks
        self._max_activations = max_concurrent_activations
        self._workflow_lease_ms = workflow_lease_ms
        self._task_lease_ms = task_lease_ms
        self._heartbeat_interval = heartbeat_interval if heartbeat_interval is not None else task_lease_ms / 3000
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._shutdown_grace = shutdown_grace

        self._stop = threading.Event()
        self._workflow_wake = threading.Event()
        self._task_wake = threading.Event()
        self._timer_lock = threading.Lock()
        self._timer_hints: list[float] = []  # heap of monotonic due times
        self._follow_up = False  # the last activation expects stream-driven follow-ups
        # Whether the last poll of each kind (a poller's, or a report's pollNext) found work.
        self._backlog = {"workflow": False, "task": False}
        self._force = threading.Event()
        self._heartbeats_stop = threading.Event()
        self._lifecycle = threading.Lock()
        self._started = False
        self._stopped = False
        self._fatal: BaseException | None = None
        self._pollers: list[threading.Thread] = []
        self._heartbeat_thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._activation_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(max_concurrent_tasks)
        self._activation_slots = threading.BoundedSemaphore(max_concurrent_activations)
        self._running_lock = threading.Lock()
        self._running: dict[str, tuple[TaskContext, concurrent.futures.Future[None]]] = {}

    # --- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the worker was started and has not stopped polling."""
        return self._started and not self._stop.is_set()

    @property
    def error(self) -> BaseException | None:
        """The fatal error that stopped the worker (bad token, missing scope, wrong URL), if any."""
        return self._fatal

    def start(self) -> None:
        """Start polling in background threads and return."""
        with self._lifecycle:
            if self._started:
                raise RuntimeError("a worker can be started only once")
            self._started = True
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._max_tasks, thread_name_prefix="stratoflow-task"
            )
            if self._workflows:
                self._activation_executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._max_activations, thread_name_prefix="stratoflow-workflow"
                )
                self._pollers.append(self._thread(self._workflow_loop, "stratoflow-workflow-poller"))
            if self._tasks:
                self._pollers.append(self._thread(self._task_loop, "stratoflow-task-poller"))
                self._heartbeat_thread = self._thread(self._heartbeat_loop, "stratoflow-heartbeats")
        _log.info("worker started", extra={"workerId": self.worker_id, "queue": self.queue,
                                           "workflows": sorted(self._workflows), "tasks": sorted(self._tasks)})

    def stop(self, grace: float | None = None) -> None:
        """Stop gracefully (see the class docstring) and wait until done; safe to call more than once."""
        with self._lifecycle:
            if self._stopped or not self._started:
                self._stop.set()
                self._wake_all()
                return
            self._stopped = True
            self._stop.set()
            self._wake_all()
            for thread in self._pollers:
                thread.join()
            if self._activation_executor is not None:
                self._activation_executor.shutdown(wait=True)  # activations in progress finish and submit
            self._drain_tasks(self._shutdown_grace if grace is None else grace)
            self._heartbeats_stop.set()
            if self._heartbeat_thread is not None:
                self._heartbeat_thread.join()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
        _log.info("worker stopped", extra={"workerId": self.worker_id})

    def run(self) -> None:
        """Run until SIGTERM/SIGINT (or :meth:`stop` from another thread), then shut down gracefully.

        Re-raises the fatal error that stopped the worker, if any.
        """
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            self.start()
            while not self._stop.wait(0.2):
                pass
        finally:
            try:
                self.stop()
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        if self._fatal is not None:
            raise self._fatal

    def __enter__(self) -> Worker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop.is_set():
            self._force.set()  # a second signal: do not wait for running tasks
        self._stop.set()
        self._wake_all()

    def _thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _fatal_poll_error(self, exc: BaseException, in_a_row: int, what: str) -> bool:
        """Handle a poll refused with a fatal-looking error; whether the poller must stop."""
        if in_a_row >= _FATAL_IN_A_ROW:
            self._fatal_error(exc)
            return True
        _log.warning("%s poll refused (%d of %d in a row stops the worker): %s", what, in_a_row, _FATAL_IN_A_ROW,
                     exc)
        self._stop.wait(self._backoff(in_a_row))
        return False

    def _fatal_error(self, exc: BaseException) -> None:
        _log.error("worker stopping: %s", exc, extra={"workerId": self.worker_id})
        if self._fatal is None:
            self._fatal = exc
        self._stop.set()
        self._wake_all()

    def _backoff(self, failures: int) -> float:
        return min(self._max_backoff, self._poll_interval * (2 ** min(failures, 10)))

    # --- waiting for work ----------------------------------------------------------------------------------------

    def _wake_all(self) -> None:
        self._workflow_wake.set()
        self._task_wake.set()

    def _idle_delay(self, idle: int) -> float:
        """How long to wait after the ``idle``-th empty poll in a row (1, 2, ...)."""
        return min(self._poll_interval, self._poll_interval * 2.0 ** (idle - 1 - _IDLE_STEPS))

    def _remember_timer(self, due: float) -> None:
        with self._timer_lock:
            heapq.heappush(self._timer_hints, due)
            if len(self._timer_hints) > _MAX_TIMER_HINTS:
                self._timer_hints = heapq.nsmallest(_MAX_TIMER_HINTS, self._timer_hints)

    def _pop_due_timers(self, now: float) -> bool:
        """Forget the timers already due at ``now``; whether there were any."""
        popped = False
        with self._timer_lock:
            while self._timer_hints and self._timer_hints[0] <= now:
                heapq.heappop(self._timer_hints)
                popped = True
        return popped

    def _next_timer(self) -> float | None:
        with self._timer_lock:
            return self._timer_hints[0] if self._timer_hints else None

    def _wait_for_workflows(self, idle: int) -> int:
        """Wait after the ``idle``-th empty workflow poll in a row; returns the idle count to carry on with."""
        idle = min(idle, _IDLE_STEPS + 1)
        delay = self._idle_delay(idle)
        due = self._next_timer()
        if due is not None:
            delay = min(delay, max(0.0, due + _TIMER_MARGIN - time.monotonic()))
        self._workflow_wake.wait(delay)
        if self._pop_due_timers(time.monotonic()):
            return 0  # a timer just came due: poll soon again in case it fires a little late
        return idle

    def _learn_from_submission(self, activation: WorkflowActivation, result: SubmitResult) -> None:
        """Wake the pollers for work this submission made ready, and remember when its timers are due."""
        now = time.monotonic()
        # The poller may be waiting already (it re-polled while this activation ran): wake it to poll again and
        # wait the right time, soon for follow-ups, until the new timer is due.
        if any(event.type in _CHILD_EVENTS for event in (*activation.events, *result.events)):
            self._follow_up = True  # the poller's next empty polls come sooner
            self._workflow_wake.set()
        for event in result.events:
            if event.type == "TASK_SCHEDULED" and event.data.get("kind") in self._tasks:
                self._task_wake.set()
            elif event.type == "TIMER_STARTED":
                duration = event.data.get("durationMs")
                if isinstance(duration, int | float) and not isinstance(duration, bool):
                    self._remember_timer(now + duration / 1000.0)
                    self._workflow_wake.set()

    # --- workflows -----------------------------------------------------------------------------------------------

    def _next_poll(self, kind: str) -> PollRequest | None:
        """The ``pollNext`` of a report of ``kind`` ("workflow" or "task"): this worker's poll while the last poll of
        that kind found work (a backlog: the report claims the next piece), else None — a sequential workflow's
        reports would only pay for a query that finds nothing. None too once the worker is stopping."""
        if self._stop.is_set() or not self._backlog[kind]:
            return None
        if kind == "workflow":
            return PollRequest(self.queue, self.worker_id, sorted(self._workflows), self._workflow_lease_ms)
        return PollRequest(self.queue, self.worker_id, sorted(self._tasks), self._task_lease_ms)

    def _workflow_loop(self) -> None:
        failures = 0
        refusals = 0
        idle = _IDLE_STEPS
        kinds = sorted(self._workflows)
        while not self._stop.is_set():
            if not self._activation_slots.acquire(timeout=self._poll_interval):
                continue
            self._workflow_wake.clear()  # a wake-up from now on makes the wait below return at once
            if self._stop.is_set():
                self._activation_slots.release()
                break
            try:
                activation = self.client.poll_workflow(self.queue, self.worker_id, kinds=kinds,
                                                       lease_ms=self._workflow_lease_ms)
            except _FATAL as exc:
                self._activation_slots.release()
                refusals += 1
                if self._fatal_poll_error(exc, refusals, "workflow"):
                    return
                continue
            except (ApiError, TransportError) as exc:
                self._activation_slots.release()
                failures += 1
                _log.warning("workflow poll failed: %s", exc)
                self._stop.wait(self._backoff(failures))
                continue
            failures = refusals = 0
            self._backlog["workflow"] = activation is not None
            if activation is None:
                self._activation_slots.release()
                if self._follow_up:
                    self._follow_up = False
                    idle = 0
                idle = self._wait_for_workflows(idle + 1)
                continue
            assert self._activation_executor is not None
            self._activation_executor.submit(self._run_activations, activation)
            idle = _IDLE_STEPS  # found work: poll again at once, then wait the full interval if nothing is left

    def _run_activations(self, activation: WorkflowActivation) -> None:
        """One activation slot: process ``activation``, then each execution its submission claimed next."""
        current: WorkflowActivation | None = activation
        try:
            while current is not None:
                poll_next = self._next_poll("workflow")
                result = self.process_activation(current, poll_next=poll_next)
                current = result.next if result is not None else None
                if poll_next is not None and result is not None:
                    self._backlog["workflow"] = current is not None
        finally:
            self._activation_slots.release()

    def process_activation(
        self, activation: WorkflowActivation, *, poll_next: PollRequest | None = None
    ) -> SubmitResult | None:
        """Run one claimed workflow activation, logging (not raising) what goes wrong.

        With ``poll_next`` its submission also claims the next ready execution (``SubmitResult.next``), which the
        caller must process: it holds that execution's lease.
        """
        execution_id = activation.execution.workflow_execution_id
        extra = {"workflowExecutionId": execution_id, "kind": activation.execution.kind}
        try:
            result = run_workflow_activation(self.client, activation, self._workflows, poll_next=poll_next)
        except ReplayError:
            _log.exception("workflow activation failed; nothing submitted, the execution is retried when its "
                           "lease expires", extra=extra)
        except (LeaseLostError, FailedPreconditionError) as exc:
            _log.info("workflow lease no longer held: %s", exc, extra=extra)
        except PayloadTooLargeError:
            _log.exception("a single command is too large to submit; nothing submitted, the execution is retried "
                           "when its lease expires", extra=extra)
        except PermissionDeniedError:
            _log.exception("permission denied during a workflow activation (reading a history longer than one "
                           "page uses GET /v1/workflows/{id}/events: this server wants the client scope there)",
                           extra=extra)
        except (ApiError, TransportError) as exc:
            _log.warning("workflow activation failed: %s", exc, extra=extra)
        except Exception:
            _log.exception("unexpected error in a workflow activation", extra=extra)
        else:
            _log.debug("workflow activation submitted", extra={**extra, "status": str(result.status)})
            self._learn_from_submission(activation, result)
            return result
        return None

    # --- tasks ---------------------------------------------------------------------------------------------------

    def _task_loop(self) -> None:
        failures = 0
        refusals = 0
        kinds = sorted(self._tasks)
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=self._poll_interval):
                continue
            self._task_wake.clear()  # a wake-up from now on makes the wait below return at once
            if self._stop.is_set():
                self._slots.release()
                break
            try:
                activation = self.client.poll_task(self.queue, self.worker_id, kinds=kinds,
                                                   lease_ms=self._task_lease_ms)
            except _FATAL as exc:
                self._slots.release()
                refusals += 1
                if self._fatal_poll_error(exc, refusals, "task"):
                    return
                continue
            except (ApiError, TransportError) as exc:
                self._slots.release()
                failures += 1
                _log.warning("task poll failed: %s", exc)
                self._stop.wait(self._backoff(failures))
                continue
            failures = refusals = 0
            self._backlog["task"] = activation is not None
            if activation is None:
                self._slots.release()
                self._task_wake.wait(self._poll_interval)
                continue
            context = TaskContext(self.client, activation)
            assert self._executor is not None
            with self._running_lock:  # held until the task is registered: _run_tasks unregisters it under it
                future = self._executor.submit(self._run_tasks, context)
                self._running[context.task_execution_id] = (context, future)

    def _run_tasks(self, context: TaskContext) -> None:
        """One task slot: run ``context``'s task, then each task its report claimed next (under the same slot)."""
        current: TaskContext | None = context
        try:
            while current is not None:
                claimed: TaskActivation | None = None
                try:
                    claimed = self._execute_task(current)
                finally:
                    with self._running_lock:
                        entry = self._running.pop(current.task_execution_id, None)
                        current = None
                        if claimed is not None and entry is not None:
                            current = TaskContext(self.client, claimed)
                            self._running[current.task_execution_id] = (current, entry[1])
        finally:
            self._slots.release()

    def _execute_task(self, context: TaskContext) -> TaskActivation | None:
        """Run one task and report its result; returns the next task that report claimed, if any."""
        extra = {"taskExecutionId": context.task_execution_id, "kind": context.kind, "attempt": context.attempt}
        token = context._activate()
        try:
            definition = self._tasks.get(context.kind)
            if definition is None:
                return self._report_failure(context, {"type": "UnknownTaskKind",
                                                      "message": f"no task registered for kind {context.kind!r}"},
                                            False)
            try:
                output = definition.fn(context.input)
            except TaskCancelledError:
                _log.info("task stopped after its cancellation", extra=extra)
                return None
            except ApplicationError as exc:
                return self._report_failure(context, error_value(exc), not exc.non_retryable)
            except Exception as exc:
                _log.info("task attempt failed: %s", exc, extra=extra)
                return self._report_failure(context, error_value(exc), True)
            try:
                value = json_value(output, "task output")
            except (TypeError, ValueError) as exc:
                return self._report_failure(context, error_value(exc), False)
            report = self._report(context, "complete", lambda: self._complete(context, value))
            return self._after_report(context, report)
        finally:
            TaskContext._deactivate(token)

    def _complete(self, context: TaskContext, output: Any) -> TaskReport:
        poll_next = self._next_poll("task")
        if poll_next is None:
            return TaskReport(self.client.complete_task(context.task_execution_id, context.lease_id, output))
        return self._learn_backlog(
            self.client.complete_task_and_poll(context.task_execution_id, context.lease_id, output, poll_next)
        )

    def _report_failure(self, context: TaskContext, error: dict[str, Any], retryable: bool) -> TaskActivation | None:
        def fail() -> TaskReport:
            poll_next = self._next_poll("task")
            if poll_next is None:
                return TaskReport(self.client.fail_task(context.task_execution_id, context.lease_id, error,
                                                        retryable=retryable))
            return self._learn_backlog(self.client.fail_task_and_poll(
                context.task_execution_id, context.lease_id, error, poll_next, retryable=retryable))

        return self._after_report(context, self._report(context, "fail", fail))

    def _learn_backlog(self, report: TaskReport) -> TaskReport:
        self._backlog["task"] = report.next is not None
        return report

    def _after_report(self, context: TaskContext, report: TaskReport | None) -> TaskActivation | None:
        """Poll at once for what a recorded result made ready (the workflow it woke, or the retried task); returns
        the next task the report claimed."""
        if report is None:
            return None  # not recorded
        if report.status == TaskStatus.PENDING:
            if context.kind in self._tasks:
                self._task_wake.set()
        elif context.workflow_execution_id is not None and self._workflows:
            self._workflow_wake.set()
        return report.next

    def _report(self, context: TaskContext, what: str, call: Callable[[], Any]) -> Any:
        """Report a task's result, retrying transient failures; returns the call's answer, None if not recorded."""
        extra = {"taskExecutionId": context.task_execution_id, "kind": context.kind, "report": what}
        if context._is_released:
            return None  # given up at shutdown and already reported
        for attempt in range(4):
            try:
                return call()
            except (FailedPreconditionError, LeaseLostError) as exc:
                # Cancelled, finished elsewhere, or the lease moved on: the platform refuses it and records nothing.
                _log.info("task result not recorded: %s", exc, extra=extra)
                return None
            except TransportError as exc:
                _log.warning("reporting a task result failed: %s", exc, extra=extra)
            except ApiError as exc:
                if exc.status < 500:
                    _log.error("task result refused: %s", exc, extra=extra)
                    return None
                _log.warning("reporting a task result failed: %s", exc, extra=extra)
            time.sleep(min(2.0, 0.1 * 2**attempt))
        _log.error("giving up reporting a task result; its lease will expire", extra=extra)
        return None

    def _heartbeat_loop(self) -> None:
        tick = max(0.005, min(1.0, self._heartbeat_interval / 5))
        while not self._heartbeats_stop.wait(tick):
            with self._running_lock:
                contexts = [context for context, _ in self._running.values()]
            for context in contexts:
                if context._since_last_heartbeat() >= self._heartbeat_interval and not context._is_released:
                    context._background_heartbeat()

    def _drain_tasks(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while not self._force.is_set():
            with self._running_lock:
                futures = [future for _, future in self._running.values()]
            remaining = deadline - time.monotonic()
            if not futures or remaining <= 0:
                break
            concurrent.futures.wait(futures, timeout=min(remaining, 0.1))
        with self._running_lock:
            leftovers = [context for context, future in self._running.values() if not future.done()]
        for context in leftovers:
            context._release("worker shutting down")
            try:
                self.client.fail_task(
                    context.task_execution_id, context.lease_id,
                    {"type": "WorkerShutdown", "message": f"worker {self.worker_id} shut down during the task"},
                    retryable=True,
                )
                _log.info("released a running task at shutdown", extra={"taskExecutionId": context.task_execution_id})
            except (ApiError, TransportError) as exc:
                _log.warning("could not release a task at shutdown: %s", exc,
                             extra={"taskExecutionId": context.task_execution_id})
