"""Signing in, and who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Principal, check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Email, Password
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import query_id
from api.unit_of_work import keep_work_on_error
from domain.errors import AuthenticationError, FieldError, ForbiddenError, InvalidInputError, TooManyAttemptsError
from domain.identity import service
from domain.identity.rules import AttemptOutcome, MemberRole, Role
from domain.identity.views import UserView
from domain.network import sellers


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


def _principal(user: UserView) -> Principal:
    """Who a stored user is (as api.auth's Principal.of, from the user's view rather than its table)."""
    assert user.id is not None  # noqa: S101 - stored users
    return Principal(
        user_id=user.id,
        email=user.email,
        role=Role(user.role),
        member_id=user.member_id,
        supplier_id=user.supplier_id,
        member_role=MemberRole(user.member_role) if user.member_role else None,
    )


def me_of(user: UserView | Principal) -> Me:
    """The public view of a user."""
    who = user if isinstance(user, Principal) else _principal(user)
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
    description=(
        "Exchange e-mail and password for a bearer token. Failures are throttled per client address and per"
        " account with doubling delays (429 with Retry-After); the account's own throttle does not apply from"
        " the address it last signed in from. Disabled users and users of expelled or former members cannot"
        " sign in (the same 401 as a wrong password)."
    ),
    responses=problems(400, 401, 413, 429),
    tags=["auth"],
)
async def issue_token(
    data: JSONBody[TokenRequest], db: DbSession, state: State, request: Request[Any, Any, Any]
) -> TokenAnswer:
    """Check the password and hand out a token."""
    attempt = await service.sign_in(
        db,
        email=data.email,
        password=data.password,
        client_address=client_address(request),
        policy=state.login_policy,
        now=datetime.now(UTC),
    )
    if attempt.outcome is AttemptOutcome.THROTTLED:
        msg = "too many failed sign-ins; try again later"
        raise TooManyAttemptsError(msg, attempt.retry_after_seconds)
    if attempt.token is None:
        keep_work_on_error(request.scope)  # the failure counts even though the answer is an error
        msg = "e-mail or password is wrong"
        raise AuthenticationError(msg)
    issued = attempt.token
    return TokenAnswer(issued.access_token, "bearer", issued.expires_in, me_of(issued.user))


def client_address(request: Request[Any, Any, Any]) -> str:
    """The ASGI client's host: behind a proxy, the proxy must pass the real one on (see README)."""
    return request.client.host if request.client else "unknown"


@post(
    "/v1/auth/sign-out",
    status_code=204,
    summary="Sign out",
    description="The caller's bearer token stops working at once.",
    responses=problems(*AUTHENTICATED),
    tags=["auth"],
)
async def sign_out(db: DbSession, request: Request[Any, Any, Any]) -> None:
    """Revoke the token this request came with."""
    await service.sign_out(db, str(request.auth))


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """The current password and the new one."""

    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    new_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


@post(
    "/v1/me/password",
    status_code=204,
    summary="Change my password",
    description=(
        "Needs the current password; every other token of the caller stops working. Wrong current passwords"
        " count against the account's sign-in throttle (429)."
    ),
    responses=problems(400, *AUTHENTICATED, 422, 429),
    tags=["auth"],
)
async def change_password(
    data: JSONBody[PasswordChange], db: DbSession, caller: Caller, state: State, request: Request[Any, Any, Any]
) -> None:
    """Set a new password and sign out everywhere else."""
    attempt = await service.change_password(
        db,
        caller.user_id,
        current_password=data.current_password,
        new_password=data.new_password,
        keep_token=str(request.auth),
        policy=state.login_policy,
        now=datetime.now(UTC),
    )
    if attempt.outcome is AttemptOutcome.THROTTLED:
        msg = "too many wrong passwords for this account; try again later"
        raise TooManyAttemptsError(msg, attempt.retry_after_seconds)
    if attempt.outcome is AttemptOutcome.WRONG:
        keep_work_on_error(request.scope)  # the wrong guess counts even though the answer is an error
        msg = "the current password is wrong"
        raise InvalidInputError(msg, [FieldError("current_password", "is wrong")])


class UserOut(msgspec.Struct):
    """A user as the people who manage them see it."""

    id: str
    email: str
    role: Role
    member_id: str | None
    supplier_id: str | None
    member_role: MemberRole | None
    disabled: bool


