"""Who gets what in the marketing pool: a member-supplier's sales follow the payable, never the markup."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.buying.rules.corrections import SettledProduct, plan_correction
from domain.buying.rules.marketing import SellerPatronage, seller_give_back, seller_sale
from domain.buying.rules.prices import line_total_cents
from domain.buying.rules.supplier_payable import payable_cents
from domain.errors import ConflictError
from domain.membership.rules import Status
from domain.network.rules import acts_as_seller, check_seller_link

SELLER = 42


def test_the_seller_gets_the_payable_in_its_pool_and_nothing_else_gets_a_record() -> None:
    assert seller_sale(SELLER, 8_400, "marketing") == SellerPatronage(SELLER, "marketing", 8_400)
    assert seller_sale(None, 8_400, "marketing") is None  # the supplier is no member
    assert seller_sale(SELLER, 0, "marketing") is None  # nothing was delivered
    with pytest.raises(ValueError, match="payable_cents"):
        seller_sale(SELLER, -1, "marketing")


def test_a_give_back_takes_the_reduction_at_most_what_is_left() -> None:
    sold = SellerPatronage(SELLER, "marketing", 1_000)
    assert seller_give_back(sold, 300) == SellerPatronage(SELLER, "marketing", -300)
    assert seller_give_back(sold, 5_000) == SellerPatronage(SELLER, "marketing", -1_000)
    assert seller_give_back(sold, 0) is None
    assert seller_give_back(None, 300) is None  # no sale was recorded: no member-supplier then
    assert seller_give_back(SellerPatronage(SELLER, "marketing", 0), 300) is None
    assert seller_give_back(SellerPatronage(SELLER, "marketing", 1), 300) == SellerPatronage(SELLER, "marketing", -1)


@settings(max_examples=200)
@given(
    st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=6),
    st.integers(min_value=1, max_value=100_000),
    st.sampled_from([Decimal(0), Decimal("0.05"), Decimal("0.125")]),
    st.lists(st.integers(min_value=0, max_value=100), max_size=4),
)
def test_the_sellers_net_follows_the_payable_through_corrections(
    units: list[int], price: int, markup: Decimal, cuts: list[int]
) -> None:
    delivered = sum(units)
    lines = {i + 1: (u, line_total_cents(u, price, markup)) for i, u in enumerate(units)}
    product = SettledProduct(7, "purchases", price, markup, delivered, lines)
    sale = seller_sale(SELLER, payable_cents(delivered, price), "marketing")
    net = 0 if sale is None else sale.amount_cents
    # Never more than the buyers paid: the markup is the buyers' patronage, not the seller's.
    assert net <= sum(total for _, total in lines.values())
    for cut in cuts:
        corrected = max(product.delivered - cut, 0)
        plan = plan_correction([product], {7: corrected})
        back = seller_give_back(SellerPatronage(SELLER, "marketing", net) if sale else None, plan.supplier_cents)
        if back is not None:
            assert back.amount_cents < 0
            assert back.pool == "marketing"
            assert back.member_id == SELLER
            net += back.amount_cents
        assert net == payable_cents(corrected, price)
        assert net >= 0
        new_lines = dict(product.lines)
        for ln in plan.lines:
            new_lines[ln.order_key] = (ln.delivered, ln.total_cents)
        product = SettledProduct(7, "purchases", price, markup, corrected, new_lines)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_give_backs_are_deterministic_and_bounded(sold: int, reduction: int) -> None:
    first = seller_give_back(SellerPatronage(SELLER, "marketing", sold), reduction)
    assert first == seller_give_back(SellerPatronage(SELLER, "marketing", sold), reduction)
    taken = 0 if first is None else -first.amount_cents
    assert 0 <= taken <= min(sold, reduction)
    assert (taken == 0) == (sold == 0 or reduction == 0)


def test_only_a_full_member_is_linked_and_only_admins_and_buyers_in_standing_act_as_the_seller() -> None:
    check_seller_link(1, Status.FULL)
    for status in set(Status) - {Status.FULL}:
        with pytest.raises(ConflictError) as refused:
            check_seller_link(1, status)
        assert refused.value.code == "member_not_full"
    assert acts_as_seller("admin", Status.FULL)
    assert acts_as_seller("buyer", Status.RESIGNING)
    assert not acts_as_seller("finance", Status.FULL)
    assert not acts_as_seller(None, Status.FULL)
    assert not acts_as_seller("admin", Status.SUSPENDED)
    assert not acts_as_seller("admin", Status.FORMER)
