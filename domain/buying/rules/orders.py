"""Writes to a member's orders: who may make them, until when, what a line may ask, how much it may cost."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.buying.rules._checks import is_int
from domain.errors import FieldError
from domain.membership.rules import Status

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime


# Members in these states may order; applicants, former, suspended and expelled members may not.
ORDERING_STATUSES = frozenset({Status.FULL, Status.PROBATIONARY, Status.RESIGNING})
# A suspended member may still withdraw an order it placed in good standing: that can only
# lower what it will owe. Everything that adds to an order needs good standing.
CANCELLING_STATUSES = ORDERING_STATUSES | {Status.SUSPENDED}


class OrderWrite(enum.StrEnum):
    """The writes a member's users make to its orders."""

    PLACE = "place"
    CHANGE = "change"
    REOPEN = "reopen"
    CANCEL = "cancel"


def standing_refusal(status: Status, write: OrderWrite) -> str | None:
    """Why a member in ``status`` may not make ``write`` to its orders now, or None when it may."""
    allowed = CANCELLING_STATUSES if write is OrderWrite.CANCEL else ORDERING_STATUSES
    if status in allowed:
        return None
    who = ", ".join(sorted(allowed))
    return f"the member is {status}; only {who} members may {write} orders"


def deadline_refusal(closes_at: datetime, now: datetime) -> str | None:
    """Orders are taken strictly before ``closes_at``; at or after it, why not."""
    if now < closes_at:
        return None
    return f"the group buy stopped taking orders at {closes_at.isoformat()}"


def charge_limit_errors(charges: Mapping[int, int], limits: Mapping[int, int]) -> list[int]:
    """Orders whose charge exceeds the most they were shown they could cost (must be none).

    ``max_total_cents`` is the promise made to a member (and the card hold); a price
    that moved or a rounding slip must never turn into a larger charge.
    """
    return sorted(key for key, cents in charges.items() if cents > limits.get(key, 0))


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One line as a member asks for it: firm quantity and flex for a product."""

    product_id: int
    quantity: int
    flex: int = 0


def order_line_errors(
    lines: Sequence[LineRequest], offered: Collection[int], *, field: str = "lines"
) -> list[FieldError]:
    """Every way ``lines`` breaks the rules, named like ``lines[1].product_id``; empty if valid.

    A product at most once, only products the buy offers, no negative amounts, and at least
    one unit in all (to withdraw, a member cancels the order instead of emptying it).
    """
    errors: list[FieldError] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        if line.product_id in seen:
            errors.append(FieldError(f"{field}[{i}].product_id", "the product appears more than once"))
        elif line.product_id not in offered:
            errors.append(FieldError(f"{field}[{i}].product_id", "the product is not offered in this group buy"))
        seen.add(line.product_id)
        if not is_int(line.quantity) or line.quantity < 0:
            errors.append(FieldError(f"{field}[{i}].quantity", "must be a non-negative integer"))
        if not is_int(line.flex) or line.flex < 0:
            errors.append(FieldError(f"{field}[{i}].flex_quantity", "must be a non-negative integer"))
    if not errors and sum(line.quantity + line.flex for line in lines) == 0:
        errors.append(FieldError(field, "an order needs at least one unit; to withdraw, cancel the order"))
    return errors
