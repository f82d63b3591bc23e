"""`tokens create --stack-name` finds the deployed stack's table from its TableName output."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from stratoflow_local import cli


def stubbed_cloudformation(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any] | None) -> Stubber:
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
    stubber = Stubber(client)
    if answer is None:
        stubber.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist")
    else:
        stubber.add_response("describe_stacks", answer, {"StackName": "stratoflow"})
    stubber.activate()
    monkeypatch.setattr(boto3, "client", lambda service, **_: client)
    return stubber


def stack(outputs: list[dict[str, str]]) -> dict[str, Any]:
    return {"Stacks": [{"StackName": "stratoflow", "CreationTime": "2026-01-01T00:00:00Z",
                        "StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]}


def test_the_table_is_the_stacks_table_name_output(monkeypatch: pytest.MonkeyPatch) -> None:
    stubbed_cloudformation(monkeypatch, stack([{"OutputKey": "ApiUrl", "OutputValue": "https://x"},
                                               {"OutputKey": "TableName", "OutputValue": "stratoflow-Table-1AB"}]))
    assert cli._stack_table("stratoflow") == "stratoflow-Table-1AB"


def test_a_stack_without_the_output_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stubbed_cloudformation(monkeypatch, stack([{"OutputKey": "ApiUrl", "OutputValue": "https://x"}]))
    with pytest.raises(SystemExit, match="has no TableName output"):
        cli._stack_table("stratoflow")


def test_a_missing_stack_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stubbed_cloudformation(monkeypatch, None)
    with pytest.raises(SystemExit, match="cannot read stack 'nope'"):
        cli._stack_table("nope")
