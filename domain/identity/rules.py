"""Pure rules about users: roles, e-mail and password policy, login throttling."""

from __future__ import annotations

import enum
import hashlib
import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import FieldError

# A user signs in with an e-mail address, and a member is known by one: membership owns the rule.
from domain.membership.rules import email_errors, normalize_email

MIN_PASSWORD_LENGTH = 10
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs"})  # control characters, lone surrogates (not encodable)


class Role(enum.StrEnum):
    """Who a user is to the co-op."""

    STAFF = "staff"
    MEMBER = "member"
    SUPPLIER = "supplier"


class MemberRole(enum.StrEnum):
    """What a member's user may do for their business."""

    ADMIN = "admin"
    BUYER = "buyer"
    FINANCE = "finance"


def credential_errors(email: str, password: str) -> list[FieldError]:
    """What is wrong with a new user's e-mail and password, field by field."""
    errors = email_errors(email)
    if any(unicodedata.category(c) in _CONTROL_CATEGORIES for c in password):
        errors.append(FieldError("password", "must not contain control characters (NUL, tab, new line, ...)"))
    elif len(password.strip()) < MIN_PASSWORD_LENGTH:
        # Blanks do not count: ten spaces are no password.
        errors.append(FieldError("password", f"must have at least {MIN_PASSWORD_LENGTH} characters besides blanks"))
    return errors


def token_digest(token: str) -> str:
    """Tokens are stored only as digests, so a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """Failed sign-ins a key may have for free, then delays doubling from `base` up to `cap`.

    Failures older than `forget_after` seconds (counted from the last one) are forgotten.
    """

    free_failures: int
    base_delay_seconds: int
    max_delay_seconds: int
    forget_after_seconds: int


@dataclass(frozen=True, slots=True)
class ThrottleState:
    """What one throttling key (a client address or an account) remembers."""

    failures: int
    blocked_until: datetime | None
    last_failure_at: datetime | None


def retry_after_seconds(state: ThrottleState, now: datetime) -> int:
    """0 when an attempt may go ahead now, else the whole seconds to wait."""
    if state.blocked_until is None or state.blocked_until <= now:
        return 0
    return max(1, math.ceil((state.blocked_until - now).total_seconds()))


def backoff_seconds(failures: int, policy: ThrottlePolicy) -> int:
    """The delay after the `failures`-th failure: none while free, then base, 2*base, ... capped."""
    if failures < policy.free_failures:
        return 0
    doublings = failures - policy.free_failures
    # Past this many doublings the delay is the cap anyway; this keeps the shift small.
    if doublings >= policy.max_delay_seconds.bit_length():
        return policy.max_delay_seconds
    return min(policy.base_delay_seconds << doublings, policy.max_delay_seconds)


def after_failure(state: ThrottleState, now: datetime, policy: ThrottlePolicy) -> ThrottleState:
    """The key's state once one more attempt failed at `now`."""
    stale = state.last_failure_at is None or (now - state.last_failure_at).total_seconds() > policy.forget_after_seconds
    failures = (0 if stale else state.failures) + 1
    delay = backoff_seconds(failures, policy)
    return ThrottleState(failures, now + timedelta(seconds=delay) if delay else None, now)


def account_key(email: str) -> str:
    """The throttling key of an account (also of e-mails with no account, so both behave alike)."""
    return f"account:{normalize_email(email)}"


def throttle_keys(email: str, client_address: str, known_address: str | None) -> list[str]:
    """The keys an attempt is throttled by, in the order their rows are locked.

    Always the client address (one client spraying many e-mails); the account too,
    unless the attempt comes from where the account last signed in: a stranger
    hammering the account does not lock its owner out of their usual device.
    """
    keys = {f"address:{client_address}"}
    if known_address is None or known_address != client_address:
        keys.add(account_key(email))
    return sorted(keys)


class AttemptOutcome(enum.Enum):
    """How a password check ended (the route turns the failures into 401/400 or 429)."""

    ACCEPTED = "accepted"
    WRONG = "wrong"  # wrong e-mail or password, or an account that may not sign in: all look the same
    THROTTLED = "throttled"


class Access(enum.Enum):
    """What a caller may do with one member's data."""

    ALLOWED = "allowed"
    HIDDEN = "hidden"  # another member's users: as if it did not exist (404)
    FORBIDDEN = "forbidden"  # a role that never may (403)


def member_access(
    role: Role, caller_member_id: int | None, caller_member_role: MemberRole | None, member_id: int, *, admin: bool
) -> Access:
    """Staff see every member; a member's users see only their own, and only its admins manage it."""
    if role is Role.STAFF:
        return Access.ALLOWED
    if role is not Role.MEMBER:
        return Access.FORBIDDEN
    if caller_member_id != member_id:
        return Access.HIDDEN
    if admin and caller_member_role is not MemberRole.ADMIN:
        return Access.FORBIDDEN
    return Access.ALLOWED


# A departed member's users are done with the co-op: no sign-in, their tokens dead.
# A suspended member's users may still sign in and read (statements, notices);
# the member's writes are refused where the member's standing is checked.
DEPARTED_MEMBER_STATUSES = frozenset({"expelled", "former"})


def member_takes_new_users(member_status: str) -> bool:
    """A suspended or departed member gets no new users (they would only widen its access)."""
    return member_status not in DEPARTED_MEMBER_STATUSES and member_status != "suspended"


def member_admins_may_change_users(member_status: str) -> bool:
    """A suspended member's admins write nothing, their users included (staff still may)."""
    return member_takes_new_users(member_status)


def may_sign_in(*, disabled: bool, member_status: str | None) -> bool:
    """Whether a user may sign in and use tokens: enabled, and not of a departed member."""
    return not disabled and member_status not in DEPARTED_MEMBER_STATUSES


def last_admin_problem(
    active_admin_ids: set[int], user_id: int, *, new_role: MemberRole | None, disable: bool
) -> str | None:
    """A member always keeps one enabled admin: why demoting or disabling `user_id` is refused, if it is."""
    if user_id not in active_admin_ids or active_admin_ids - {user_id}:
        return None
    if disable:
        return "the member's last admin cannot be disabled"
    if new_role is not None and new_role is not MemberRole.ADMIN:
        return "the member's last admin cannot change role"
    return None
