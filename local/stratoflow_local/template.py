"""Read template.yaml and resolve what the local stack needs from it, and nothing else.

The local stack is wired from the template alone: functions (handler, code, layers, environment), the HTTP API's
routes, the table's `Properties`, the stream mappings (filters, batch size, retries, bisect, on-failure
destination), SQS queues, schedule groups and the periodic schedules. Intrinsic functions are resolved to local
names and fake ARNs (`arn:aws:lambda:us-east-1:123456789012:function:<LogicalId>`) that the emulators map back to
logical ids.

Only the part of AWS SAM / CloudFormation the project uses is understood; anything else is read as written.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LOCAL_STACK_NAME = "stratoflow-local"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_API_ID = "local"

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_DEFAULT_HANDLER = "app.lambda_handler"


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


# ---------------------------------------------------------------- YAML with CloudFormation tags


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns the short forms (`!Ref`, `!GetAtt`, `!Sub`, ...) into their long JSON forms."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [logical_id, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML file (short-form tags become `{"Ref": ...}`, `{"Fn::X": ...}`)."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


# ---------------------------------------------------------------- local names of resources


@dataclass(frozen=True)
class LocalNames:
    """Physical names and ARNs the local stack gives to the template's resources."""

    stack_name: str = LOCAL_STACK_NAME
    region: str = LOCAL_REGION
    account_id: str = LOCAL_ACCOUNT_ID

    def function_arn(self, logical_id: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{logical_id}"

    def default_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{name}"

    def stream_arn(self, table_name: str) -> str:
        # The real label is only known once the table exists; the stream poller reads the table name from this.
        return f"{self.table_arn(table_name)}/stream/local"

    def pseudo_parameters(self) -> dict[str, str]:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"),
            "AWS::NoValue": "",
        }


