"""Views of the identity records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["UserView"]


class UserView(Protocol):
    """The transports' view of a stored `User`.

    A person who signs in: co-op staff, a member's user, or a supplier's user.
    """

    id: int | None
    email: str
    role: str
    member_id: int | None
    supplier_id: int | None
    member_role: str | None
    disabled_at: datetime | None
    created_at: datetime
