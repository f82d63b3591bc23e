"""Batches (operators.md, I11) on the domain: a fake queue records the slice messages, a fake sleep moves the clock.

`run_all` plays the batch queue: it delivers the messages in order, as the FIFO queue does (one group per batch).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from stratoflow import batches, terminate
from stratoflow.errors import FailedPrecondition, InvalidArgument, NotFound

from tests.support.domain import Engine


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []

    def send(self, tenant: str, batch_id: str, slice_number: int) -> None:
        self.sent.append((tenant, batch_id, slice_number))


@pytest.fixture
def queue(engine: Engine) -> FakeQueue:
    engine.batch_queue = FakeQueue()
    return engine.batch_queue  # type: ignore[no-any-return]


def request(operation: str = "CANCEL", max_per_second: int = 50, **filter_fields: Any) -> batches.BatchRequest:
    return batches.BatchRequest(
        operation=operation,
        filter=filter_fields,
        reason="maintenance",
        cascade=True,
        cleanup_timeout_ms=None,
        max_per_second=max_per_second,
    )


def create(engine: Engine, req: batches.BatchRequest) -> str:
    batch = batches.create_batch(engine.rt, "acme", req)
    engine.drain_outbox()  # the start follow-up sends the first slice's message
    return str(batch["batchId"])


def run_all(engine: Engine, queue: FakeQueue, limit: int = 1000) -> list[str]:
    outcomes = []
    delivered = 0
    while delivered < len(queue.sent) and limit:
        tenant, batch_id, slice_number = queue.sent[delivered]
        delivered += 1
        limit -= 1
        outcomes.append(batches.run_slice(engine.rt, queue, tenant, batch_id, slice_number, sleep=sleep_on(engine)))
    return outcomes


def sleep_on(engine: Engine) -> Any:
    return lambda seconds: engine.clock.advance(int(seconds * 1000))


def items(engine: Engine, batch_id: str, outcome: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = None
    while True:
        page = batches.list_items(engine.rt, "acme", batch_id, outcome=outcome, limit=100, next_token=token)
        found += page["items"]
        token = page["nextToken"]
        if token is None:
            return found


def test_a_batch_cancels_every_matching_execution_once_and_counts_add_up(engine: Engine, queue: FakeQueue) -> None:
    targets = [engine.start(kind="nightly")["workflowExecutionId"] for _ in range(7)]
    other = engine.start(kind="daily")["workflowExecutionId"]
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="nightly", max_per_second=3))
    view = batches.get_batch(engine.rt, "acme", batch_id)
    assert (view["status"], view["matched"], view["succeeded"], view["completedAt"]) == ("RUNNING", None, 0, None)
    assert run_all(engine, queue) == ["continued", "continued", "completed"]
    view = batches.get_batch(engine.rt, "acme", batch_id)
    assert {k: view[k] for k in ("status", "matched", "succeeded", "failed", "skipped")} == {
        "status": "COMPLETED",
        "matched": 7,
        "succeeded": 7,
        "failed": 0,
        "skipped": 0,
    }
    assert view["completedAt"] is not None
    for wid in targets:
        requests = [e["data"] for e in engine.history(wid) if e["type"] == "CANCELLATION_REQUESTED"]
        assert requests == [{"reason": "maintenance", "requestedBy": f"batch:{batch_id}", "cleanupDeadline": None}]
    assert engine.status(other) == "PENDING"
    assert sorted(item["workflowExecutionId"] for item in items(engine, batch_id)) == sorted(targets)
    assert {item["outcome"] for item in items(engine, batch_id)} == {"SUCCEEDED"}
    engine.check()


def test_no_second_of_the_batch_reaches_more_than_max_per_second(engine: Engine, queue: FakeQueue) -> None:
    for _ in range(10):
        engine.start(kind="rated")
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="rated", max_per_second=4))
    run_all(engine, queue)
    times = sorted(
        int(
            engine.item(f"T#acme#BATCH#{batch_id}", f"ITEM#{i['workflowExecutionId']}")["at"][17:19]
            + engine.item(f"T#acme#BATCH#{batch_id}", f"ITEM#{i['workflowExecutionId']}")["at"][20:23]
        )
        for i in items(engine, batch_id)
    )
    # any window of one second holds at most 4 reaches
    assert all(sum(1 for t in times if start <= t < start + 1000) <= 4 for start in times), times


def test_listed_ids_are_each_reached_once_unknown_ones_fail_and_ended_ones_are_skipped(
    engine: Engine, queue: FakeQueue
) -> None:
    live = engine.start()["workflowExecutionId"]
    done = engine.start()["workflowExecutionId"]
    engine.run(done, [{"type": "COMPLETE_WORKFLOW"}])
    cancelling = engine.start()["workflowExecutionId"]
    engine.cancel(cancelling, "earlier")
    theirs = engine.start(tenant="globex")["workflowExecutionId"]
    engine.clock.advance(1)
    ids = [live, done, cancelling, theirs, "no-such-id", live]
    batch_id = create(engine, request(workflowExecutionIds=ids))
    before = engine.item_of(cancelling)
    run_all(engine, queue)
    view = batches.get_batch(engine.rt, "acme", batch_id)
    assert (view["matched"], view["succeeded"], view["failed"], view["skipped"]) == (5, 1, 2, 2)
    outcomes = {i["workflowExecutionId"]: (i["outcome"], i["error"]) for i in items(engine, batch_id)}
    assert outcomes[live] == ("SUCCEEDED", None)
    assert outcomes[done] == ("SKIPPED", None)
    assert outcomes[cancelling] == ("SKIPPED", None)
    assert outcomes[theirs][0] == outcomes["no-such-id"][0] == "FAILED"
    assert outcomes["no-such-id"][1]["code"] == "NOT_FOUND"  # type: ignore[index]
    assert engine.item_of(cancelling) == before  # a skipped execution is left exactly as it was
    assert engine.types(theirs, tenant="globex") == ["WORKFLOW_STARTED"]
    assert [i["workflowExecutionId"] for i in items(engine, batch_id, "FAILED")] == sorted([theirs, "no-such-id"])


def test_terminate_batches_end_cancelling_executions_and_skip_ended_ones(engine: Engine, queue: FakeQueue) -> None:
    cancelling = engine.start(kind="t")["workflowExecutionId"]
    engine.cancel(cancelling, "slow")
    ended = engine.start(kind="t")["workflowExecutionId"]
    engine.clock.advance(1)
    batch_id = create(engine, request("TERMINATE", workflowExecutionIds=[cancelling, ended]))
    terminate.terminate_workflow(engine.rt, "acme", ended, reason="first", cascade=True)
    run_all(engine, queue)
    view = batches.get_batch(engine.rt, "acme", batch_id)
    assert (view["succeeded"], view["skipped"]) == (1, 1)
    assert engine.history(cancelling)[-1]["data"] == {"reason": "maintenance", "requestedBy": f"batch:{batch_id}"}


def test_executions_created_after_the_batch_started_are_not_included(engine: Engine, queue: FakeQueue) -> None:
    before = engine.start(kind="snap")["workflowExecutionId"]
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="snap"))
    engine.clock.advance(1)
    after = engine.start(kind="snap")["workflowExecutionId"]
    run_all(engine, queue)
    assert batches.get_batch(engine.rt, "acme", batch_id)["matched"] == 1
    assert (engine.status(before), engine.status(after)) == ("CANCELLING", "PENDING")


def test_a_crash_at_any_step_or_a_redelivered_slice_handles_nothing_twice(engine: Engine, queue: FakeQueue) -> None:
    for _ in range(6):
        engine.start(kind="crash")
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="crash", max_per_second=4))
    tenant, _, first = queue.sent[0]
    # the runner crashed after listing and reaching two executions: its message comes back
    batch = batches.get_batch_record(engine.rt.repo, "acme", batch_id)
    assert batch is not None
    assert batches._list_until(engine.rt.repo, batch, 1, 4)
    for wid in (batch.pending and __import__("json").loads(batch.pending))[:2]:
        batches._handle(engine.rt, batch, 1, wid)
    assert batches.run_slice(engine.rt, queue, tenant, batch_id, first, sleep=sleep_on(engine)) == "continued"
    # a duplicate of slice 1 after the batch moved on re-sends slice 2's message (deduplicated by the queue)
    assert batches.run_slice(engine.rt, queue, tenant, batch_id, 1, sleep=sleep_on(engine)) == "stale"
    run_all(engine, queue)
    view = batches.get_batch(engine.rt, "acme", batch_id)
    assert (view["status"], view["matched"], view["succeeded"]) == ("COMPLETED", 6, 6)
    assert Counter(
        len([e for e in engine.history(i["workflowExecutionId"]) if e["type"] == "CANCELLATION_REQUESTED"])
        for i in items(engine, batch_id)
    ) == Counter({1: 6})


def test_stop_leaves_executions_not_yet_reached_alone(engine: Engine, queue: FakeQueue) -> None:
    wids = [engine.start(kind="stop")["workflowExecutionId"] for _ in range(5)]
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="stop", max_per_second=2))
    run_all(engine, queue, limit=1)
    stopped = batches.stop_batch(engine.rt, "acme", batch_id)
    # a slice lists only what it handles: the listing had not finished, so matched stays null
    assert (stopped["status"], stopped["succeeded"], stopped["matched"]) == ("STOPPED", 2, None)
    assert stopped["completedAt"] is not None
    assert set(run_all(engine, queue)) == {"finished"}
    assert sum(engine.status(w) == "CANCELLING" for w in wids) == 2
    with pytest.raises(FailedPrecondition) as refused:
        batches.stop_batch(engine.rt, "acme", batch_id)
    assert refused.value.details == {"currentStatus": "STOPPED"}


def test_a_dry_run_counts_what_matches_now_and_writes_nothing(engine: Engine) -> None:
    for kind in ("a", "a", "b"):
        engine.start(kind=kind)
    before = engine.items()
    assert batches.count_matching(engine.rt, "acme", request(kind="a")) == 2
    assert batches.count_matching(engine.rt, "acme", request(statuses=["RUNNING"])) == 0
    assert batches.count_matching(engine.rt, "acme", request(workflowExecutionIds=["x", "y", "x"])) == 2
    assert engine.items() == before


def test_batches_are_listed_newest_first_and_tenants_see_only_their_own(engine: Engine, queue: FakeQueue) -> None:
    first = create(engine, request(kind="none"))
    engine.clock.advance(1)
    second = create(engine, request(kind="none"))
    page = batches.list_batches(engine.rt, "acme", limit=1, next_token=None)
    assert [b["batchId"] for b in page["batches"]] == [second]
    rest = batches.list_batches(engine.rt, "acme", limit=10, next_token=page["nextToken"])
    assert [b["batchId"] for b in rest["batches"]] == [first]
    assert batches.list_batches(engine.rt, "globex", limit=10, next_token=None)["batches"] == []
    with pytest.raises(NotFound):
        batches.get_batch(engine.rt, "globex", first)
    with pytest.raises(InvalidArgument):
        batches.list_batches(engine.rt, "globex", limit=10, next_token=page["nextToken"])


def test_the_listing_is_the_first_read_and_a_copy_that_changed_since_is_read_again(
    engine: Engine, queue: FakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing reads whole executions: a slice handles them from that read, and the transaction's version
    condition sends it back to a fresh read when one changed in between (here: cancelled by a single call)."""
    wids = [engine.start(kind="listed")["workflowExecutionId"] for _ in range(3)]
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="listed"))
    list_page = batches._query_page
    reads: list[str] = []

    def list_then_cancel_one(*args: Any) -> Any:
        page = list_page(*args)
        engine.cancel(wids[1], reason="by hand")  # after the listing read it
        return page

    monkeypatch.setattr(batches, "_query_page", list_then_cancel_one)
    read_again = batches.get_execution
    monkeypatch.setattr(
        batches, "get_execution", lambda repo, tenant, wid: reads.append(wid) or read_again(repo, tenant, wid)
    )
    assert run_all(engine, queue) == ["completed"]
    assert reads == [wids[1]]  # the only execution read twice is the one that changed
    outcomes = {item["workflowExecutionId"]: item["outcome"] for item in items(engine, batch_id)}
    assert outcomes == {wids[0]: "SUCCEEDED", wids[1]: "SKIPPED", wids[2]: "SUCCEEDED"}
    requests = [
        event["data"]["requestedBy"] for event in engine.history(wids[1]) if event["type"] == "CANCELLATION_REQUESTED"
    ]
    assert len(requests) == 1 and not requests[0].startswith("batch:")


