"""What the programme services answer: plain values the transports shape (no table types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

__all__ = [
    "AccrualView",
    "ClaimView",
    "ContractView",
    "ExpenseView",
    "LineView",
    "MemberAccrual",
    "PoolMargin",
    "ReportOutcome",
    "TierView",
    "Unmatched",
]


@dataclass(frozen=True, slots=True)
class TierView:
    """A rebate tier."""

    min_spend_cents: int
    rate: Decimal


@dataclass(frozen=True, slots=True)
class MemberAccrual:
    """A member's spend in a period and share of its pass-through."""

    member_id: int
    member_number: int
    spend_cents: int
    pass_through_cents: int


@dataclass(frozen=True, slots=True)
class AccrualView:
    """What a period's accepted purchases have earned so far (at period end: what the claim bills)."""

    period_start: date
    period_end: date
    spend_cents: int
    rebate_cents: int
    fee_cents: int
    pass_through_cents: int
    members: tuple[MemberAccrual, ...]


@dataclass(frozen=True, slots=True)
class ContractView:
    """A contract with its tiers, eligible members and the current period's accrual."""

    id: int
    supplier_id: int
    starts_on: date
    ends_on: date
    pool: str
    period: str
    rebate_mode: str
    tiers: tuple[TierView, ...]
    admin_fee_rate: Decimal
    pass_through_rate: Decimal
    eligible_members: tuple[int, ...] | None  # member numbers; None: every member
    created_at: datetime
    current: AccrualView | None


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A line held for staff, and why."""

    external_ref: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What a purchase report did: lines accepted, duplicates skipped, lines held."""

    accepted: int
    duplicates: int
    unmatched: tuple[Unmatched, ...]


@dataclass(frozen=True, slots=True)
class LineView:
    """A reported purchase line and its fate."""

    id: int
    contract_id: int
    external_ref: str
    member_number: int
    member_id: int | None
    occurred_at: datetime
    amount_cents: int
    invoice_ref: str | None
    status: str
    reason: str | None
    period_start: date | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A claim to a supplier for a period's rebate and fee."""

    id: int
    contract_id: int
    supplier_id: int
    period_start: date
    period_end: date
    spend_cents: int
    rebate_cents: int
    fee_cents: int
    pass_through_cents: int
    received_cents: int
    status: str
    created_at: datetime
    paid_at: datetime | None
    members: tuple[MemberAccrual, ...]


@dataclass(frozen=True, slots=True)
class PoolMargin:
    """A pool's programme margin for a fiscal year, from the ledger, with its derivation."""

    pool: str
    rebate_income_cents: int
    fee_income_cents: int
    pass_through_cents: int

    @property
    def net_margin_cents(self) -> int:
        """What the co-op keeps: rebates and fees less the members' pass-through."""
        return self.rebate_income_cents + self.fee_income_cents - self.pass_through_cents


@dataclass(frozen=True, slots=True)
class ExpenseView:
    """An expense staff entered against a pool, as recorded."""

    id: int
    pool: str
    incurred_on: date
    fiscal_year: int
    amount_cents: int
    paid_from: str
    description: str
