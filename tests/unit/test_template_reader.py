"""The template reader: CloudFormation tags and intrinsics, SAM globals, and what the real template declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from stratoflow_local.template import (
    LocalNames,
    LocalTemplate,
    Resolver,
    TemplateError,
    load_template,
    load_yaml,
    rate_to_seconds,
)

REPO = Path(__file__).resolve().parents[2]

ROUTES = {
    ("GET", "/v1/health", "CallerApiFunction"),
    ("GET", "/v1/openapi.json", "CallerApiFunction"),
    ("GET", "/console", "ConsoleFunction"),
    ("GET", "/console/{asset}", "ConsoleFunction"),
    ("ANY", "$default", "CallerApiFunction"),
    ("POST", "/v1/workflows", "CallerApiFunction"),
    ("GET", "/v1/workflows", "CallerApiFunction"),
    ("GET", "/v1/workflows/{id}", "CallerApiFunction"),
    ("GET", "/v1/workflows/{id}/events", "CallerApiFunction"),
    ("POST", "/v1/workflows/{id}/cancel", "CallerApiFunction"),
    ("POST", "/v1/tasks", "CallerApiFunction"),
    ("GET", "/v1/tasks/{taskExecutionId}", "CallerApiFunction"),
    ("POST", "/v1/tasks/{taskExecutionId}/cancel", "CancelTaskFunction"),
    ("POST", "/v1/worker/workflows/poll", "WorkerApiFunction"),
    ("POST", "/v1/worker/tasks/poll", "WorkerApiFunction"),
    ("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat", "WorkerApiFunction"),
    ("POST", "/v1/worker/tasks/{taskExecutionId}/complete", "WorkerApiFunction"),
    ("POST", "/v1/worker/tasks/{taskExecutionId}/fail", "WorkerApiFunction"),
    ("POST", "/v1/worker/workflows/{id}/commands", "SubmitWorkflowCommandsFunction"),
    ("POST", "/v1/workflows/{id}/terminate", "OperatorApiFunction"),
    ("POST", "/v1/events", "OperatorApiFunction"),
    ("POST", "/v1/batches", "OperatorApiFunction"),
    ("GET", "/v1/batches", "OperatorApiFunction"),
    ("GET", "/v1/batches/{batchId}", "OperatorApiFunction"),
    ("GET", "/v1/batches/{batchId}/items", "OperatorApiFunction"),
    ("POST", "/v1/batches/{batchId}/stop", "OperatorApiFunction"),
}


@pytest.fixture(scope="module")
def template() -> LocalTemplate:
    return load_template(REPO / "template.yaml")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- YAML and intrinsics


def test_short_form_tags_become_long_form(tmp_path: Path) -> None:
    document = load_yaml(
        _write(
            tmp_path,
            """
Resources:
  R:
    Type: X
    Properties:
      A: !Ref Thing
      B: !GetAtt Table.StreamArn
      C: !Sub "${AWS::Region}-x"
      D: !Join [",", [a, !Ref P]]
      E: !If [Cond, big, small]
