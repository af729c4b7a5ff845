"""Corrections of a settled delivery: fewer units than were reported came, so each line shrinks.

The units taken off a product are shared over its lines by their delivered units (largest
remainder), so no line ever gains units and no member pays more; each line is re-priced
once, as at settlement, and the difference is what the member is given back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.buying.rules.prices import line_total_cents
from domain.buying.rules.supplier_payable import payable_cents
from domain.errors import FieldError
from domain.money import allocate

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from decimal import Decimal


@dataclass(frozen=True, slots=True)
class SettledProduct:
    """One product of a settled buy: its frozen prices and each order's delivered units and line total."""

    product_id: int
    pool: str
    unit_price_cents: int
    markup_rate: Decimal
    delivered: int
    lines: Mapping[int, tuple[int, int]]  # order -> (delivered units, line total)


@dataclass(frozen=True, slots=True)
class CorrectedLine:
    """One order line after the correction."""

    order_key: int
    product_id: int
    pool: str
    delivered: int
    total_cents: int
    refund_cents: int


@dataclass(frozen=True, slots=True)
class CorrectionPlan:
    """Every changed line, each order's refund, its patronage given back per pool, and the supplier's reduction."""

    lines: tuple[CorrectedLine, ...]
    refunds: dict[int, int]
    patronage: dict[tuple[int, str], int]
    supplier_cents: int
    delivered: dict[int, int]


@dataclass(frozen=True, slots=True)
class CorrectionLine:
    """A product's delivered units as corrected."""

    product_id: int
    delivered_quantity: int


def correction_errors(lines: Sequence[CorrectionLine], delivered: Mapping[int, int]) -> list[FieldError]:
    """Every way a correction breaks the rules, named like ``lines[0].delivered_quantity``; empty if valid.

    Each product of the buy at most once, between 0 and the units delivered (a correction
    only takes units off), and at least one product lowered.
    """
    errors: list[FieldError] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        field = f"lines[{i}]"
        if line.product_id in seen:
            errors.append(FieldError(f"{field}.product_id", "the product appears more than once"))
        elif line.product_id not in delivered:
            errors.append(FieldError(f"{field}.product_id", "the product is not in this group buy"))
        elif not 0 <= line.delivered_quantity <= delivered[line.product_id]:
            msg = f"must be between 0 and the {delivered[line.product_id]} units delivered (a correction only lowers)"
            errors.append(FieldError(f"{field}.delivered_quantity", msg))
        seen.add(line.product_id)
    if not errors and all(line.delivered_quantity == delivered[line.product_id] for line in lines):
        errors.append(FieldError("lines", "nothing to correct: every product is already at that many units"))
    return errors


def plan_correction(products: Sequence[SettledProduct], corrected: Mapping[int, int]) -> CorrectionPlan:
    """Take units off each corrected product, line by line, and price what each member is given back."""
    lines: list[CorrectedLine] = []
    refunds: dict[int, int] = {}
    patronage: dict[tuple[int, str], int] = {}
    supplier = 0
    delivered: dict[int, int] = {}
    for product in products:
        if product.product_id not in corrected:
            continue
        removed = product.delivered - corrected[product.product_id]
        delivered[product.product_id] = corrected[product.product_id]
        supplier += payable_cents(product.delivered, product.unit_price_cents) - payable_cents(
            corrected[product.product_id], product.unit_price_cents
        )
        keys = sorted(product.lines)
        taken = allocate(removed, [product.lines[k][0] for k in keys]) if removed else [0] * len(keys)
        for key, off in zip(keys, taken, strict=True):
            units, total = product.lines[key]
            new_total = line_total_cents(units - off, product.unit_price_cents, product.markup_rate)
            back = total - new_total
            lines.append(CorrectedLine(key, product.product_id, product.pool, units - off, new_total, back))
            if back:
                refunds[key] = refunds.get(key, 0) + back
                patronage[key, product.pool] = patronage.get((key, product.pool), 0) + back
    return CorrectionPlan(tuple(lines), refunds, patronage, supplier, delivered)
