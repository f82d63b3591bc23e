"""Reads and starts: history paging, list paging and filters, idempotency keys, and tenant isolation (I8)."""

from __future__ import annotations

from typing import Any

import pytest
from stratoflow import workflows
from stratoflow.dal.unit_of_work import UnitOfWork
from stratoflow.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge
from stratoflow.records import Event, Execution

from tests.support.domain import Engine

T0 = "2100-01-01T00:00:00.000Z"
BIG = "x" * (256 * 1024 - 2)


def page(engine: Engine, wid: str, after: int, limit: int, tenant: str = "acme") -> dict[str, Any]:
    return workflows.read_history(engine.rt, tenant, wid, after_sequence=after, limit=limit)


def sequences(result: dict[str, Any]) -> list[int]:
    return [event["sequence"] for event in result["events"]]


# ---------------------------------------------------------------------- history paging


def test_a_full_page_returns_its_last_sequence_and_a_short_page_null(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "RECORD_OPERATION", "operationName": f"o{i}", "result": i} for i in range(4)])
    first = page(engine, wid, 0, 2)
    assert (sequences(first), first["nextAfterSequence"]) == ([1, 2], 2)
    second = page(engine, wid, 2, 2)
    assert (sequences(second), second["nextAfterSequence"]) == ([3, 4], 4)
    third = page(engine, wid, 4, 2)
    assert (sequences(third), third["nextAfterSequence"]) == ([5], None)
    assert page(engine, wid, 5, 2) == {"events": [], "nextAfterSequence": None}
    assert page(engine, wid, 99, 10) == {"events": [], "nextAfterSequence": None}
    exact = page(engine, wid, 3, 2)  # a full page that reaches the end still names its last sequence
    assert (sequences(exact), exact["nextAfterSequence"]) == ([4, 5], 5)
    assert page(engine, wid, 5, 2)["nextAfterSequence"] is None


def test_a_page_is_cut_at_about_1_mb_of_data(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "RECORD_OPERATION", "operationName": f"big{i}", "result": BIG} for i in range(6)])
    first = page(engine, wid, 0, 1000)
    # 1 small event, then 256 KiB ones: the fourth big one takes the page past 1,000,000 bytes
    assert (sequences(first), first["nextAfterSequence"]) == ([1, 2, 3, 4, 5], 5)
    rest = page(engine, wid, 5, 1000)
    assert (sequences(rest), rest["nextAfterSequence"]) == ([6, 7], None)
    assert sum(len(str(e["data"])) for e in first["events"]) < 5 * 1024 * 1024


