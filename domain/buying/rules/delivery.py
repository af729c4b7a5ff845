"""Delivery and settlement: re-allocating what came, pricing each line once, the delivery report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.buying.rules.allocation import AllocationPolicy, reallocate_delivery
from domain.buying.rules.prices import line_total_cents
from domain.errors import FieldError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from decimal import Decimal

    from domain.buying.rules.demand import Increment


@dataclass(frozen=True, slots=True)
class Delivered:
    """One product as delivered: frozen price and markup, its pool, units D, and the allocation.

    ``allocations`` is keyed by order and ordered by first order time; ``increments`` (for
    first_come) are each order's increments, as at close.
    """

    product_id: int
    pool: str
    unit_price_cents: int
    markup_rate: Decimal
    delivered: int
    allocations: Mapping[int, int]
    increments: Mapping[int, Sequence[Increment]] | None = None


@dataclass(frozen=True, slots=True)
class SettledLine:
    """One order line after delivery: allocated and delivered units and the line total (rounded once)."""

    order_key: int
    product_id: int
    pool: str
    allocated: int
    delivered: int
    total_cents: int


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """Settlement: every line, each order's charge, its patronage per pool, and its shortage in units."""

    lines: tuple[SettledLine, ...]
    charges: dict[int, int]
    patronage: dict[tuple[int, str], int]
    shortages: dict[int, int]


def plan_delivery(products: Sequence[Delivered], policy: AllocationPolicy = AllocationPolicy.PRO_RATA) -> DeliveryPlan:
    """Settle a delivery: re-allocate, price each line once, sum charges and patronage.

    Each product's delivered units are re-allocated by ``policy`` (nobody above their
    allocation); each line is priced once (HALF_UP with markup). Charges are sums of line
    totals, so they add up exactly to the sum of all lines.
    """
    lines: list[SettledLine] = []
    charges: dict[int, int] = {}
    patronage: dict[tuple[int, str], int] = {}
    shortages: dict[int, int] = {}
    for product in products:
        got = reallocate_delivery(product.allocations, product.delivered, policy, product.increments)
        # Lines of one product differ only in units: each distinct count is priced once.
        priced: dict[int, int] = {}
        for key, units in got.items():
            if (total := priced.get(units)) is None:
                total = priced[units] = line_total_cents(units, product.unit_price_cents, product.markup_rate)
            allocated = product.allocations[key]
            lines.append(SettledLine(key, product.product_id, product.pool, allocated, units, total))
            charges[key] = charges.get(key, 0) + total
            if total:
                patronage[key, product.pool] = patronage.get((key, product.pool), 0) + total
            shortages[key] = shortages.get(key, 0) + allocated - units
    return DeliveryPlan(tuple(lines), charges, patronage, shortages)


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """Units of one product the supplier delivered."""

    product_id: int
    delivered_quantity: int


def delivery_errors(lines: Sequence[DeliveryLine], bought: Mapping[int, int]) -> list[FieldError]:
    """Every way a delivery report breaks the rules, named like ``lines[1].delivered_quantity``; empty if valid.

    Each product of the buy once, between 0 and the units ordered, and every product
    ordered reported (0 if none came), so no shortage goes unnoticed.
    """
    errors: list[FieldError] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        field = f"lines[{i}]"
        if line.product_id in seen:
            errors.append(FieldError(f"{field}.product_id", "the product appears more than once"))
        elif line.product_id not in bought:
            errors.append(FieldError(f"{field}.product_id", "the product is not in this group buy"))
        elif not 0 <= line.delivered_quantity <= bought[line.product_id]:
            errors.append(
                FieldError(
                    f"{field}.delivered_quantity", f"must be between 0 and the {bought[line.product_id]} units ordered"
                )
            )
        seen.add(line.product_id)
    missing = sorted(p for p, units in bought.items() if units > 0 and p not in seen)
    if missing:
        listed = ", ".join(str(p) for p in missing)
        errors.append(
            FieldError("lines", f"every ordered product must be reported (0 if none came); missing: {listed}")
        )
    return errors