# ---------------------------------------------------------------- intrinsic functions

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions against parameters, pseudo parameters and local resource names."""

    def __init__(self, document: Mapping[str, Any], parameters: Mapping[str, str], names: LocalNames) -> None:
        self._resources: Mapping[str, Any] = document.get("Resources", {})
        self._conditions: Mapping[str, Any] = document.get("Conditions", {}) or {}
        self._mappings: Mapping[str, Any] = document.get("Mappings", {}) or {}
        self._names = names
        self._parameters = dict(names.pseudo_parameters())
        for name, declaration in (document.get("Parameters", {}) or {}).items():
            if name in parameters:
                self._parameters[name] = str(parameters[name])
            elif isinstance(declaration, dict) and "Default" in declaration:
                self._parameters[name] = str(declaration["Default"])
        unknown = set(parameters) - set(document.get("Parameters", {}) or {})
        if unknown:
            raise TemplateError(f"unknown template parameters: {sorted(unknown)}")

    @property
    def names(self) -> LocalNames:
        return self._names

    def parameter(self, name: str) -> str:
        return self._parameters[name]

    def resource_type(self, logical_id: str) -> str:
        resource = self._resources.get(logical_id)
        if not isinstance(resource, dict):
            raise TemplateError(f"no resource {logical_id!r}")
        return str(resource.get("Type", ""))

    def resource_properties(self, logical_id: str) -> Mapping[str, Any]:
        resource = self._resources[logical_id]
        return resource.get("Properties", {}) or {}

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside `value` (dicts and lists are copied)."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key == "Condition":
                return self.condition(str(argument))
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._parameters:
            return self._parameters[name]
        resource_type = self.resource_type(name)
        properties = self.resource_properties(name)
        if resource_type in FUNCTION_TYPES:
            return name
        if resource_type == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{self._names.region}.amazonaws.com/{self._names.account_id}/{self.queue_name(name)}"
        if resource_type == "AWS::Scheduler::ScheduleGroup":
            return self.schedule_group_name(name)
        if resource_type in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            return f"arn:aws:lambda:{self._names.region}:{self._names.account_id}:layer:{name}:1"
        if resource_type in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi"):
            return LOCAL_API_ID
        if "Name" in properties and isinstance(properties["Name"], str | dict):
            return self._resolve(properties["Name"])
        return self._names.default_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.resource_type(logical_id)
        names = self._names
        if resource_type in FUNCTION_TYPES and attribute == "Arn":
            return names.function_arn(logical_id)
        if resource_type == "AWS::DynamoDB::Table":
            if attribute == "Arn":
                return names.table_arn(self.table_name(logical_id))
            if attribute == "StreamArn":
                return names.stream_arn(self.table_name(logical_id))
        if resource_type == "AWS::SQS::Queue":
            if attribute == "Arn":
                return names.queue_arn(self.queue_name(logical_id))
            if attribute == "QueueName":
                return self.queue_name(logical_id)
            if attribute == "QueueUrl":
                return self.ref(logical_id)
        if resource_type == "AWS::Scheduler::ScheduleGroup" and attribute == "Arn":
            group = self.schedule_group_name(logical_id)
            return f"arn:aws:scheduler:{names.region}:{names.account_id}:schedule-group/{group}"
        if resource_type == "AWS::IAM::Role" and attribute == "Arn":
            return f"arn:aws:iam::{names.account_id}:role/{names.default_name(logical_id)}"
        return f"arn:aws:local:{names.region}:{names.account_id}:{logical_id}/{attribute}"

    def table_name(self, logical_id: str) -> str:
        name = self.resource_properties(logical_id).get("TableName")
        return str(self._resolve(name)) if name else self._names.default_name(logical_id)

    def queue_name(self, logical_id: str) -> str:
        name = self.resource_properties(logical_id).get("QueueName")
        return str(self._resolve(name)) if name else self._names.default_name(logical_id)

    def schedule_group_name(self, logical_id: str) -> str:
        name = self.resource_properties(logical_id).get("Name")
        return str(self._resolve(name)) if name else self._names.default_name(logical_id)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return bool(self._resolve(self._conditions[name]))

    def _function(self, name: str, argument: Any) -> Any:
        if name == "GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else list(argument)
            return self.get_att(str(parts[0]), str(self._resolve(parts[1])))
        if name == "Sub":
            return self._sub(argument)
        if name == "Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self._resolve(items))
        if name == "Select":
            index, items = argument
            return self._resolve(items)[int(self._resolve(index))]
        if name == "Split":
            delimiter, text = argument
            return str(self._resolve(text)).split(str(delimiter))
        if name == "If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(str(condition)) else when_false)
        if name == "Equals":
            left, right = (self._resolve(item) for item in argument)
            return str(left) == str(right)
        if name == "Not":
            return not self._resolve(argument[0])
        if name == "And":
            return all(self._resolve(item) for item in argument)
        if name == "Or":
            return any(self._resolve(item) for item in argument)
        if name == "FindInMap":
            map_name, first, second = (self._resolve(item) for item in argument)
            return self._mappings[map_name][first][second]
        if name == "Base64":
            return base64.b64encode(str(self._resolve(argument)).encode()).decode()
        if name == "ToJsonString":
            return json.dumps(self._resolve(argument), separators=(",", ":"))
        raise TemplateError(f"Fn::{name} is not supported by the local stack")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {key: self._resolve(item) for key, item in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expression))

        return _SUB_VARIABLE.sub(replace, str(text))


# ---------------------------------------------------------------- what the local stack reads


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]
    environment: Mapping[str, str]
    timeout: int
    memory_size: int
    arn: str
    runtime: str = "python3.11"
    reserved_concurrency: int | None = None

    @property
    def handler_file(self) -> Path:
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class Route:
    api: str
    method: str  # upper case, or ANY
    path: str  # as in the template (`/v1/workflows/{id}`), or DEFAULT_ROUTE
    function: str


DEFAULT_ROUTE = "$default"  # an HTTP API's catch-all route: an HttpApi event without Path and Method


@dataclass(frozen=True)
class ApiSpec:
    logical_id: str
    stage: str
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class StreamMapping:
    name: str
    function: str
    table_name: str
    starting_position: str
    batch_size: int
    filter_patterns: tuple[Mapping[str, Any], ...]
    maximum_retry_attempts: int
    bisect_batch_on_function_error: bool
    maximum_record_age_seconds: int
    report_batch_item_failures: bool
    on_failure_arn: str | None
    enabled: bool


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class PeriodicSchedule:
    name: str
    function: str
    expression: str
    enabled: bool
    input: Any

    @property
    def rate_seconds(self) -> float:
        return rate_to_seconds(self.expression)


@dataclass(frozen=True)
class LocalTemplate:
    path: Path
    names: LocalNames
    parameters: Mapping[str, str]
    functions: Mapping[str, FunctionSpec]
    apis: Mapping[str, ApiSpec]
    tables: Mapping[str, TableSpec]
    queues: Mapping[str, QueueSpec]
    schedule_groups: Mapping[str, str]
    stream_mappings: tuple[StreamMapping, ...]
    periodic_schedules: tuple[PeriodicSchedule, ...]
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for api in self.apis.values() for route in api.routes)

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        # Scheduler targets may carry a qualifier (`:$LATEST`, an alias) after the function name.
        for spec in self.functions.values():
            if arn == spec.arn or arn.startswith(spec.arn + ":"):
                return spec
        return None

    def queue_by_arn(self, arn: str) -> QueueSpec | None:
        return next((queue for queue in self.queues.values() if queue.arn == arn), None)

    def shared_environment(self) -> dict[str, str]:
        """Every function's variables merged, less those whose value differs between functions (each function's
        `POWERTOOLS_SERVICE_NAME`): the stack's own process gets them, for tools and tests that use the shared layer
        in process. The functions themselves each get exactly their own environment."""
        merged: dict[str, str] = {}
        differing: set[str] = set()
        for spec in self.functions.values():
            for key, value in spec.environment.items():
                if merged.setdefault(key, value) != value:
                    differing.add(key)
        return {key: value for key, value in merged.items() if key not in differing}


def rate_to_seconds(expression: str) -> float:
    """`rate(1 minute)` → 60.0; `cron(...)` is not supported locally."""
    match = re.fullmatch(r"rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)", expression.strip())
    if not match:
        raise TemplateError(f"unsupported schedule expression {expression!r} (only rate(...) locally)")
    unit_seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[match.group(2)]
    return float(int(match.group(1)) * unit_seconds)


def _merge_globals(global_properties: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals: maps merge (the resource wins), lists concatenate (globals first), scalars are replaced."""
    merged: dict[str, Any] = dict(global_properties)
    for key, value in properties.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge_globals(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            merged[key] = [*current, *value]
        else:
            merged[key] = value
    return merged


def load_template(
    path: str | Path,
    parameters: Mapping[str, str] | None = None,
    names: LocalNames | None = None,
) -> LocalTemplate:
    """Read `path` and resolve everything the local stack wires up."""
    template_path = Path(path).resolve()
    document = load_yaml(template_path)
    names = names or LocalNames()
    resolver = Resolver(document, parameters or {}, names)
    base_dir = template_path.parent
    resources: Mapping[str, Any] = document["Resources"]
    globals_section = document.get("Globals", {}) or {}

    functions: dict[str, FunctionSpec] = {}
    function_properties: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        raw_properties = resource.get("Properties", {}) or {}
        if resource["Type"] == "AWS::Serverless::Function":
            raw_properties = _merge_globals(globals_section.get("Function", {}) or {}, raw_properties)
        function_properties[logical_id] = raw_properties
        functions[logical_id] = _function_spec(logical_id, raw_properties, resolver, base_dir, resources)

    apis = _apis(resources, globals_section, resolver, function_properties)
    tables = {
        logical_id: TableSpec(
            logical_id, resolver.table_name(logical_id), resolver.resolve(resource.get("Properties", {}) or {})
        )
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }
    queues = {
        logical_id: QueueSpec(
            logical_id, resolver.queue_name(logical_id), names.queue_arn(resolver.queue_name(logical_id))
        )
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::SQS::Queue"
    }
    schedule_groups = {
        logical_id: resolver.schedule_group_name(logical_id)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Scheduler::ScheduleGroup"
    }
    mappings, periodic = _event_sources(resources, resolver, function_properties, functions, tables)
    return LocalTemplate(
        path=template_path,
        names=names,
        parameters={name: resolver.parameter(name) for name in (document.get("Parameters", {}) or {})},
        functions=functions,
        apis=apis,
        tables=tables,
        queues=queues,
        schedule_groups=schedule_groups,
        stream_mappings=tuple(mappings),
        periodic_schedules=tuple(periodic),
        raw=document,
    )


def _function_spec(
    logical_id: str,
    raw_properties: Mapping[str, Any],
    resolver: Resolver,
    base_dir: Path,
    resources: Mapping[str, Any],
) -> FunctionSpec:
    code_uri = raw_properties.get("CodeUri") or raw_properties.get("Code")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local folder")
    layer_dirs: list[Path] = []
    for layer in raw_properties.get("Layers", []) or []:
        layer_id = layer.get("Ref") if isinstance(layer, dict) else None
        if layer_id is None or layer_id not in resources:
            raise TemplateError(f"{logical_id}: only layers of this template (!Ref) are supported locally")
        content_uri = (resources[layer_id].get("Properties", {}) or {}).get("ContentUri")
        if not isinstance(content_uri, str):
            raise TemplateError(f"{layer_id}: ContentUri must be a local folder")
        layer_dirs.append((base_dir / content_uri).resolve())
    variables = resolver.resolve((raw_properties.get("Environment", {}) or {}).get("Variables", {}) or {})
    reserved = resolver.resolve(raw_properties.get("ReservedConcurrentExecutions"))
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=(base_dir / code_uri).resolve(),
        handler=str(raw_properties.get("Handler", _DEFAULT_HANDLER)),
        layer_dirs=tuple(layer_dirs),
        environment={str(key): str(value) for key, value in variables.items()},
        timeout=int(resolver.resolve(raw_properties.get("Timeout", 3))),
        memory_size=int(resolver.resolve(raw_properties.get("MemorySize", 128))),
        arn=resolver.names.function_arn(logical_id),
        runtime=str(resolver.resolve(raw_properties.get("Runtime", "python3.11"))),
        reserved_concurrency=int(reserved) if reserved is not None else None,
    )


