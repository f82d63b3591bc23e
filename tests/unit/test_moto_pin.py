"""The moto pin fails loudly, naming what changed, before anything is patched or served."""

from __future__ import annotations

import inspect
from typing import Any

import moto
import pytest
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from stratoflow_local import moto_transactions
from stratoflow_local.moto_pin import PINNED_MOTO_VERSION, MotoPinError, check_moto


def test_the_installed_moto_passes() -> None:
    assert moto.__version__ == PINNED_MOTO_VERSION
    check_moto()


def test_another_version_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")

    with pytest.raises(MotoPinError, match=r"moto.__version__ is '5.3.0', expected '5.2.5'"):
        check_moto()


def test_a_missing_backend_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(DynamoDBBackend, "get_keys_value")

    with pytest.raises(MotoPinError, match=r"DynamoDBBackend.get_keys_value is missing"):
        check_moto()


def test_a_renamed_parameter_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def put_item(self: Any, table_name: str, item_attrs: dict[str, Any], condition: str | None = None) -> None: ...

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)

    with pytest.raises(MotoPinError, match=r"DynamoDBBackend.put_item no longer takes parameter\(s\) condition_exp"):
        check_moto()


def test_a_changed_transaction_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        """Same signature, different body."""

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)

    with pytest.raises(MotoPinError, match=r"DynamoDBBackend.transact_write_items changed \(source sha256"):
        check_moto()


def test_a_changed_table_shape_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    original_init = Table.__init__

    def init_without_stream(self: Table, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        del self.stream_shard

    monkeypatch.setattr(Table, "__init__", init_without_stream)

    with pytest.raises(MotoPinError, match=r"Table.stream_shard.items is no longer"):
        check_moto()


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "6.0.0")
    monkeypatch.delattr(DynamoDBBackend, "get_table")

    with pytest.raises(MotoPinError) as error:
        check_moto()

    assert len(error.value.problems) == 2
    assert "moto==5.2.5" in str(error.value)


def test_install_refuses_a_changed_moto_and_leaves_its_method_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if no endpoint ran in this process: install() checks the pin only when it patches.
    monkeypatch.setattr(moto_transactions, "_installation", moto_transactions._Installation())
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", inspect.unwrap(DynamoDBBackend.transact_write_items))
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    before = DynamoDBBackend.transact_write_items

    with pytest.raises(MotoPinError):
        moto_transactions.install()

    assert DynamoDBBackend.transact_write_items is before


def test_a_changed_serializer_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import serialize  # noqa: PLC0415
    from moto.core.responses import BaseResponse  # noqa: PLC0415

    def serialized(self: Any, action_result: Any) -> None:
        """Same signature, different body."""

    class JSONSerializer(serialize.JSONSerializer):
        """Same name, another class."""

    monkeypatch.setattr(BaseResponse, "serialized", serialized)
    monkeypatch.setattr(serialize, "JSONSerializer", JSONSerializer)

    with pytest.raises(MotoPinError, match=r"(?s)BaseResponse.serialized changed.*JSON serializer changed"):
        check_moto()
