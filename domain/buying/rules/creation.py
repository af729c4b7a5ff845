"""Creating a group buy: its first status, how its members pay, and what makes it valid."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.buying.rules.states import GroupBuyStatus
from domain.errors import FieldError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime


class PaymentMode(enum.StrEnum):
    """How members pay: on their trade account (invoice on delivery), or by card."""

    ACCOUNT = "account"
    CARD = "card"


@dataclass(frozen=True, slots=True)
class OfferedProduct:
    """What the rules need of a product a new buy would offer: whose it is, and whether it is retired."""

    supplier_id: int
    retired: bool


def initial_status(opens_at: datetime, now: datetime) -> GroupBuyStatus:
    """A buy opens at once unless it is to open later (then the clock opens it)."""
    return GroupBuyStatus.OPEN if opens_at <= now else GroupBuyStatus.SCHEDULED


def group_buy_errors(
    *,
    supplier_id: int,
    product_ids: Sequence[int],
    products: Mapping[int, OfferedProduct],
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
    payment_mode: PaymentMode,
    card_payments: bool,
) -> list[FieldError]:
    """Every way a new buy breaks the rules, named by field; empty if valid.

    It closes in the future and after it opens; card payments need a payment provider
    configured; each product once, existing, the supplier's own, not retired.
    """
    errors: list[FieldError] = []
    if closes_at <= now:
        errors.append(FieldError("closes_at", "must be in the future"))
    if opens_at >= closes_at:
        errors.append(FieldError("opens_at", "must be before closes_at"))
    if payment_mode is PaymentMode.CARD and not card_payments:
        errors.append(FieldError("payment_mode", "card payments are not configured"))
    seen: set[int] = set()
    for i, product_id in enumerate(product_ids):
        product = products.get(product_id)
        if product_id in seen:
            errors.append(FieldError(f"product_ids[{i}]", "the product appears more than once"))
        elif product is None:
            errors.append(FieldError(f"product_ids[{i}]", f"no product {product_id}"))
        elif product.supplier_id != supplier_id:
            errors.append(FieldError(f"product_ids[{i}]", "the product belongs to another supplier"))
        elif product.retired:
            errors.append(FieldError(f"product_ids[{i}]", "the product is retired"))
        seen.add(product_id)
    return errors
