"""Who gets what in the marketing pool: a member-supplier's sales through the co-op (issue 16).

When members buy from a supplier that is itself a member business, both sides are patrons:
each buyer's purchase is patronage in its product's pool (what the buyer paid, markup
included), and the seller's sale is patronage in the marketing pool. The seller's amount is
what the co-op owes it for the delivered units, the supplier payable, so the markup (the
co-op's margin on the buyers' side) is never counted twice. One record per settled buy; a
correction that lowers the payable writes the seller a negative record of the reduction,
never taking the buy's net below zero. A supplier that was no member when the buy settled
gets nothing, then or at a later correction.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.buying.rules._checks import non_negative

DEFAULT_MARKETING_POOL = "marketing"


@dataclass(frozen=True, slots=True)
class SellerPatronage:
    """A member-supplier's marketing patronage for one buy: positive for the sale, negative for a correction."""

    member_id: int
    pool: str
    amount_cents: int


def seller_sale(seller_member_id: int | None, payable_cents: int, pool: str) -> SellerPatronage | None:
    """The seller's record for a settled buy: the payable for what was delivered, in ``pool``.

    None when the supplier is no member (``seller_member_id`` None) or nothing is owed.
    """
    owed = non_negative(payable_cents, "payable_cents")
    if seller_member_id is None or owed == 0:
        return None
    return SellerPatronage(seller_member_id, pool, owed)


def seller_give_back(sold: SellerPatronage | None, supplier_cents: int) -> SellerPatronage | None:
    """The seller's negative record for a correction that owes the supplier ``supplier_cents`` less.

    ``sold`` is the seller's net marketing patronage of the buy so far (its sale and earlier
    corrections), None when no sale was recorded. The record takes back the reduction, at
    most what is left, so the net follows the payable and never goes below zero.
    """
    reduction = non_negative(supplier_cents, "supplier_cents")
    if sold is None or sold.amount_cents <= 0 or reduction == 0:
        return None
    return SellerPatronage(sold.member_id, sold.pool, -min(reduction, sold.amount_cents))
