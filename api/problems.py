"""RFC 9457 problem details for every error, and their OpenAPI description."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy.exc import IntegrityError

from api.request_log import request_id_of
from domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    TooManyAttemptsError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS: dict[type[DomainError], int] = {
    InvalidInputError: 400,
    AuthenticationError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    IdempotencyKeyReusedError: 422,
    TooManyAttemptsError: 429,
}


class FieldProblem(msgspec.Struct):
    """One bad field of the request."""

    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """An error, as RFC 9457 problem details."""

    status: int
    title: str
    detail: str
    type: str = "about:blank"
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldProblem] = msgspec.field(default_factory=list)
    code: str | None = None


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> Response[Problem]:
    """A problem+json response for this request."""
    body = Problem(
        status=status,
        title=title or HTTPStatus(status).phrase,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        errors=errors or [],
        code=code,
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    errors = [FieldProblem(e.field, e.message) for e in exc.errors] if isinstance(exc, InvalidInputError) else None
    headers = {"Retry-After": str(exc.retry_after_seconds)} if isinstance(exc, TooManyAttemptsError) else None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": "Bearer"}
    return problem_response(request, status, exc.detail, title=exc.title, errors=errors, headers=headers, code=exc.code)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    extra = exc.extra if isinstance(exc.extra, list) else []
    errors = [
        FieldProblem(field=str(e.get("key") or e.get("source") or "body"), message=str(e.get("message", "invalid")))
        for e in extra
        if isinstance(e, dict)
    ]
    return problem_response(request, 400, "the request is not valid; see errors", errors=errors)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    detail = exc.detail if exc.detail and exc.detail != HTTPStatus(status).phrase else HTTPStatus(status).description
    if status >= 500:  # noqa: PLR2004 - server error class
        log.error("http error", exc_info=exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else exc.headers  # noqa: PLR2004
    return problem_response(request, status, detail, headers=headers)


def _integrity_error(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Problem]:
    # Unique constraints close check-then-act races; the loser learns it conflicted.
    log.info("integrity conflict", extra={"error": str(exc.orig)})
    return problem_response(request, 409, "the request conflicts with data written at the same time; retry")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("unhandled error", exc_info=exc)
    return problem_response(request, 500, "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception], Callable[..., Response[Problem]]] = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    IntegrityError: _integrity_error,
    Exception: _unexpected,
}

_DESCRIPTIONS = {
    400: "Invalid input; `errors` lists the fields at fault",
    401: "No or bad bearer token",
    403: "The caller's role may not do this",
    404: "Unknown, or not visible to the caller",
    409: "Conflicts with the current state",
    422: "Idempotency-Key reused with a different request",
    429: "Too many attempts; see Retry-After",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a route can give."""
    return {
        s: ResponseSpec(data_container=Problem, description=_DESCRIPTIONS[s], media_type=PROBLEM_JSON) for s in statuses
    }


# Error statuses every authenticated route can answer with. Routes with path or
# query parameters can also answer 400 (Litestar documents it for them).
AUTHENTICATED = (401, 403)
POSTED = (400, 401, 403, 409, 422)
