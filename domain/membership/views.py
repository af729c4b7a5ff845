"""Views of the membership records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import date, datetime

__all__ = ["MemberView", "ShareRedemptionDecisionView"]


class MemberView(Protocol):
    """The transports' view of a stored `Member`: a business that belongs to the co-op (one member, one vote)."""

    id: int | None
    member_number: int | None
    name: str
    email: str
    contact_name: str | None
    status: str
    share_par_cents: int
    joined_at: datetime | None
    left_at: datetime | None
    probation_ends_on: date | None
    resigns_on: date | None
    external_ref: str | None
    created_at: datetime


class ShareRedemptionDecisionView(Protocol):
    """The transports' view of a stored `ShareRedemptionDecision`.

    The board's decision on a leaving member's share: one per member, approval final.
    """

    member_id: int
    decision: str
    reason: str | None
    payout_cents: int
    set_off_cents: int
    decided_at: datetime
    actor_user_id: int | None
