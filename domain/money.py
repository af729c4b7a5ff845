"""Exact money arithmetic: integer cents, named rounding modes, largest remainder.

See DOMAIN.md section 0. Nothing here ever touches float.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Money", "Rounding", "allocate", "apply_rate", "round_to_cents"]


class Rounding(enum.StrEnum):
    """Rounding mode; HALF_UP sends ties away from zero."""

    FLOOR = "floor"
    CEIL = "ceil"
    HALF_UP = "half_up"


# The largest signed 64-bit integer: a SQL statement may compute in bigint only while every
# product it forms stays at or below this (else NUMERIC).
BIGINT_MAX = 2**63 - 1


def _exact(value: object, what: str) -> Fraction:
    """Return ``value`` as a Fraction; only int, Fraction and finite Decimal pass."""
    # bool is an int subclass: True as an amount or weight is always a bug.
    if isinstance(value, bool) or not isinstance(value, int | Fraction | Decimal):
        msg = f"{what} must be int, Fraction or Decimal, not {type(value).__name__}"
        raise TypeError(msg)
    if isinstance(value, Decimal) and not value.is_finite():
        msg = f"{what} must be finite, got {value}"
        raise ValueError(msg)
    return Fraction(value)


def _require_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} must be int cents, not {type(value).__name__}"
        raise TypeError(msg)
    return value


def round_to_cents(value: Fraction | Decimal | int, mode: Rounding) -> int:
    """Round an exact amount of cents to a whole cent with ``mode``."""
    exact = _exact(value, "value")
    num, den = exact.numerator, exact.denominator
    match mode:
        case Rounding.FLOOR:
            return num // den
        case Rounding.CEIL:
            return -(-num // den)
        case Rounding.HALF_UP:
            magnitude = (2 * abs(num) + den) // (2 * den)
            return magnitude if num >= 0 else -magnitude
        case _:
            assert_never(mode)


def apply_rate(cents: int, rate: Decimal | Fraction, mode: Rounding) -> int:
    """Return ``cents * rate`` rounded once with ``mode``."""
    return round_to_cents(_require_int(cents, "cents") * _exact(rate, "rate"), mode)


def allocate(total: int, weights: Sequence[int | Fraction | Decimal]) -> list[int]:
    """Split ``total`` by ``weights`` with the largest remainder method.

    Parts are in input order and sum to ``total``. Remainder ties go to the
    larger weight, then to the earlier position.
    """
    _require_int(total, "total")
    exact = [_exact(w, "weight") for w in weights]
    if total < 0:
        msg = f"cannot allocate a negative total ({total}); losses have their own rules"
        raise ValueError(msg)
    if any(w < 0 for w in exact):
        msg = "weights must not be negative"
        raise ValueError(msg)
    if total == 0:
        return [0] * len(exact)
    # Scaling to integers turns every share into one divmod with a common
    # denominator, so remainders compare as plain ints.
    common = math.lcm(*(w.denominator for w in exact))
    scaled = [w.numerator * (common // w.denominator) for w in exact]
    weight_sum = sum(scaled)
    if weight_sum == 0:
        msg = "cannot allocate a positive total over no weights or only zero weights"
        raise ValueError(msg)
    parts: list[int] = []
    remainders: list[int] = []
    for w in scaled:
        part, rem = divmod(total * w, weight_sum)
        parts.append(part)
        remainders.append(rem)
    residue = total - sum(parts)
    # Every remainder is below one unit and they sum to residue, so more than
    # residue parties have a positive remainder; zero weights never get a cent.
    candidates = [i for i, rem in enumerate(remainders) if rem > 0]
    candidates.sort(key=lambda i: (-remainders[i], -scaled[i], i))
    for i in candidates[:residue]:
        parts[i] += 1
    return parts


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of integer minor units in one currency."""

    cents: int
    currency: str = "USD"

    def __post_init__(self) -> None:
        """Refuse float or bool cents and anything but an ISO 4217 style code."""
        _require_int(self.cents, "cents")
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            msg = f"currency must be three upper-case letters, not {self.currency!r}"
            raise ValueError(msg)

    @classmethod
    def zero(cls, currency: str = "USD") -> Money:
        """Return zero in ``currency``."""
        return cls(0, currency)

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            msg = f"cannot combine {self.currency} with {other.currency}"
            raise ValueError(msg)

    def __add__(self, other: Money) -> Money:
        """Add two amounts of the same currency."""
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        """Subtract two amounts of the same currency."""
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(self.cents - other.cents, self.currency)

    def __neg__(self) -> Money:
        """Return the opposite amount."""
        return Money(-self.cents, self.currency)

    def times(self, rate: Decimal | Fraction, mode: Rounding) -> Money:
        """Multiply by ``rate`` and round once with ``mode``."""
        return Money(apply_rate(self.cents, rate, mode), self.currency)

    def allocate(self, weights: Sequence[int | Fraction | Decimal]) -> list[Money]:
        """Split by ``weights`` with the largest remainder method."""
        return [Money(part, self.currency) for part in allocate(self.cents, weights)]
