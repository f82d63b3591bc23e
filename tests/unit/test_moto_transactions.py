"""The journaled TransactWriteItems against moto's own, on in-process moto backends (no server, no sockets)."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from stratoflow_local import moto_transactions
from stratoflow_local.moto_transactions import TransactionJournal, journaled_transact_write_items

MOTO_TRANSACT_WRITE_ITEMS: Callable[[DynamoDBBackend, list[dict[str, Any]]], None] = inspect.unwrap(
    DynamoDBBackend.transact_write_items
)
TABLE = "t"
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def new_backend(range_key: bool = True, tables: tuple[str, ...] = (TABLE,)) -> DynamoDBBackend:
    backend = DynamoDBBackend("us-east-1", "123456789012")
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attr = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attr.append({"AttributeName": "sk", "AttributeType": "S"})
    for name in tables:
        backend.create_table(
            name,
            schema=schema,
            throughput=None,
            attr=attr,
            global_indexes=None,
            indexes=None,
            streams=STREAM,
            billing_mode="PAY_PER_REQUEST",
            sse_specification=None,
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )
    return backend


def key(pk: str, sk: str | None = "1") -> dict[str, Any]:
    return {"pk": {"S": pk}} | ({"sk": {"S": sk}} if sk is not None else {})


def put(pk: str, sk: str | None = "1", table: str = TABLE, **attrs: int) -> dict[str, Any]:
    item = key(pk, sk) | {name: {"N": str(value)} for name, value in attrs.items()}
    return {"Put": {"TableName": table, "Item": item}}


def bump(pk: str, sk: str | None = "1", table: str = TABLE) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key(pk, sk),
            "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
            "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
        }
    }


def delete(pk: str, sk: str | None = "1", table: str = TABLE) -> dict[str, Any]:
    return {"Delete": {"TableName": table, "Key": key(pk, sk)}}


def failing_check(pk: str, sk: str | None = "1", table: str = TABLE) -> dict[str, Any]:
    return {
        "ConditionCheck": {"TableName": table, "Key": key(pk, sk), "ConditionExpression": "attribute_not_exists(pk)"}
    }


def table_state(backend: DynamoDBBackend, table: str = TABLE) -> dict[str, Any]:
    """Every item as plain JSON, by partition (moto's reads leave empty partitions behind: they hold nothing)."""
    items = backend.get_table(table).items
    state: dict[str, Any] = {}
    for hash_key, value in items.items():
        if isinstance(value, Item):
            state[repr(hash_key.value)] = value.to_json()["Attributes"]
        elif value:
            state[repr(hash_key.value)] = {repr(r.value): i.to_json()["Attributes"] for r, i in value.items()}
    return state


def stream_records(backend: DynamoDBBackend, table: str = TABLE) -> list[dict[str, Any]]:
    shard = backend.get_table(table).stream_shard
    assert shard is not None
    records = []
    for record in shard.items:
        body = record.to_json()["dynamodb"]
        records.append(
            {
                "eventName": record.to_json()["eventName"],
                **{k: body.get(k) for k in ("Keys", "NewImage", "OldImage", "SequenceNumber")},
            }
        )
    return records


def fill(backend: DynamoDBBackend, count: int) -> None:
    for index in range(count):
        backend.put_item(TABLE, key(f"fill#{index % 50}", str(index)) | {"n": {"N": "0"}})


@pytest.fixture
def item_copies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Item]]:
    """Every moto Item deep-copied by this test's thread (the unit of moto's transaction backup)."""
    copies: list[Item] = []
    original = Item.__deepcopy__
    test_thread = threading.get_ident()

    def counting_deepcopy(self: Item, memo: dict[int, Any]) -> Item:
        if threading.get_ident() == test_thread:
            copies.append(self)
        return original(self, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counting_deepcopy)
    yield copies


def test_failed_transaction_restores_every_written_item_and_truncates_the_stream() -> None:
    # Given a table with three items and one stream record each
    backend = new_backend()
    for pk in ("a", "b", "c"):
        backend.put_item(TABLE, key(pk) | {"n": {"N": "1"}})
    before_items, before_stream = table_state(backend), stream_records(backend)

    # When a transaction puts a new item, updates one in place, deletes another, then fails a condition
    with pytest.raises(TransactionCanceledException) as cancelled:
        journaled_transact_write_items(backend, [put("new", n=7), bump("a"), delete("b"), failing_check("c")])

    # Then the table and its stream are exactly as before, and the reasons are moto's
    assert table_state(backend) == before_items
    assert stream_records(backend) == before_stream
    assert '"CancellationReasons": [{"Code": "None"}, {"Code": "None"}, {"Code": "None"}, {"Code": "Condition' in (
        cancelled.value.description
    )


