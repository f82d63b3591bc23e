"""Domain exceptions. Each maps to one error code of the HTTP API in one place (stratoflow_api.error_mapping)."""

from __future__ import annotations

import re
from typing import Any


class StratoflowError(Exception):
    """Base of every error a caller can be told about.

    An error's `code` is its class name in upper snake case (`NotFound` → `NOT_FOUND`) unless its class statement
    names another (`code=...`); a subclass of a subclass keeps its parent's code.
    """

    code = "INTERNAL"

    def __init_subclass__(cls, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        elif cls.__bases__ == (StratoflowError,):
            cls.code = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).upper()

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidArgument(StratoflowError):
    """A request the API cannot take as it is: a bad body or parameter, a command that breaks a rule."""


class NotFound(StratoflowError):
    """An unknown id, or another tenant's: the caller cannot tell them apart."""


class FailedPrecondition(StratoflowError):
    """The resource's state forbids the operation; `currentStatus` tells which state."""

    def __init__(self, message: str, current_status: str, **details: Any) -> None:
        super().__init__(message, currentStatus=current_status, **details)
        self.current_status = current_status


class LeaseLost(StratoflowError):
    """The caller's lease is no longer the current one (expired, taken over, or the work ended)."""


class Conflict(StratoflowError):
    """An id or idempotency key already used for something else."""


class PayloadTooLarge(StratoflowError):
    """A value, body or change larger than one item or one atomic write can hold."""


class Unauthenticated(StratoflowError):
    """No bearer token, or one that is malformed, unknown or revoked."""


class PermissionDenied(StratoflowError):
    """The token lacks the scope of the route."""


class ContentionExhausted(StratoflowError, code="UNAVAILABLE"):
    """Optimistic retries ran out under heavy contention; safe to retry (nothing was written)."""