def _function_logical_id(arn: Any, functions: Mapping[str, FunctionSpec]) -> str:
    for spec in functions.values():
        if arn in (spec.arn, spec.logical_id):
            return spec.logical_id
    raise TemplateError(f"{arn!r} is not a function of this template")


def _apis(
    resources: Mapping[str, Any],
    globals_section: Mapping[str, Any],
    resolver: Resolver,
    function_properties: Mapping[str, Mapping[str, Any]],
) -> dict[str, ApiSpec]:
    """The template's HTTP APIs (payload format 2.0) and their routes; the local stack emulates no other kind."""
    api_properties: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Api":
            raise TemplateError(f"{logical_id}: the local stack emulates HTTP APIs (AWS::Serverless::HttpApi) only")
        if resource.get("Type") == "AWS::Serverless::HttpApi":
            api_properties[logical_id] = _merge_globals(
                globals_section.get("HttpApi", {}) or {}, resource.get("Properties", {}) or {}
            )
    routes: dict[str, list[Route]] = {}
    for function_id, properties in function_properties.items():
        for name, event in (properties.get("Events", {}) or {}).items():
            if event.get("Type") == "Api":
                raise TemplateError(f"{function_id}.{name}: the local stack emulates HttpApi events only")
            if event.get("Type") != "HttpApi":
                continue
            event_properties = event.get("Properties", {}) or {}
            if (event_properties.get("Auth", {}) or {}).get("Authorizer") not in (None, "NONE"):
                raise TemplateError(f"{function_id}.{name}: the local stack emulates no HTTP API authorizer")
            api_ref = event_properties.get("ApiId")
            api_id = str(api_ref["Ref"]) if isinstance(api_ref, dict) else "ServerlessHttpApi"
            if api_id not in api_properties:
                api_properties[api_id] = dict(globals_section.get("HttpApi", {}) or {})
            if "Path" not in event_properties and "Method" not in event_properties:
                method, path = "ANY", DEFAULT_ROUTE
            else:
                method = str(event_properties["Method"]).upper()
                path = str(resolver.resolve(event_properties["Path"]))
            method = "ANY" if method in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
            routes.setdefault(api_id, []).append(Route(api=api_id, method=method, path=path, function=function_id))
    apis: dict[str, ApiSpec] = {}
    for api_id, raw_api_properties in api_properties.items():
        properties = resolver.resolve(raw_api_properties)
        if (properties.get("Auth", {}) or {}).get("Authorizers"):
            raise TemplateError(f"{api_id}: the local stack emulates no HTTP API authorizer")
        apis[api_id] = ApiSpec(
            logical_id=api_id,
            stage=str(properties.get("StageName", DEFAULT_ROUTE)),
            routes=tuple(routes.get(api_id, [])),
        )
    return apis


