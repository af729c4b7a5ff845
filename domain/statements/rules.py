"""The value of membership statement's arithmetic (DOMAIN.md sections 2, 3 and 8): pure.

Savings on a group-buy line are ``(first-tier price - tier price paid) * delivered units``,
before markup (shown, never posted). The member's return is exact until shown: the ratio
``(savings + rebates + patronage) / base`` is kept as its two integers and shown rounded
HALF_UP to ``RATIO_PLACES`` decimal places (no ratio when the base is not above 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from domain.money import Rounding, round_to_cents
from domain.patronage.rules import fiscal_year_of

if TYPE_CHECKING:
    from datetime import date

__all__ = [
    "RATIO_PLACES",
    "RATIO_ROUNDING",
    "EquityRollForward",
    "Ratio",
    "ValueFigures",
    "line_savings_cents",
    "ratio",
    "statement_fiscal_year",
]

RATIO_PLACES = 4
RATIO_ROUNDING = f"HALF_UP to {RATIO_PLACES} decimal places"


def line_savings_cents(first_tier_cents: int, paid_cents: int, delivered_units: int) -> int:
    """What buying together saved on one line against the first-tier (list) price, before markup."""
    return (first_tier_cents - paid_cents) * delivered_units


@dataclass(frozen=True, slots=True)
class Ratio:
    """An exact ratio of two amounts and its rounded figure (None when the base is 0 or less)."""

    numerator_cents: int
    denominator_cents: int
    value: Decimal | None
    rounding: str = RATIO_ROUNDING


def ratio(numerator_cents: int, denominator_cents: int) -> Ratio:
    """``numerator / denominator`` rounded once, HALF_UP, to RATIO_PLACES decimal places."""
    if denominator_cents <= 0:
        return Ratio(numerator_cents, denominator_cents, None)
    scale = 10**RATIO_PLACES
    units = round_to_cents(Fraction(numerator_cents * scale, denominator_cents), Rounding.HALF_UP)
    return Ratio(numerator_cents, denominator_cents, Decimal(units).scaleb(-RATIO_PLACES))


@dataclass(frozen=True, slots=True)
class EquityRollForward:
    """The member's capital over the year: opening + paid in + retained - redeemed = closing."""

    opening_cents: int
    paid_in_cents: int
    retained_cents: int
    redeemed_cents: int

    @property
    def closing_cents(self) -> int:
        """Capital at the end of the year."""
        return self.opening_cents + self.paid_in_cents + self.retained_cents - self.redeemed_cents


@dataclass(frozen=True, slots=True)
class ValueFigures:
    """What the member bought and got back in the year."""

    group_buy_cents: int
    direct_cents: int
    savings_cents: int
    rebates_cents: int
    patronage_cash_cents: int
    patronage_retained_cents: int
    equity: EquityRollForward

    @property
    def spend_cents(self) -> int:
        """Purchases through both channels."""
        return self.group_buy_cents + self.direct_cents

    @property
    def benefit_cents(self) -> int:
        """Savings + rebates passed through + patronage dividend (cash and retained)."""
        return self.savings_cents + self.rebates_cents + self.patronage_cash_cents + self.patronage_retained_cents

    @property
    def return_on_spend(self) -> Ratio:
        """The benefit against what the member spent."""
        return ratio(self.benefit_cents, self.spend_cents)

    @property
    def return_on_equity(self) -> Ratio:
        """The benefit against the capital the member held at the start of the year."""
        return ratio(self.benefit_cents, self.equity.opening_cents)


def statement_fiscal_year(requested: int | None, today: date, start_month: int) -> int:
    """The fiscal year a statement covers: the one asked for, else the one ``today`` falls in.

    ``start_month`` is the co-op's first month of the fiscal year; years are named by the
    calendar year they end in (``patronage.rules.fiscal_year_of``), as everywhere else.
    """
    return fiscal_year_of(today, start_month) if requested is None else requested
