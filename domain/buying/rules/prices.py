"""Member prices: a line's total with markup, one unit's price, and the most an order can cost."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from domain.buying.rules._checks import non_negative
from domain.catalog.rules import Tier, tier_for
from domain.money import BIGINT_MAX, Rounding, apply_rate

if TYPE_CHECKING:
    from collections.abc import Sequence


def line_total_cents(units: int, unit_price_cents: int, markup_rate: Decimal | Fraction = Decimal(0)) -> int:
    """``HALF_UP(units * unit_price_cents * (1 + markup_rate))``, rounded once per line."""
    non_negative(units, "units")
    non_negative(unit_price_cents, "unit_price_cents")
    if isinstance(markup_rate, bool) or not isinstance(markup_rate, Decimal | Fraction):
        msg = f"markup_rate must be Decimal or Fraction, not {type(markup_rate).__name__}"
        raise TypeError(msg)
    if isinstance(markup_rate, Decimal) and not markup_rate.is_finite():
        msg = f"markup_rate must be finite, got {markup_rate}"
        raise ValueError(msg)
    if markup_rate < 0:
        msg = f"markup_rate must not be negative, got {markup_rate}"
        raise ValueError(msg)
    return apply_rate(units * unit_price_cents, 1 + Fraction(markup_rate), Rounding.HALF_UP)


def member_unit_price_cents(unit_price_cents: int, markup_rate: Decimal | Fraction = Decimal(0)) -> int:
    """One unit at the member's price: the tier price with markup, HALF_UP.

    Shown on order lines; a line's total is still rounded once over all its units, so it can
    differ by a cent or so from units times this.
    """
    return line_total_cents(1, unit_price_cents, markup_rate)


def opening_unit_price_cents(tiers: Sequence[Tier]) -> int:
    """The unit price an open order shows and holds to: the first, dearest tier's (before markup)."""
    return tier_for(tiers, 0).unit_price_cents


def max_order_total_cents(units: int, tiers: Sequence[Tier], markup_rate: Decimal | Fraction = Decimal(0)) -> int:
    """The most a line of ``units`` (quantity + flex) can cost: the first, dearest tier with markup.

    This is the card hold amount; the tier fixed at close can only be cheaper.
    """
    return line_total_cents(units, opening_unit_price_cents(tiers), markup_rate)


# Millionths of a cent: a markup is stored with six decimals (NUMERIC(12, 6)), so a unit's member
# price is a whole number of them.
MILLIONTHS = 1_000_000


def unit_cost_millionths(unit_price_cents: int, markup_rate: Decimal | Fraction, most_units: int) -> int | None:
    """A unit's member price in millionths of a cent, for pricing many lines in 64-bit integers.

    With ``c`` this, ``(units * c + MILLIONTHS // 2) // MILLIONTHS`` is ``line_total_cents(units,
    unit_price_cents, markup_rate)`` exactly (HALF_UP of a non-negative quotient) for any
    ``units <= most_units``. None when that cannot hold: a markup finer than a millionth, or
    ``max(most_units, 1)`` units past 64 bits (the cost is bound as a bigint even where no line has
    units; the caller then prices in exact decimals).
    """
    non_negative(most_units, "most_units")
    line_total_cents(0, unit_price_cents, markup_rate)  # the same checks of price and markup
    cost = unit_price_cents * (1 + Fraction(markup_rate)) * MILLIONTHS
    if cost.denominator != 1 or max(most_units, 1) * cost + MILLIONTHS // 2 > BIGINT_MAX:  # the cost a bigint too
        return None
    return int(cost)


def closed_line(
    quantity: int,
    stored: tuple[int | None, int | None, int | None],
    item_unit_price_cents: int,
    markup_rate: Decimal | Fraction = Decimal(0),
) -> tuple[int, int, int]:
    """A line of an allocated (closed) order: its allocated units, unit price and total.

    ``stored`` is the line's ``(allocated_quantity, unit_price_cents, total_cents)``. The close
    writes a line's units only where they are not its firm quantity and leaves its price to
    the item (frozen once per product), its total a function of both; the delivery writes
    all three on every line. What is stored wins; what is missing comes from the item.
    """
    allocated, unit_price_cents, total_cents = stored
    units = quantity if allocated is None else allocated
    unit = item_unit_price_cents if unit_price_cents is None else unit_price_cents
    total = line_total_cents(units, unit, markup_rate) if total_cents is None else total_cents
    return units, unit, total