""",
        )
    )
    properties = document["Resources"]["R"]["Properties"]
    assert properties == {
        "A": {"Ref": "Thing"},
        "B": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "C": {"Fn::Sub": "${AWS::Region}-x"},
        "D": {"Fn::Join": [",", ["a", {"Ref": "P"}]]},
        "E": {"Fn::If": ["Cond", "big", "small"]},
    }


def test_not_a_template_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError):
        load_yaml(_write(tmp_path, "just: a mapping\n"))


def test_resolver_evaluates_intrinsics() -> None:
    document = {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Mappings": {"Sizes": {"dev": {"Memory": 256}}},
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Group": {
                "Type": "AWS::Scheduler::ScheduleGroup",
                "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-t"}},
            },
            "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        },
    }
    resolver = Resolver(document, {"Stage": "prod"}, LocalNames())
    assert resolver.resolve({"Ref": "Stage"}) == "prod"
    assert resolver.resolve({"Fn::GetAtt": ["Fn", "Arn"]}) == "arn:aws:lambda:us-east-1:123456789012:function:Fn"
    assert (
        resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]})
        == "arn:aws:sqs:us-east-1:123456789012:stratoflow-local-Queue"
    )
    assert resolver.resolve({"Ref": "Group"}) == "stratoflow-local-t"
    assert resolver.resolve({"Fn::Sub": "${Table.Arn}/index/*"}) == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/stratoflow-local-Table/index/*"
    )
    assert resolver.resolve({"Fn::Sub": ["${X}-${!Literal}", {"X": {"Ref": "Stage"}}]}) == "prod-${Literal}"
    assert resolver.resolve({"Fn::If": ["IsProd", "big", "small"]}) == "big"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", "dev", "Memory"]}) == 256
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert resolver.resolve({"A": {"Ref": "AWS::NoValue"}, "B": 1}) == {"B": 1}


def test_unknown_parameter_is_refused() -> None:
    with pytest.raises(TemplateError):
        Resolver({"Resources": {}}, {"Nope": "x"}, LocalNames())


def test_rate_expressions() -> None:
    assert rate_to_seconds("rate(1 minute)") == 60.0
    assert rate_to_seconds("rate(5 minutes)") == 300.0
    assert rate_to_seconds("rate(2 hours)") == 7200.0
    with pytest.raises(TemplateError):
        rate_to_seconds("cron(0 12 * * ? *)")


def test_globals_merge_and_functions_may_differ_in_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
Globals:
  Function:
    Timeout: 10
    Environment:
      Variables:
        SHARED: one
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: a/
      Timeout: 20
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: a
  B:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: b/
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: b
          SHARED: two
""",
    )
    template = load_template(path)
    assert template.functions["A"].timeout == 20
    assert template.functions["B"].timeout == 10
    assert template.functions["A"].environment == {"SHARED": "one", "POWERTOOLS_SERVICE_NAME": "a"}
    assert template.functions["A"].handler_file == tmp_path / "a" / "app.py"
    # Functions may differ (each container gets its own environment); the stack's process gets what they share.
    assert template.functions["B"].environment == {"SHARED": "two", "POWERTOOLS_SERVICE_NAME": "b"}
    assert template.shared_environment() == {}  # both variables differ between the functions


# ---------------------------------------------------------------- the real template


def test_real_template_functions_and_environment(template: LocalTemplate) -> None:
    assert set(template.functions) == {
        "CallerApiFunction",
        "CancelTaskFunction",
        "ConsoleFunction",
        "WorkerApiFunction",
        "SubmitWorkflowCommandsFunction",
        "PropagateChildCancelFunction",
        "OutboxDispatcherFunction",
        "FireTimerFunction",
        "SweeperFunction",
        "OperatorApiFunction",
        "BatchRunnerFunction",
        "CancelOnEventFunction",
    }
    for spec in template.functions.values():
        assert spec.handler == "app.lambda_handler"
        assert spec.code_dir.parent == REPO / "functions"
        assert spec.layer_dirs == (REPO / "layers" / "dependencies", REPO / "layers" / "stratoflow")
        assert spec.environment["TABLE_NAME"] == "stratoflow-local-Table"
        assert spec.environment["TIMER_SCHEDULE_GROUP"] == "stratoflow-local-timers"
        assert spec.environment["POWERTOOLS_METRICS_NAMESPACE"] == "Stratoflow"
        assert spec.environment["POWERTOOLS_LOG_LEVEL"] == "INFO"
        assert spec.environment["POWERTOOLS_SERVICE_NAME"]
    dispatcher = template.functions["OutboxDispatcherFunction"].environment
    assert dispatcher["FIRE_TIMER_FUNCTION_ARN"] == template.functions["FireTimerFunction"].arn
    assert dispatcher["SCHEDULER_ROLE_ARN"] == "arn:aws:iam::123456789012:role/stratoflow-local-SchedulerRole"
    assert dispatcher["TIMER_DLQ_ARN"] == template.queues["TimerScheduleDLQ"].arn
    shared = template.shared_environment()
    assert shared["TABLE_NAME"] == "stratoflow-local-Table"
    assert shared["FIRE_TIMER_FUNCTION_ARN"] == template.functions["FireTimerFunction"].arn  # one function's only
    assert "POWERTOOLS_SERVICE_NAME" not in shared  # each function has its own


