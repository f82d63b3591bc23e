"""The OpenAPI document says what the API answers: every status of every operation, with its body schema, the
error body included, and the bearer scheme on every route but the public ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
from stratoflow_api.public_routes import openapi_document

DOCUMENT = json.loads(openapi_document())
ERRORS = {"$ref": "#/components/schemas/ErrorBody"}

# What each operation answers (api.md): its success, then its refusals.
STATUSES = {
    ("GET", "/v1/health"): {200},
    ("GET", "/v1/openapi.json"): {200},
    ("POST", "/v1/workflows"): {201, 400, 401, 403, 409, 413},
    ("GET", "/v1/workflows"): {200, 400, 401, 403, 413},
    ("GET", "/v1/workflows/{id}"): {200, 401, 403, 404, 413},
    ("GET", "/v1/workflows/{id}/events"): {200, 400, 401, 403, 404, 413},
    ("POST", "/v1/workflows/{id}/cancel"): {202, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/workflows/{id}/terminate"): {200, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/events"): {202, 400, 401, 403, 409, 413},
    ("POST", "/v1/batches"): {200, 202, 400, 401, 403, 409, 413},
    ("GET", "/v1/batches"): {200, 400, 401, 403, 413},
    ("GET", "/v1/batches/{batchId}"): {200, 401, 403, 404, 413},
    ("GET", "/v1/batches/{batchId}/items"): {200, 400, 401, 403, 404, 413},
    ("POST", "/v1/batches/{batchId}/stop"): {200, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/tasks"): {201, 400, 401, 403, 409, 413},
    ("GET", "/v1/tasks/{taskExecutionId}"): {200, 401, 403, 404, 413},
    ("POST", "/v1/tasks/{taskExecutionId}/cancel"): {200, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/worker/workflows/poll"): {200, 204, 400, 401, 403, 413},
    ("POST", "/v1/worker/workflows/{id}/commands"): {200, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/worker/tasks/poll"): {200, 204, 400, 401, 403, 413},
    ("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat"): {200, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/worker/tasks/{taskExecutionId}/complete"): {200, 400, 401, 403, 404, 409, 413, 503},
    ("POST", "/v1/worker/tasks/{taskExecutionId}/fail"): {200, 400, 401, 403, 404, 409, 413, 503},
}
SUCCESS_SCHEMAS: dict[tuple[str, str], str | dict[str, str]] = {
    ("GET", "/v1/health"): "Health",
    ("GET", "/v1/openapi.json"): "OpenApiDocument",
    ("POST", "/v1/workflows"): "WorkflowExecution",
    ("GET", "/v1/workflows"): "WorkflowPage",
    ("GET", "/v1/workflows/{id}"): "WorkflowExecution",
    ("GET", "/v1/workflows/{id}/events"): "HistoryPage",
    ("POST", "/v1/workflows/{id}/cancel"): "WorkflowCancelled",
    ("POST", "/v1/workflows/{id}/terminate"): "WorkflowTerminated",
    ("POST", "/v1/events"): "EventAccepted",
    ("POST", "/v1/batches"): {"200": "BatchMatchCount", "202": "Batch"},  # a dry run answers 200 with the count
    ("GET", "/v1/batches"): "BatchPage",
    ("GET", "/v1/batches/{batchId}"): "Batch",
    ("GET", "/v1/batches/{batchId}/items"): "BatchItemPage",
    ("POST", "/v1/batches/{batchId}/stop"): "Batch",
    ("POST", "/v1/tasks"): "Task",
    ("GET", "/v1/tasks/{taskExecutionId}"): "Task",
    ("POST", "/v1/tasks/{taskExecutionId}/cancel"): "TaskCancelled",
    ("POST", "/v1/worker/workflows/poll"): "WorkflowClaim",
    ("POST", "/v1/worker/workflows/{id}/commands"): "CommandsSubmitted",
    ("POST", "/v1/worker/tasks/poll"): "TaskClaim",
    ("POST", "/v1/worker/tasks/{taskExecutionId}/heartbeat"): "Heartbeat",
    ("POST", "/v1/worker/tasks/{taskExecutionId}/complete"): "TaskAttemptClosed",
    ("POST", "/v1/worker/tasks/{taskExecutionId}/fail"): "TaskAttemptClosed",
}
OPERATIONS = [
    pytest.param(method.upper(), path, spec, id=f"{method.upper()} {path}")
    for path, operations in DOCUMENT["paths"].items()
    for method, spec in operations.items()
]


def test_every_operation_is_listed_here() -> None:
    documented = {(method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations}
    assert documented == set(STATUSES)


@pytest.mark.parametrize("method,path,spec", OPERATIONS)
def test_each_status_answered_is_documented_with_its_body(method: str, path: str, spec: dict[str, Any]) -> None:
    responses = spec["responses"]
    assert {int(status) for status in responses} == STATUSES[(method, path)]
    for status, response in responses.items():
        if status == "204":
            assert response.get("content", {}) == {}
        elif int(status) >= 400:
            assert response["content"] == {"application/json": {"schema": ERRORS}}, status
        else:
            schema = response["content"]["application/json"]["schema"]
            expected = SUCCESS_SCHEMAS[(method, path)]
            name = expected[status] if isinstance(expected, dict) else expected
            assert schema == {"$ref": f"#/components/schemas/{name}"}


@pytest.mark.parametrize("method,path,spec", OPERATIONS)
def test_protected_operations_name_the_bearer_scheme_and_public_ones_none(
    method: str, path: str, spec: dict[str, Any]
) -> None:
    public = path in ("/v1/health", "/v1/openapi.json")
    assert spec.get("security") == (None if public else [{"bearerAuth": []}])


@pytest.mark.parametrize("method,path,spec", OPERATIONS)
def test_a_request_body_is_an_object_never_null(method: str, path: str, spec: dict[str, Any]) -> None:
    if "requestBody" not in spec:
        assert method == "GET" or (method, path) == ("POST", "/v1/batches/{batchId}/stop")  # stop takes no body
        return
    schema = spec["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema) == {"$ref"}, schema


def test_the_components_hold_the_bearer_scheme_and_the_error_body_and_no_422() -> None:
    components = DOCUMENT["components"]
    assert components["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert components["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error_body = components["schemas"]["ErrorBody"]
    assert error_body["required"] == ["error"] and error_body["additionalProperties"] is False
    assert set(components["schemas"]["ErrorDetail"]["required"]) == {"code", "message"}
    assert all(
        "422" not in spec["responses"] for operations in DOCUMENT["paths"].values() for spec in operations.values()
    )
    assert not {"HTTPValidationError", "ValidationError"} & set(components["schemas"])
