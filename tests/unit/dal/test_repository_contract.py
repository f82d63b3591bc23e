"""One contract, two repositories: every case runs on the in-memory fake and on PynamoDB over moto.

The domain's unit tests run on the fake; these cases are what makes that sound. Each asserts the same outcome on both
(records read back, the labels of refused writes, pages, the sparse indexes and what they project, the stored items
themselves), so a change to either repository that the other does not follow fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from stratoflow.clock import iso_ms
from stratoflow.config import Settings
from stratoflow.dal import keys
from stratoflow.dal.dynamodb import DynamoRepository
from stratoflow.dal.memory import MemoryRepository
from stratoflow.dal.repository import (
    BadPageToken,
    ExecutionLease,
    IndexQuery,
    PartitionQuery,
    Repository,
    TaskLease,
    list_filter,
)
from stratoflow.dal.unit_of_work import (
    EXISTS,
    NEW,
    AllOf,
    AnyOf,
    FieldBelow,
    FieldIn,
    FieldIs,
    TransactionConflict,
    UnitOfWork,
    status_is,
    version_is,
)
from stratoflow.errors import PayloadTooLarge
from stratoflow.records import (
    Batch,
    BatchOutcome,
    Candidate,
    ChildLink,
    Event,
    Execution,
    IdempotencyRecord,
    StoredValue,
    Subscription,
    Task,
    Timer,
)
from stratoflow.runtime import Runtime

from tests.support.domain import Engine, FakeClock, SequentialIds, scan_items
from tests.support.moto import REGION, in_process_aws
from tests.support.template import create_table

TABLE = "stratoflow-contract"
T0 = 4_102_444_800_000
STAMP = "2100-01-01T00:00:00.000Z"


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    with in_process_aws() as client:
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def repo(request: pytest.FixtureRequest) -> Iterator[Repository]:
    if request.param == "memory":
        yield MemoryRepository(TABLE)
        return
    aws = request.getfixturevalue("aws")
    create_table(aws, TABLE)
    yield DynamoRepository(TABLE, region=REGION)
    aws.delete_table(TableName=TABLE)


def commit(repo: Repository, *writes: tuple[str, Any, Any]) -> None:
    """Commit (kind, record, requirement) operations, labelled by their position: op0, op1, ..."""
    uow = UnitOfWork()
    for number, (kind, record, requires) in enumerate(writes):
        label = f"op{number}"
        if kind == "put":
            uow.put(record, requires, label=label)
        elif kind == "delete":
            uow.delete(record, requires, label=label)
        elif kind == "check":
            uow.check(record, requires, label=label)
        else:
            uow.update(record, kind[1], requires, label=label)
    repo.commit(uow)


def refused(repo: Repository, *writes: tuple[str, Any, Any]) -> list[str]:
    with pytest.raises(TransactionConflict) as conflict:
        commit(repo, *writes)
    return conflict.value.labels


def execution(workflow_id: str = "wf-1", tenant: str = "acme", *, at: int = T0, **changes: Any) -> Execution:
    created = iso_ms(at)
    record = Execution(
        keys.workflow_pk(tenant, workflow_id),
        keys.EXECUTION_SK,
        tenant=tenant,
        workflow_id=workflow_id,
        kind="order",
        queue="default",
        status="PENDING",
        created_at=created,
        updated_at=created,
        list_pk=keys.list_pk(tenant),
        list_sk=keys.list_sk(created, workflow_id),
    )
    return replace(record, **changes)


def task(task_id: str = "t-1", tenant: str = "acme", **changes: Any) -> Task:
    record = Task(
        keys.task_pk(tenant, task_id),
        keys.TASK_SK,
        tenant=tenant,
        task_id=task_id,
        kind="charge",
        queue="default",
        status="PENDING",
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(record, **changes)


def timer(timer_id: str = "r", status: str = "STARTED", **changes: Any) -> Timer:
    record = Timer(
        keys.workflow_pk("acme", "wf-1"),
        keys.timer_sk(timer_id),
        tenant="acme",
        workflow_id="wf-1",
        timer_id=timer_id,
        status=status,
        duration_ms=1000,
        fire_at=STAMP,
        fire_at_ms=T0 + 1000,
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(record, **changes)


def link(name: str = "ship", **changes: Any) -> ChildLink:
    record = ChildLink(
        keys.workflow_pk("acme", "wf-1"),
        keys.child_sk(name),
        tenant="acme",
        parent_id="wf-1",
        child_execution_name=name,
        child_id="child-1",
        child_kind="ship",
        status="INITIATED",
        parent_close_policy="REQUEST_CANCEL",
        created_at=STAMP,
        updated_at=STAMP,
    )
    return replace(record, **changes)


# ---------------------------------------------------------------------- conditions that pass and fail


def test_a_new_record_must_not_exist(repo: Repository) -> None:
    commit(repo, ("put", timer(), NEW))
    assert repo.get(Timer, timer().pk, timer().sk) == timer()
    assert refused(repo, ("put", timer(status="FIRED"), NEW)) == ["op0"]
    assert repo.get(Timer, timer().pk, timer().sk) == timer()
    assert repo.get(Timer, timer().pk, keys.timer_sk("other")) is None


def test_only_while_status_is(repo: Repository) -> None:
    commit(repo, ("put", timer(), None))
    commit(repo, ("put", timer(status="FIRED"), status_is("STARTED")))
    assert refused(repo, ("put", timer(status="CANCELLED"), status_is("STARTED"))) == ["op0"]
    assert refused(repo, ("put", timer("missing", status="FIRED"), status_is("STARTED"))) == ["op0"]
    stored = repo.get(Timer, timer().pk, timer().sk)
    assert stored is not None and stored.status == "FIRED"


def test_a_versioned_record_is_saved_under_the_version_it_was_read_at(repo: Repository) -> None:
    new = execution()
    commit(repo, ("put", new, None))
    assert new.ver == 1  # the commit tells the record its stored version
    first = repo.get(Execution, new.pk, new.sk)
    second = repo.get(Execution, new.pk, new.sk)
    assert first is not None and second is not None and first.ver == second.ver == 1
    first.status = "RUNNING"
    commit(repo, ("put", first, None))
    second.status = "CANCELLING"
    assert refused(repo, ("put", second, None)) == ["op0"]  # a stale copy loses
    assert refused(repo, ("put", execution(), None)) == ["op0"]  # a "new" copy of an existing execution loses too
    stored = repo.get(Execution, new.pk, new.sk)
    assert stored is not None and (stored.status, stored.ver) == ("RUNNING", 2)


def test_a_check_writes_nothing_but_holds_the_version(repo: Repository) -> None:
    commit(repo, ("put", execution(), None))
    read = repo.get(Execution, execution().pk, execution().sk)
    assert read is not None
    commit(repo, ("check", read, version_is(read.ver)), ("put", timer(), NEW))
    commit(repo, ("put", read, None))  # someone else changes it
    assert refused(repo, ("check", read, version_is(1)), ("put", timer("r2"), NEW)) == ["op0"]
    assert repo.get(Timer, timer().pk, keys.timer_sk("r2")) is None


def test_update_sets_only_the_named_fields_and_needs_its_condition(repo: Repository) -> None:
    commit(repo, ("put", link(), NEW))
    changed = link(status="COMPLETED", updated_at="later", child_kind="ignored")
    commit(repo, (("update", ("status", "updated_at")), changed, status_is("INITIATED")))
    assert repo.get(ChildLink, link().pk, link().sk) == link(status="COMPLETED", updated_at="later")
    assert refused(repo, (("update", ("status",)), link(status="FAILED"), status_is("INITIATED"))) == ["op0"]
    assert refused(repo, (("update", ("status",)), link("absent"), FieldIs("child_id", "child-1"))) == ["op0"]
    assert repo.get(ChildLink, link().pk, keys.child_sk("absent")) is None


def test_an_update_not_under_its_version_is_decided_by_its_requirement_and_still_takes_a_new_version(
    repo: Repository,
) -> None:
    commit(repo, ("put", task(status="RUNNING", attempt=1, lease_id="l1", lease_expires_at=100), None))
    cancel = repo.get(Task, task().pk, task().sk)
    holder = repo.get(Task, task().pk, task().sk)
    assert cancel is not None and holder is not None and cancel.ver == 1
    holder.lease_expires_at = 200  # a heartbeat, under the version
    commit(repo, ("put", holder, None))

    def cancel_write(record: Task, status: str) -> UnitOfWork:
        uow = UnitOfWork()
        requires = AllOf((status_is(status), FieldIs("attempt", 1)))
        uow.update(record, ("status", "lease_id", "lease_expires_at"), requires, label="op0", under_version=False)
        return uow

    cancel.status, cancel.lease_id, cancel.lease_expires_at = "CANCELLED", None, None
    with pytest.raises(TransactionConflict):
        repo.commit(cancel_write(cancel, "PENDING"))  # its requirement still decides
    repo.commit(cancel_write(cancel, "RUNNING"))  # the heartbeat's newer version does not
    stored = repo.get(Task, task().pk, task().sk)
    assert stored is not None
    assert (stored.status, stored.lease_id, stored.lease_expires_at, stored.ver) == ("CANCELLED", None, None, 3)
    holder.lease_expires_at = 300  # the heartbeat's next write, from its copy read before the cancel: refused
    assert refused(repo, ("put", holder, None)) == ["op0"]


def test_delete_while_it_exists(repo: Repository) -> None:
    commit(repo, ("put", timer(), None))
    commit(repo, ("delete", timer(), EXISTS))
    assert repo.get(Timer, timer().pk, timer().sk) is None
    assert refused(repo, ("delete", timer(), EXISTS)) == ["op0"]


def test_new_or_expired(repo: Repository) -> None:
    record = IdempotencyRecord(keys.idempotency_pk("acme", "k"), keys.IDEMPOTENCY_SK, "h1", "{}", expires_at=100)
    new_or_expired = AnyOf((NEW, FieldBelow("expires_at", 50)))
    commit(repo, ("put", record, new_or_expired))
    assert refused(repo, ("put", record, new_or_expired)) == ["op0"]
    commit(
        repo,
        ("put", IdempotencyRecord(record.pk, record.sk, "h2", "{}", 200), AnyOf((NEW, FieldBelow("expires_at", 101)))),
    )
    stored = repo.get(IdempotencyRecord, record.pk, record.sk)
    assert stored is not None and stored.request_hash == "h2"


# ---------------------------------------------------------------------- transactions


def test_a_transaction_names_every_failed_operation_in_the_order_it_is_sent_and_writes_nothing(
    repo: Repository,
) -> None:
    commit(repo, ("put", timer("a"), None), ("put", timer("b", status="FIRED"), None), ("put", execution(), None))
    stale = execution(status="RUNNING")  # read at no version: stale
    labels = refused(
        repo,
        ("put", timer("c"), NEW),  # passes
        ("put", stale, None),  # fails: version
        ("put", timer("b", status="CANCELLED"), status_is("STARTED")),  # fails: status
        ("delete", timer("a"), EXISTS),  # passes
        ("check", timer("gone"), EXISTS),  # fails: missing
    )
    assert labels == ["op4", "op1", "op2"]  # checks, deletes, puts, updates: DynamoDB's order
    assert repo.get(Timer, timer().pk, keys.timer_sk("c")) is None
    assert repo.get(Timer, timer().pk, keys.timer_sk("a")) is not None


def test_a_version_race_has_one_winner(repo: Repository) -> None:
    commit(repo, ("put", execution(), None))
    copies = [repo.get(Execution, execution().pk, execution().sk) for _ in range(3)]
    outcomes = []
    for number, copy in enumerate(copies):
        assert copy is not None
        copy.last_seq = number + 1
        event = Event(copy.pk, keys.event_sk(1), 1, "X", "{}", STAMP)
        try:
            commit(repo, ("put", event, NEW), ("put", copy, None))
            outcomes.append("won")
        except TransactionConflict as conflict:
            outcomes.append(",".join(conflict.labels))
    assert outcomes == ["won", "op0,op1", "op0,op1"]


def test_what_cannot_be_written_atomically_is_refused_before_anything_is_sent(repo: Repository) -> None:
    too_many = UnitOfWork()
    for number in range(101):
        too_many.put(timer(f"t{number}"), NEW)
    with pytest.raises(PayloadTooLarge):
        repo.commit(too_many)
    too_large = UnitOfWork()
    for number in range(16):
        too_large.put(StoredValue("T#acme#WF#big", f"VALUE#{number}", "x" * 250_000))
    with pytest.raises(PayloadTooLarge):
        repo.commit(too_large)
    assert repo.get(Timer, timer().pk, keys.timer_sk("t0")) is None


def test_a_large_value_lives_in_a_record_of_its_own(repo: Repository) -> None:
    value = StoredValue("T#acme#WF#wf-1", keys.value_sk("WF", "input"), '"' + "é" * 200_000 + '"')
    commit(repo, ("put", value, None), ("put", execution(input="@VALUE"), NEW))
    assert repo.get(StoredValue, value.pk, value.sk) == value


# ---------------------------------------------------------------------- reads, paging and the sparse indexes


def test_query_by_prefix_filtered_and_history_between_keys(repo: Repository) -> None:
    commit(
        repo,
        *(("put", timer(name, status), None) for name, status in [("a", "STARTED"), ("b", "FIRED"), ("c", "STARTED")]),
    )
    commit(repo, ("put", link(), None))
    started = list(repo.query(Timer, PartitionQuery(timer().pk, keys.TIMER_PREFIX, where=status_is("STARTED"))))
    assert [t.timer_id for t in started] == ["a", "c"]
    eventually = PartitionQuery(timer().pk, keys.TIMER_PREFIX, consistent=False)
    assert [t.timer_id for t in repo.query(Timer, eventually)] == ["a", "b", "c"]
    for first in range(1, 30, 10):
        commit(
            repo,
            *(
                ("put", Event("T#acme#WF#h", keys.event_sk(n), n, "X", "{}", STAMP), NEW)
                for n in range(first, first + 10)
            ),
        )
    page = list(repo.events("T#acme#WF#h", keys.event_sk(5), keys.EVENT_PREFIX + "~", 7))
    assert [event.seq for event in page] == list(range(5, 12))
    assert [e.seq for e in repo.events("T#acme#WF#h", keys.event_sk(28), keys.event_sk(29), 100)] == [28, 29]


def test_dispatch_takes_ready_items_only_oldest_first_and_projects_status_kind_and_timeout(repo: Repository) -> None:
    queue = keys.task_dispatch_pk("acme", "default")
    commit(repo, ("put", task("late", dispatch_pk=queue, dispatch_at=T0 + 10, timeout_ms=5), None))
    commit(repo, ("put", task("first", dispatch_pk=queue, dispatch_at=T0 - 10, timeout_ms=7000), None))
    commit(repo, ("put", task("second", dispatch_pk=queue, dispatch_at=T0, kind="resize"), None))
    commit(repo, ("put", task("running", status="RUNNING"), None))  # not in the index: no dispatch keys
    ready = list(repo.ready(Task, queue, T0, None))
    assert ready == [
        Candidate(keys.task_pk("acme", "first"), keys.TASK_SK, "PENDING", "charge", 7000),
        Candidate(keys.task_pk("acme", "second"), keys.TASK_SK, "PENDING", "resize", None),
    ]
    assert [c.pk for c in repo.ready(Task, queue, T0 + 10, ["resize"])] == [keys.task_pk("acme", "second")]
    many = [task(f"m{n:02d}", dispatch_pk=keys.task_dispatch_pk("acme", "q"), dispatch_at=T0 + n) for n in range(30)]
    for start in range(0, 30, 10):
        commit(repo, *(("put", record, None) for record in many[start : start + 10]))
    assert [c.pk for c in repo.ready(Task, keys.task_dispatch_pk("acme", "q"), T0 + 100, None)] == [
        record.pk for record in many[:10]
    ]


def test_claims_lease_only_what_is_still_ready(repo: Repository) -> None:
    queue = keys.workflow_dispatch_pk("acme", "default")
    commit(repo, ("put", execution(dispatch_pk=queue, dispatch_at=T0, last_seq=3), None))
    (candidate,) = repo.ready(Execution, queue, T0, None)
    claimed = repo.claim_execution(candidate, ExecutionLease("RUNNING", "L", expires=T0 + 60, now=T0, updated_at="u"))
    assert claimed is not None
    assert (claimed.status, claimed.lease_id, claimed.seen_seq, claimed.dispatch_at, claimed.ver) == (
        "RUNNING",
        "L",
        3,
        T0 + 60,
        2,
    )
    assert (
        repo.claim_execution(candidate, ExecutionLease("RUNNING", "M", expires=T0 + 60, now=T0, updated_at="u")) is None
    )
    commit(
        repo, ("put", task(dispatch_pk=keys.task_dispatch_pk("acme", "default"), dispatch_at=T0, timeout_ms=10), None)
    )
    (pending,) = repo.ready(Task, keys.task_dispatch_pk("acme", "default"), T0, None)
    leased = repo.claim_task(
        pending,
        TaskLease(
            lease_id="L",
            lease_ms=60,
            expires=T0 + 60,
            deadline=T0 + 10,
            sweep_pk="SWEEP#1",
            sweep_at=T0 + 10,
            now=T0,
            updated_at="u",
        ),
    )
    assert leased is not None
    assert (
        leased.status,
        leased.attempt,
        leased.dispatch_pk,
        leased.dispatch_at,
        leased.attempt_deadline,
        leased.ver,
    ) == (
        "RUNNING",
        1,
        None,
        None,
        T0 + 10,
        2,
    )
    again = repo.claim_task(
        pending,
        TaskLease(
            lease_id="M",
            lease_ms=60,
            expires=T0,
            deadline=None,
            sweep_pk="SWEEP#1",
            sweep_at=T0,
            now=T0,
            updated_at="u",
        ),
    )
    assert again is None
    assert list(repo.due("SWEEP#1", T0 + 10, 10)) == [(leased.pk, leased.sk)]
    assert list(repo.due("SWEEP#1", T0 + 9, 10)) == []


def test_the_list_is_newest_first_paged_filtered_and_its_tokens_belong_to_it(repo: Repository) -> None:
    for number in range(5):
        record = execution(f"wf-{number}", at=T0 + number, status="CANCELLED" if number == 2 else "PENDING")
        commit(repo, ("put", record, None))
    commit(repo, ("put", execution("other", tenant="globex"), None))
    seen, token, pages = [], None, 0
    while True:
        page = repo.index_page(
            Execution, IndexQuery(keys.list_pk("acme"), where=list_filter(status=None, kind=None), limit=2, token=token)
        )
        seen += [record.workflow_id for record in page.items]
        pages += 1
        if page.next_token is None:
            break
        token = page.next_token
    assert (seen, pages) == (["wf-4", "wf-3", "wf-2", "wf-1", "wf-0"], 3)
    pending = list_filter(status="PENDING", kind=None)
    first = repo.index_page(Execution, IndexQuery(keys.list_pk("acme"), where=pending, limit=3, token=None))
    assert [r.workflow_id for r in first.items] == ["wf-4", "wf-3"] and first.next_token is not None  # a short page
    rest = repo.index_page(Execution, IndexQuery(keys.list_pk("acme"), where=pending, limit=3, token=first.next_token))
    assert ([r.workflow_id for r in rest.items], rest.next_token) == (["wf-1", "wf-0"], None)
    with pytest.raises(BadPageToken):
        repo.index_page(
            Execution,
            IndexQuery(
                keys.list_pk("globex"), where=list_filter(status=None, kind=None), limit=2, token=first.next_token
            ),
        )
    with pytest.raises(BadPageToken):
        repo.index_page(
            Execution,
            IndexQuery(keys.list_pk("acme"), where=list_filter(status=None, kind=None), limit=2, token="not-a-token"),
        )


def test_the_list_shows_each_item_as_it_is_now_and_filters_on_that(repo: Repository) -> None:
    """The index holds keys only: what a listing answers, and what its filter sees, is the item after its last write."""
    for number in range(3):
        commit(repo, ("put", execution(f"wf-{number}", at=T0 + number), None))
    listed = repo.get(Execution, keys.workflow_pk("acme", "wf-1"), keys.EXECUTION_SK)
    assert listed is not None
    changed = replace(listed, status="COMPLETED", output='{"done":true}', updated_at="later")
    commit(repo, (("update", ("status", "output", "updated_at")), changed, status_is("PENDING")))

    def listing(status: str | None) -> list[tuple[str, str, str | None]]:
        query = IndexQuery(keys.list_pk("acme"), where=list_filter(status=status, kind=None), limit=10, token=None)
        page = repo.index_page(Execution, query)
        return [(record.workflow_id, record.status, record.output) for record in page.items]

    assert listing(None) == [
        ("wf-2", "PENDING", None),
        ("wf-1", "COMPLETED", '{"done":true}'),
        ("wf-0", "PENDING", None),
    ]
    assert listing("COMPLETED") == [("wf-1", "COMPLETED", '{"done":true}')]
    assert listing("PENDING") == [("wf-2", "PENDING", None), ("wf-0", "PENDING", None)]


# ---------------------------------------------------------------------- the operator controls' reads and counters


def batch(batch_id: str = "b-1", tenant: str = "acme", *, at: int = T0, **changes: Any) -> Batch:
    created = iso_ms(at)
    record = Batch(
        keys.batch_pk(tenant, batch_id),
        keys.BATCH_SK,
        tenant=tenant,
        batch_id=batch_id,
        operation="CANCEL",
        filter_json="{}",
        max_per_second=10,
        status="RUNNING",
        snapshot_before=created,
        created_at=created,
        updated_at=created,
        list_pk=keys.batch_list_pk(tenant),
        list_sk=f"{created}#{batch_id}",
    )
    return replace(record, **changes)


def test_the_list_index_pages_any_record_under_its_list_in_either_order_within_a_range(repo: Repository) -> None:
    for number in range(5):
        record = execution(f"wf-{number}", at=T0 + number, status="CANCELLED" if number == 2 else "PENDING")
        commit(repo, ("put", record, None))
    commit(repo, ("put", batch("b-1"), None), ("put", batch("b-2", at=T0 + 1), None))
    where = AllOf((FieldIn("status", ("PENDING", "RUNNING")), FieldIs("kind", "order")))
    between = (iso_ms(T0 + 1), iso_ms(T0 + 4))  # wf-1 .. wf-3: listSk values start with createdAt
    first = repo.index_page(
        Execution, IndexQuery(keys.list_pk("acme"), where=where, limit=2, token=None, ascending=True, between=between)
    )
    assert [r.workflow_id for r in first.items] == ["wf-1"] and first.next_token is not None  # wf-2 filtered out
    after_first = IndexQuery(
        keys.list_pk("acme"), where=where, limit=2, token=first.next_token, ascending=True, between=between
    )
    rest = repo.index_page(Execution, after_first)
    assert ([r.workflow_id for r in rest.items], rest.next_token) == (["wf-3"], None)
    batches = repo.index_page(Batch, IndexQuery(keys.batch_list_pk("acme"), where=None, limit=10, token=None))
    assert ([b.batch_id for b in batches.items], batches.next_token) == (["b-2", "b-1"], None)
    with pytest.raises(BadPageToken):
        repo.index_page(Batch, IndexQuery(keys.batch_list_pk("acme"), where=None, limit=1, token=first.next_token))


def test_a_partition_is_paged_filtered_and_its_tokens_belong_to_it(repo: Repository) -> None:
    pk = keys.batch_pk("acme", "b-1")
    for number in range(5):
        outcome = "FAILED" if number == 1 else "SUCCEEDED"
        record = BatchOutcome(
            pk, keys.batch_outcome_sk(f"wf-{number}"), workflow_id=f"wf-{number}", outcome=outcome, at=STAMP
        )
        commit(repo, ("put", record, NEW))
    commit(repo, ("put", batch("b-1"), None))
    seen, token = [], None
    while True:
        page = repo.page(BatchOutcome, pk, keys.BATCH_OUTCOME_PREFIX, where=None, limit=2, token=token)
        seen += [r.workflow_id for r in page.items]
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == [f"wf-{n}" for n in range(5)]  # the batch item itself is not under the prefix
    failed = repo.page(
        BatchOutcome, pk, keys.BATCH_OUTCOME_PREFIX, where=FieldIs("outcome", "FAILED"), limit=2, token=None
    )
    assert [r.workflow_id for r in failed.items] == ["wf-1"] and failed.next_token is not None
    with pytest.raises(BadPageToken):
        repo.page(
            BatchOutcome,
            keys.batch_pk("acme", "b-2"),
            keys.BATCH_OUTCOME_PREFIX,
            where=None,
            limit=2,
            token=failed.next_token,
        )


def test_a_query_bounded_above_reads_only_keys_up_to_its_bound(repo: Repository) -> None:
    pk = keys.subscription_pk("acme", "p")
    for at in (T0, T0 + 1, T0 + 2):
        record = Subscription(
            pk,
            keys.subscription_sk(at, f"wf-{at - T0}", 0),
            tenant="acme",
            workflow_id=f"wf-{at - T0}",
            event_type="e",
            subscribed_at=at,
        )
        commit(repo, ("put", record, None))
    until = f"{keys.SUBSCRIPTION_PREFIX}{T0 + 2:015d}"  # subscribed before T0 + 2
    found = [r.workflow_id for r in repo.query(Subscription, PartitionQuery(pk, keys.SUBSCRIPTION_PREFIX, until=until))]
    assert found == ["wf-0", "wf-1"]


def test_counters_are_added_on_the_stored_item_under_every_requirement(repo: Repository) -> None:
    commit(repo, ("put", batch(succeeded=3), None))
    stale = batch(updated_at="later")  # a copy that knows no count
    running_slice = AllOf((status_is("RUNNING"), FieldIs("slice_number", 1)))
    uow = UnitOfWork()
    uow.update(stale, ("updated_at",), running_slice, label="batch", increments={"succeeded": 1, "failed": 2})
    repo.commit(uow)
    stored = repo.get(Batch, stale.pk, stale.sk)
    assert stored is not None
    assert (stored.succeeded, stored.failed, stored.skipped, stored.updated_at) == (4, 2, 0, "later")
    uow = UnitOfWork()
    next_slice = AllOf((status_is("RUNNING"), FieldIs("slice_number", 2)))
    uow.update(stale, ("updated_at",), next_slice, label="batch", increments={"succeeded": 1})
    with pytest.raises(TransactionConflict) as conflict:
        repo.commit(uow)
    assert conflict.value.labels == ["batch"]
    stored = repo.get(Batch, stale.pk, stale.sk)
    assert stored is not None and stored.succeeded == 4


# ---------------------------------------------------------------------- the same items, whatever the repository


def test_a_whole_flow_stores_exactly_the_same_items_on_both(aws: Any) -> None:
    """The domain's unit tests assert stored items on the fake: a flow touching every item type stores the same."""
    create_table(aws, TABLE)
    try:
        settings = Settings(table_name=TABLE, timer_schedule_group="StratoflowTimers")
        dumps = []
        for repo in (MemoryRepository(TABLE), DynamoRepository(TABLE, region=REGION)):
            engine = Engine(Runtime(settings, repo, FakeClock(), SequentialIds()), aws)
            parent = engine.start("saga", {"big": "x" * 70_000}, idempotency_key="k")["workflowExecutionId"]
            engine.run(
                parent,
                [
                    {"type": "SCHEDULE_TASK", "taskExecutionId": "t1", "kind": "charge", "timeoutMs": 5000},
                    # Two long ids: the second no longer fits on the execution and gets a reference item.
                    *[{"type": "SCHEDULE_TASK", "taskExecutionId": letter * 120, "kind": "audit"} for letter in "ab"],
                    {"type": "START_TIMER", "timerId": "r", "durationMs": 1000},
                    {
                        "type": "SCHEDULE_CHILD_WORKFLOW",
                        "childExecutionName": "ship",
                        "childWorkflowExecutionId": "child-1",
                        "workflowKind": "ship",
                    },
                ],
            )
            lease = engine.claim_task("t1")
            engine.heartbeat("t1", lease)
            engine.fire(parent, "r")
            engine.run(
                parent,
                [
                    {
                        "type": "REQUEST_CANCEL_CHILD_WORKFLOW",
                        "childExecutionName": "ship",
                        "childWorkflowExecutionId": "child-1",
                    },
                    {"type": "COMPLETE_WORKFLOW", "output": {"ok": True}},
                ],
            )
            engine.drain_outbox(deliveries=1)
            engine.create_task("standalone", [1, 2])
            dumps.append(engine.items() if isinstance(repo, MemoryRepository) else scan_items(aws, TABLE))
        memory, dynamodb = dumps
        assert memory == dynamodb
        assert {item["sk"].split("#")[0] for item in memory} >= {
            "WF",
            "EV",
            "TASK",
            "TIMER",
            "CHILD",
            "TASKREF",
            "VALUE",
            "IDEMPOTENCY",
        }
    finally:
        aws.delete_table(TableName=TABLE)