def test_real_template_routes(template: LocalTemplate) -> None:
    assert {(route.method, route.path, route.function) for route in template.routes} == ROUTES
    assert template.apis["StratoflowApi"].stage == "dev"


def test_a_rest_api_or_an_http_api_authorizer_is_refused(tmp_path: Path) -> None:
    function = """
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: a/
      Events:
        Get:
          Type: {kind}
          Properties: {{Path: /a, Method: GET{auth}}}
"""
    for kind, auth, message in (
        ("Api", "", "HttpApi events only"),
        ("HttpApi", ", Auth: {Authorizer: Tokens}", "no HTTP API authorizer"),
    ):
        path = _write(tmp_path, "Resources:" + function.format(kind=kind, auth=auth))
        with pytest.raises(TemplateError, match=message):
            load_template(path)


def test_an_http_api_event_without_path_and_method_is_the_catch_all_route(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  A:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: a/
      Events:
        Rest:
          Type: HttpApi
          Properties: {ApiId: !Ref Api}
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /a, Method: get}
""",
    )
    template = load_template(path)
    assert {(route.method, route.path) for route in template.routes} == {("ANY", "$default"), ("GET", "/a")}
    assert template.apis["Api"].stage == "$default"


def test_real_template_table_matches_the_design(template: LocalTemplate) -> None:
    table = template.tables["Table"].properties
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == {
        "pk": "S",
        "sk": "S",
        "dispatchPk": "S",
        "dispatchAt": "N",
        "listPk": "S",
        "listSk": "S",
        "sweepPk": "S",
        "sweepAt": "N",
    }
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert [key["AttributeName"] for key in indexes["DispatchIndex"]["KeySchema"]] == ["dispatchPk", "dispatchAt"]
    assert indexes["DispatchIndex"]["Projection"]["ProjectionType"] == "INCLUDE"
    assert {"status", "kind"} <= set(indexes["DispatchIndex"]["Projection"]["NonKeyAttributes"])
    assert [key["AttributeName"] for key in indexes["ListIndex"]["KeySchema"]] == ["listPk", "listSk"]
    assert indexes["ListIndex"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [key["AttributeName"] for key in indexes["SweepIndex"]["KeySchema"]] == ["sweepPk", "sweepAt"]
    assert indexes["SweepIndex"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_real_template_stream_mappings(template: LocalTemplate) -> None:
    mappings = {mapping.function: mapping for mapping in template.stream_mappings}
    assert set(mappings) == {"PropagateChildCancelFunction", "OutboxDispatcherFunction"}
    for mapping in mappings.values():
        assert mapping.table_name == "stratoflow-local-Table"
        assert mapping.report_batch_item_failures
        assert mapping.bisect_batch_on_function_error
        assert 0 < mapping.maximum_retry_attempts <= 10
        assert mapping.maximum_record_age_seconds > 0
        assert mapping.on_failure_arn in {queue.arn for queue in template.queues.values()}
    assert mappings["PropagateChildCancelFunction"].filter_patterns == (
        {"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "OUTBOX#CHILD_CANCEL#"}]}}}},
    )
    assert len(mappings["OutboxDispatcherFunction"].filter_patterns) == 3
    assert template.schedule_groups == {"TimerScheduleGroup": "stratoflow-local-timers"}
    (sweep,) = template.periodic_schedules
    assert (sweep.function, sweep.rate_seconds, sweep.enabled) == ("SweeperFunction", 60.0, True)


def test_parameters_override_defaults() -> None:
    template = load_template(REPO / "template.yaml", {"Stage": "prod", "LogLevel": "DEBUG"})
    assert template.apis["StratoflowApi"].stage == "prod"
    assert template.functions["CallerApiFunction"].environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
