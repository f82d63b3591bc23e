"""Stream steps carried out from the record's NewImage (I4, I6): the outbox item is not read again, yet a record
delivered twice, a re-drive after a delivery and a record whose item is gone change nothing more; without an image
(the sweeper's keys-only re-drive) the item is read. Firing a timer does not read the timer either.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from stratoflow import outbox
from stratoflow.dal.images import record_from_image
from stratoflow.records import OutboxEntry, Timer

from tests.support.domain import Engine
from tests.unit.domain.test_domain_children import child, end, family, parent_with, request_cancel


def only_outbox_item(engine: Engine, kind: str) -> tuple[str, str, dict[str, Any]]:
    """The one pending outbox item of `kind`, with its image as the stream's record carries it."""
    [(pk, sk)] = [key for key in engine.outbox_keys() if key[1].startswith(f"OUTBOX#{kind}#")]
    image = engine.item(pk, sk)
    assert image is not None
    return pk, sk, image


def child_cancel_requested(engine: Engine) -> tuple[str, str, dict[str, Any]]:
    """A parent that asked its live child "c" to cancel: the request's outbox item and image."""
    pid = parent_with(engine, child("c"))
    request_cancel(engine, pid, "c", "c")
    return only_outbox_item(engine, "CHILD_CANCEL")


def deliver(engine: Engine, pk: str, sk: str, image: dict[str, Any] | None) -> str:
    return outbox.process_outbox_item(engine.rt, pk, sk, None, image)


def redeliveries_change_nothing(engine: Engine, pk: str, sk: str, image: dict[str, Any], again: str) -> None:
    """The same record again (`again` is its outcome), then a re-drive by key: neither changes a stored item."""
    settled = engine.items()
    assert deliver(engine, pk, sk, image) == again
    assert engine.items() == settled, "a redelivered stream record changed state (I6)"
    assert deliver(engine, pk, sk, None) == "done"  # the re-drive reads the item: gone
    assert engine.items() == settled


