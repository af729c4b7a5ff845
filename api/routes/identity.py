"""Signing in, and who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from api.auth import Principal, staff_only
from api.deps import Caller, DbSession
from api.fields import Email, Password
from api.problems import AUTHENTICATED, POSTED, problems
from domain.identity import service
from domain.identity.rules import MemberRole, Role
from domain.identity.tables import User


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    """E-mail and password."""

    email: Email
    password: Password


class Me(msgspec.Struct):
    """The calling user and the tenant they act for."""

    id: str
    email: str
    role: Role
    member_id: str | None
    supplier_id: str | None
    member_role: MemberRole | None


class TokenAnswer(msgspec.Struct):
    """A bearer token for the Authorization header."""

    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    user: Me


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)


def me_of(user: User | Principal) -> Me:
    """The public view of a user."""
    who = user if isinstance(user, Principal) else Principal.of(user)
    return Me(
        id=str(who.user_id),
        email=who.email,
        role=who.role,
        member_id=_opt(who.member_id),
        supplier_id=_opt(who.supplier_id),
        member_role=who.member_role,
    )


@post(
    "/v1/auth/token",
    status_code=200,
    summary="Sign in",
    description="Exchange e-mail and password for a bearer token. Repeated failures are throttled (429).",
    responses=problems(400, 401, 413, 429),
    tags=["auth"],
)
async def issue_token(data: JSONBody[TokenRequest], db: DbSession, state: State) -> TokenAnswer:
    """Check the password and hand out a token."""
    issued = await service.issue_token(
        db, email=data.email, password=data.password, policy=state.login_policy, now=datetime.now(UTC)
    )
    return TokenAnswer(issued.access_token, "bearer", issued.expires_in, me_of(issued.user))


class NewStaffUser(msgspec.Struct, forbid_unknown_fields=True):
    """A colleague's e-mail and initial password."""

    email: Email
    password: Password


@post(
    "/v1/staff-users",
    guards=[staff_only],
    summary="Add a staff user",
    description="Staff add colleagues; an e-mail address belongs to one user only (409).",
    responses=problems(*POSTED),
    tags=["auth"],
)
async def add_staff_user(data: JSONBody[NewStaffUser], db: DbSession) -> Me:
    """Create a staff user."""
    user = await service.create_user(db, email=data.email, password=data.password, role=Role.STAFF)
    return me_of(user)


@get("/v1/me", summary="Who am I", responses=problems(*AUTHENTICATED), tags=["auth"])
async def me(caller: Caller) -> Me:
    """The calling user."""
    return me_of(caller)
