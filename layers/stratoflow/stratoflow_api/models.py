"""Request bodies of the HTTP API (api.md), validated by the resolver and described in the OpenAPI document.

Numbers and booleans are strict (`StrictInt`, `StrictBool`): `"leaseMs": "60000"` is a string, so it is refused, as
JSON's types say. Unknown fields are ignored (docs/api-notes.md). The command batch's body is in `submit_routes`:
only that function needs the command models, whose schemas are the costliest part of an API function's import.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from stratoflow.cancel_on import CancelOn
from stratoflow.deadlines import MAX_CLEANUP_TIMEOUT_MS, MIN_CLEANUP_TIMEOUT_MS

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Reason = Annotated[str, StringConstraints(max_length=1024)]
LeaseId = Annotated[str, StringConstraints(min_length=1, max_length=256)]
WorkerId = Annotated[str, StringConstraints(min_length=1, max_length=256)]

# Request parameters shared by several routes.
PathId = Annotated[str, Path()]  # the id a route's path names: `{id}`, `{taskExecutionId}`, `{batchId}`
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
PageLimit = Annotated[int, Query(ge=1, le=100)]
NextToken = Annotated[str | None, Query(alias="nextToken", max_length=4096)]


class RequestBody(BaseModel):
    # Built when a route first validates it, not at every cold start for every body of the API.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class NewWorkBody(RequestBody):
    """What starting a workflow and creating a task both take: the kind of work, its input and its queue."""

    kind: Name
    input: Any = None
    queue: Name = "default"

    def work(self) -> dict[str, Any]:
        """These fields as the domain's start_workflow and create_task take them."""
        return {"kind": self.kind, "queue": self.queue, "input_value": self.input}


class StartWorkflowBody(NewWorkBody):
    cancelOn: CancelOn = Field(default_factory=list)


class CancelWorkflowBody(RequestBody):
    reason: Reason | None = None
    cascade: StrictBool = True
    cleanupTimeoutMs: StrictInt | None = Field(default=None, ge=MIN_CLEANUP_TIMEOUT_MS, le=MAX_CLEANUP_TIMEOUT_MS)


class CreateTaskBody(NewWorkBody):
    maxRetries: StrictInt = Field(default=0, ge=0, le=1000)
    timeoutMs: StrictInt | None = Field(default=None, ge=1, le=365 * 24 * 3600 * 1000)


class CancelTaskBody(RequestBody):
    reason: Reason | None = None


class PollBody(RequestBody):
    queue: Name
    workerId: WorkerId | None = None
    kinds: list[Name] | None = Field(default=None, min_length=1, max_length=100)
    leaseMs: StrictInt | None = Field(default=None, ge=1000, le=300_000)


class PollNext(PollBody):
    """`pollNext` of a combined call: the poll to run once the call's own write has committed (a poll's body)."""


POLL_NEXT_DESCRIPTION = (
    "Optional: once this call has committed, claim the next one as the poll with this body would, and answer it "
    "in `next` (null when nothing is ready). Without it, the answer has no `next`."
)


class HeartbeatBody(RequestBody):
    leaseId: LeaseId
    details: Any = None


class CompleteTaskBody(RequestBody):
    leaseId: LeaseId
    output: Any = None
    pollNext: PollNext | None = Field(default=None, description=POLL_NEXT_DESCRIPTION)


class FailTaskBody(RequestBody):
    leaseId: LeaseId
    error: Any = None
    retryable: StrictBool = True
    pollNext: PollNext | None = Field(default=None, description=POLL_NEXT_DESCRIPTION)