def user_out(user: UserView) -> UserOut:
    """The managed view of a user."""
    who = _principal(user)
    return UserOut(
        id=str(who.user_id),
        email=who.email,
        role=who.role,
        member_id=_opt(who.member_id),
        supplier_id=_opt(who.supplier_id),
        member_role=who.member_role,
        disabled=user.disabled_at is not None,
    )


@get(
    "/v1/users",
    access=staff_or_members,
    summary="Users",
    description=(
        "Staff see every user, or a member's with `member_id`; a member's admins see their own member's users"
        " (`member_id` of another member: 404)."
    ),
    responses=problems(400, 404, *AUTHENTICATED),
    tags=["users"],
)
async def list_users(
    db: DbSession,
    caller: Caller,
    member_id: Annotated[str | None, Parameter(description="only this member's users")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[UserOut]:
    """Users in id order."""
    mid = query_id(member_id, "member_id")
    if caller.role is not Role.STAFF:
        mid = caller.member_id if mid is None else mid
        assert mid is not None  # noqa: S101 - the guard lets only staff and member users in
        check_member_access(caller, mid, admin=True)
    users = await service.users(db, only_member_id=mid, after_id=after_id(cursor), limit=limit)
    return Page([user_out(u) for u in users], next_cursor([u.id for u in users if u.id is not None], limit))


class UserChange(msgspec.Struct, forbid_unknown_fields=True):
    """What to change; absent fields stay as they are."""

    member_role: MemberRole | None = None
    disabled: bool | None = None


@patch(
    "/v1/users/{user_id:str}",
    access=staff_or_members,
    summary="Change a user's role, disable or re-enable them",
    description=(
        "Staff for any user; a member's admins for their own member's users (others: 404). A member always"
        " keeps one enabled admin (409). Disabling signs the user out everywhere."
    ),
    responses=problems(400, 404, 409, *AUTHENTICATED),
    tags=["users"],
)
async def change_user(user_id: FromPath[str], data: JSONBody[UserChange], db: DbSession, caller: Caller) -> UserOut:
    """Apply the change under the member's lock."""
    uid = path_id(user_id, "user")
    if caller.role is not Role.STAFF and caller.member_role is not MemberRole.ADMIN:
        msg = "only staff and a member's admins manage users"
        raise ForbiddenError(msg)
    user = await service.change_user(
        db,
        uid,
        only_member_id=None if caller.role is Role.STAFF else caller.member_id,
        actor_user_id=caller.user_id,
        member_role=data.member_role,
        disabled=data.disabled,
        now=datetime.now(UTC),
    )
    return user_out(user)


@post(
    "/v1/users/{user_id:str}/unlock",
    status_code=204,
    access=staff_only,
    summary="Unlock an account",
    description="Forget the account's failed sign-ins, so its owner may sign in at once from anywhere.",
    responses=problems(400, 404, *AUTHENTICATED, 422),
    tags=["users"],
)
async def unlock_user(user_id: FromPath[str], db: DbSession) -> None:
    """Clear the account's throttling."""
    await service.unlock(db, path_id(user_id, "user"))


class NewStaffUser(msgspec.Struct, forbid_unknown_fields=True):
    """A colleague's e-mail and initial password."""

    email: Email
    password: Password


@post(
    "/v1/staff-users",
    access=staff_only,
    summary="Add a staff user",
    description="Staff add colleagues; an e-mail address belongs to one user only (409).",
    responses=problems(*POSTED),
    tags=["auth"],
)
async def add_staff_user(data: JSONBody[NewStaffUser], db: DbSession) -> Me:
    """Create a staff user."""
    user = await service.create_user(db, email=data.email, password=data.password, role=Role.STAFF)
    return me_of(user)


@get(
    "/v1/me",
    summary="Who am I",
    description=(
        "A user of a member business that is also a supplier (members as suppliers) gets both ids: member_id, and"
        " supplier_id while it may act on the supplier's side (an admin or buyer, the member in good standing)."
    ),
    responses=problems(*AUTHENTICATED),
    tags=["auth"],
)
async def me(caller: Caller, db: DbSession) -> Me:
    """The calling user, with the supplier its member business is, if it acts for one."""
    found = me_of(caller)
    if caller.role is Role.MEMBER and caller.member_id is not None:
        supplier_id = await sellers.seller_supplier(db, caller.member_id, caller.member_role)
        if supplier_id is not None:
            found.supplier_id = str(supplier_id)
    return found
