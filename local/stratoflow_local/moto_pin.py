"""Start-up check that the installed moto is the one the embedded endpoint was written against.

The embedded endpoint serves moto's WSGI application and replaces one method of moto's DynamoDB backend with a
journaled copy of it (`stratoflow_local.moto_transactions`). Both rely on moto internals that carry no stability
promise, so before anything is patched or served `check_moto()` verifies:

- `moto.__version__` is `PINNED_MOTO_VERSION`;
- every module, class, function, parameter and attribute the adapter touches exists with the expected shape;
- the source of `DynamoDBBackend.transact_write_items` is byte-for-byte the one the journaled copy mirrors.

Any mismatch raises `MotoPinError` listing every difference found, so an upgrade fails at start-up with a clear
message instead of corrupting data at the first transaction.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import WSGIRequestHandler

PINNED_MOTO_VERSION = "5.2.5"

# SHA-256 of `inspect.getsource(DynamoDBBackend.transact_write_items)` in the pinned moto. The journaled copy in
# `moto_transactions` repeats its logic, so any upstream change to it has to be reviewed and carried over.
TRANSACT_WRITE_ITEMS_SHA256 = "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"
# SHA-256 of `inspect.getsource(Table.query)`: `moto_queries` relies on it reading items only through `all_items()`.
TABLE_QUERY_SHA256 = "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e"
# SHA-256 of `inspect.getsource(DynamoDBStreamsHandler.get_records)`: `moto_queries` renders its answer itself.
GET_RECORDS_SHA256 = "eca5821a96bdd10d8ae32ccc432f7c7df424a484f388ab2a8ecb2e8c9a2026ce"
# SHA-256 of the sources of `SecondaryIndex.project` and the `Item.project` it calls, which
# `moto_queries.direct_project` replaces.
INDEX_PROJECT_SHA256 = "b2eb603ebd167860fa4c2f5d93663e85cc4ac4b4a26708cdb0daafbe7d68dbe7"
ITEM_PROJECT_SHA256 = "f411e6d8b56886f45f401edc20c2fd6d4e671136d9cf7ff21c434479b1e84a79"
# SHA-256 of `inspect.getsource(BaseResponse.serialized)`: `moto_responses` stands in for it for DynamoDB.
SERIALIZED_SHA256 = "af486a0ef132716231d3a6484c32ae91a54b40fbc1d24fff01c78c813d251110"
# SHA-256 of `inspect.getsource(moto.core.utils.method_names_from_class)`: `moto_responses` remembers its answers.
METHOD_NAMES_SHA256 = "9dbac89d082b655fee902c450e69de9dbadf9699ad06411298494984b55138c3"
# SHA-256 of the source of moto's JSON serializer and attribute picker (`JSON_SERIALIZER_CLASSES`, concatenated):
# `moto_responses` repeats their rules.
JSON_SERIALIZER_CLASSES = (
    "ResponseSerializer",
    "BaseJSONSerializer",
    "JSONSerializer",
    "XFormedAttributePicker",
    "AttributePicker",
)
JSON_SERIALIZER_SHA256 = "0b539a87c5894c3a20f83d55f89cc5dbc537a3f96a650e3d7dbc8d87ebdd5fba"
# SHA-256 of the source of the classes whose methods `moto_expressions` and `moto_items` replace or rely on (the
# validator deep-copies the tree it is given, so a parsed tree may be shared; `Item` checks its size as it is built).
ADAPTED_CLASSES_SHA256: dict[tuple[str, str], str] = {
    ("moto.dynamodb.parsing.expressions", "UpdateExpressionParser"): (
        "4f53df8e573dc135223f96ed3acff6421d94a00621f6173b8130af726a1e6a04"
    ),
    ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser"): (
        "ec3e3b9cd5fdd87f65cd0a2ac3627ffa7f8200d0c72f0e3f8b44eabadb3a3df5"
    ),
    ("moto.dynamodb.parsing.validators", "ActionCountValidator"): (
        "3fe995f04a9c4a2d1edcdef932cbdcb8781c9229148d2475c63d8ede6e17f528"
    ),
    (
        "moto.dynamodb.parsing.validators",
        "Validator",
    ): "550a62418ff7b2242ad2fc622e9ae0ecf318e74895eacf6e647bb9a1909aacc0",
    # What the endpoint's DynamoDB path (`embedded_endpoint.dynamodb_answer`) does in place of moto's Flask view.
    ("moto.core.utils", "convert_to_flask_response"): (
        "8233042e603c198f52c3616f7b79a5813c72ff3fd172422b0da40dcb587d540f"
    ),
    ("moto.moto_server.werkzeug_app", "BackendRequest"): (
        "6ade7d0bb6caa276f6488b3d5067756face8ae115ad8a8be4e94454171ecb437"
    ),
}

# (module, name) → parameter names the adapter passes or relies on.
_REQUIRED_CALLABLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"): ("create_app",),
    ("moto.moto_server.werkzeug_app", "create_backend_app"): ("service",),
    ("moto.dynamodb.comparisons", "get_filter_expression"): ("expr", "names", "values"),
    ("moto.dynamodb.exceptions", "ConditionalCheckFailed"): ("msg", "item"),
    ("moto.dynamodb.exceptions", "TransactionCanceledException"): ("errors",),
    ("moto.dynamodb.exceptions", "MultipleTransactionsException"): (),
    ("moto.dynamodb.exceptions", "TooManyTransactionsException"): (),
    ("moto.dynamodb.exceptions", "TransactWriteSingleOpException"): (),
    ("moto.dynamodb.exceptions", "MockValidationException"): ("message",),
}

# DynamoDBBackend method → parameter names (after self) the journaled transaction passes.
_BACKEND_METHODS: dict[str, tuple[str, ...]] = {
    "transact_write_items": ("transact_items",),
    "get_table": ("table_name",),
    "get_item": ("table_name", "keys"),
    "get_keys_value": ("table", "keys"),
    "put_item": (
        "table_name",
        "item_attrs",
        "condition_expression",
        "expression_attribute_names",
        "expression_attribute_values",
    ),
    "delete_item": (
        "table_name",
        "key",
        "condition_expression",
        "expression_attribute_names",
        "expression_attribute_values",
    ),
    "update_item": (
        "table_name",
        "key",
        "update_expression",
        "condition_expression",
        "expression_attribute_names",
        "expression_attribute_values",
    ),
}


class Patch:
    """A reference-counted change to moto for the whole process (moto's backends and classes are process-global).

    The first `install()` checks the pin and applies the change, the last `uninstall()` takes it back, so nested
    endpoints share one installation.
    """

    def __init__(self, name: str, apply: Callable[[], None], restore: Callable[[], None]) -> None:
        self._name = name
        self._apply = apply
        self._restore = restore
        self._lock = threading.Lock()
        self._count = 0

    def install(self) -> None:
        with self._lock:
            if self._count == 0:
                check_moto()
                self._apply()
            self._count += 1

    def uninstall(self) -> None:
        with self._lock:
            if self._count == 0:
                raise RuntimeError(f"{self._name} is not installed")
            self._count -= 1
            if self._count == 0:
                self._restore()


class MotoPinError(RuntimeError):
    """The installed moto differs from the pinned one in ways the embedded endpoint depends on."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"the embedded AWS endpoint was written against moto=={PINNED_MOTO_VERSION} and its internals "
            f"changed; review stratoflow_local.moto_transactions before changing the pin:\n{lines}"
        )


