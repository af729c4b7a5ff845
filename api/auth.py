"""Bearer-token authentication and role guards."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.elements import TextClause

from api.scope_headers import header_of
from domain.errors import ForbiddenError, NotFoundError
from domain.identity.rules import Access, MemberRole, Role, member_access, token_digest
from domain.identity.service import token_holder
from domain.identity.tables import AuthToken, User
from domain.membership.tables import Member

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from sqlalchemy.orm import UOWTransaction

    Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]

# Paths anyone may call: health, the API docs, signing in, Stripe (signature-checked) and the
# public member directory (public fields only, rate limited per client address).
# /metrics checks its own token (COOP_METRICS_TOKEN): a scraper is not a user.
PUBLIC_PATHS = (
    "^/health$",
    "^/metrics$",
    "^/schema",
    "^/v1/auth/token$",
    "^/v1/stripe/webhook$",
    "^/v1/public/directory$",
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the tenant (member or supplier) they act for."""

    user_id: int
    email: str
    role: Role
    member_id: int | None
    supplier_id: int | None
    member_role: MemberRole | None

    @classmethod
    def of(cls, user: User) -> Principal:
        """The principal of a stored user."""
        assert user.id is not None  # noqa: S101 - loaded from the database
        return cls(
            user_id=user.id,
            email=user.email,
            role=Role(user.role),
            member_id=user.member_id,
            supplier_id=user.supplier_id,
            member_role=MemberRole(user.member_role) if user.member_role else None,
        )


class AuthChanges:
    """A counter of changes that may revoke a token, seen by this process.

    Bumped when a session of this process flushes, executes or commits a change to users,
    members or tokens (sign-out, password change, a disabled user, a departed member).
    A cached principal is trusted only while the counter is where it was when the token
    was looked up, so a revocation made through this process takes effect at once.
    """

    def __init__(self) -> None:
        self.count = 0

    def bump(self) -> None:
        """Something a token depends on changed (or is about to, at commit)."""
        self.count += 1


AUTH_CHANGES = AuthChanges()
# Where api/unit_of_work.py keeps the request's unit of work in the ASGI scope's state.
REQUEST_WORK = "request_work"
_WATCHED_TABLES = frozenset({"app_user", "member", "auth_token"})
_WATCHED_ROWS = (User, Member, AuthToken)
_WATCHED_SQL = re.compile(r"\b(update|delete)\b.*\b(app_user|member|auth_token)\b", re.IGNORECASE | re.DOTALL)
_CHANGED = "auth_changed"


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _: UOWTransaction) -> None:
    if any(isinstance(row, _WATCHED_ROWS) for row in chain(session.dirty, session.deleted)):
        session.info[_CHANGED] = True
        AUTH_CHANGES.bump()


@functools.lru_cache(maxsize=1024)
def _text_changes_auth(text: str) -> bool:
    # Statement texts are constants of the code: the scan (3 % of the API's CPU on the
    # order write's long statement) is done once per text.
    return bool(_WATCHED_SQL.search(text))


@event.listens_for(Session, "do_orm_execute")
def _note_executed(state: ORMExecuteState) -> None:
    statement = state.statement
    if isinstance(statement, TextClause):
        changed = _text_changes_auth(statement.text)
    else:
        table = getattr(statement, "table", None)
        changed = (state.is_update or state.is_delete) and getattr(table, "name", None) in _WATCHED_TABLES
    if changed:
        state.session.info[_CHANGED] = True
        AUTH_CHANGES.bump()


@event.listens_for(Session, "after_commit")
def _note_committed(session: Session) -> None:
    # Bumped again now: a lookup that ran between the flush and the commit read the old rows.
    if session.info.pop(_CHANGED, False):
        AUTH_CHANGES.bump()


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    token_expires_at: datetime
    trusted_until: float
    changes: int


