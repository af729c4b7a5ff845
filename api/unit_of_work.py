"""One unit of work per request; Idempotency-Key answers commit with the work.

The request's work is committed here, after the handler has produced its answer
and before the client sees it, so a client never hears of work that did not
commit. For a POST with an Idempotency-Key, the answer is written in that same
transaction: the work and its stored answer are durable together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from sqlalchemy.exc import DBAPIError

from api.auth import REQUEST_WORK, Principal
from api.fields import MAX_BODY_BYTES
from api.problems import PROBLEM_JSON
from api.scope_headers import header_of
from domain.db import driver_connection, holds_transaction, untouched
from domain.errors import ConflictError, IdempotencyKeyReusedError
from domain.idempotency import service
from domain.idempotency.rules import key_error, request_digest, should_store
from domain.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPDisconnectEvent, HTTPRequestEvent, Message, Receive, Scope, Send

    from domain.db import SessionMaker

log = logging.getLogger(__name__)

REPLAYED_HEADER = "idempotent-replayed"


@dataclass(slots=True)
class RequestWork:
    """The request's unit of work, and whether its handler failed (then nothing commits).

    `keep_on_error`: the work stands even though the answer is an error (a failed
    sign-in must be counted although the client hears 401).
    """

    uow: UnitOfWork
    failed: bool = False
    keep_on_error: bool = False


def request_work_of(scope: Scope) -> RequestWork:
    """The unit of work the middleware opened for this request."""
    work: RequestWork = scope["state"][REQUEST_WORK]
    return work


def keep_work_on_error(scope: Scope) -> None:
    """Commit what the handler wrote so far even if it now answers with an error."""
    request_work_of(scope).keep_on_error = True


@dataclass(slots=True)
class _Answer:
    """A response held back until the work behind it has committed."""

    status: int = 500
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)

    @classmethod
    def problem(cls, status: int, title: str, detail: str, path: str) -> _Answer:
        body = msgspec.json.encode(
            {"type": "about:blank", "status": status, "title": title, "detail": detail, "instance": path}
        )
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
        if status == 503:  # noqa: PLR2004 - the database is away: tell the client when to come back
            headers.append((b"retry-after", b"5"))
        return cls(status, headers, [body])

    @classmethod
    def stored(cls, answer: service.StoredAnswer) -> _Answer:
        headers = [(bytes(k, "latin-1"), bytes(v, "latin-1")) for k, v in answer.headers]
        return cls(answer.status_code, headers, [answer.body])

    def to_store(self) -> service.StoredAnswer:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
        return service.StoredAnswer(self.status, [*headers, (REPLAYED_HEADER, "true")], b"".join(self.body))

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"".join(self.body), "more_body": False})


class RequestWorkMiddleware(ASGIMiddleware):
    """Opens the request's unit of work outside authentication and closes it when the answer is out.

    The token lookup (on a token cache miss), the handler and the commit then share one
    session: one pooled connection and one transaction per request.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the rest of the request inside one unit of work (closing it rolls back what did not commit)."""
        state = scope["litestar_app"].state
        async with UnitOfWork(state.session_maker, state.job_queue) as uow:
            scope.setdefault("state", {})[REQUEST_WORK] = RequestWork(uow)
            await next_app(scope, receive, send)


class UnitOfWorkMiddleware(ASGIMiddleware):
    """Runs inside authentication: Idempotency-Keys are scoped to the calling user.

    Unauthenticated POSTs (signing in, webhooks) get a unit of work but no stored
    answer: a token must not be replayed, and webhooks are deduplicated by their ids.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Claim the key, run the request in a unit of work, commit it with its answer, then answer."""
        state = scope["litestar_app"].state
        key = header_of(scope, b"idempotency-key")
        user = scope.get("user")
        held: service.Claim | None = None
        if scope.get("method") == "POST" and key is not None and isinstance(user, Principal):
            if reason := key_error(key):
                await _Answer.problem(400, "Invalid Idempotency-Key", reason, scope["path"]).send(send)
                return
            body = await _limited_body(scope, receive)
            if isinstance(body, _Answer):
                await body.send(send)
                return
            receive = _replaying(body)
            digest = request_digest("POST", scope["path"], scope.get("query_string", b"").decode(), body)
            outcome = await _claim(state.session_maker, f"user:{user.user_id}", key, digest, scope["path"])
            if isinstance(outcome, _Answer):
                await outcome.send(send)
                return
            held = outcome
        answer = await _run(scope, receive, send, next_app, held=held)
        if answer is not None:
            await answer.send(send)


async def _claim(session_maker: SessionMaker, caller: str, key: str, digest: str, path: str) -> service.Claim | _Answer:
    try:
        async with UnitOfWork(session_maker) as uow:
            outcome = await service.claim(uow.session, caller=caller, key=key, digest=digest, now=datetime.now(UTC))
            await uow.commit()
    except IdempotencyKeyReusedError as exc:
        return _Answer.problem(422, exc.title, exc.detail, path)
    except ConflictError as exc:
        return _Answer.problem(409, exc.title, exc.detail, path)
    if isinstance(outcome, service.StoredAnswer):
        return _Answer.stored(outcome)
    return outcome


class _Capture:
    """Holds the app's answer back until the work behind it commits; streams pass through."""

    def __init__(self, send: Send, work: RequestWork) -> None:
        self.answer = _Answer()
        self.streaming = False
        self._send = send
        self._work = work

    async def __call__(self, message: Message) -> None:
        if self.streaming:
            await self._send(message)
        elif message["type"] == "http.response.start":
            self.answer.status = message["status"]
            self.answer.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.answer.body.append(message.get("body", b""))
            if message.get("more_body", False):
                await self._start_stream()

    async def _start_stream(self) -> None:
        # A streamed answer (a file) ends only when the client has it all, so it
        # cannot wait for the commit: the work, if any, commits as it starts.
        self.streaming = True
        if not self._work.failed:
            await self._work.uow.commit()
        await self._send({"type": "http.response.start", "status": self.answer.status, "headers": self.answer.headers})
        await self._send({"type": "http.response.body", "body": b"".join(self.answer.body), "more_body": True})


