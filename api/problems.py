"""RFC 9457 problem details for every error, and their OpenAPI description."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.request_log import request_id_of
from domain.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    FieldConflictError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    PaymentProviderError,
    TooManyAttemptsError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

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
    PaymentProviderError: 502,
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
    errors = (
        [FieldProblem(e.field, e.message) for e in exc.errors]
        if isinstance(exc, InvalidInputError | FieldConflictError)
        else None
    )
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


# Seconds a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5
_UNREACHABLE = (
    OSError,  # refused, reset, unreachable, timed out (TimeoutError is an OSError)
    PoolTimeoutError,  # every pooled connection is stuck on a server that does not answer
    asyncpg.PostgresConnectionError,  # the connection died under a query
    asyncpg.exceptions.OperatorInterventionError,  # starting up, shutting down, crashed
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and the driver errors SQLAlchemy keeps in `.orig`."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, DBAPIError) else None
        todo.extend(e for e in (orig, current.__cause__, current.__context__) if isinstance(e, BaseException))


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg raises a bare InterfaceError for a closed connection; its subclasses are usage errors.
    return isinstance(exc, _UNREACHABLE) or type(exc) is asyncpg.InterfaceError


def _out_of_range(exc: BaseException) -> bool:
    # The server's "bigint out of range" / "numeric field overflow", or the driver refusing
    # to encode an integer beyond 64 bits (its DataError is an InterfaceError and a ValueError).
    return isinstance(exc, (asyncpg.NumericValueOutOfRangeError, OverflowError)) or (
        isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError)
    )


def database_unreachable(exc: BaseException) -> bool:
    """True when the error (or what caused it) says PostgreSQL cannot be reached, not that a query is wrong."""
    return any(_unreachable(e) for e in _chain(exc))


def _unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if database_unreachable(exc):
        log.warning("database unreachable", extra={"error": f"{type(exc).__name__}: {exc}"})
        return problem_response(
            request,
            503,
            "the database cannot be reached; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if any(_out_of_range(e) for e in _chain(exc)):
        # Inputs are bounded so this should not happen; if some total still outgrows BIGINT,
        # the transaction is rolled back and the caller learns why, instead of a 500.
        log.error("a value outgrew its column", exc_info=exc)
        return problem_response(request, 400, "a number in the request, or a total it leads to, is out of range")
    return _unexpected(request, exc)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.error("unhandled error", exc_info=exc)
    return problem_response(request, 500, "an unexpected error occurred; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception], Callable[..., Response[Problem]]] = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    IntegrityError: _integrity_error,
    DBAPIError: _unavailable,
    PoolTimeoutError: _unavailable,
    OSError: _unavailable,
    asyncpg.PostgresError: _unavailable,
    asyncpg.InterfaceError: _unavailable,
    Exception: _unavailable,
}

_DESCRIPTIONS = {
    400: "Invalid input; `errors` lists the fields at fault",
    401: "No or bad bearer token",
    403: "The caller's role may not do this",
    404: "Unknown, or not visible to the caller",
    409: "Conflicts with the current state",
    422: "Idempotency-Key reused with a different request",
    413: "The body is larger than the limit (10 MiB)",
    429: "Too many attempts; see Retry-After",
    502: "The card payment provider failed or could not be reached; retry",
    503: "The database cannot be reached; see Retry-After",
}


def _example(status: int) -> Example:
    # A real answer of this kind, not random text, so the docs show what a client will meet.
    errors = [FieldProblem("email", "Expected `str` of length <= 254")] if status == 400 else []  # noqa: PLR2004
    body = Problem(
        status=status,
        title=HTTPStatus(status).phrase,
        detail=_DESCRIPTIONS[status],
        instance="/v1/members",
        request_id="5f0c6c1e9a8b4d2f8e3a7b6c5d4e3f21",
        errors=errors,
    )
    return Example(summary=_DESCRIPTIONS[status], value=msgspec.to_builtins(body))


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a route can give (any route: 503 while the database is down)."""
    return {
        s: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS[s],
            media_type=PROBLEM_JSON,
            generate_examples=False,
            examples=[_example(s)],
        )
        for s in sorted({*statuses, 503})
    }


# Error statuses every authenticated route can answer with. Routes with path or
# query parameters can also answer 400 (Litestar documents it for them).
AUTHENTICATED = (401, 403)
POSTED = (400, 401, 403, 409, 413, 422)
