"""The group buy state machine and the member's unit price (pure rules)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.buying.rules import (
    TRANSITIONS,
    GroupBuyEvent,
    GroupBuyStatus,
    member_unit_price_cents,
    next_status,
    payable_cents,
    purchase_order_number,
    supplier_payment_refusal,
)


def test_a_held_buy_has_its_own_status_that_staff_leave_by_proceeding_or_cancelling() -> None:
    assert next_status(GroupBuyStatus.OPEN, GroupBuyEvent.HOLD) is GroupBuyStatus.ON_HOLD
    assert next_status(GroupBuyStatus.ON_HOLD, GroupBuyEvent.PROCEED) is GroupBuyStatus.ORDERED
    assert next_status(GroupBuyStatus.ON_HOLD, GroupBuyEvent.CANCEL) is GroupBuyStatus.CANCELLED
    assert {event for status, event in TRANSITIONS if status is GroupBuyStatus.ON_HOLD} == {
        GroupBuyEvent.PROCEED,
        GroupBuyEvent.CANCEL,
    }


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (GroupBuyStatus.OPEN, GroupBuyEvent.PROCEED),
        (GroupBuyStatus.ORDERED, GroupBuyEvent.CANCEL),
        (GroupBuyStatus.SETTLED, GroupBuyEvent.CANCEL),
        (GroupBuyStatus.CANCELLED, GroupBuyEvent.PROCEED),
        (GroupBuyStatus.ON_HOLD, GroupBuyEvent.DELIVER),
        (GroupBuyStatus.SCHEDULED, GroupBuyEvent.ORDER),
    ],
)
def test_moves_outside_the_table_are_refused(status: GroupBuyStatus, event: GroupBuyEvent) -> None:
    assert next_status(status, event) is None


def test_every_status_but_the_final_ones_can_be_left() -> None:
    sources = {status for status, _ in TRANSITIONS}
    assert set(GroupBuyStatus) - sources == {GroupBuyStatus.SETTLED, GroupBuyStatus.CANCELLED}


@pytest.mark.parametrize(
    ("price", "markup", "expected"),
    [(1_000, Decimal(0), 1_000), (1_000, Decimal("0.125"), 1_125), (333, Decimal("0.05"), 350), (1, Decimal("0.5"), 2)],
)
def test_the_member_unit_price_is_the_tier_price_with_markup_rounded_half_up(
    price: int, markup: Decimal, expected: int
) -> None:
    assert member_unit_price_cents(price, markup) == expected


def test_purchase_order_numbers_and_what_is_owed() -> None:
    assert purchase_order_number(2026, 42) == "PO-2026-42"
    assert payable_cents(None, 333) == 0
    assert payable_cents(3, None) == 0
    assert payable_cents(3, 333) == 999
    with pytest.raises(ValueError, match="delivered"):
        payable_cents(-1, 333)


@pytest.mark.parametrize(
    ("amount", "payable", "paid", "refused"),
    [(1, 0, 0, True), (999, 999, 0, False), (1_000, 999, 0, True), (499, 999, 500, False), (500, 999, 500, True)],
)
def test_a_supplier_is_never_paid_more_than_it_is_owed(amount: int, payable: int, paid: int, refused: bool) -> None:
    assert (supplier_payment_refusal(amount, payable, paid) is not None) is refused
