"""Purchase orders and what the co-op owes the supplier."""

from __future__ import annotations

from domain.buying.rules._checks import non_negative


def purchase_order_number(issued_year: int, group_buy_id: int) -> str:
    """``PO-<year the buy closed>-<group buy id>``: stable, and unique since a buy has one purchase order."""
    return f"PO-{issued_year}-{group_buy_id}"


def supplier_value_cents(units: int, unit_price_cents: int) -> int:
    """Units at the supplier's tier price, before the co-op's markup: what the co-op pays for them."""
    return non_negative(units, "units") * non_negative(unit_price_cents, "unit_price_cents")


def payable_cents(delivered: int | None, unit_price_cents: int | None) -> int:
    """What the co-op owes the supplier for a product: delivered units at the tier price fixed at close."""
    units = non_negative(delivered or 0, "delivered")
    return supplier_value_cents(units, non_negative(unit_price_cents or 0, "unit_price_cents"))


def supplier_outstanding_cents(payable: int, paid: int) -> int:
    """What the co-op still owes the supplier: the payable for what came less what was paid."""
    return payable - paid


def supplier_payment_refusal(amount_cents: int, payable: int, paid: int) -> str | None:
    """Why a payment of ``amount_cents`` to the supplier may not be made now, or None.

    Nothing is owed before delivery, and a payment may never take the co-op past what it owes.
    """
    outstanding = supplier_outstanding_cents(payable, paid)
    if amount_cents > outstanding:
        return f"{amount_cents} cents is more than the {outstanding} cents outstanding to the supplier"
    return None
