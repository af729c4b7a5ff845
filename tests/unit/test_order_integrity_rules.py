"""Unit tests of the pure rules behind order integrity: standing, deadline, prices, charge limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.buying.rules import (
    OrderWrite,
    charge_limit_errors,
    deadline_refusal,
    line_total_cents,
    max_order_total_cents,
    standing_refusal,
)
from domain.catalog.rules import Tier, no_dearer, tier_for
from domain.membership.rules import Status

GOOD = {Status.FULL, Status.PROBATIONARY, Status.RESIGNING}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("write", list(OrderWrite))
def test_only_members_in_good_standing_add_to_orders_and_suspended_ones_may_withdraw(status, write):
    allowed = status in GOOD or (status is Status.SUSPENDED and write is OrderWrite.CANCEL)
    refusal = standing_refusal(status, write)
    assert (refusal is None) == allowed
    if refusal is not None:
        assert str(status) in refusal


def test_orders_are_taken_strictly_before_the_deadline():
    closes_at = datetime(2026, 12, 1, tzinfo=UTC)
    assert deadline_refusal(closes_at, closes_at - timedelta(microseconds=1)) is None
    assert deadline_refusal(closes_at, closes_at) is not None
    assert deadline_refusal(closes_at, closes_at + timedelta(hours=1)) is not None


def test_lower_prices_are_no_dearer_and_any_rise_is():
    old = [Tier(1, 1_000), Tier(10, 900)]
    assert no_dearer(old, Decimal(0), [Tier(1, 800)], Decimal(0))
    assert no_dearer(old, Decimal(0), old, Decimal(0))
    assert not no_dearer(old, Decimal(0), [Tier(1, 950)], Decimal(0))  # dearer from 10 units on
    assert not no_dearer(old, Decimal(0), [Tier(1, 1_000), Tier(20, 900)], Decimal(0))  # 10-19 units dearer
    assert not no_dearer(old, Decimal(0), old, Decimal("0.01"))  # members pay more
    assert no_dearer(old, Decimal(0), [Tier(1, 800), Tier(10, 720)], Decimal("0.25"))  # 800 * 1.25 = 1000
    assert not no_dearer(old, Decimal("0.5"), [Tier(1, 1_001)], Decimal(0))  # the supplier's price rose


tiers_strategy = st.lists(st.integers(0, 10_000), min_size=1, max_size=4).map(
    lambda prices: [Tier(1 + 5 * i, p) for i, p in enumerate(sorted(prices, reverse=True))]
)
markups = st.decimals(min_value=0, max_value=2, places=2)


@given(tiers_strategy, markups, tiers_strategy, markups, st.integers(1, 30), st.integers(0, 50))
def test_no_dearer_prices_never_cost_a_line_more(old, old_markup, new, new_markup, units, bought):
    if no_dearer(old, old_markup, new, new_markup):
        assert tier_for(new, bought).unit_price_cents <= tier_for(old, bought).unit_price_cents
        assert line_total_cents(units, tier_for(new, bought).unit_price_cents, new_markup) <= line_total_cents(
            units, tier_for(old, bought).unit_price_cents, old_markup
        )
        assert max_order_total_cents(units, new, new_markup) <= max_order_total_cents(units, old, old_markup)


def test_charges_above_the_limit_are_named():
    assert charge_limit_errors({1: 100, 2: 200, 3: 0}, {1: 100, 2: 199, 3: 0}) == [2]
    assert charge_limit_errors({4: 1}, {}) == [4]
    assert charge_limit_errors({}, {1: 5}) == []
