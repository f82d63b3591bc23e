"""DynamoDB's answers rendered without moto's generic serializer, to the same bytes.

moto renders every answer through its model-driven serializer (`moto.core.serialize`): for each member of each
structure of the operation's output shape it asks an attribute picker for the value, trying half a dozen key aliases
(shape names, snake_case, class-name prefixes) through generators and dataclasses. An item's attributes are
structures of the `AttributeValue` shape, so a `Query` answer of a few items costs thousands of member visits: a third
of the time the embedded endpoint's lock is held.

`json_serialized` stands in for `DynamoHandler.serialized` (the step after moto's handler built its result) for the
item operations the local stack makes by the hundred. It walks the same output shape with converters compiled once
per operation, applying the JSON serializer's rules (structure members in the shape's order, `None` members and keys
that are not members left out, strings through `str`, integers through `int`, doubles through `float`, blobs in
base64, timestamps in epoch seconds, maps and lists element by element), and `json.dumps` the result as moto does:
the body is byte-for-byte moto's (`tests/unit/test_moto_responses.py` compares both on answers of every shape these
operations have).

Anything the converters are not written for goes to moto's serializer instead: errors, a result that is not plain
dicts and lists, a structure holding a key under which moto's attribute picker could find one of its members (an
alias: the member's shape name, its snake_case name, ...), response transformers, pretty printing, and shape
features the DynamoDB model does not use (renamed members, document types, event streams). `moto_pin.check_moto`
pins the source of the serializer classes and of `BaseResponse.serialized`.

Every request also asked `inspect.getmembers` for the handler class's method names to look its action up (a tenth
of a `GetItem`'s time at the endpoint); `cached_method_names` answers from the first answer for each class (moto
adds no methods to a handler class while it runs).

`install()` / `uninstall()` are reference-counted and swap the methods for the whole process, like the other
adapters.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Callable
from typing import Any

from moto import settings
from moto.core import responses as core_responses
from moto.core.responses import ActionResult, BaseResponse
from moto.core.serialize import (
    AttributePickerContext,
    JSONSerializer,
    TimestampSerializer,
    XFormedAttributePicker,
    get_serializer_class,
)
from moto.core.utils import get_service_model
from moto.dynamodb.responses import DynamoHandler, DynamoResult

from stratoflow_local.moto_pin import Patch

# The operations answered here: every item read and write (the rest, table management, stays with moto).
FAST_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

_PLAIN_RESULTS = (ActionResult, DynamoResult)  # not PaginatedResult, which pages the result itself
_UNSET = object()  # what a converter returns where moto's serializer sets nothing

Converter = Callable[[Any], Any]


class _Unsupported(Exception):
    """A shape or value the converters do not mirror: moto's serializer answers instead."""


def _string(value: Any) -> Any:
    if type(value) is str:
        return value
    if isinstance(value, enum.Enum):  # moto's "HACK for Enums"
        value = value.value
    return str(value) if value not in [None, {}, []] else value


def _identity(value: Any) -> Any:
    return value


def _blob(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).strip().decode("utf-8")


def _timestamp(shape: Any) -> Converter:
    serializer = TimestampSerializer(JSONSerializer.DEFAULT_TIMESTAMP_FORMAT)

    def convert(value: Any) -> Any:
        wrapper: dict[str, Any] = {}
        serializer.serialize(wrapper, value, shape, "timestamp")
        return wrapper["timestamp"]

    return convert


_SCALARS: dict[str, Converter] = {
    "string": _string,
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
    "blob": _blob,
    "boolean": _identity,
}


def _check_name(shape: Any, key: str) -> None:
    if shape.serialization.get("name", key) != key:
        raise _Unsupported(f"{shape.name} is serialized under another name")


def _compile(shape: Any, compiled: dict[str, Converter]) -> Converter:
    """A converter for `shape` (memoized by shape name: `AttributeValue` contains itself)."""
    if shape.name in compiled:
        return compiled[shape.name]
    type_name = shape.type_name
    if type_name == "structure":
        return _compile_structure(shape, compiled)
    if type_name == "map":
        _check_name(shape.value, "")
        values = _compile(shape.value, compiled)

        def convert_map(value: Any) -> Any:
            if type(value) is not dict:
                raise _Unsupported("a map that is not a dict")
            converted = {}
            for key, item in value.items():
                result = values(item)
                if result is not _UNSET:
                    converted[key] = result
            return converted

        return convert_map
    if type_name == "list":
        _check_name(shape.member, shape.member.name)
        members = _compile(shape.member, compiled)

        def convert_list(value: Any) -> Any:
            if type(value) is not list:
                raise _Unsupported("a list that is not a list")
            converted = []
            for item in value:
                result = members(item)
                converted.append(item if result is _UNSET else result)
            return converted

        return convert_list
    if type_name == "timestamp":
        return _timestamp(shape)
    return _SCALARS.get(type_name, _identity)


def _aliases(shape: Any) -> frozenset[str]:
    """The keys other than its own under which moto's attribute picker looks for a member of `shape` in a dict."""
    picker = XFormedAttributePicker()
    aliases: set[str] = set()
    for key, member in shape.members.items():
        member.parent = shape  # as moto's serializer sets it: the shape-prefix alias reads it
        context = AttributePickerContext(obj={}, key=key, shape=member)
        aliases.update(alias for alias in picker.get_possible_keys(context) if alias != key)
    return frozenset(aliases)


