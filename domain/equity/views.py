"""Views of the equity records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

__all__ = ["RedemptionLineView", "RedemptionRunView", "SpecialRedemptionLineView", "SpecialRedemptionView"]


class RedemptionRunView(Protocol):
    """The transports' view of a stored `RedemptionRun`.

    A board decision to redeem retained equity: computed once, posted at most once.
    """

    id: int | None
    method: str
    status: str
    as_of: date
    board_budget_cents: int
    cash_available_cents: int | None
    minimum_cash_cents: int | None
    equity_cents: int | None
    assets_cents: int | None
    equity_ratio_floor: Decimal | None
    budget_cents: int
    outstanding_cents: int
    redeemed_cents: int
    line_count: int
    member_count: int
    created_at: datetime
    posted_at: datetime | None


class RedemptionLineView(Protocol):
    """The transports' view of a stored `RedemptionLine`.

    What one lot gives up in a run; approval posts ``amount_cents`` against the lot.
    """

    id: int | None
    run_id: int
    lot_id: int
    member_id: int
    member_number: int
    fiscal_year: int
    qualified: bool
    amount_cents: int


class SpecialRedemptionView(Protocol):
    """The transports' view of a stored `SpecialRedemption`.

    A member's whole outstanding equity redeemed early (death, retirement, exit) at present value.
    """

    id: int | None
    member_id: int
    reason: str
    as_of: date
    discount_rate: Decimal
    revolving_years: int
    outstanding_cents: int
    present_value_cents: int
    discount_cents: int
    set_off_cents: int
    payout_cents: int
    payout_id: int | None
    created_at: datetime


class SpecialRedemptionLineView(Protocol):
    """The transports' view of a stored `SpecialRedemptionLine`.

    One lot in a special redemption: its outstanding face, present value and discount.
    """

    id: int | None
    special_redemption_id: int
    lot_id: int
    fiscal_year: int
    qualified: bool
    outstanding_cents: int
    years: int
    present_value_cents: int
    discount_cents: int
