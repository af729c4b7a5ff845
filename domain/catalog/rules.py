"""Pure catalog rules: price tiers, what a product's pool name and markup rate may be, and when prices may change."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, TypeGuard

from domain.errors import ConflictError, FieldError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

DEFAULT_POOL = "purchases"
MAX_MARKUP_RATE = Decimal(10)  # 1000 %: anything above is a typo, not a policy
MARKUP_PLACES = 6  # the column is NUMERIC(12, 6)
_POOL = re.compile(r"[a-z][a-z0-9_]{0,49}")  # fullmatch: `$` also matches before a final new line
PRODUCT_RETIRED = "product_retired"  # problem+json `code` of a price change refused on a retired product


def pool_errors(pool: str, field: str = "pool") -> list[FieldError]:
    """A patronage pool is a short lower-case name (`purchases`, `fuel`, `services`)."""
    if not _POOL.fullmatch(pool):
        return [FieldError(field, "must be 1-50 lower-case letters, digits or _, starting with a letter")]
    return []


def markup_errors(rate: Decimal, field: str = "markup_rate") -> list[FieldError]:
    """The co-op's markup: a finite rate from 0 to 10 with at most 6 decimal places."""
    if not rate.is_finite():
        return [FieldError(field, "must be a finite decimal")]
    if rate < 0 or rate > MAX_MARKUP_RATE:
        return [FieldError(field, f"must be between 0 and {MAX_MARKUP_RATE}")]
    exponent = rate.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MARKUP_PLACES:
        return [FieldError(field, f"must have at most {MARKUP_PLACES} decimal places")]
    return []


def rate_text(rate: Decimal) -> str:
    """A rate as clients see it: plain decimal, no exponent, no trailing zeros ("0.05", "0")."""
    text = format(rate.normalize(), "f")
    return text if text != "-0" else "0"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --- price tiers -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """One price tier: ``unit_price_cents`` applies once the group buys ``min_quantity`` units."""

    min_quantity: int
    unit_price_cents: int


def tier_errors(tiers: Sequence[Tier]) -> list[FieldError]:
    """Every way ``tiers`` breaks the rules, named like ``tiers[1].min_quantity``; empty if valid.

    Rules: at least one tier, the first at min_quantity 1, min_quantity strictly
    increasing, prices non-negative and non-increasing.
    """
    if not tiers:
        return [FieldError("tiers", "at least one price tier is required")]
    errors: list[FieldError] = []
    previous: Tier | None = None
    for i, tier in enumerate(tiers):
        qty_field, price_field = f"tiers[{i}].min_quantity", f"tiers[{i}].unit_price_cents"
        qty_ok, price_ok = _is_int(tier.min_quantity), _is_int(tier.unit_price_cents)
        if not qty_ok:
            errors.append(FieldError(qty_field, "must be an integer"))
        elif i == 0 and tier.min_quantity != 1:
            errors.append(FieldError(qty_field, "the first tier must start at 1"))
        elif previous is not None and _is_int(previous.min_quantity) and tier.min_quantity <= previous.min_quantity:
            errors.append(FieldError(qty_field, "must be greater than the previous tier's min_quantity"))
        if not price_ok:
            errors.append(FieldError(price_field, "must be an integer"))
        elif tier.unit_price_cents < 0:
            errors.append(FieldError(price_field, "must not be negative"))
        elif (
            previous is not None
            and _is_int(previous.unit_price_cents)
            and tier.unit_price_cents > previous.unit_price_cents
        ):
            errors.append(FieldError(price_field, "must not exceed the previous tier's price"))
        previous = tier
    return errors


def _checked(tiers: Sequence[Tier]) -> Sequence[Tier]:
    errors = tier_errors(tiers)
    if errors:
        msg = "invalid price tiers: " + "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise ValueError(msg)
    return tiers


def _tier_index(tiers: Sequence[Tier], quantity: int) -> int:
    index = 0
    for i, tier in enumerate(tiers):
        if tier.min_quantity <= quantity:
            index = i
    return index


def tier_for(tiers: Sequence[Tier], quantity: int) -> Tier:
    """The highest tier whose min_quantity <= ``quantity``; quantity 0 gets the first tier."""
    if not _is_int(quantity) or quantity < 0:
        msg = f"quantity must be a non-negative int, got {quantity!r}"
        raise ValueError(msg)
    tiers = _checked(tiers)
    return tiers[_tier_index(tiers, quantity)]


def next_tier(tiers: Sequence[Tier], quantity: int) -> tuple[Tier, int] | None:
    """The first tier cheaper than ``tier_for(quantity)`` and the units still needed to reach it.

    Tiers that only repeat the current price are skipped, since reaching them
    changes nothing. ``None`` when no cheaper tier exists.
    """
    return tier_and_next(tiers, quantity)[1]


def tier_and_next(tiers: Sequence[Tier], quantity: int) -> tuple[Tier, tuple[Tier, int] | None]:
    """``tier_for`` and ``next_tier`` of one quantity, the tiers checked once.

    A group buy's live read asks both for every product: asked apart, the tiers' checks ran
    twice (issue 12, twenty-eighth part).
    """
    current = tier_for(tiers, quantity)
    for tier in tiers:
        if tier.min_quantity > quantity and tier.unit_price_cents < current.unit_price_cents:
            return current, (tier, tier.min_quantity - quantity)
    return current, None


def no_dearer(old: Sequence[Tier], old_markup: Decimal, new: Sequence[Tier], new_markup: Decimal) -> bool:
    """Whether ``new`` prices are, at every quantity, no dearer than ``old`` ones.

    Both for the supplier's price (what the co-op pays) and the member's price with markup
    (what members pay). Tiers are step functions that change only at their min_quantity,
    so comparing at every tier start of either side compares them everywhere; line totals
    round once from price times markup, so they can only follow.
    """
    for quantity in sorted({t.min_quantity for t in (*old, *new)}):
        was, now = tier_for(old, quantity).unit_price_cents, tier_for(new, quantity).unit_price_cents
        if now > was or now * (1 + Fraction(new_markup)) > was * (1 + Fraction(old_markup)):
            return False
    return True


def price_change_refusal(retired_at: datetime | None) -> ConflictError | None:
    """Why a product's prices may not change now (409 with a code), or None when they may.

    A retired product is no longer offered: no new buy takes it, and the buys that carry it
    keep the prices they have. A new price version for it is most likely a mistake (the wrong
    product), so it is refused; the product keeps the price list it was retired with.
    """
    if retired_at is not None:
        return ConflictError(
            f"the product was retired at {retired_at.isoformat()}: its prices no longer change",
            code=PRODUCT_RETIRED,
        )
    return None
