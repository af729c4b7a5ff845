"""Live progress of a product while its group buy is open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.buying.rules.cases import cases_to_order, missing_units
from domain.catalog.rules import Tier, tier_and_next

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class NextTier:
    """The next cheaper tier and the firm units the group must still add to reach it."""

    min_quantity: int
    unit_price_cents: int
    units_needed: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A product's state if the group buy closed now."""

    quantity: int
    flex_quantity: int
    cases: int
    missing_units: int
    unit_price_cents: int
    next_tier: NextTier | None


def _firm_units_to_reach(quantity: int, flex: int, case_size: int, target_units: int) -> int:
    """Fewest extra firm units so that ``cases_to_order(...) * case_size >= target_units``."""
    cases_needed = -(-target_units // case_size)
    if cases_needed == 0:
        return 0
    # The last case opens with firm units and is completed by flex: it needs at
    # least one firm unit and S - F of them, and at most a whole case.
    firm_needed = (cases_needed - 1) * case_size + min(case_size, max(1, case_size - flex))
    return max(firm_needed - quantity, 0)


def product_progress(quantity: int, flex: int, case_size: int, tiers: Sequence[Tier]) -> Progress:
    """Live progress of one product from the group's total ``quantity`` and ``flex``.

    The tier is the one the bought units ``A = cases * S`` would get if the buy
    closed now. ``next_tier.units_needed`` is the firm quantity the group must
    add for A to reach the next cheaper tier (flex can only complete a case).
    """
    cases = cases_to_order(quantity, flex, case_size)
    bought = cases * case_size
    current, upcoming = tier_and_next(tiers, bought)
    target = None
    if upcoming is not None:
        tier, _ = upcoming
        target = NextTier(
            tier.min_quantity,
            tier.unit_price_cents,
            _firm_units_to_reach(quantity, flex, case_size, tier.min_quantity),
        )
    return Progress(
        quantity=quantity,
        flex_quantity=flex,
        cases=cases,
        missing_units=missing_units(quantity, flex, case_size),
        unit_price_cents=current.unit_price_cents,
        next_tier=target,
    )
