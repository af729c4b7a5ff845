"""Bearer-token authentication and role guards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from domain.errors import ForbiddenError, NotFoundError
from domain.identity.rules import Access, MemberRole, Role, member_access
from domain.identity.service import user_for_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler

    from domain.identity.tables import User

# Paths anyone may call: health, the API docs, signing in, and Stripe (signature-checked).
# /metrics checks its own token (COOP_METRICS_TOKEN): a scraper is not a user.
PUBLIC_PATHS = ("^/health$", "^/metrics$", "^/schema", "^/v1/auth/token$", "^/v1/stripe/webhook$")


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


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Resolves `Authorization: Bearer <token>` to a Principal, or answers 401."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        """Look the token's digest up; expired or unknown tokens are refused."""
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            msg = "a bearer token is required: Authorization: Bearer <token>"
            raise NotAuthorizedException(msg)
        async with connection.app.state.session_maker() as session:
            user = await user_for_token(session, token.strip(), datetime.now(UTC))
        if user is None:
            msg = "the bearer token is unknown or has expired"
            raise NotAuthorizedException(msg)
        return AuthenticationResult(user=Principal.of(user), auth=token)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated caller; none (401) where the middleware did not run, e.g. OPTIONS."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthorizedException
    return user


def allow(*roles: Role) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A guard that lets only these roles through (403 for the others)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        # The authentication middleware lets OPTIONS through unauthenticated; a controller's
        # guards still cover its OPTIONS answer, which only lists the allowed methods.
        if connection.scope.get("method") == "OPTIONS":
            return
        if principal_of(connection).role not in roles:
            msg = f"only {', '.join(r.value for r in roles)} may do this"
            raise PermissionDeniedException(msg)

    return guard


staff_only = allow(Role.STAFF)


def check_member_access(caller: Principal, member_id: int, *, admin: bool = False) -> None:
    """404 for another member's users, 403 for roles (or member roles) that may not."""
    access = member_access(caller.role, caller.member_id, caller.member_role, member_id, admin=admin)
    if access is Access.HIDDEN:
        raise NotFoundError(f"member {member_id} not found")
    if access is Access.FORBIDDEN:
        raise ForbiddenError("your role may not do this for this member")


staff_or_members = allow(Role.STAFF, Role.MEMBER)
