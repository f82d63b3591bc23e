"""Domain exceptions. Each maps to one error code of the HTTP API in one place (stratoflow_api.error_mapping)."""

from __future__ import annotations

from typing import Any


class StratoflowError(Exception):
    """Base of every error a caller can be told about."""

    code = "INTERNAL"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidArgument(StratoflowError):
    code = "INVALID_ARGUMENT"


class NotFound(StratoflowError):
    code = "NOT_FOUND"


class FailedPrecondition(StratoflowError):
    """The resource's state forbids the operation; `currentStatus` tells which state."""

    code = "FAILED_PRECONDITION"

    def __init__(self, message: str, current_status: str, **details: Any) -> None:
        super().__init__(message, currentStatus=current_status, **details)
        self.current_status = current_status


class LeaseLost(StratoflowError):
    code = "LEASE_LOST"


class Conflict(StratoflowError):
    code = "CONFLICT"


class PayloadTooLarge(StratoflowError):
    code = "PAYLOAD_TOO_LARGE"


class Unauthenticated(StratoflowError):
    code = "UNAUTHENTICATED"


class PermissionDenied(StratoflowError):
    code = "PERMISSION_DENIED"


class ContentionExhausted(StratoflowError):
    """Optimistic retries ran out under heavy contention; safe to retry (nothing was written)."""

    code = "UNAVAILABLE"
