"""Sign-in, tokens and user creation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.errors import ConflictError, FieldError, ForbiddenError, InvalidInputError, NotFoundError
from domain.identity.passwords import hash_password, verify_password
from domain.identity.rules import (
    DEPARTED_MEMBER_STATUSES,
    AttemptOutcome,
    MemberRole,
    Role,
    ThrottlePolicy,
    ThrottleState,
    account_key,
    after_failure,
    credential_errors,
    last_admin_problem,
    may_sign_in,
    member_admins_may_change_users,
    retry_after_seconds,
    throttle_keys,
    token_digest,
)
from domain.identity.tables import AuthToken, LoginThrottle, User
from domain.membership.rules import normalize_email
from domain.membership.tables import Member

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


EMAIL_TAKEN = "this e-mail address cannot be used for a new user"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How long tokens live and how failed sign-ins are throttled.

    Each key (client address, account) has `max_failures` failures for free; then it
    waits `base_delay_seconds`, doubling with every further failure up to
    `failure_window_seconds`; a day without failures forgets them.
    """

    token_ttl_seconds: int
    max_failures: int
    failure_window_seconds: int
    base_delay_seconds: int = 30
    forget_after_seconds: int = 86_400

    @property
    def throttle(self) -> ThrottlePolicy:
        """The pure throttling rule's view of this policy."""
        return ThrottlePolicy(
            free_failures=self.max_failures,
            base_delay_seconds=min(self.base_delay_seconds, self.failure_window_seconds),
            max_delay_seconds=self.failure_window_seconds,
            forget_after_seconds=self.forget_after_seconds,
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A fresh bearer token; the plain value exists only in this answer."""

    access_token: str
    expires_in: int
    user: User


@dataclass(frozen=True, slots=True)
class SignIn:
    """The end of a password check: accepted (with a token, for sign-in), a wrong guess (recorded), or a refusal."""

    outcome: AttemptOutcome
    token: IssuedToken | None = None
    retry_after_seconds: int = 0


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
        # The same answer whoever holds the address (staff, another member, a supplier):
        # it says nothing about whose it is.
        raise ConflictError(EMAIL_TAKEN)
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


async def sign_in(
    session: AsyncSession, *, email: str, password: str, client_address: str, policy: LoginPolicy, now: datetime
) -> SignIn:
    """Check a password under throttling and hand out a bearer token.

    The throttling rows of the attempt's keys stay locked until the caller commits,
    so concurrent guesses for one key are checked one after another and none slips
    past the limit. A wrong guess is written but not committed here: the caller
    commits it before answering 401.
    """
    address = normalize_email(email)
    found = (
        await session.execute(
            sa.select(User, col(Member.status))
            .outerjoin(Member, col(Member.id) == col(User.member_id))
            .where(col(User.email) == address)
        )
    ).one_or_none()
    user, member_status = (found[0], found[1]) if found else (None, None)
    states = {
        key: await _locked_throttle(session, key)
        for key in throttle_keys(address, client_address, user.last_sign_in_address if user else None)
    }
    if wait := max(retry_after_seconds(state, now) for state in states.values()):
        return SignIn(AttemptOutcome.THROTTLED, retry_after_seconds=wait)
    ok = await anyio.to_thread.run_sync(verify_password, user.password_hash if user else None, password)
    if not ok or user is None or not may_sign_in(disabled=user.disabled_at is not None, member_status=member_status):
        for key, state in states.items():
            await _record_failure(session, key, after_failure(state, now, policy.throttle))
        return SignIn(AttemptOutcome.WRONG)
    # The account's owner got in: their account's failures are forgiven (the address's stay).
    await session.execute(sa.delete(LoginThrottle).where(col(LoginThrottle.key) == account_key(address)))
    user.last_sign_in_address = client_address
    session.add(user)
    return SignIn(AttemptOutcome.ACCEPTED, token=await _issue(session, user, policy, now))


async def _locked_throttle(session: AsyncSession, key: str) -> ThrottleState:
    """The key's state, its row created if new and locked until the transaction ends."""
    table = LoginThrottle.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
    row = (
        await session.execute(
            insert(LoginThrottle)
            .values(key=key, failures=0)
            # A no-op update: it makes the statement lock an existing row and return it.
            .on_conflict_do_update(index_elements=["key"], set_={"failures": table.c.failures})
            .returning(
                col(LoginThrottle.failures), col(LoginThrottle.blocked_until), col(LoginThrottle.last_failure_at)
            )
        )
    ).one()
    return ThrottleState(row[0], row[1], row[2])


async def _record_failure(session: AsyncSession, key: str, after: ThrottleState) -> None:
    await session.execute(
        sa.update(LoginThrottle)
        .where(col(LoginThrottle.key) == key)
        .values(failures=after.failures, blocked_until=after.blocked_until, last_failure_at=after.last_failure_at)
    )


async def _issue(session: AsyncSession, user: User, policy: LoginPolicy, now: datetime) -> IssuedToken:
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
    """The user a live token belongs to; None for unknown or expired tokens, disabled users and departed members."""
    found = await token_holder(session, token, now)
    return None if found is None else found[0]


# Built once, with the departed statuses as one array parameter: building the statement per
# look-up, and expanding a NOT IN list on every execution, was most of a token look-up's CPU
# (about a third of the API's in an order change run whose tokens were not cached yet).
_TOKEN_HOLDER = (
    select(User, AuthToken.expires_at)
    .join(AuthToken, col(AuthToken.user_id) == col(User.id))
    .outerjoin(Member, col(Member.id) == col(User.member_id))
    .where(
        col(AuthToken.token_digest) == sa.bindparam("digest", type_=sa.String),
        col(AuthToken.expires_at) > sa.bindparam("now", type_=sa.DateTime(timezone=True)),
        col(User.disabled_at).is_(None),
        sa.or_(
            col(User.member_id).is_(None),
            col(Member.status) != sa.all_(sa.literal(sorted(DEPARTED_MEMBER_STATUSES), ARRAY(sa.String))),
        ),
    )
)


async def token_holder(session: AsyncSession, token: str, now: datetime) -> tuple[User, datetime] | None:
    """The user a live token belongs to and when the token expires; None as for `user_for_token`."""
    result = await session.exec(_TOKEN_HOLDER, params={"digest": token_digest(token), "now": now})
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def sign_out(session: AsyncSession, token: str) -> None:
    """The token stops working at once."""
    await session.execute(sa.delete(AuthToken).where(col(AuthToken.token_digest) == token_digest(token)))


async def revoke_tokens(session: AsyncSession, user_id: int, *, keep_token: str | None = None) -> None:
    """Every token of the user stops working (but `keep_token`, the caller's own)."""
    query = sa.delete(AuthToken).where(col(AuthToken.user_id) == user_id)
    if keep_token is not None:
        query = query.where(col(AuthToken.token_digest) != token_digest(keep_token))
    await session.execute(query)


async def users(session: AsyncSession, *, only_member_id: int | None, after_id: int, limit: int) -> list[User]:
    """A page of users (of one member, when given), in id order."""
    query = select(User).where(col(User.id) > after_id).order_by(col(User.id)).limit(limit)
    if only_member_id is not None:
        query = query.where(col(User.member_id) == only_member_id)
    return list((await session.exec(query)).all())


async def change_user(
    session: AsyncSession,
    user_id: int,
    *,
    only_member_id: int | None,
    actor_user_id: int,
    member_role: MemberRole | None,
    disabled: bool | None,
    now: datetime,
) -> User:
    """Change a user's member role or disable / re-enable them; a member never loses its last admin.

    `only_member_id` limits a member admin to their own member's users (others: 404).
    Disabling deletes the user's tokens. The member's users are locked in id order
    before anything is decided, so admins demoting each other at once cannot leave
    the member without one.
    """
    user = await _changeable(
        session,
        user_id,
        only_member_id=only_member_id,
        actor_user_id=actor_user_id,
        member_role=member_role,
        disabled=disabled,
    )
    # The member's users (the target among them) locked in id order: one lock order, no deadlock.
    team = (
        await session.exec(
            select(User)
            .where(col(User.member_id) == user.member_id if user.member_id is not None else col(User.id) == user_id)
            .order_by(col(User.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    user = next(u for u in team if u.id == user_id)
    admins = {u.id for u in team if u.id is not None and u.member_role == MemberRole.ADMIN and u.disabled_at is None}
    # A member admin acting must still be an enabled admin now that the lock is held.
    if only_member_id is not None and actor_user_id not in admins:
        msg = "your role may not do this for this member"
        raise ForbiddenError(msg)
    if problem := last_admin_problem(admins, user_id, new_role=member_role, disable=bool(disabled)):
        raise ConflictError(problem)
    if member_role is not None:
        user.member_role = member_role.value
    if disabled is True and user.disabled_at is None:
        user.disabled_at = now
        await revoke_tokens(session, user_id)
    elif disabled is False:
        user.disabled_at = None
    session.add(user)
    await session.flush()
    return user


async def _changeable(
    session: AsyncSession,
    user_id: int,
    *,
    only_member_id: int | None,
    actor_user_id: int,
    member_role: MemberRole | None,
    disabled: bool | None,
) -> User:
    """The user to change, unlocked, after the checks that need no lock."""
    # A user's tenant never changes, so an unlocked look decides which rows to lock.
    user = await session.get(User, user_id)
    if user is None or (only_member_id is not None and user.member_id != only_member_id):
        raise NotFoundError(f"user {user_id} not found")
    if member_role is not None and user.role != Role.MEMBER:
        msg = "only a member's users have a member role"
        raise InvalidInputError(msg, [FieldError("member_role", "this user is not a member's user")])
    if disabled and user_id == actor_user_id:
        msg = "you cannot disable yourself"
        raise ConflictError(msg)
    if only_member_id is not None:
        status = (await session.execute(sa.select(col(Member.status)).where(col(Member.id) == only_member_id))).scalar()
        if status is not None and not member_admins_may_change_users(status):
            msg = f"a {status} member's admins cannot change its users"
            raise ConflictError(msg)
    return user


async def change_password(
    session: AsyncSession,
    user_id: int,
    *,
    current_password: str,
    new_password: str,
    keep_token: str,
    policy: LoginPolicy,
    now: datetime,
) -> SignIn:
    """The user's new password, given the current one; every other token of theirs stops working.

    Guesses of the current password (a stolen token) count against the account's
    sign-in throttle; as with sign-in, a wrong guess is written but the caller commits it.
    """
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    if errors := [e for e in credential_errors(user.email, new_password) if e.field == "password"]:
        msg = "the new password is not acceptable"
        raise InvalidInputError(msg, [FieldError("new_password", e.message) for e in errors])
    key = account_key(user.email)
    state = await _locked_throttle(session, key)
    if wait := retry_after_seconds(state, now):
        return SignIn(AttemptOutcome.THROTTLED, retry_after_seconds=wait)
    if not await anyio.to_thread.run_sync(verify_password, user.password_hash, current_password):
        await _record_failure(session, key, after_failure(state, now, policy.throttle))
        return SignIn(AttemptOutcome.WRONG)
    user.password_hash = await anyio.to_thread.run_sync(hash_password, new_password)
    session.add(user)
    await revoke_tokens(session, user_id, keep_token=keep_token)
    return SignIn(AttemptOutcome.ACCEPTED)


async def unlock(session: AsyncSession, user_id: int) -> None:
    """Forget the account's failed sign-ins (client addresses keep theirs)."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    await session.execute(sa.delete(LoginThrottle).where(col(LoginThrottle.key) == account_key(user.email)))


async def forget_quiet_throttles(session: AsyncSession, now: datetime, forget_after_seconds: int = 86_400) -> int:
    """Delete throttling rows with no failure for `forget_after_seconds` and no wait left: they count as zero anyway.

    Without this, an attacker spraying e-mail addresses would grow the table forever.
    """
    quiet_since = now - timedelta(seconds=forget_after_seconds)
    result = await session.execute(
        sa.delete(LoginThrottle).where(
            col(LoginThrottle.last_failure_at) < quiet_since,
            sa.or_(col(LoginThrottle.blocked_until).is_(None), col(LoginThrottle.blocked_until) < now),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
