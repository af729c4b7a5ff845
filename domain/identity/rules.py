"""Pure rules about users: roles, e-mail and password policy, login throttling."""

from __future__ import annotations

import enum
import hashlib
import re
import unicodedata

from domain.errors import FieldError

MIN_PASSWORD_LENGTH = 10
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs"})  # control characters, lone surrogates (not encodable)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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


def normalize_email(email: str) -> str:
    """E-mail addresses compare case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def credential_errors(email: str, password: str) -> list[FieldError]:
    """What is wrong with a new user's e-mail and password, field by field."""
    errors = []
    if not _EMAIL.match(normalize_email(email)):
        errors.append(FieldError("email", "not a valid e-mail address"))
    if any(unicodedata.category(c) in _CONTROL_CATEGORIES for c in password):
        errors.append(FieldError("password", "must not contain control characters (NUL, tab, new line, ...)"))
    elif len(password.strip()) < MIN_PASSWORD_LENGTH:
        # Blanks do not count: ten spaces are no password.
        errors.append(FieldError("password", f"must have at least {MIN_PASSWORD_LENGTH} characters besides blanks"))
    return errors


def token_digest(token: str) -> str:
    """Tokens are stored only as digests, so a database leak yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def login_locked(recent_failures: int, max_failures: int) -> bool:
    """Failed logins inside the window beyond the limit lock the address out."""
    return recent_failures >= max_failures


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