def test_a_slice_handles_its_executions_in_a_few_transactions_each_with_its_outcome_and_count(
    engine: Engine, queue: FakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    wids = [engine.start(kind="many")["workflowExecutionId"] for _ in range(50)]
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="many"))
    commit = engine.rt.repo.commit
    groups: list[int] = []

    def counting_commit(uow: Any, *args: Any, **kwargs: Any) -> Any:
        outcomes = [op for op in uow.operations if op.label.endswith("outcome")]
        if outcomes:
            groups.append(len(outcomes))
            counts = [op for op in uow.operations if op.label == "batch"]
            assert len(counts) == 1 and dict(counts[0].increments) == {"succeeded": len(outcomes)}
        return commit(uow, *args, **kwargs)

    monkeypatch.setattr(engine.rt.repo, "commit", counting_commit)
    assert run_all(engine, queue) == ["completed"]
    # a cancel is the execution, its event and its outcome item: 30 executions fill a group's 90 items
    assert groups == [30, 20]
    assert {item["workflowExecutionId"] for item in items(engine, batch_id, "SUCCEEDED")} == set(wids)
    assert batches.get_batch(engine.rt, "acme", batch_id)["succeeded"] == 50
    engine.check(settled=False)


def test_a_terminate_batch_over_a_parent_and_its_children_handles_each_once(engine: Engine, queue: FakeQueue) -> None:
    root = engine.start(kind="family")["workflowExecutionId"]
    engine.run(
        root,
        [
            {
                "type": "SCHEDULE_CHILD_WORKFLOW",
                "childExecutionName": name,
                "childWorkflowExecutionId": name,
                "workflowKind": "family",
            }
            for name in ("c1", "c2")
        ],
    )
    engine.clock.advance(1)
    batch_id = create(engine, request("TERMINATE", kind="family"))
    assert run_all(engine, queue) == ["completed"]
    engine.drain_outbox()
    outcomes = {item["workflowExecutionId"]: item["outcome"] for item in items(engine, batch_id)}
    assert outcomes == {root: "SUCCEEDED", "c1": "SUCCEEDED", "c2": "SUCCEEDED"}
    for wid in (root, "c1", "c2"):
        assert engine.types(wid).count("WORKFLOW_TERMINATED") == 1
    engine.check(settled=True)


def test_a_group_refused_without_a_member_to_blame_is_handled_one_by_one(
    engine: Engine, queue: FakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    wids = [engine.start(kind="blameless")["workflowExecutionId"] for _ in range(3)]
    engine.clock.advance(1)
    batch_id = create(engine, request(kind="blameless"))
    commit = engine.rt.repo.commit
    refused: list[int] = []

    def refuse_the_first_group(uow: Any, *args: Any, **kwargs: Any) -> Any:
        if not refused and sum(op.label.endswith("|outcome") for op in uow.operations) > 1:
            refused.append(len(uow.operations))
            raise batches.TransactionConflict(["somewhere-else"])
        return commit(uow, *args, **kwargs)

    monkeypatch.setattr(engine.rt.repo, "commit", refuse_the_first_group)
    assert run_all(engine, queue) == ["completed"]
    assert refused  # the group was refused once, then each execution went alone
    assert {item["workflowExecutionId"]: item["outcome"] for item in items(engine, batch_id)} == dict.fromkeys(
        wids, "SUCCEEDED"
    )
    assert batches.get_batch(engine.rt, "acme", batch_id)["succeeded"] == 3
