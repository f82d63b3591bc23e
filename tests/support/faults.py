"""Crash injection: the k-th AWS call of a handler fails, through botocore's own events.

`FaultInjector` registers `before-call` and `after-call` handlers on botocore clients (every PynamoDB model's client
via `attach_pynamodb(repo)`, any boto3 client via `attach(client)`). While armed with a `Fault`, it counts the AWS calls
made by the arming thread only, and makes the k-th one fail:

- `before`: the call raises `InjectedCrash` (an `EndpointConnectionError`) before anything is sent, so nothing is
  written: the process died, or lost the network, just before that call;
- `after`: the call is made and succeeds, then raises `InjectedTimeout` (a `ReadTimeoutError`): the write happened
  but its answer was lost, as with a Lambda timeout right after the call.

Both are botocore errors, so PynamoDB wraps them as it wraps real network failures, and the domain sees what it would
see in AWS. Armed with `None`, the injector only records the calls (their operation names), to learn how many a
handler makes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

FaultKind = Literal["before", "after"]
FAULT_KINDS: tuple[FaultKind, ...] = ("before", "after")


class InjectedCrash(EndpointConnectionError):
    """The injected failure of a call that was never sent."""


class InjectedTimeout(ReadTimeoutError):
    """The injected loss of the answer of a call that succeeded."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    k: int  # 1-based: the k-th AWS call of the armed thread fails

    def __str__(self) -> str:
        return f"{self.kind}#{self.k}"


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: int | None = None
        self._fault: Fault | None = None
        self.calls: list[str] = []
        self.fired: Fault | None = None
        self._attached: set[int] = set()

    # ------------------------------------------------------------------ clients

    def attach(self, client: Any) -> None:
        """Hook one botocore client (idempotent)."""
        if id(client) in self._attached:
            return
        self._attached.add(id(client))
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)

    def attach_pynamodb(self, repo: Any) -> None:
        """Hook the client a `DynamoRepository`'s models call through (each repository binds models of its own)."""
        for client in repo.botocore_clients():
            self.attach(client)

    # ------------------------------------------------------------------ arming

    @contextmanager
    def armed(self, fault: Fault | None) -> Iterator[FaultInjector]:
        """Count (and with a fault, fail) the AWS calls this thread makes inside the block."""
        with self._lock:
            self._thread = threading.get_ident()
            self._fault = fault
            self.calls = []
            self.fired = None
        try:
            yield self
        finally:
            with self._lock:
                self._thread = None
                self._fault = None

    def _counted(self, model: Any) -> int | None:
        """The number of this call among the armed thread's, or None when the call is not watched."""
        if self._thread != threading.get_ident():
            return None
        self.calls.append(model.name)
        return len(self.calls)

    def _before_call(self, model: Any, **_: Any) -> None:
        number = self._counted(model)
        fault = self._fault
        if number is not None and fault is not None and fault.kind == "before" and number == fault.k:
            self.fired = fault
            raise InjectedCrash(endpoint_url=f"injected crash before {model.name} (call {number})")

    def _after_call(self, model: Any, **_: Any) -> None:
        fault = self._fault
        if (
            self._thread == threading.get_ident()
            and fault is not None
            and fault.kind == "after"
            and len(self.calls) == fault.k
            and self.fired is None
        ):
            self.fired = fault
            raise InjectedTimeout(endpoint_url=f"injected timeout after {model.name} (call {fault.k})")
