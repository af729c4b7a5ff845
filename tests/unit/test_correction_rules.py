"""Corrections of a settled delivery: units only come off, each line is re-priced once, refunds add up."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.buying.rules.corrections import (
    CorrectedLine,
    CorrectionLine,
    CorrectionPlan,
    SettledProduct,
    correction_errors,
    plan_correction,
)
from domain.buying.rules.prices import line_total_cents
from domain.buying.rules.supplier_payable import payable_cents


def settled(units: list[int], price: int, markup: Decimal, product_id: int = 7, first_order: int = 1) -> SettledProduct:
    """A product of a settled buy, its orders numbered from ``first_order``, each line priced once."""
    lines = {first_order + i: (u, line_total_cents(u, price, markup)) for i, u in enumerate(units)}
    return SettledProduct(product_id, "purchases", price, markup, sum(units), lines)


@given(
    st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=8),
    st.integers(min_value=1, max_value=100_000),
    st.sampled_from([Decimal(0), Decimal("0.075"), Decimal("0.15")]),
    st.data(),
)
def test_units_only_come_off_and_refunds_are_the_price_difference(
    units: list[int], price: int, markup: Decimal, data: st.DataObject
) -> None:
    product = settled(units, price, markup)
    corrected = data.draw(st.integers(min_value=0, max_value=product.delivered))

    plan = plan_correction([product], {7: corrected})

    assert sum(ln.delivered for ln in plan.lines) == corrected
    for ln in plan.lines:
        before_units, before_total = product.lines[ln.order_key]
        assert 0 <= ln.delivered <= before_units  # nobody gains units
        assert ln.total_cents == line_total_cents(ln.delivered, price, markup)
        assert ln.refund_cents == before_total - ln.total_cents >= 0
    assert sum(plan.refunds.values()) == sum(ln.refund_cents for ln in plan.lines)
    assert sum(plan.patronage.values()) == sum(plan.refunds.values())
    assert plan.supplier_cents == payable_cents(product.delivered, price) - payable_cents(corrected, price)
    assert plan_correction([product], {7: corrected}) == plan  # deterministic


def test_a_correction_only_lowers_a_delivered_product() -> None:
    delivered = {7: 3, 8: 0}

    def refused(*lines: CorrectionLine) -> list[tuple[str, str]]:
        return [(e.field, e.message) for e in correction_errors(lines, delivered)]

    assert refused(CorrectionLine(7, 1)) == []
    assert refused(CorrectionLine(7, 0)) == []  # nothing came after all
    assert refused(CorrectionLine(7, 4)) == [
        ("lines[0].delivered_quantity", "must be between 0 and the 3 units delivered (a correction only lowers)")
    ]
    assert refused(CorrectionLine(7, 3)) == [
        ("lines", "nothing to correct: every product is already at that many units")
    ]
    assert refused(CorrectionLine(9, 0)) == [("lines[0].product_id", "the product is not in this group buy")]
    assert refused(CorrectionLine(7, 1), CorrectionLine(7, 2)) == [
        ("lines[1].product_id", "the product appears more than once")
    ]


def test_a_member_is_given_back_the_sum_over_every_corrected_product() -> None:
    # Flour's 4 units come down to 2, taken by delivered units: 1/4 and 3/4 of 2 tie on their
    # remainders, and the larger line loses the second one. Sugar's 2 come down to 1. Oil is not
    # corrected, and comes first.
    oil = settled([5], 300, Decimal(0), product_id=5)
    flour = settled([1, 3], 125, Decimal("0.10"), product_id=7)  # 138 and 413 cents
    sugar = settled([2], 200, Decimal(0), product_id=8, first_order=2)  # 400 cents

    plan = plan_correction([oil, flour, sugar], {7: 2, 8: 1})

    assert plan == CorrectionPlan(
        lines=(
            CorrectedLine(1, 7, "purchases", 1, 138, 0),
            CorrectedLine(2, 7, "purchases", 1, 138, 275),
            CorrectedLine(2, 8, "purchases", 1, 200, 200),
        ),
        refunds={2: 475},
        patronage={(2, "purchases"): 475},
        supplier_cents=2 * 125 + 200,
        delivered={7: 2, 8: 1},
    )
