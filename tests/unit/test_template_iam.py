"""Least privilege in template.yaml: every IAM statement names its actions and its resources.

- No wildcard in an action (`*`, `dynamodb:*`, `dynamodb:Get*`), no `NotAction` / `NotResource`.
- `Resource: "*"` only for actions that support nothing else (X-Ray segments, CloudWatch PutMetricData).
- No resource policy grants to `Principal: "*"`; `iam:PassRole` names its role and the service it is passed to.
- Functions get DynamoDB data-plane actions on the table and its indexes only, and never Scan (api.md: lists and polls
  are Queries); only the outbox dispatcher touches EventBridge Scheduler (its timer group) and passes a role.
- No managed policy and no SAM policy template (their statements are not in this file, so they cannot be checked).

The checker itself is tested on statements that break each rule, so that a green run means something.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.template import load_template

# Actions that only support `Resource: "*"` (the service has no resource-level permissions for them).
STAR_ONLY_ACTIONS = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "cloudwatch:PutMetricData",
    }
)
DYNAMODB_DATA_PLANE = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:ConditionCheckItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
)
SCHEDULER_ACTIONS = frozenset({"scheduler:CreateSchedule", "scheduler:DeleteSchedule"})


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every policy statement a resource carries; raises on policies that cannot be read."""
    kind = resource.get("Type")
    properties = resource.get("Properties") or {}
    if kind == "AWS::Serverless::Function":
        for index, policy in enumerate(_as_list(properties.get("Policies") or [])):
            if not (isinstance(policy, dict) and set(policy) == {"Statement"}):
                raise AssertionError(f"Policies[{index}] is a managed policy or a policy template: {policy!r}")
            for statement in _as_list(policy["Statement"]):
                yield f"Policies[{index}]", statement
    elif kind == "AWS::IAM::Role":
        if properties.get("ManagedPolicyArns"):
            raise AssertionError(f"managed policies cannot be checked: {properties['ManagedPolicyArns']!r}")
        for policy in properties.get("Policies") or []:
            for statement in _as_list(policy["PolicyDocument"]["Statement"]):
                yield str(policy.get("PolicyName")), statement
    elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for statement in _as_list(properties["PolicyDocument"]["Statement"]):
            yield kind, statement


def problems_of(statement: dict[str, Any]) -> list[str]:
    """What makes one statement broader than it needs to be."""
    problems: list[str] = []
    for key in ("NotAction", "NotResource", "NotPrincipal"):
        if key in statement:
            problems.append(f"uses {key}")
    actions = [str(action) for action in _as_list(statement.get("Action") or [])]
    for action in actions:
        if "*" in action:
            problems.append(f"wildcard action {action!r}")
    resources = _as_list(statement.get("Resource") or [])
    if "*" in resources and not set(actions) <= STAR_ONLY_ACTIONS:
        problems.append(f"Resource '*' for {sorted(set(actions) - STAR_ONLY_ACTIONS)}, which support specific ARNs")
    principal = statement.get("Principal")
    if principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS") or [])):
        problems.append("grants to every principal")
    if "iam:PassRole" in actions:
        passed_to = ((statement.get("Condition") or {}).get("StringEquals") or {}).get("iam:PassedToService")
        if "*" in resources or not passed_to:
            problems.append("iam:PassRole without a named role and an iam:PassedToService condition")
    return problems


def all_statements() -> list[tuple[str, str, dict[str, Any]]]:
    resources = load_template()["Resources"]
    return [
        (logical_id, where, statement)
        for logical_id, resource in resources.items()
        for where, statement in statements_of(resource)
    ]


def function_actions() -> dict[str, set[str]]:
    resources = load_template()["Resources"]
    actions: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        actions[logical_id] = {
            str(action)
            for _, statement in statements_of(resource)
            if statement.get("Effect") == "Allow"
            for action in _as_list(statement.get("Action") or [])
        }
    return actions


def test_every_statement_of_the_template_is_least_privilege() -> None:
    statements = all_statements()
    assert len(statements) >= 10, "the template's policies were not found"
    found = {
        f"{logical_id} {where}: {problem}"
        for logical_id, where, statement in statements
        for problem in problems_of(statement)
    }
    assert not found, sorted(found)


