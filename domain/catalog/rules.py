"""Pure catalog rules: what a product's pool name and markup rate may be."""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import FieldError

DEFAULT_POOL = "purchases"
MAX_MARKUP_RATE = Decimal(10)  # 1000 %: anything above is a typo, not a policy
MARKUP_PLACES = 6  # the column is NUMERIC(12, 6)
_POOL = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def pool_errors(pool: str, field: str = "pool") -> list[FieldError]:
    """A patronage pool is a short lower-case name (`purchases`, `fuel`, `services`)."""
    if not _POOL.match(pool):
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