class TokenCache:
    """The principals of tokens this process checked in the last `ttl_seconds`, keyed by token digest.

    Chosen over a revocation version in Valkey: that would still cost a round trip per
    request, and revocations already reach this process's cache at once through
    AUTH_CHANGES. What another API process revokes (sign-out, password change, disabling a
    user, a member departing) reaches AUTH_CHANGES as it commits, through the process's
    listening connection (api/revocations.py); `live` is False while that connection is
    down, and then nothing is trusted. `ttl_seconds` bounds how long an entry is trusted at
    all. A token is never trusted past its own expiry.
    """

    def __init__(
        self, ttl_seconds: float, *, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, _Cached] = {}
        # Whether this process hears every revocation; the app's listener keeps it (tests set it).
        self.live = True

    def get(self, digest: str, now: datetime) -> Principal | None:
        """The cached principal, if it is still to be trusted."""
        if not self.live:
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.changes != AUTH_CHANGES.count or entry.trusted_until <= self._clock() or entry.token_expires_at <= now:
            del self._entries[digest]
            return None
        return entry.principal

    def put(self, digest: str, principal: Principal, token_expires_at: datetime, changes: int) -> None:
        """Remember a lookup; `changes` is AUTH_CHANGES.count read before the lookup started."""
        if self.ttl_seconds <= 0 or not self.live or changes != AUTH_CHANGES.count:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[digest] = _Cached(principal, token_expires_at, self._clock() + self.ttl_seconds, changes)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer <token>` to a Principal, or answers 401."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """From the token cache, else the token's digest looked up in the request's own session."""
        scheme, _, token = (header_of(connection.scope, b"authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            msg = "a bearer token is required: Authorization: Bearer <token>"
            raise NotAuthorizedException(msg)
        cache: TokenCache = connection.app.state.token_cache
        digest = token_digest(token)
        now = datetime.now(UTC)
        if (principal := cache.get(digest, now)) is not None:
            return AuthenticationResult(user=principal, auth=token)
        changes = AUTH_CHANGES.count
        # The unit of work the request runs in (api/unit_of_work.py): one session, one transaction.
        session = connection.scope["state"][REQUEST_WORK].uow.session
        found = await token_holder(session, token, now)
        if found is None:
            msg = "the bearer token is unknown or has expired"
            raise NotAuthorizedException(msg)
        user, expires_at = found
        principal = Principal.of(user)
        session.expunge(user)  # the handler loads what it needs itself, under its own locks
        cache.put(digest, principal, expires_at, changes)
        return AuthenticationResult(user=principal, auth=token)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller; none (401) where the middleware did not run, e.g. OPTIONS."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException
    return user


# Who may call a route: `@get(..., access=staff_only)`. Litestar keeps a route decorator's
# unknown keyword arguments in the handler's `opt`; `check_access` runs the guard named there.
ACCESS = "access"


async def check_access(request: Request[Any, Any, Any]) -> None:
    """Run the route's guard (its `access`), as Litestar's `guards=` would, before anything is parsed.

    Run by the app's before_request hook, inside the route: a refusal is answered (403, 401)
    and logged as a guard's was, and an Idempotency-Key's claim keeps it. Not Litestar's
    `guards=`: Litestar copies the route handler for every guard call (2 % of an order
    change's CPU, issue 12, thirty-third part); this passes the handler itself.
    """
    handler = request.route_handler
    guard: Guard | None = handler.opt.get(ACCESS)
    if guard is not None:
        await guard(request, handler)


def allow(*roles: Role) -> Guard:
    """A guard that lets only these roles through (403 for the others).

    A coroutine function although it awaits nothing: `check_access` awaits it (and Litestar ran
    a plain function guard in a worker thread, a thread hand-off per request).
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        # The authentication middleware lets OPTIONS through unauthenticated; a controller's
        # guards still cover its OPTIONS answer, which only lists the allowed methods.
        if connection.scope.get("method") == "OPTIONS":
            return
        if principal_of(connection).role not in roles:
            msg = f"only {', '.join(r.value for r in roles)} may do this"
            raise PermissionDeniedException(msg)

    return guard


staff_only = allow(Role.STAFF)
members_only = allow(Role.MEMBER)


def check_member_access(caller: Principal, member_id: int, *, admin: bool = False) -> None:
    """404 for another member's users, 403 for roles (or member roles) that may not."""
    access = member_access(caller.role, caller.member_id, caller.member_role, member_id, admin=admin)
    if access is Access.HIDDEN:
        raise NotFoundError(f"member {member_id} not found")
    if access is Access.FORBIDDEN:
        raise ForbiddenError("your role may not do this for this member")


staff_or_members = allow(Role.STAFF, Role.MEMBER)