def _compile_structure(shape: Any, compiled: dict[str, Converter]) -> Converter:
    if shape.is_document_type:
        raise _Unsupported(f"{shape.name} is a document type")
    members: list[tuple[str, Converter]] = []
    names = frozenset(shape.members)
    aliases = _aliases(shape)

    def convert_structure(value: Any) -> Any:
        # Keys that are not members are left out, as moto leaves them out, unless moto could read one as a member.
        if value is None:
            return _UNSET
        if type(value) is not dict:
            raise _Unsupported("a structure that is not a dict")
        if len(value) == 1:  # an AttributeValue: one member, nothing to order
            ((key, item),) = value.items()
            if key in aliases:
                raise _Unsupported(f"{key} may stand for a member of {shape.name}")
            if key not in names:
                return {}
            if item is None:
                return {}
            result = converters[key](item)
            return {} if result is _UNSET else {key: result}
        if not aliases.isdisjoint(value):
            raise _Unsupported(f"{sorted(aliases.intersection(value))} may stand for members of {shape.name}")
        converted = {}
        for key, converter in members:
            item = value.get(key)
            if item is not None:
                result = converter(item)
                if result is not _UNSET:
                    converted[key] = result
        return converted

    compiled[shape.name] = convert_structure  # before the members: they may contain this shape
    for key, member in shape.members.items():
        _check_name(member, key)
        members.append((key, _compile(member, compiled)))
    converters = dict(members)
    return convert_structure


class _Renderer:
    """The answer to one operation: status, content type and the converter of its output shape."""

    def __init__(self, operation_model: Any) -> None:
        if operation_model.has_event_stream_output:
            raise _Unsupported("event stream output")
        self.status = operation_model.http.get("responseCode", JSONSerializer.DEFAULT_RESPONSE_CODE)
        service_model = operation_model.service_model
        self.content_type = JSONSerializer.CONTENT_TYPE
        if service_model.protocol == "json":
            version = service_model.metadata.get("jsonVersion", "1.0")
            self.content_type = JSONSerializer.APPLICATION_AMZ_JSON.format(version=version)
        output = operation_model.output_shape
        self.convert = _compile_structure(output, {}) if output is not None else None

    def body(self, result: Any) -> str:
        converted = _UNSET if self.convert is None else self.convert(result)
        return json.dumps({} if converted is _UNSET else converted)


_original_serialized: Callable[..., Any] = BaseResponse.serialized
_renderers: dict[str, _Renderer | None] = {}


def _renderer(handler: DynamoHandler, operation: str) -> _Renderer | None:
    if operation not in _renderers:
        service_model = get_service_model(handler.boto3_service_name)
        try:
            renderer: _Renderer | None = _Renderer(service_model.operation_model(operation))
        except _Unsupported:
            renderer = None
        _renderers[operation] = renderer
    return _renderers[operation]


def render(handler: DynamoHandler, action_result: ActionResult) -> tuple[int, dict[str, str], str] | None:
    """The answer `BaseResponse.serialized` gives, rendered by the compiled converters; None where they do not apply."""
    operation = handler._get_action()
    result = action_result.result
    if (
        operation not in FAST_OPERATIONS
        or type(action_result) not in _PLAIN_RESULTS
        or isinstance(result, Exception)
        or settings.PRETTIFY_RESPONSES
        or handler.RESPONSE_KEY_PATH_TO_TRANSFORMER
    ):
        return None
    service_model = get_service_model(handler.boto3_service_name)
    protocol = handler.determine_response_protocol(service_model)
    if get_serializer_class(service_model.service_name, protocol) is not JSONSerializer:
        return None
    renderer = _renderer(handler, operation)
    if renderer is None:
        return None
    try:
        body = renderer.body(result)
    except Exception:  # a value the converters do not mirror: moto's serializer answers (or fails) as it would have
        return None
    headers = {"Content-Type": renderer.content_type}
    headers.update(handler.response_headers)
    return renderer.status, headers, body


def json_serialized(self: DynamoHandler, action_result: ActionResult) -> Any:
    """moto's `BaseResponse.serialized` for DynamoDB, the item operations' answers rendered by compiled converters."""
    answer = render(self, action_result)
    return _original_serialized(self, action_result) if answer is None else answer


_original_method_names = core_responses.method_names_from_class
_method_names: dict[object, list[str]] = {}


def cached_method_names(clazz: object) -> list[str]:
    """moto's `method_names_from_class`, remembered per class (the caller only tests membership)."""
    names = _method_names.get(clazz)
    if names is None:
        names = _method_names[clazz] = _original_method_names(clazz)
    return names


def _apply() -> None:
    DynamoHandler.serialized = json_serialized  # type: ignore[assignment]
    core_responses.method_names_from_class = cached_method_names


def _restore() -> None:
    del DynamoHandler.serialized
    core_responses.method_names_from_class = _original_method_names
    _method_names.clear()


_patch = Patch("the DynamoDB answer renderer", _apply, _restore)
install = _patch.install
uninstall = _patch.uninstall


def is_installed() -> bool:
    return (
        DynamoHandler.__dict__.get("serialized") is json_serialized
        and core_responses.method_names_from_class is cached_method_names
    )