def _stream_mapping(
    name: str, function_id: str, properties: Mapping[str, Any], tables: Mapping[str, TableSpec]
) -> StreamMapping:
    source = str(properties.get("Stream") or properties.get("EventSourceArn"))
    table_name = next((table.name for table in tables.values() if f":table/{table.name}/stream/" in source), None)
    if table_name is None:
        raise TemplateError(f"{name}: stream {source!r} is not the stream of a table of this template")
    patterns = []
    for entry in (properties.get("FilterCriteria", {}) or {}).get("Filters", []) or []:
        pattern = json.loads(entry["Pattern"]) if isinstance(entry["Pattern"], str) else entry["Pattern"]
        patterns.append(pattern)
    on_failure = ((properties.get("DestinationConfig", {}) or {}).get("OnFailure", {}) or {}).get("Destination")
    return StreamMapping(
        name=name,
        function=function_id,
        table_name=table_name,
        starting_position=str(properties.get("StartingPosition", "LATEST")),
        batch_size=int(properties.get("BatchSize", 100)),
        filter_patterns=tuple(patterns),
        maximum_retry_attempts=int(properties.get("MaximumRetryAttempts", -1)),
        bisect_batch_on_function_error=bool(properties.get("BisectBatchOnFunctionError", False)),
        maximum_record_age_seconds=int(properties.get("MaximumRecordAgeInSeconds", -1)),
        report_batch_item_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
        on_failure_arn=str(on_failure) if on_failure else None,
        enabled=bool(properties.get("Enabled", True)),
    )