def check_moto() -> None:
    """Raise `MotoPinError` unless moto is the pinned version with every internal the adapter uses."""
    problems: list[str] = []
    moto = _import("moto", problems)
    if moto is None:
        raise MotoPinError(problems)
    version = getattr(moto, "__version__", None)
    if version != PINNED_MOTO_VERSION:
        problems.append(f"moto.__version__ is {version!r}, expected {PINNED_MOTO_VERSION!r}")
    for (module_name, name), parameters in _REQUIRED_CALLABLES.items():
        _check_callable(module_name, name, parameters, problems)
    _check_request_handler(problems)
    _check_backend(problems)
    _check_table_shape(problems)
    _check_source("moto.dynamodb.models.table", "Table", "query", TABLE_QUERY_SHA256, problems)
    _check_source("moto.dynamodb.models.table", "SecondaryIndex", "project", INDEX_PROJECT_SHA256, problems)
    _check_source("moto.dynamodb.models.dynamo_type", "Item", "project", ITEM_PROJECT_SHA256, problems)
    _check_source(
        "moto.dynamodbstreams.responses", "DynamoDBStreamsHandler", "get_records", GET_RECORDS_SHA256, problems
    )
    _check_source("moto.core.responses", "BaseResponse", "serialized", SERIALIZED_SHA256, problems)
    _check_serializer(problems)
    _check_defined_source("moto.core.utils", "method_names_from_class", METHOD_NAMES_SHA256, problems)
    _check_dynamodb_urls(problems)
    for (module_name, class_name), sha256 in ADAPTED_CLASSES_SHA256.items():
        _check_defined_source(module_name, class_name, sha256, problems)
    if problems:
        raise MotoPinError(problems)


def _import(module_name: str, problems: list[str]) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        problems.append(f"module {module_name} cannot be imported ({error})")
        return None


def _attribute(module_name: str, name: str, problems: list[str]) -> Any:
    module = _import(module_name, problems)
    if module is None:
        return None
    if not hasattr(module, name):
        problems.append(f"{module_name}.{name} is missing")
        return None
    return getattr(module, name)


def _missing_parameters(function: Callable[..., Any], expected: Iterable[str]) -> list[str]:
    try:
        present = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return list(expected)
    return [name for name in expected if name not in present]


def _check_callable(module_name: str, name: str, parameters: tuple[str, ...], problems: list[str]) -> None:
    target = _attribute(module_name, name, problems)
    if target is None:
        return
    if not callable(target):
        problems.append(f"{module_name}.{name} is not callable")
        return
    missing = _missing_parameters(target, parameters)
    if missing:
        problems.append(f"{module_name}.{name} no longer takes parameter(s) {', '.join(missing)}")


