"""Sign-in, tokens and user creation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import AuthenticationError, ConflictError, InvalidInputError, TooManyAttemptsError
from domain.identity.passwords import hash_password, verify_password
from domain.identity.rules import MemberRole, Role, credential_errors, login_locked, normalize_email, token_digest
from domain.identity.tables import AuthToken, LoginFailure, User

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How long tokens live and how failed logins are throttled."""

    token_ttl_seconds: int
    max_failures: int
    failure_window_seconds: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A fresh bearer token; the plain value exists only in this answer."""

    access_token: str
    expires_in: int
    user: User


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: Role,
    member_id: int | None = None,
    supplier_id: int | None = None,
    member_role: MemberRole | None = None,
) -> User:
    """Add a user; an e-mail address belongs to one user only."""
    if errors := credential_errors(email, password):
        msg = "the user's credentials are not acceptable"
        raise InvalidInputError(msg, errors)
    password_hash = await anyio.to_thread.run_sync(hash_password, password)
    user_id = (
        await session.execute(
            insert(User)
            .values(
                email=normalize_email(email),
                password_hash=password_hash,
                role=role.value,
                member_id=member_id,
                supplier_id=supplier_id,
                member_role=member_role.value if member_role else None,
            )
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(col(User.id))
        )
    ).scalar_one_or_none()
    if user_id is None:
        msg = f"a user with e-mail {normalize_email(email)} already exists"
        raise ConflictError(msg)
    user = await session.get(User, user_id)
    assert user is not None  # noqa: S101 - inserted just above
    return user


async def ensure_staff(session: AsyncSession, email: str, password: str) -> bool:
    """Create the bootstrap staff user unless that e-mail exists; True when created."""
    existing = await user_by_email(session, email)
    if existing is not None:
        return False
    try:
        await create_user(session, email=email, password=password, role=Role.STAFF)
    except ConflictError:  # another process bootstrapped it at the same moment
        return False
    return True


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this e-mail address, if any."""
    result = await session.exec(select(User).where(col(User.email) == normalize_email(email)))
    return result.one_or_none()


async def issue_token(
    session: AsyncSession, *, email: str, password: str, policy: LoginPolicy, now: datetime
) -> IssuedToken:
    """Check a password and hand out a bearer token; throttle repeated failures.

    A failed attempt is committed before the error is raised: the request's own
    transaction rolls back on errors, and the count must survive it.
    """
    address = normalize_email(email)
    window_start = now - timedelta(seconds=policy.failure_window_seconds)
    failures = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(LoginFailure)
            .where(col(LoginFailure.email) == address, col(LoginFailure.occurred_at) > window_start)
        )
    ).scalar_one()
    if login_locked(failures, policy.max_failures):
        msg = "too many failed sign-ins for this address; try again later"
        raise TooManyAttemptsError(msg, policy.failure_window_seconds)
    user = await user_by_email(session, address)
    ok = await anyio.to_thread.run_sync(verify_password, user.password_hash if user else None, password)
    if not ok or user is None:
        session.add(LoginFailure(email=address, occurred_at=now))
        await session.commit()
        msg = "e-mail or password is wrong"
        raise AuthenticationError(msg)
    token = secrets.token_urlsafe(32)
    assert user.id is not None  # noqa: S101 - loaded from the database
    session.add(
        AuthToken(
            token_digest=token_digest(token),
            user_id=user.id,
            expires_at=now + timedelta(seconds=policy.token_ttl_seconds),
        )
    )
    await session.flush()
    return IssuedToken(token, policy.token_ttl_seconds, user)


async def user_for_token(session: AsyncSession, token: str, now: datetime) -> User | None:
    """The user a live token belongs to; None for unknown or expired tokens."""
    result = await session.exec(
        select(User)
        .join(AuthToken, col(AuthToken.user_id) == col(User.id))
        .where(col(AuthToken.token_digest) == token_digest(token), col(AuthToken.expires_at) > now)
    )
    return result.one_or_none()