def test_functions_use_dynamodb_on_the_table_and_its_indexes_only() -> None:
    resources = load_template()["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for _, statement in statements_of(resource):
            actions = {str(action) for action in _as_list(statement["Action"])}
            if not any(action.startswith("dynamodb:") for action in actions):
                continue
            assert actions <= DYNAMODB_DATA_PLANE, (logical_id, actions - DYNAMODB_DATA_PLANE)
            assert _as_list(statement["Resource"]) == [
                {"Fn::GetAtt": "Table.Arn"},
                {"Fn::Sub": "${Table.Arn}/index/*"},
            ] or _as_list(statement["Resource"]) == [{"Fn::GetAtt": "Table.Arn"}], (logical_id, statement["Resource"])


def test_no_function_may_scan() -> None:
    actions = function_actions()
    assert set(actions) == {
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
    assert not any("dynamodb:Scan" in granted for granted in actions.values())
    api_functions = ("CallerApiFunction", "CancelTaskFunction", "WorkerApiFunction", "SubmitWorkflowCommandsFunction")
    for logical_id in (*api_functions, "OperatorApiFunction"):
        assert "dynamodb:GetItem" in actions[logical_id]  # each reads the token items of the requests it answers
    assert actions["ConsoleFunction"] == set()  # static files only: the page calls the API with the user's token
    for logical_id, granted in actions.items():
        others = {action for action in granted if not action.startswith("dynamodb:")}
        if logical_id == "OutboxDispatcherFunction":
            assert others == SCHEDULER_ACTIONS | {"iam:PassRole", "sqs:SendMessage"}, others
        elif logical_id in ("SweeperFunction", "BatchRunnerFunction", "FireTimerFunction"):
            assert others == {"sqs:SendMessage"}, (logical_id, others)
        else:
            assert others == set(), (logical_id, others)


def test_only_the_batch_starters_send_to_the_batch_queue_and_only_timer_senders_to_the_timer_queue() -> None:
    resources = load_template()["Resources"]
    senders = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for _, statement in statements_of(resource):
            if "sqs:SendMessage" in _as_list(statement["Action"]):
                assert _as_list(statement["Action"]) == ["sqs:SendMessage"], (logical_id, statement)
                senders[logical_id] = statement["Resource"]
    batch_queue, timer_queue = {"Fn::GetAtt": "BatchQueue.Arn"}, {"Fn::GetAtt": "TimerQueue.Arn"}
    assert senders == {
        "OutboxDispatcherFunction": [batch_queue, timer_queue],  # batch starts; timers due within the last mile
        "SweeperFunction": batch_queue,
        "BatchRunnerFunction": batch_queue,
        "FireTimerFunction": timer_queue,  # hand-overs and messages that arrived more than a second early
    }


def test_the_outbox_dispatcher_manages_schedules_of_its_timer_group_only() -> None:
    dispatcher = load_template()["Resources"]["OutboxDispatcherFunction"]
    statements = [statement for _, statement in statements_of(dispatcher)]
    scheduler = next(s for s in statements if set(_as_list(s["Action"])) == SCHEDULER_ACTIONS)
    assert scheduler["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${TimerScheduleGroup}/*"
    }
    pass_role = next(s for s in statements if _as_list(s["Action"]) == ["iam:PassRole"])
    assert pass_role["Resource"] == {"Fn::GetAtt": "SchedulerRole.Arn"}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:t"}, "wildcard action 'dynamodb:*'"),
        ({"Effect": "Allow", "Action": ["dynamodb:Get*"], "Resource": "arn:t"}, "wildcard action 'dynamodb:Get*'"),
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "wildcard action '*'"),
        (
            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"},
            "Resource '*' for ['dynamodb:GetItem'], which support specific ARNs",
        ),
        (
            {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "sqs:SendMessage"], "Resource": ["*"]},
            "Resource '*' for ['sqs:SendMessage'], which support specific ARNs",
        ),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:t"}, "uses NotAction"),
        ({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "arn:q"}, "grants to every"),
        (
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:role"},
            "iam:PassRole without a named role and an iam:PassedToService condition",
        ),
    ],
)
def test_the_checker_flags_broad_statements(statement: dict[str, Any], problem: str) -> None:
    assert any(found.startswith(problem) for found in problems_of(statement)), problems_of(statement)


def test_the_checker_accepts_star_only_actions_and_refuses_managed_policies() -> None:
    xray = {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "cloudwatch:PutMetricData"], "Resource": "*"}
    assert problems_of(xray) == []
    managed = {"Type": "AWS::Serverless::Function", "Properties": {"Policies": ["AmazonDynamoDBFullAccess"]}}
    with pytest.raises(AssertionError, match="managed policy"):
        list(statements_of(managed))
    template = {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [{"DynamoDBCrudPolicy": {}}]}}
    with pytest.raises(AssertionError, match="policy template"):
        list(statements_of(template))