def test_a_poll_returns_the_first_page_of_a_long_history(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    pk = f"T#acme#WF#{wid}"
    # Given 1,200 more events, written as the domain writes them (a submission holds at most 25 commands)
    events = [
        Event(pk, f"EV#{seq:010d}", seq, "OPERATION_COMPLETED", f'{{"operationName":"op{seq}","result":{seq}}}', T0)
        for seq in range(2, 1202)
    ]
    for event in events:  # one conditional put each (moto's transactions copy the table)
        seeding = UnitOfWork()
        seeding.put(event)
        engine.rt.repo.commit(seeding)
    execution = engine.rt.repo.get(Execution, pk, "WF")
    assert execution is not None
    execution.last_seq = 1201
    seeding = UnitOfWork()
    seeding.put(execution)
    engine.rt.repo.commit(seeding)
    claimed = engine.poll()
    assert claimed is not None
    assert (len(claimed["events"]), claimed["nextAfterSequence"]) == (1000, 1000)
    assert sequences(page(engine, wid, 1000, 1000)) == list(range(1001, 1202))
    assert len(engine.history(wid)) == 1201


# ---------------------------------------------------------------------- listing


def test_list_is_newest_first_paged_and_filtered(engine: Engine) -> None:
    ids = []
    for index in range(5):
        ids.append(engine.start(kind="even" if index % 2 == 0 else "odd")["workflowExecutionId"])
        engine.clock.advance(1)
    engine.cancel(ids[1], cascade=False)
    first = workflows.list_workflows(engine.rt, "acme", status=None, kind=None, limit=2, next_token=None)
    assert [w["workflowExecutionId"] for w in first["workflows"]] == [ids[4], ids[3]]
    assert first["nextToken"] is not None
    second = workflows.list_workflows(engine.rt, "acme", status=None, kind=None, limit=2, next_token=first["nextToken"])
    assert [w["workflowExecutionId"] for w in second["workflows"]] == [ids[2], ids[1]]
    third = workflows.list_workflows(engine.rt, "acme", status=None, kind=None, limit=2, next_token=second["nextToken"])
    assert [w["workflowExecutionId"] for w in third["workflows"]] == [ids[0]]
    assert third["nextToken"] is None
    assert first["workflows"][0] == engine.get(ids[4])

    def all_pages(**filters: Any) -> list[str]:
        found: list[str] = []
        token = None
        while True:
            result = workflows.list_workflows(engine.rt, "acme", limit=2, next_token=token, **filters)
            found += [w["workflowExecutionId"] for w in result["workflows"]]
            token = result["nextToken"]
            if token is None:
                return found

    assert all_pages(status="CANCELLING", kind=None) == [ids[1]]
    assert all_pages(status=None, kind="even") == [ids[4], ids[2], ids[0]]
    assert all_pages(status="PENDING", kind="odd") == [ids[3]]


def test_list_ties_on_creation_time_are_ordered_by_id(engine: Engine) -> None:
    ids = [engine.start()["workflowExecutionId"] for _ in range(3)]
    listed = workflows.list_workflows(engine.rt, "acme", status=None, kind=None, limit=10, next_token=None)
    assert [w["workflowExecutionId"] for w in listed["workflows"]] == sorted(ids, reverse=True)


@pytest.mark.parametrize("token", ["not-base64!", "eyJmb28iOiAxfQ==", "bnVsbA=="])
def test_a_token_this_endpoint_did_not_return_is_invalid(engine: Engine, token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        workflows.list_workflows(engine.rt, "acme", status=None, kind=None, limit=10, next_token=token)
    assert refused.value.details == {"parameter": "nextToken"}


# ---------------------------------------------------------------------- idempotency keys


def test_an_idempotency_key_replays_the_first_response(engine: Engine) -> None:
    first = engine.start(input_value={"a": 1}, idempotency_key="k-1")
    engine.clock.advance(1000)
    again = engine.start(input_value={"a": 1}, idempotency_key="k-1")
    assert again == first
    assert engine.workflow_ids() == [first["workflowExecutionId"]]
    before = engine.items()
    with pytest.raises(Conflict):
        engine.start(input_value={"a": 2}, idempotency_key="k-1")
    assert engine.items() == before
    other = engine.start(input_value={"a": 1}, idempotency_key="k-2")
    assert other["workflowExecutionId"] != first["workflowExecutionId"]


def test_an_idempotency_key_expires_after_24_hours(engine: Engine) -> None:
    first = engine.start(idempotency_key="k")
    engine.clock.advance(24 * 3600 * 1000 + 1000)
    second = engine.start(idempotency_key="k")
    assert second["workflowExecutionId"] != first["workflowExecutionId"]


def test_an_idempotency_key_belongs_to_its_tenant(engine: Engine) -> None:
    acme = engine.start(idempotency_key="k")
    globex = engine.start(idempotency_key="k", tenant="globex", input_value="other body")
    assert globex["workflowExecutionId"] != acme["workflowExecutionId"]


def test_an_input_over_256_kib_is_refused_and_starts_nothing(engine: Engine) -> None:
    with pytest.raises(PayloadTooLarge):
        engine.start(input_value="x" * (256 * 1024 - 1))
    with pytest.raises(PayloadTooLarge):
        engine.create_task(input_value="x" * (256 * 1024 - 1))
    assert engine.items() == []


# ---------------------------------------------------------------------- tenants (I8)


def test_another_tenant_s_resources_are_indistinguishable_from_missing_ones(engine: Engine) -> None:
    wid = engine.start()["workflowExecutionId"]
    lease = engine.claim(wid)
    engine.submit(wid, lease, [{"type": "SCHEDULE_TASK", "taskExecutionId": "shared-id", "kind": "k"}])
    before = engine.items()
    for call in (
        lambda: engine.get(wid, tenant="globex"),
        lambda: workflows.require_workflow(engine.rt, "globex", wid),
        lambda: engine.cancel(wid, tenant="globex"),
        lambda: engine.task("shared-id", tenant="globex"),
        lambda: engine.cancel_task("shared-id", tenant="globex"),
        lambda: engine.submit(wid, lease, [], tenant="globex"),
    ):
        with pytest.raises(NotFound):
            call()
    assert engine.poll(tenant="globex") is None
    assert engine.poll_task(tenant="globex") is None
    assert workflows.list_workflows(engine.rt, "globex", status=None, kind=None, limit=10, next_token=None) == {
        "workflows": [],
        "nextToken": None,
    }
    assert engine.items() == before


def test_the_same_worker_chosen_ids_in_two_tenants_are_different_resources(engine: Engine) -> None:
    acme = engine.start()["workflowExecutionId"]
    globex = engine.start(tenant="globex")["workflowExecutionId"]
    batch = [
        {"type": "SCHEDULE_TASK", "taskExecutionId": "t", "kind": "k"},
        {
            "type": "SCHEDULE_CHILD_WORKFLOW",
            "childExecutionName": "c",
            "childWorkflowExecutionId": "child",
            "workflowKind": "k",
        },
    ]
    engine.run(acme, batch)
    engine.run(globex, batch, tenant="globex")
    engine.cancel_task("t", tenant="globex")
    assert engine.task("t")["status"] == "PENDING"
    assert engine.task("t", tenant="globex")["status"] == "CANCELLED"
    assert engine.get("child")["parentWorkflowExecutionId"] == acme
    assert engine.get("child", tenant="globex")["parentWorkflowExecutionId"] == globex
    acme_page = workflows.list_workflows(engine.rt, "acme", status=None, kind=None, limit=1, next_token=None)
    acme_token = acme_page["nextToken"]
    assert acme_token is not None
    with pytest.raises(InvalidArgument):  # a page token of another tenant's list
        workflows.list_workflows(engine.rt, "globex", status=None, kind=None, limit=1, next_token=acme_token)
    engine.check(settled=False)
    engine.check(settled=False, tenant="globex")
