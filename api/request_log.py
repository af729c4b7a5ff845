"""A request id on every request and answer, and one log line per request."""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import TYPE_CHECKING

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from domain.logs import log_info, request_id

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("coop.request")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when sane, else a fresh one; fixed for the request."""
    state = scope.setdefault("state", {})
    rid: str | None = state.get("request_id")
    if rid is None:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"x-request-id":
                given = value.decode("latin-1")
                rid = given if _SAFE_ID.fullmatch(given) else None
                break
        if rid is None:
            rid = secrets.token_hex(16)  # as uuid4().hex was: 32 random hex digits, without the UUID
        state["request_id"] = rid
    return rid


# Where a request whose error escaped the middleware keeps its start time until its answer is sent.
_UNLOGGED = "request_log_started"


def _log(scope: Scope, status: int, started: float) -> None:
    """The request's log line and, where the app keeps them, its HTTP metrics: one timing for both."""
    seconds = time.perf_counter() - started
    metrics = scope["litestar_app"].state.get("http_metrics")
    if metrics is not None:
        metrics.observe(scope, status, seconds)
    log_info(
        log,
        "request",
        {
            "method": scope.get("method", ""),
            "path": scope["path"],
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        },
    )


async def echo_request_id(message: Message, scope: Scope) -> None:
    """App-level before-send hook: every answer, errors included, names its request id.

    It also logs the requests whose error Litestar answered outside the middleware, with the
    status that answer has (a refused token is a 401, not the 500 the middleware would guess).
    """
    if message["type"] == "http.response.start":
        rid = request_id_of(scope)
        MutableScopeHeaders.from_message(message)["x-request-id"] = rid
        started = scope.get("state", {}).pop(_UNLOGGED, None)
        if started is not None:
            token = request_id.set(rid)
            try:
                _log(scope, message["status"], started)
            finally:
                request_id.reset(token)


class RequestLogMiddleware(ASGIMiddleware):
    """Binds the request id to this request's logs, logs one line per request and counts it in the metrics.

    One layer for both: a metrics layer of its own timed every request and wrapped its send again.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Time the request and log its outcome."""
        token = request_id.set(request_id_of(scope))
        started = time.perf_counter()
        status: int | None = None
        failed = False

        async def note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, note_status)
        except Exception:
            failed = True
            raise
        finally:
            if failed and status is None:
                # Errors raised by middleware (authentication) are answered by Litestar's outermost
                # exception handler after this returns; echo_request_id logs them with that status.
                scope.setdefault("state", {})[_UNLOGGED] = started
            else:
                _log(scope, 500 if status is None else status, started)
            request_id.reset(token)
