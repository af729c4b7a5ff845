"""What the routes read of the member network: plain values, already cut to what the reader may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

__all__ = ["ClaimView", "EventView", "OfferView", "ProfileView", "RegistrationView"]


@dataclass(frozen=True, slots=True)
class ProfileView:
    """One member's profile as one reader sees it.

    `fields` holds only the fields the reader may see; `visibility` and `listed` only for
    the member itself and staff (None for everyone else).
    """

    member_id: int
    name: str
    fields: dict[str, object]
    listed: bool | None
    visibility: dict[str, str] | None
    distance_km: float | None
    updated_at: datetime
    # The catalog supplier the member business is (it sells through the co-op); None for the public.
    supplier_id: int | None = None


@dataclass(frozen=True, slots=True)
class OfferView:
    """An offer of one member to the others, with how many claimed and redeemed it."""

    id: int
    member_id: int
    member_name: str
    title: str
    description: str
    discount_rate: Decimal | None
    price_cents: int | None
    valid_from: datetime
    valid_until: datetime
    max_redemptions: int | None
    terms: str | None
    claimed: int
    redeemed: int


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A member's claim on an offer; `redeemed_at` once the offering member confirmed it."""

    offer_id: int
    member_id: int
    code: str
    claimed_at: datetime
    redeemed_at: datetime | None
    offer_claimed: int
    offer_redeemed: int


@dataclass(frozen=True, slots=True)
class EventView:
    """An event with its seats: `taken` confirmed attendees of `capacity`."""

    id: int
    title: str
    description: str
    starts_at: datetime
    ends_at: datetime
    cancellation_deadline: datetime
    place: str | None
    online_url: str | None
    capacity: int
    taken: int
    member_price_cents: int
    nonmember_price_cents: int
    status: str
    proposed_by_member_id: int | None


@dataclass(frozen=True, slots=True)
class RegistrationView:
    """A member business's registration: its attendees (name, e-mail), status and fee."""

    id: int
    event_id: int
    member_id: int | None  # None for a non-member, registered by staff
    organisation: str | None  # the non-member's organisation
    status: str
    attendees: list[tuple[str, str]]
    fee_cents: int
    fee_owed_cents: int  # a confirmed non-member's fee, owed outside the ledger
    registered_at: datetime
    cancelled_at: datetime | None
    attendance: str | None