def test_rollback_touches_only_the_keys_the_transaction_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = new_backend()
    fill(backend, 500)
    restored: list[tuple[str, str | None]] = []
    original_rollback = TransactionJournal.rollback

    def recording_rollback(journal: TransactionJournal) -> None:
        restored.extend((e.hash_key.value, e.range_key.value if e.range_key else None) for e in journal.entries)
        original_rollback(journal)

    monkeypatch.setattr(TransactionJournal, "rollback", recording_rollback)

    with pytest.raises(TransactionCanceledException):
        journaled_transact_write_items(backend, [put("x"), bump("fill#3", "3"), failing_check("fill#4", "4")])

    # 500 items in the table, two written by the transaction; the ConditionCheck only reads, so it is not journaled
    assert restored == [("x", "1"), ("fill#3", "3")]


def test_a_write_made_during_a_failed_transaction_to_another_item_survives(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a hook that writes an unrelated item while the transaction runs (as a concurrent request would on moto)
    def run(transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None]) -> dict[str, Any]:
        backend = new_backend()
        backend.put_item(TABLE, key("a"))
        original_get_item = DynamoDBBackend.get_item
        fired = False

        def get_item_then_write(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
            nonlocal fired
            if not fired and self is backend:
                fired = True
                backend.put_item(TABLE, key("other") | {"n": {"N": "1"}})
            return original_get_item(self, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(DynamoDBBackend, "get_item", get_item_then_write)
            with pytest.raises(TransactionCanceledException):
                transact(backend, [put("b"), failing_check("a")])
        return table_state(backend)

    # Then moto's own rollback erases it, the journal keeps it
    assert "'other'" not in run(MOTO_TRANSACT_WRITE_ITEMS)
    assert run(journaled_transact_write_items)["'other'"] == {
        "'1'": {"pk": {"S": "other"}, "sk": {"S": "1"}, "n": {"N": "1"}}
    }


@pytest.mark.parametrize("outcome", ["committed", "cancelled"])
def test_item_copies_per_transaction_do_not_depend_on_table_size(item_copies: list[Item], outcome: str) -> None:
    def copies_for_one_transaction(transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None], size: int) -> int:
        backend = new_backend()
        fill(backend, size)
        item_copies.clear()
        actions = [put("new"), bump("fill#1", "1")] + ([failing_check("fill#2", "2")] if outcome == "cancelled" else [])
        try:
            transact(backend, actions)
        except TransactionCanceledException:
            assert outcome == "cancelled"
        return len(item_copies)

    # moto copies the whole table: at least every item, every time
    assert copies_for_one_transaction(MOTO_TRANSACT_WRITE_ITEMS, 100) >= 100
    assert copies_for_one_transaction(MOTO_TRANSACT_WRITE_ITEMS, 1000) >= 1000
    # the journal copies the updated item's prior version (and moto's update its old image): 2, at any size
    assert copies_for_one_transaction(journaled_transact_write_items, 100) == 2
    assert copies_for_one_transaction(journaled_transact_write_items, 1000) == 2


def test_failed_put_into_a_new_partition_leaves_no_partition_behind() -> None:
    backend = new_backend()
    backend.put_item(TABLE, key("a"))

    with pytest.raises(TransactionCanceledException):
        journaled_transact_write_items(backend, [put("fresh", "1"), put("fresh", "2"), failing_check("a")])

    assert [hash_key.value for hash_key in backend.get_table(TABLE).items] == ["a"]


def test_hash_only_table_and_two_tables_in_one_transaction_roll_back() -> None:
    backend = new_backend(range_key=False, tables=("t", "u"))
    backend.put_item("t", key("a", None) | {"n": {"N": "1"}})
    backend.put_item("t", key("c", None))
    backend.put_item("u", key("a", None) | {"n": {"N": "1"}})
    before = [(table_state(backend, name), stream_records(backend, name)) for name in ("t", "u")]

    with pytest.raises(TransactionCanceledException):
        journaled_transact_write_items(
            backend,
            [bump("a", None, "t"), delete("a", None, "u"), put("b", None, "u"), failing_check("c", None, "t")],
        )

    assert [(table_state(backend, name), stream_records(backend, name)) for name in ("t", "u")] == before


def test_an_action_with_two_operations_rolls_back_what_came_before_it() -> None:
    # moto raises TransactWriteSingleOpException without rolling back the actions already applied
    backend = new_backend()
    before = table_state(backend)
    two_operations = put("c") | delete("d")

    with pytest.raises(DynamodbException, match="can only contain one of"):
        journaled_transact_write_items(backend, [put("b"), two_operations])

    assert table_state(backend) == before
    assert stream_records(backend) == []


# The same transactions, applied in sequence to two fresh backends, one with moto's method and one with the
# journal, must leave the same items, the same stream and raise the same errors: the journal changes nothing
# else than how a failure is undone.
PKS = ("a", "b", "c")
SKS = ("1", "2")
CONDITIONS = st.sampled_from([None, "attribute_exists(pk)", "attribute_not_exists(pk)", "n = :one"])


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Put", "Update", "Delete", "ConditionCheck"]))
    pk, sk = draw(st.sampled_from(PKS)), draw(st.sampled_from(SKS))
    condition = draw(CONDITIONS)
    if kind == "ConditionCheck" and condition is None:
        condition = "attribute_exists(pk)"
    if kind == "Put":
        action = put(pk, sk, n=draw(st.integers(0, 2)))
    elif kind == "Update":
        action = bump(pk, sk)
    elif kind == "Delete":
        action = delete(pk, sk)
    else:
        action = {"ConditionCheck": {"TableName": TABLE, "Key": key(pk, sk)}}
    body = action[kind]
    if condition is not None:
        body["ConditionExpression"] = condition
        if ":one" in condition:
            body.setdefault("ExpressionAttributeValues", {})[":one"] = {"N": "1"}
    if draw(st.booleans()):
        body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return action


def action_key(action: dict[str, Any]) -> str:
    body = next(iter(action.values()))
    item = body.get("Key") or body["Item"]
    return f"{item['pk']['S']}#{item['sk']['S']}"


# Mostly actions on distinct items (as real transactions are), sometimes two on one item (moto refuses those).
TRANSACTIONS = st.one_of(
    st.lists(actions(), min_size=1, max_size=4, unique_by=action_key),
    st.lists(actions(), min_size=2, max_size=3),
)


def outcome_of(
    transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None],
    backend: DynamoDBBackend,
    transaction: list[dict[str, Any]],
) -> tuple[str, Any, Any]:
    try:
        transact(backend, transaction)
        error: tuple[str, str] | None = None
    except DynamodbException as raised:
        error = (type(raised).__name__, raised.description)
    return repr(error), table_state(backend), stream_records(backend)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TRANSACTIONS, min_size=1, max_size=6))
def test_journal_behaves_like_moto_on_sequential_transactions(transactions: list[list[dict[str, Any]]]) -> None:
    theirs, ours = new_backend(), new_backend()
    for transaction in transactions:
        assert outcome_of(journaled_transact_write_items, ours, transaction) == outcome_of(
            MOTO_TRANSACT_WRITE_ITEMS, theirs, transaction
        )


@pytest.fixture
def pristine_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's own method and no installation, for this test only (an endpoint may run elsewhere in the process)."""
    monkeypatch.setattr(moto_transactions, "_installation", moto_transactions._Installation())
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", MOTO_TRANSACT_WRITE_ITEMS)


@pytest.mark.usefixtures("pristine_moto")
def test_install_is_reference_counted_and_uninstall_restores_moto() -> None:
    moto_transactions.install()
    moto_transactions.install()
    assert DynamoDBBackend.transact_write_items is journaled_transact_write_items
    moto_transactions.uninstall()
    assert moto_transactions.is_installed()
    moto_transactions.uninstall()

    assert DynamoDBBackend.transact_write_items is MOTO_TRANSACT_WRITE_ITEMS
    with pytest.raises(RuntimeError, match="not installed"):
        moto_transactions.uninstall()