def _event_sources(
    resources: Mapping[str, Any],
    resolver: Resolver,
    function_properties: Mapping[str, Mapping[str, Any]],
    functions: Mapping[str, FunctionSpec],
    tables: Mapping[str, TableSpec],
) -> tuple[list[StreamMapping], list[PeriodicSchedule]]:
    mappings: list[StreamMapping] = []
    periodic: list[PeriodicSchedule] = []
    for function_id, properties in function_properties.items():
        for event_name, event in (properties.get("Events", {}) or {}).items():
            event_type = event.get("Type")
            event_properties = resolver.resolve(event.get("Properties", {}) or {})
            name = f"{function_id}.{event_name}"
            if event_type == "DynamoDB":
                mappings.append(_stream_mapping(name, function_id, event_properties, tables))
            elif event_type in ("Schedule", "ScheduleV2"):
                expression = event_properties.get("Schedule") or event_properties.get("ScheduleExpression")
                state = event_properties.get("State", "ENABLED")
                enabled = bool(event_properties.get("Enabled", True)) and state == "ENABLED"
                payload = event_properties.get("Input")
                periodic.append(
                    PeriodicSchedule(
                        name=name,
                        function=function_id,
                        expression=str(expression),
                        enabled=enabled,
                        input=json.loads(payload) if isinstance(payload, str) else payload,
                    )
                )
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
            continue
        properties = resolver.resolve(resource.get("Properties", {}) or {})
        if ":dynamodb:" not in str(properties.get("EventSourceArn", "")):
            continue
        function_id = _function_logical_id(properties["FunctionName"], functions)
        mappings.append(_stream_mapping(logical_id, function_id, properties, tables))
    return mappings, periodic
