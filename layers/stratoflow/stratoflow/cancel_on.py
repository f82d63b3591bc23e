"""What a `cancelOn` entry is (operators.md), as the API and the commands that start executions validate it.

Apart from `stratoflow.subscriptions`, which stores the entries and finds them for an event: this is the part that
needs pydantic, and only the functions that accept a `cancelOn` load it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
)

MAX_CANCEL_ON = 5
MAX_SUBSCRIPTION_MS = 31_536_000_000
EventType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
MatchValue = StrictBool | StrictInt | StrictFloat | StrictStr


class CancelOnEntry(BaseModel):
    """`{"eventType", "match": {<key>: <string|number|boolean>}?, "timeoutMs"?}`; an omitted match is an empty one."""

    # Built when a body or command with a `cancelOn` is first validated, not at every cold start.
    model_config = ConfigDict(extra="ignore", defer_build=True)

    eventType: EventType
    match: dict[str, MatchValue] = Field(default_factory=dict)
    timeoutMs: StrictInt | None = Field(default=None, ge=1_000, le=MAX_SUBSCRIPTION_MS)

    @field_validator("match")
    @classmethod
    def _one_key(cls, match: dict[str, Any]) -> dict[str, Any]:
        if len(match) > 1:
            raise ValueError("match has at most one key")
        for key in match:
            if not 1 <= len(key) <= 128:
                raise ValueError("a match key is 1-128 characters")
        return match

    def view(self) -> dict[str, Any]:
        return {"eventType": self.eventType, "match": dict(self.match), "timeoutMs": self.timeoutMs}


CancelOn = Annotated[list[CancelOnEntry], Field(max_length=MAX_CANCEL_ON)]
