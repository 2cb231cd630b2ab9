"""Domain errors carry the contract's error code; REST and sockets map them
to the same envelope ``{"error": {"code", "message", ...}}`` in one place each."""

from __future__ import annotations

from typing import Any

from ..metrics import SHED


class ChatError(Exception):
    code = "internal"
    status = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = {k: v for k, v in extra.items() if v is not None}

    def envelope(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


class Unauthorized(ChatError):
    code, status = "unauthorized", 401


class Forbidden(ChatError):
    code, status = "forbidden", 403


class NotFound(ChatError):
    code, status = "not_found", 404


class ValidationError(ChatError):
    code, status = "validation_error", 400

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message, fields=fields)


class Conflict(ChatError):
    code, status = "conflict", 409


class PayloadTooLarge(ChatError):
    code, status = "payload_too_large", 413


class RateLimited(ChatError):
    code, status = "rate_limited", 429

    def __init__(self, message: str, retry_after: float) -> None:
        # Whole seconds, rounded up: clients sleep at least this long.
        super().__init__(message, retry_after=max(1, int(-(-retry_after // 1))))


class Unavailable(ChatError):
    code, status = "unavailable", 503


def database_busy() -> Unavailable:
    """Every database connection of this worker is taken (the pool timed out):
    a retryable refusal, never an internal error; counted as shed load."""
    SHED.labels("db_pool").inc()
    return Unavailable("the server is busy, retry shortly", retry_after=1)


def field_error(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}: {reason}", fields={field: reason})