def _check_request_handler(problems: list[str]) -> None:
    handler = _attribute("moto.moto_server.werkzeug_app", "MotoRequestHandler", problems)
    if handler is not None and not (isinstance(handler, type) and issubclass(handler, WSGIRequestHandler)):
        problems.append("moto.moto_server.werkzeug_app.MotoRequestHandler is no longer a werkzeug WSGIRequestHandler")


def _check_backend(problems: list[str]) -> None:
    backend = _attribute("moto.dynamodb.models", "DynamoDBBackend", problems)
    if backend is None:
        return
    for method_name, parameters in _BACKEND_METHODS.items():
        method = getattr(backend, method_name, None)
        if not callable(method):
            problems.append(f"DynamoDBBackend.{method_name} is missing")
            continue
        missing = _missing_parameters(method, parameters)
        if missing:
            problems.append(f"DynamoDBBackend.{method_name} no longer takes parameter(s) {', '.join(missing)}")
    # The journaled copy stands in for moto's method and records it as __wrapped__ while installed.
    original = inspect.unwrap(backend.transact_write_items)
    try:
        source = inspect.getsource(original)
    except (OSError, TypeError):
        problems.append("the source of DynamoDBBackend.transact_write_items is unavailable, so it cannot be verified")
        return
    digest = hashlib.sha256(source.encode()).hexdigest()
    if digest != TRANSACT_WRITE_ITEMS_SHA256:
        problems.append(
            f"DynamoDBBackend.transact_write_items changed (source sha256 {digest}, expected "
            f"{TRANSACT_WRITE_ITEMS_SHA256})"
        )


def _check_digest(label: str, read_source: Callable[[], str], sha256: str, problems: list[str]) -> None:
    try:
        source = read_source()
    except (OSError, TypeError):
        problems.append(f"the source of {label} is unavailable, so it cannot be verified")
        return
    digest = hashlib.sha256(source.encode()).hexdigest()
    if digest != sha256:
        problems.append(f"{label} changed (source sha256 {digest}, expected {sha256})")


def _check_source(module_name: str, class_name: str, method_name: str, sha256: str, problems: list[str]) -> None:
    """The method's source (moto's own, when an adapter stands in for it) is the one the adapter was written for."""
    owner = _attribute(module_name, class_name, problems)
    method = getattr(owner, method_name, None) if owner is not None else None
    if method is None:
        problems.append(f"{class_name}.{method_name} is missing")
        return
    _check_digest(f"{class_name}.{method_name}", lambda: inspect.getsource(inspect.unwrap(method)), sha256, problems)


def _check_serializer(problems: list[str]) -> None:
    """moto's JSON serializer is the one `moto_responses` mirrors."""
    classes = [_attribute("moto.core.serialize", name, problems) for name in JSON_SERIALIZER_CLASSES]
    if None in classes:
        return

    def source() -> str:
        return "".join(inspect.getsource(owner) for owner in classes)

    _check_digest("moto's JSON serializer", source, JSON_SERIALIZER_SHA256, problems)


def _check_dynamodb_urls(problems: list[str]) -> None:
    """moto's server sends every DynamoDB request, whatever its path, to `DynamoHandler.dispatch`."""
    urls = _import("moto.dynamodb.urls", problems)
    if urls is not None and urls.url_paths != {"{0}/": urls.DynamoHandler.dispatch}:
        problems.append(f"moto.dynamodb.urls.url_paths changed: {urls.url_paths!r}")


def _check_defined_source(module_name: str, name: str, sha256: str, problems: list[str]) -> None:
    """A function's or class's source as moto's file has it (what an adapter replaces at run time does not count)."""
    target = _attribute(module_name, name, problems)
    if target is not None:
        _check_digest(f"{module_name}.{name}", lambda: inspect.getsource(target), sha256, problems)


def _check_table_shape(problems: list[str]) -> None:
    """Build a throwaway table (registered nowhere) and check the attributes the journal reads and restores."""
    table_class = _attribute("moto.dynamodb.models.table", "Table", problems)
    if table_class is None:
        return
    try:
        table = table_class(
            "stratoflow-pin-check",
            account_id="123456789012",
            region="us-east-1",
            schema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            attr=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            streams={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    except Exception as error:  # any failure here means the constructor changed shape
        problems.append(f"moto.dynamodb.models.table.Table cannot be built as expected ({error!r})")
        return
    if not isinstance(getattr(table, "items", None), dict):
        problems.append("Table.items is no longer a dict of items")
    if getattr(table, "hash_key_attr", None) != "pk" or getattr(table, "range_key_attr", None) != "sk":
        problems.append("Table.hash_key_attr / Table.range_key_attr no longer name the key attributes")
    shard = getattr(table, "stream_shard", None)
    if shard is None or not isinstance(getattr(shard, "items", None), list):
        problems.append("Table.stream_shard.items is no longer the list of stream records")
