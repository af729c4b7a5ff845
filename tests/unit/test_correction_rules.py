"""Corrections of a settled delivery: units only come off, each line is re-priced once, refunds add up."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from domain.buying.rules.corrections import (
    CorrectionLine,
    SettledProduct,
    correction_errors,
    plan_correction,
)
from domain.buying.rules.prices import line_total_cents
from domain.buying.rules.supplier_payable import payable_cents


def settled(units: list[int], price: int, markup: Decimal) -> SettledProduct:
    lines = {i + 1: (u, line_total_cents(u, price, markup)) for i, u in enumerate(units)}
    return SettledProduct(7, "purchases", price, markup, sum(units), lines)


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
    assert correction_errors([CorrectionLine(7, 1)], delivered) == []
    [up] = correction_errors([CorrectionLine(7, 4)], delivered)
    assert up.field == "lines[0].delivered_quantity"
    [same] = correction_errors([CorrectionLine(7, 3)], delivered)
    assert same.field == "lines"
    [other] = correction_errors([CorrectionLine(9, 0)], delivered)
    assert other.field == "lines[0].product_id"
    twice = correction_errors([CorrectionLine(7, 1), CorrectionLine(7, 2)], delivered)
    assert [e.field for e in twice] == ["lines[1].product_id"]
