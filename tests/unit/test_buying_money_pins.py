"""Buying rules pinned where a money bug could hide: each test fails under a mutation that kept the rest green.

- patronage per (member, pool) is summed across products, never overwritten;
- the allocation policy reaches plan_close, and first-come delivery follows increments;
- the units needed to reach a tier, checked against a brute-force oracle;
- a unit cost in millionths is given exactly up to the last line that still fits a bigint.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from domain.buying.rules import (
    AllocationPolicy,
    Delivered,
    Demand,
    Increment,
    ProductDemand,
    cases_to_order,
    line_total_cents,
    plan_close,
    plan_delivery,
    product_progress,
    unit_cost_millionths,
)
from domain.buying.rules.prices import MILLIONTHS
from domain.catalog.rules import Tier
from domain.money import BIGINT_MAX


def test_patronage_of_one_member_in_one_pool_adds_up_across_products():
    flour = Delivered(1, "purchases", 500, Decimal("0.10"), 4, {7: 2, 8: 2})
    oil = Delivered(2, "purchases", 1_250, Decimal(0), 3, {7: 3})
    plan = plan_delivery([flour, oil])
    assert plan.patronage[7, "purchases"] == 2 * 550 + 3 * 1_250
    assert plan.patronage[8, "purchases"] == 2 * 550
    assert plan.charges[7] == plan.patronage[7, "purchases"]


@st.composite
def _deliveries(draw: st.DrawFn) -> list[Delivered]:
    members = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True))
    products = []
    for product_id in range(1, draw(st.integers(1, 4)) + 1):
        buyers = draw(st.lists(st.sampled_from(members), min_size=1, unique=True))
        allocations = {m: draw(st.integers(0, 20)) for m in buyers}
        delivered = draw(st.integers(0, sum(allocations.values())))
        price = draw(st.integers(0, 10_000))
        markup = draw(st.sampled_from([Decimal(0), Decimal("0.05"), Decimal("0.125")]))
        pool = draw(st.sampled_from(["purchases", "services"]))
        products.append(Delivered(product_id, pool, price, markup, delivered, allocations))
    return products


@given(_deliveries(), st.sampled_from(list(AllocationPolicy)))
def test_patronage_per_member_and_pool_is_the_sum_of_its_lines(products, policy):
    plan = plan_delivery(products, policy)
    expected: dict[tuple[int, str], int] = {}
    for line in plan.lines:
        if line.total_cents:
            expected[line.order_key, line.pool] = expected.get((line.order_key, line.pool), 0) + line.total_cents
    assert plan.patronage == expected
    assert sum(plan.patronage.values()) == sum(plan.charges.values()) == sum(ln.total_cents for ln in plan.lines)


def test_the_allocation_policy_decides_who_gets_a_short_case():
    # 15 firm units for a case of 10: pro rata gives 4 and 6, first come 6 and 4.
    early = Demand.from_increments(1, [Increment(1, 6)])
    late = Demand.from_increments(2, [Increment(2, 9)])
    product = ProductDemand(1, 10, (Tier(1, 100),), (early, late))
    assert plan_close([product], AllocationPolicy.PRO_RATA).products[0].allocations == {1: 4, 2: 6}
    assert plan_close([product], AllocationPolicy.FIRST_COME).products[0].allocations == {1: 6, 2: 4}


def test_a_first_come_shortage_falls_on_the_newest_increments():
    # Member 1 ordered 2 units first and 3 more last; member 2 ordered 5 in between.
    # Seven units arrive: the newest 3 of member 1 are short, not member 2's.
    increments = {1: (Increment(1, 2), Increment(10, 3)), 2: (Increment(2, 5),)}
    flour = Delivered(1, "purchases", 100, Decimal(0), 7, {1: 5, 2: 5}, increments)
    plan = plan_delivery([flour], AllocationPolicy.FIRST_COME)
    assert {ln.order_key: ln.delivered for ln in plan.lines} == {1: 2, 2: 5}
    assert plan.shortages == {1: 3, 2: 0}
    assert plan.charges == {1: line_total_cents(2, 100), 2: line_total_cents(5, 100)}


def _oracle_units_needed(quantity: int, flex: int, case_size: int, target: int) -> int:
    extra = 0
    while cases_to_order(quantity + extra, flex, case_size) * case_size < target:
        extra += 1
    return extra


@given(
    st.integers(0, 40),
    st.integers(0, 40),
    st.integers(1, 12),
    st.integers(2, 60),
)
def test_units_needed_for_the_next_tier_are_the_fewest_that_reach_it(quantity, flex, case_size, tier_at):
    tiers = [Tier(1, 1_000), Tier(tier_at, 900)]
    progress = product_progress(quantity, flex, case_size, tiers)
    bought = progress.cases * case_size
    if bought >= tier_at:
        assert progress.next_tier is None
    else:
        assert progress.next_tier is not None
        assert progress.next_tier.units_needed == _oracle_units_needed(quantity, flex, case_size, tier_at)


def test_units_needed_within_the_first_case():
    tiers = [Tier(1, 1_000), Tier(5, 900)]
    assert product_progress(0, 0, 10, tiers).next_tier.units_needed == 10  # type: ignore[union-attr]
    assert product_progress(0, 4, 10, tiers).next_tier.units_needed == 6  # type: ignore[union-attr]
    assert product_progress(0, 12, 10, tiers).next_tier.units_needed == 1  # type: ignore[union-attr]
    assert product_progress(3, 0, 10, tiers).next_tier.units_needed == 7  # type: ignore[union-attr]


def test_a_close_with_no_filled_case_says_there_is_nothing_to_order():
    short = ProductDemand(1, 10, (Tier(1, 100),), (Demand.from_increments(1, [Increment(1, 4)]),))
    full = ProductDemand(2, 2, (Tier(1, 100),), (Demand.from_increments(1, [Increment(1, 4)]),))
    assert plan_close([short]).nothing_to_order
    assert not plan_close([short, full]).nothing_to_order


def test_a_unit_cost_is_given_while_its_largest_line_with_half_a_cent_to_round_fits_a_bigint():
    def at_one_cent(millionths: int, most_units: int) -> int | None:
        # A 1-cent unit price with the markup that makes its member price ``millionths``.
        return unit_cost_millionths(1, Fraction(millionths, MILLIONTHS) - 1, most_units)

    edge = BIGINT_MAX - MILLIONTHS // 2  # one unit at this cost, plus half a cent, is BIGINT_MAX exactly
    assert at_one_cent(edge, 1) == edge
    assert at_one_cent(edge, 0) == edge  # no line: the cost alone is bound, as one unit
    assert at_one_cent(edge + 1, 1) is None
    assert at_one_cent(edge // 2, 2) == edge // 2
    assert at_one_cent(edge // 2 + 1, 2) is None
