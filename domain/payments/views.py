"""Views of the payments records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["CardPaymentView", "PayoutView", "ShareCardPaymentView"]


class PayoutView(Protocol):
    """The transports' view of a stored `Payout`.

    One payout instruction; every change of its status is also a ledger entry.
    """

    id: int | None
    member_id: int
    kind: str
    amount_cents: int
    status: str
    method: str | None
    reference: str | None
    business_key: str
    paid_at: datetime | None
    created_at: datetime


class CardPaymentView(Protocol):
    """The transports' view of an order's card payment (its newest stored `CardHold`)."""

    status: str
    amount_cents: int
    captured_cents: int
    refunded_cents: int
    client_secret: str | None
    capture_before: datetime | None
    action_deadline: datetime | None


class ShareCardPaymentView(Protocol):
    """The transports' view of a stored `ShareCardPayment` (a membership share paid by saved card)."""

    id: int | None
    member_id: int
    amount_cents: int
    status: str
    client_secret: str | None
    failure: str
    created_at: datetime