def reads_of(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The record types the repository is asked to `get`, from now on."""
    seen: list[str] = []
    get: Callable[..., Any] = engine.rt.repo.get

    def spy(record_type: type, pk: str, sk: str) -> Any:
        seen.append(record_type.__name__)
        return get(record_type, pk, sk)

    monkeypatch.setattr(engine.rt.repo, "get", spy)
    return seen


# ---------------------------------------------------------------------- child cancel (flow 4)


def test_a_child_cancel_request_is_delivered_from_the_image_reading_only_the_child(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk, sk, image = child_cancel_requested(engine)
    reads = reads_of(engine, monkeypatch)
    assert deliver(engine, pk, sk, image) == "delivered"
    assert reads == ["Execution"]  # the child: neither the outbox item nor the link
    assert engine.status("c") == "CANCELLING"
    assert engine.item(pk, "CHILD#c")["cancelState"] == "DELIVERED"  # type: ignore[index]
    redeliveries_change_nothing(engine, pk, sk, image, "done")
    assert engine.types("c").count("CANCELLATION_REQUESTED") == 1
    engine.check()


def test_a_request_that_fails_back_to_the_parent_is_reported_once_under_redelivery(engine: Engine) -> None:
    pid = parent_with(engine, child("c"))
    end(engine, "c", {"type": "COMPLETE_WORKFLOW"})
    request_cancel(engine, pid, "c", "c")
    pk, sk, image = only_outbox_item(engine, "CHILD_CANCEL")
    assert deliver(engine, pk, sk, image) == "failed"
    assert engine.item(pk, "CHILD#c")["cancelState"] == "FAILED"  # type: ignore[index]
    redeliveries_change_nothing(engine, pk, sk, image, "done")
    assert engine.types(pid).count("CHILD_WORKFLOW_CANCELLATION_FAILED") == 1
    engine.check()


def test_a_request_naming_another_parent_s_child_leaves_both_links_alone(engine: Engine) -> None:
    pid = parent_with(engine, child("c"))
    other = parent_with(engine, child("theirs"))
    request_cancel(engine, pid, "c", "theirs")  # "c" is pid's name, "theirs" another parent's child
    pk, sk, image = only_outbox_item(engine, "CHILD_CANCEL")
    assert deliver(engine, pk, sk, image) == "failed"
    assert engine.item(pk, "CHILD#c")["cancelState"] == "NONE"  # type: ignore[index]
    assert engine.item(f"T#acme#WF#{other}", "CHILD#theirs")["cancelState"] == "NONE"  # type: ignore[index]
    assert engine.status("theirs") == "PENDING"
    engine.check()


def test_without_an_image_the_request_is_read_and_a_request_carried_out_already_is_done(engine: Engine) -> None:
    pk, sk, image = child_cancel_requested(engine)
    assert deliver(engine, pk, sk, None) == "delivered"  # a record without NewImage: read as a re-drive is
    assert deliver(engine, pk, sk, image) == "done"  # the stream's record, late: its transaction is refused
    assert engine.types("c").count("CANCELLATION_REQUESTED") == 1
    engine.check()


def test_a_record_whose_image_holds_only_the_keys_is_read_as_a_re_drive_is(engine: Engine) -> None:
    pk, sk, _ = child_cancel_requested(engine)
    keys_only = {"pk": pk, "sk": sk}
    assert record_from_image(OutboxEntry, keys_only) is None
    assert [deliver(engine, pk, sk, keys_only) for _ in range(2)] == ["delivered", "done"]
    assert engine.types("c").count("CANCELLATION_REQUESTED") == 1
    engine.check()


# ---------------------------------------------------------------------- cascade (flow 6)


def test_a_cascade_record_delivered_again_after_it_was_carried_out_changes_nothing(engine: Engine) -> None:
    root = family(engine)
    engine.cancel("a", "earlier", cascade=False)  # CANCELLING, with children: the cascade only adds its item
    engine.cancel(root, "shutdown")
    pk, sk, image = only_outbox_item(engine, "CASCADE")
    assert deliver(engine, pk, sk, image) == "cascaded"
    cascades = sorted(key for key in engine.outbox_keys() if key[1].startswith("OUTBOX#CASCADE#"))
    assert [key[0] for key in cascades] == ["T#acme#WF#a", "T#acme#WF#b"]
    redeliveries_change_nothing(engine, pk, sk, image, "cascaded")
    engine.drain_outbox()
    for wid in ("a1", "a2", "b1"):
        assert engine.types(wid).count("CANCELLATION_REQUESTED") == 1, wid
    engine.check()


def test_a_cascade_record_delivered_while_it_is_carried_out_still_reaches_every_child(engine: Engine) -> None:
    root = family(engine)
    engine.cancel(root, "shutdown")
    pk, sk, image = only_outbox_item(engine, "CASCADE")
    assert deliver(engine, pk, sk, image) == "cascaded"
    engine.drain_outbox()
    assert deliver(engine, pk, sk, image) == "cascaded"  # after everything settled: nothing left to change
    assert engine.outbox_keys() == []
    for wid in ("a", "b", "a1", "a2", "b1"):
        assert engine.types(wid).count("CANCELLATION_REQUESTED") == 1, wid
    engine.check()


# ---------------------------------------------------------------------- parent close (flow 7)


def test_a_close_record_is_carried_out_from_its_image_and_again_changes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent_with(
        engine,
        child("asked"),
        {"type": "SCHEDULE_TASK", "taskExecutionId": "open-task", "kind": "k"},
        {"type": "START_TIMER", "timerId": "later", "durationMs": 60_000},
        {"type": "COMPLETE_WORKFLOW"},
    )
    pk, sk, image = only_outbox_item(engine, "CLOSE")
    reads = reads_of(engine, monkeypatch)
    assert deliver(engine, pk, sk, image) == "closed"
    # The parent (to stage the child's request), the open task and the started timer; not the outbox item, and not
    # the parent again for subscriptions it never had.
    assert reads == ["Execution", "Task", "Timer"]
    assert engine.task("open-task")["status"] == "CANCELLED"
    assert engine.item(pk, "TIMER#later")["status"] == "CANCELLED"  # type: ignore[index]
    redeliveries_change_nothing(engine, pk, sk, image, "closed")
    engine.drain_outbox()
    assert engine.status("asked") == "CANCELLING"
    engine.check()


def test_an_image_becomes_the_record_the_writer_committed(engine: Engine) -> None:
    pk, sk, image = child_cancel_requested(engine)
    # The stream's deserializer gives numbers as Decimal.
    as_streamed = {name: Decimal(value) if isinstance(value, int) else value for name, value in image.items()}
    assert record_from_image(OutboxEntry, as_streamed) == engine.rt.repo.get(OutboxEntry, pk, sk)


# ---------------------------------------------------------------------- timers (flow 3)


def test_firing_a_timer_reads_its_execution_only(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    wid = engine.start()["workflowExecutionId"]
    engine.run(wid, [{"type": "START_TIMER", "timerId": "t", "durationMs": 1000}])
    started = engine.item(f"T#acme#WF#{wid}", "TIMER#t")
    assert started is not None
    engine.clock.advance(1000)
    reads = reads_of(engine, monkeypatch)
    assert engine.fire(wid, "t") == "fired"
    assert reads == ["Execution"]
    fired = engine.item(f"T#acme#WF#{wid}", "TIMER#t")
    expected = {**started, "status": "FIRED", "updatedAt": "2100-01-01T00:00:01.000Z"}
    del expected["sweepPk"], expected["sweepAt"]
    assert fired == expected  # only what firing changes
    assert engine.fire(wid, "t") == "ignored"
    assert engine.fire(wid, "never-started") == "ignored"
    assert engine.item(f"T#acme#WF#{wid}", "TIMER#never-started") is None  # refused, not created
    assert reads.count(Timer.__name__) == 0
    engine.check()


# ---------------------------------------------------------------------- open task references (parent close)


def task(task_id: str, max_retries: int = 0) -> dict[str, Any]:
    return {"type": "SCHEDULE_TASK", "taskExecutionId": task_id, "kind": "k", "maxRetries": max_retries}


def references(engine: Engine, wid: str) -> list[str]:
    return [item["sk"] for item in engine.partition(f"T#acme#WF#{wid}") if item["sk"].startswith("TASKREF#")]


def open_tasks(engine: Engine, wid: str) -> list[str]:
    """The open tasks a close would find: the ids on the execution and the reference items."""
    inline = engine.execution_item(wid).get("openTasks", [])
    return sorted([*inline, *(sk.removeprefix("TASKREF#") for sk in references(engine, wid))])


def test_a_workflow_keeps_its_open_tasks_only(engine: Engine) -> None:
    wid = parent_with(
        engine,
        task("completed"),
        task("failed"),
        task("retried", max_retries=1),
        task("cancelled-by-api"),
        task("cancelled-by-code"),
        task("never-open"),
        {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "never-open"},  # in the submission that scheduled it
        task("open"),
    )
    assert references(engine, wid) == []  # short ids: all on the execution
    assert open_tasks(engine, wid) == [
        "cancelled-by-api",
        "cancelled-by-code",
        "completed",
        "failed",
        "open",
        "retried",
    ]
    engine.complete_task("completed", engine.claim_task("completed"), {"ok": True})
    engine.fail_task("failed", engine.claim_task("failed"), {"code": "E"}, retryable=False)
    engine.fail_task("retried", engine.claim_task("retried"), {"code": "E"})  # PENDING again: still open
    engine.cancel_task("cancelled-by-api")
    engine.run(wid, [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": "cancelled-by-code"}])
    assert open_tasks(engine, wid) == ["open", "retried"]
    engine.check()


def long_id(name: str) -> str:
    return name.ljust(100, "-")  # two fit on the execution (tasks.INLINE_OPEN_TASK_BYTES), the others get references


def test_open_tasks_beyond_what_the_execution_holds_get_references_and_lose_them_when_they_end(
    engine: Engine,
) -> None:
    names = ["completed", "failed", "retried", "cancelled-by-api", "cancelled-by-code", "open"]
    commands = [task(long_id(name), max_retries=1 if name == "retried" else 0) for name in names]
    never = long_id("never-open")
    wid = parent_with(engine, *commands, task(never), {"type": "REQUEST_CANCEL_TASK", "taskExecutionId": never})
    on_execution = engine.execution_item(wid)["openTasks"]
    assert on_execution == [long_id("completed"), long_id("failed")]
    assert references(engine, wid) == sorted(f"TASKREF#{long_id(name)}" for name in names[2:])
    engine.complete_task(long_id("completed"), engine.claim_task(long_id("completed")), {"ok": True})
    engine.fail_task(long_id("failed"), engine.claim_task(long_id("failed")), {"code": "E"}, retryable=False)
    engine.fail_task(long_id("retried"), engine.claim_task(long_id("retried")), {"code": "E"})  # still open
    engine.cancel_task(long_id("cancelled-by-api"))
    engine.run(wid, [{"type": "REQUEST_CANCEL_TASK", "taskExecutionId": long_id("cancelled-by-code")}])
    assert "openTasks" not in engine.execution_item(wid)
    assert references(engine, wid) == [f"TASKREF#{long_id('open')}", f"TASKREF#{long_id('retried')}"]
    # Room again on the execution: the next task's id goes there.
    engine.complete_task(long_id("open"), engine.claim_task(long_id("open")))
    engine.run(wid, [task("next")])
    assert engine.execution_item(wid)["openTasks"] == ["next"]
    assert references(engine, wid) == [f"TASKREF#{long_id('retried')}"]
    engine.check()


def test_a_close_cancels_open_tasks_on_the_execution_and_by_reference(engine: Engine) -> None:
    held, referenced = [long_id("held-1"), long_id("held-2")], [long_id("referenced-1"), long_id("referenced-2")]
    wid = parent_with(engine, *[task(name) for name in [*held, *referenced]], task("done"))
    engine.complete_task("done", engine.claim_task("done"))
    engine.run(wid, [{"type": "COMPLETE_WORKFLOW"}])
    pk, sk, image = only_outbox_item(engine, "CLOSE")
    assert deliver(engine, pk, sk, image) == "closed"
    assert [engine.task(name)["status"] for name in [*held, *referenced]] == ["CANCELLED"] * 4
    assert engine.task("done")["status"] == "COMPLETED"
    engine.check()


def test_a_close_after_many_finished_tasks_reads_only_the_open_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished = [f"done-{n}" for n in range(5)]
    wid = parent_with(engine, *[task(name) for name in finished], task("open"))
    for name in finished:
        engine.complete_task(name, engine.claim_task(name))
    engine.run(wid, [{"type": "COMPLETE_WORKFLOW"}])
    pk, sk, image = only_outbox_item(engine, "CLOSE")
    reads = reads_of(engine, monkeypatch)
    assert deliver(engine, pk, sk, image) == "closed"
    assert reads == ["Task"]  # the open task, to cancel it; none of the five finished ones
    assert engine.task("open")["status"] == "CANCELLED"
    assert [engine.task(name)["status"] for name in finished] == ["COMPLETED"] * 5
    engine.check()