async def _run(
    scope: Scope,
    receive: Receive,
    send: Send,
    next_app: ASGIApp,
    *,
    held: service.Claim | None,
) -> _Answer | None:
    """Run the handler in a unit of work; commit it (with the stored answer) unless it failed.

    Returns the answer to send, or None when it was streamed already.
    """
    state = scope["litestar_app"].state
    work = request_work_of(scope)
    uow = work.uow
    capture = _Capture(send, work)
    if held is not None:
        # The stored answer must commit with the work: a hot path that would write outside a
        # transaction when none is open yet (domain.db.driver_connection) writes inside this one.
        await driver_connection(uow.session)
    try:
        await next_app(scope, receive, capture)
    except BaseException:
        if held is not None:
            await uow.rollback()
            await _forget(state.session_maker, held)
        raise
    answer = None if capture.streaming else capture.answer
    if held is None and not holds_transaction(uow.session):
        # Nothing was sent but statements that committed by themselves (an order change on a
        # cached token), or nothing at all: no commit or rollback to send. The connection goes
        # back to the pool now, before the answer is sent, as a commit would give it back: held
        # until the outer layer closes the session, 16 requests in flight per process took
        # connections past the pool's size, opened and closed per request.
        if not untouched(uow.session):
            await uow.session.close()
        return answer
    if answer is not None and not work.failed:
        stored, instead = await _commit(uow, held, answer, scope["path"])
        if instead is not None:
            await uow.rollback()
            return instead
        if stored:
            held = None
    # What did not commit is undone now, before the answer goes out: its row locks go with it.
    # After a commit there is nothing left to undo.
    await uow.rollback()
    if held is not None:
        await _settle_unsaved(state.session_maker, held, capture.answer)
    return answer


async def _commit(
    uow: UnitOfWork, held: service.Claim | None, answer: _Answer, path: str
) -> tuple[bool, _Answer | None]:
    """Commit the work with its stored answer: (answer stored?, the answer to give instead, if any)."""
    stored = False
    if held is not None and should_store(answer.status):
        if not await service.complete(uow.session, held, answer.to_store()):
            detail = "another attempt with this Idempotency-Key took over; its answer stands"
            return False, _Answer.problem(409, "Conflict", detail, path)
        stored = True
    try:
        await uow.commit()
    except Exception as exc:
        # The outcome of a commit that failed is unknown: keep the claim; a retry
        # after it goes stale replays the answer or runs the work anew.
        log.exception("commit failed")
        status = 503 if _unreachable(exc) else 500
        return True, _Answer.problem(status, "Not committed", "the change could not be saved; retry", path)
    return stored, None


async def _settle_unsaved(session_maker: SessionMaker, held: service.Claim, answer: _Answer) -> None:
    """The work did not commit: keep a final (client error) answer for replay, or free the key."""
    async with UnitOfWork(session_maker) as uow:
        if should_store(answer.status):
            await service.complete(uow.session, held, answer.to_store())
        else:
            await service.release(uow.session, held)
        await uow.commit()


async def _forget(session_maker: SessionMaker, held: service.Claim) -> None:
    async with UnitOfWork(session_maker) as uow:
        await service.release(uow.session, held)
        await uow.commit()


def _unreachable(exc: Exception) -> bool:
    return isinstance(exc, OSError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class _TooLargeError(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, refused as soon as it passes `limit` bytes (never buffered past it)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _limited_body(scope: Scope, receive: Receive) -> bytes | _Answer:
    """The body, or the 413 (or 400) answer for one past the limit, given before buffering it."""
    path = scope["path"]
    too_large = _announced_too_large(scope, MAX_BODY_BYTES)
    if too_large is None:
        return _Answer.problem(400, "Bad Request", "Content-Length is not a number", path)
    if not too_large:
        try:
            return await _read_body(receive, MAX_BODY_BYTES)
        except _TooLargeError:
            pass
    return _Answer.problem(413, "Content Too Large", f"the body is larger than {MAX_BODY_BYTES} bytes", path)


def _announced_too_large(scope: Scope, limit: int) -> bool | None:
    """True when Content-Length passes the limit; None when it is not a number."""
    length = header_of(scope, b"content-length")
    if length is None:
        return False
    if not (length.isascii() and length.isdigit()):
        return None
    return int(length) > limit


def _replaying(body: bytes) -> Receive:
    delivered = False

    async def receive() -> HTTPRequestEvent | HTTPDisconnectEvent:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
