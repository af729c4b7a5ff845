"""Idempotency-Key on every POST: the first answer is stored and replayed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware

from api.auth import Principal
from api.fields import MAX_BODY_BYTES
from api.problems import PROBLEM_JSON
from domain.errors import ConflictError, IdempotencyKeyReusedError
from domain.idempotency import service
from domain.idempotency.rules import key_error, request_digest, should_store

if TYPE_CHECKING:
    from litestar.types import (
        ASGIApp,
        HTTPDisconnectEvent,
        HTTPRequestEvent,
        HTTPResponseBodyEvent,
        HTTPResponseStartEvent,
        Message,
        Receive,
        Scope,
        Send,
    )

REPLAYED_HEADER = b"idempotent-replayed"


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


async def _limited_body(scope: Scope, receive: Receive, send: Send, path: str) -> bytes | None:
    """The body, or None after answering 413 (or 400) for one past the limit, before buffering it."""
    too_large = _announced_too_large(scope, MAX_BODY_BYTES)
    if too_large is None:
        await _send_problem(send, 400, "Bad Request", "Content-Length is not a number", path)
        return None
    if not too_large:
        try:
            return await _read_body(receive, MAX_BODY_BYTES)
        except _TooLargeError:
            pass
    await _send_problem(send, 413, "Content Too Large", f"the body is larger than {MAX_BODY_BYTES} bytes", path)
    return None


def _announced_too_large(scope: Scope, limit: int) -> bool | None:
    """True when Content-Length passes the limit; None when it is not a number."""
    length = _header(scope, b"content-length")
    if length is None:
        return False
    if not (length.isascii() and length.isdigit()):
        return None
    return int(length) > limit


async def _send_problem(send: Send, status: int, title: str, detail: str, path: str) -> None:
    body = json.dumps({"type": "about:blank", "status": status, "title": title, "detail": detail, "instance": path})
    await _send_answer(
        send,
        status,
        [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())],
        body.encode(),
    )


async def _send_answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(start)
    await send(end)


class IdempotencyMiddleware(ASGIMiddleware):
    """Runs inside authentication: keys are scoped to the calling user.

    Unauthenticated POSTs (signing in, webhooks) are passed through: their
    answers must not be stored (a token) or are deduplicated by their own ids.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Claim the key, run the request, store the answer."""
        key = _header(scope, b"idempotency-key")
        user = scope.get("user")
        if scope.get("method") != "POST" or key is None or not isinstance(user, Principal):
            await next_app(scope, receive, send)
            return
        path = scope["path"]
        if reason := key_error(key):
            await _send_problem(send, 400, "Invalid Idempotency-Key", reason, path)
            return
        body = await _limited_body(scope, receive, send, path)
        if body is None:
            return
        digest = request_digest("POST", path, scope.get("query_string", b"").decode(), body)
        caller = f"user:{user.user_id}"
        session_maker = scope["litestar_app"].state.session_maker
        try:
            async with session_maker() as session:
                stored = await service.claim(session, caller=caller, key=key, digest=digest, now=datetime.now(UTC))
        except IdempotencyKeyReusedError as exc:
            await _send_problem(send, 422, exc.title, exc.detail, path)
            return
        except ConflictError as exc:
            await _send_problem(send, 409, exc.title, exc.detail, path)
            return
        if stored is not None:
            headers = [(bytes(k, "latin-1"), bytes(v, "latin-1")) for k, v in stored.headers]
            await _send_answer(send, stored.status_code, headers, stored.body)
            return
        await _run_and_store(next_app, scope, body, send, caller, key)


async def _run_and_store(next_app: ASGIApp, scope: Scope, body: bytes, send: Send, caller: str, key: str) -> None:
    sent: dict[str, Any] = {"status": 500, "headers": [], "body": []}
    delivered = False

    async def replay_body() -> HTTPRequestEvent | HTTPDisconnectEvent:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            sent["body"].append(message.get("body", b""))
        await send(message)

    session_maker = scope["litestar_app"].state.session_maker
    try:
        await next_app(scope, replay_body, capture)
    except BaseException:
        async with session_maker() as session:
            await service.release(session, caller=caller, key=key)
        raise
    async with session_maker() as session:
        if should_store(sent["status"]):
            headers = [*sent["headers"], (REPLAYED_HEADER.decode(), "true")]
            answer = service.StoredAnswer(sent["status"], headers, b"".join(sent["body"]))
            await service.complete(session, caller=caller, key=key, answer=answer)
        else:
            await service.release(session, caller=caller, key=key)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k.lower() == name:
            return str(v.decode("latin-1"))
    return None
