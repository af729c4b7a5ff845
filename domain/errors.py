"""Errors the domain raises; the API maps each to one problem+json status."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One bad field of an input, named the way the client sent it."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error the co-op's rules raise on purpose."""

    title = "Domain error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        # A stable machine-readable reason (problem+json `code`) where a status alone is ambiguous.
        self.code = code


class InvalidInputError(DomainError):
    """The input breaks a rule (400), with the fields at fault."""

    title = "Invalid input"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []


class NotFoundError(DomainError):
    """Unknown, or not visible to the caller (404)."""

    title = "Not found"


class ForbiddenError(DomainError):
    """The caller's role may not do this (403)."""

    title = "Forbidden"


class ConflictError(DomainError):
    """Conflicts with the current state (409)."""

    title = "Conflict"


class FieldConflictError(ConflictError):
    """Conflicts with stored data (409), naming the fields at fault (an e-mail already registered)."""

    def __init__(self, detail: str, errors: list[FieldError], *, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.errors = errors


class IdempotencyKeyReusedError(DomainError):
    """The same key came with another request (422)."""

    title = "Idempotency-Key reused"


class AuthenticationError(DomainError):
    """No valid credentials (401)."""

    title = "Unauthorized"


class TooManyAttemptsError(DomainError):
    """Too many failed attempts; try again later (429)."""

    title = "Too many attempts"

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class PaymentProviderError(DomainError):
    """The card payment provider failed or could not be reached (502); nothing was recorded."""

    title = "Payment provider error"
