"""The fewest DynamoDB requests each operation needs under docs/design.md, and how a measured sample compares.

An expectation names a request by operation and item kind (the sort-key family of `bench.meter.kind_of`):
`ex("GetItem", "WF")` is a read of an execution item, `ex("Tx", "WF", "EV", "TASK")` one TransactWriteItems
holding exactly those items, `ex("Write", "TASK")` one non-transactional single-item write (PutItem or UpdateItem:
a one-item transaction matches it, at the price of a standard write). The minimum capacity of an operation is the
capacity of the measured requests and transaction items that match its expectations; what does not match is extra.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bench.meter import Call

# us-east-1 on-demand list prices per million request units (see bench.costs): used to weigh reads against writes.
READ_PRICE = 0.125
WRITE_PRICE = 0.625


@dataclass(frozen=True)
class Expect:
    operation: str
    kinds: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"{self.operation}[{','.join(sorted(self.kinds))}]"
            if self.operation == "Tx"
            else (f"{self.operation} {self.kinds[0]}")
        )


@dataclass
class Units:
    rru: float = 0.0
    wru: float = 0.0
    gsi_wru: float = 0.0

    def add(self, rru: float = 0.0, wru: float = 0.0, gsi_wru: float = 0.0) -> None:
        self.rru += rru
        self.wru += wru
        self.gsi_wru += gsi_wru

    @property
    def dollars_per_million(self) -> float:
        return self.rru * READ_PRICE + (self.wru + self.gsi_wru) * WRITE_PRICE


@dataclass
class Comparison:
    actual_requests: int
    minimum_requests: int
    actual: Units
    minimum: Units
    extra: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def request_ratio(self) -> float | None:
        return None if not self.minimum_requests else self.actual_requests / self.minimum_requests

    @property
    def capacity_ratio(self) -> float | None:
        minimum = self.minimum.dollars_per_million
        return None if not minimum else self.actual.dollars_per_million / minimum


def ex(operation: str, *kinds: str) -> Expect:
    return Expect(operation, kinds)


def _kind(call: Call) -> str:
    return call.items[0].kind if call.items else "?"


def compare(expected: list[Expect], calls: list[Call]) -> Comparison:
    dynamo = [call for call in calls if call.service == "dynamodb"]
    actual = Units()
    for request in dynamo:
        actual.add(request.rru, request.wru, request.gsi_wru)
    result = Comparison(len(dynamo), len(expected), actual, Units())
    unmatched = list(dynamo)
    for expect in expected:
        fitting = [candidate for candidate in unmatched if _fits(expect, candidate)]
        exact = [
            candidate
            for candidate in fitting
            if Counter(item.kind for item in candidate.items) == Counter(expect.kinds)
        ]
        candidates = exact or fitting
        call = candidates[0] if candidates else None
        if call is None:
            result.missing.append(str(expect))
            continue
        unmatched.remove(call)
        if expect.operation == "Tx":
            wanted = Counter(expect.kinds)
            for item in call.items:
                if wanted[item.kind] > 0:
                    wanted[item.kind] -= 1
                    result.minimum.add(item.rru, item.wru, item.gsi_wru)
                else:
                    result.extra.append(f"{item.kind} item in {call.label}")
            result.missing.extend(f"{kind} item in {call.label}" for kind, left in wanted.items() for _ in range(left))
        elif expect.operation == "Write" and call.operation == "TransactWriteItems":
            item = call.items[0]
            result.minimum.add(item.rru, item.wru / 2, item.gsi_wru)
            result.extra.append(f"{call.label} is a one-item transaction (twice the write units of a plain write)")
        else:
            result.minimum.add(call.rru, call.wru, call.gsi_wru)
    result.extra.extend(call.label for call in unmatched)
    return result


def _fits(expect: Expect, call: Call) -> bool:
    if expect.operation == "Tx":
        return call.operation == "TransactWriteItems" and len(call.items) > 1
    if expect.operation == "Write":
        single_tx = call.operation == "TransactWriteItems" and len(call.items) == 1
        return (call.operation in ("PutItem", "UpdateItem") or single_tx) and _kind(call) == expect.kinds[0]
    return call.operation == expect.operation and _kind(call) == expect.kinds[0]


def _submit(*kinds: str) -> list[Expect]:
    return [ex("GetItem", "WF"), ex("Tx", "WF", "EV", *kinds)]


# Per operation label: the requests the design needs (docs/design.md), one request each.
MINIMUMS: dict[str, list[Expect]] = {
    # A container's first request of a token (one in 300 s per container and token) reads its token item first.
    "token lookup (read workflow)": [ex("GetItem", "TOKEN"), ex("GetItem", "WF")],
    "start workflow": [ex("Tx", "WF", "EV")],
    "read workflow": [ex("GetItem", "WF")],
    "poll workflow": [ex("Query", "DispatchIndex"), ex("UpdateItem", "WF"), ex("Query", "EV")],
    "poll workflow (nothing ready)": [ex("Query", "DispatchIndex")],
    # An execution keeps its open tasks' ids on itself (a few short ids; beyond them, TASKREF# items): scheduling
    # and ending a task change no item besides the execution, its event and the task.
    "submit SCHEDULE_TASK": _submit("TASK"),
    "submit REQUEST_CANCEL_TASK": [ex("GetItem", "WF"), ex("GetItem", "TASK"), ex("Tx", "WF", "EV", "TASK")],
    "submit START_TIMER": _submit("TIMER"),
    "submit CANCEL_TIMER": [ex("GetItem", "WF"), ex("GetItem", "TIMER"), ex("Tx", "WF", "EV", "TIMER")],
    "submit SCHEDULE_CHILD_WORKFLOW": _submit("WF", "EV", "CHILD"),
    "submit REQUEST_CANCEL_CHILD_WORKFLOW": [
        ex("GetItem", "WF"),
        ex("GetItem", "CHILD"),
        ex("Tx", "WF", "EV", "OUTBOX:CHILD_CANCEL", "CHILD"),
    ],
    "submit RECORD_OPERATION": _submit(),
    "submit SET_STATE": _submit(),
    "submit CLEAR_STATE": _submit(),
    "submit COMPLETE_WORKFLOW": _submit(),
    "submit FAIL_WORKFLOW": _submit(),
    "submit CANCEL_WORKFLOW": _submit(),
    "submit COMPLETE_WORKFLOW (spawned)": _submit("OUTBOX:CLOSE"),
    "submit COMPLETE_WORKFLOW (child)": [
        ex("GetItem", "WF"),
        ex("GetItem", "CHILD"),
        ex("GetItem", "WF"),
        ex("Tx", "WF", "EV", "CHILD", "WF", "EV"),
    ],
    "submit SUSPEND_WORKFLOW": [ex("GetItem", "WF"), ex("Write", "WF")],
    "submit (no commands)": [ex("GetItem", "WF"), ex("Write", "WF")],
    "task poll": [ex("Query", "DispatchIndex"), ex("UpdateItem", "TASK")],
    "task heartbeat": [ex("GetItem", "TASK"), ex("Write", "TASK")],
    "task complete": [ex("GetItem", "TASK"), ex("GetItem", "WF"), ex("Tx", "TASK", "EV", "WF")],
    "cancel task": [ex("GetItem", "TASK"), ex("GetItem", "WF"), ex("Tx", "TASK", "EV", "WF")],
    "timer schedule create (stream)": [],
    "timer schedule delete after cancel (stream)": [],
    "fire timer": [ex("GetItem", "WF"), ex("Tx", "TIMER", "EV", "WF")],
    "timer schedule delete after fire (stream)": [],
    "child cancel propagation (stream)": [
        ex("GetItem", "WF"),
        ex("Tx", "OUTBOX:CHILD_CANCEL", "EV", "WF", "CHILD"),
    ],
    "workflow cancel (cascade)": _submit("OUTBOX:CASCADE"),
    "cascade step (stream)": [],  # set below: two leaf children
    "parent close (stream)": [],  # set below: its task finished
}


def cascade_step_minimum(children: int, grandchildren_follow: bool = False) -> list[Expect]:
    """One cascade record: find the open children, move each to CANCELLING, remove the record."""
    child_kinds = ("WF", "EV", "OUTBOX:CASCADE") if grandchildren_follow else ("WF", "EV")
    expected = [ex("Query", "CHILD")]
    for _ in range(children):
        expected += [ex("GetItem", "WF"), ex("Tx", *child_kinds)]
    return [*expected, ex("DeleteItem", "OUTBOX:CASCADE")]


def parent_close_minimum(open_tasks: int = 0) -> list[Expect]:
    """Parent close of an ended workflow: one query each for its open children and timers (its open tasks' ids
    come with the record); a read and a write per open task; the outbox item's removal."""
    return [
        ex("Query", "CHILD"),
        *[expect for _ in range(open_tasks) for expect in (ex("GetItem", "TASK"), ex("Write", "TASK"))],
        ex("Query", "TIMER"),
        ex("DeleteItem", "OUTBOX:CLOSE"),
    ]


MINIMUMS["cascade step (stream)"] = cascade_step_minimum(2)
MINIMUMS["parent close (stream)"] = parent_close_minimum()

# Why an operation does more than its minimum: one sentence per label whose ratio is above 1.0.
EXPLANATIONS: dict[str, str] = {}
