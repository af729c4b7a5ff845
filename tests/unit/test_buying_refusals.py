"""Group-buy rules at the edges mutation testing found unpinned: refusals say exactly what and
where, first-come shortages follow each member's own increments, and the close plan keeps what
it was given."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from domain.buying.rules import (
    AllocationPolicy,
    CloseAction,
    Decision,
    DeliveryLine,
    Demand,
    GroupBuyEvent,
    Increment,
    LineRequest,
    MinimumOutcome,
    OrderWrite,
    ProductDemand,
    ProductTotals,
    allocate_units,
    apply_change,
    cases_to_order,
    close_decision,
    delivery_errors,
    line_total_cents,
    move_group_buy,
    order_line_errors,
    payable_cents,
    plan_close,
    plan_close_totals,
    reallocate_delivery,
    standing_refusal,
    unit_cost_millionths,
)
from domain.buying.rules.marketing import seller_give_back, seller_sale
from domain.catalog.rules import Tier
from domain.errors import ConflictError
from domain.membership.rules import Status

FIRST_COME = AllocationPolicy.FIRST_COME


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: reallocate_delivery({1: 2}, -1), ValueError, "delivered must not be negative, got -1"),
        (lambda: reallocate_delivery({4: -2}, 0), ValueError, "allocation of member 4 must not be negative, got -2"),
        (lambda: close_decision(-5, 10), ValueError, "supplier_value_cents must not be negative, got -5"),
        (lambda: close_decision(5, -10), ValueError, "min_value_cents must not be negative, got -10"),
        (lambda: apply_change((), -1, 0, 1), ValueError, "new_quantity must not be negative, got -1"),
        (lambda: apply_change((), 0, -2, 1), ValueError, "new_flex must not be negative, got -2"),
        (lambda: apply_change((), 1, 0, "7"), TypeError, "seq must be an int, not str"),  # type: ignore[arg-type]
        (lambda: line_total_cents(-1, 100), ValueError, "units must not be negative, got -1"),
        (lambda: line_total_cents(1, -100), ValueError, "unit_price_cents must not be negative, got -100"),
        (lambda: line_total_cents(1, 100, 0.1), TypeError, "markup_rate must be Decimal or Fraction, not float"),  # type: ignore[arg-type]
        (lambda: line_total_cents(1, 100, True), TypeError, "markup_rate must be Decimal or Fraction, not bool"),  # type: ignore[arg-type]
        (lambda: line_total_cents(1, 100, Decimal("Infinity")), ValueError, "markup_rate must be finite, got Infinity"),
        (lambda: payable_cents(-1, 100), ValueError, "delivered must not be negative, got -1"),
        (lambda: payable_cents(1, -100), ValueError, "unit_price_cents must not be negative, got -100"),
        (lambda: allocate_units([_demand(1, 1), _demand(1, 2)], 1), ValueError, "each member may appear only once"),
        (lambda: allocate_units([_demand(1, 1)], -1), ValueError, "bought must not be negative, got -1"),
        (lambda: cases_to_order(1, 0, -6), ValueError, "case_size must not be negative, got -6"),
        (lambda: cases_to_order(1, 0, 0), ValueError, "case_size must be at least 1"),
        (lambda: unit_cost_millionths(100, Decimal(0), -1), ValueError, "most_units must not be negative, got -1"),
        (lambda: seller_sale(4, -5, "marketing"), ValueError, "payable_cents must not be negative, got -5"),
        (lambda: seller_give_back(None, -5), ValueError, "supplier_cents must not be negative, got -5"),
        (lambda: cases_to_order(-1, 0, 6), ValueError, "quantity must not be negative, got -1"),
        (lambda: cases_to_order(1, -2, 6), ValueError, "flex must not be negative, got -2"),
        (lambda: cases_to_order(1.5, 0, 6), TypeError, "quantity must be an int, not float"),  # type: ignore[arg-type]
        (lambda: Increment(1, -1), ValueError, "increment quantity must not be negative, got -1"),
        (lambda: Increment(1, 1, -3), ValueError, "increment flex must not be negative, got -3"),
        (lambda: Increment("1", 1), TypeError, "at_seq must be an int, not str"),  # type: ignore[arg-type]
        (lambda: Demand(1, -1, 0, ()), ValueError, "quantity must not be negative, got -1"),
        (lambda: Demand(1, 0, -1, ()), ValueError, "flex must not be negative, got -1"),
        (lambda: Demand(3, 1, 2, (Increment(1, 1, 1),)), ValueError, "member 3: increments do not add up to flex 2"),
        (
            lambda: Demand(1, 2, 0, (Increment(2, 1), Increment(1, 1))),
            ValueError,
            "increments must be in strictly increasing at_seq order",
        ),
    ],
)
def test_a_bad_argument_is_refused_by_name(call, error, message):
    with pytest.raises(error) as refused:
        call()
    assert str(refused.value) == message


def test_a_change_not_newer_than_the_last_increment_names_the_last_one():
    increments = (Increment(1, 1), Increment(3, 1), Increment(5, 1))
    with pytest.raises(ValueError, match=r"^seq 4 is not newer than the last increment \(5\)$"):
        apply_change(increments, 4, 0, 4)


def test_a_shortage_falls_on_the_newest_firm_units_the_member_was_actually_given():
    # A was allocated 2 of its 4 firm units (the older increment); B its 1. One unit short
    # falls on B's, the newest allocated unit, not on A's unallocated second increment.
    increments = {1: [Increment(1, 2), Increment(2, 2)], 2: [Increment(3, 1)]}
    assert reallocate_delivery({1: 2, 2: 1}, 3, FIRST_COME, increments) == {1: 2, 2: 1}
    assert reallocate_delivery({1: 2, 2: 1}, 2, FIRST_COME, increments) == {1: 2, 2: 0}


def test_flex_a_member_was_not_given_never_takes_delivered_units():
    # A was allocated firm units only; B firm and flex. Everything allocated is delivered.
    increments = {1: [Increment(1, 2, 3)], 2: [Increment(2, 1, 2)]}
    assert reallocate_delivery({1: 2, 2: 3}, 5, FIRST_COME, increments) == {1: 2, 2: 3}


def test_flex_is_attributed_oldest_increment_first_within_the_allocation():
    increments = {1: [Increment(1, 0, 2), Increment(2, 0, 2)], 2: [Increment(3, 0, 1)]}
    assert reallocate_delivery({1: 2, 2: 1}, 3, FIRST_COME, increments) == {1: 2, 2: 1}


def test_a_member_with_nothing_allocated_needs_no_increments():
    increments = {1: [Increment(1, 2)]}
    assert reallocate_delivery({1: 2, 2: 0}, 1, FIRST_COME, increments) == {1: 1, 2: 0}


def test_extend_is_the_outcome_of_a_first_miss_by_default():
    assert close_decision(10, 100, MinimumOutcome.EXTEND) == Decision(CloseAction.EXTEND, minimum_met=False)


TIERS = (Tier(1, 100), Tier(10, 90))


def _demand(key: int, quantity: int) -> Demand:
    return Demand.from_increments(key, [Increment(key, quantity)])


def test_the_close_plan_keeps_the_product_and_says_why():
    met = plan_close([ProductDemand(42, 5, TIERS, (_demand(1, 5),))], min_value_cents=500)
    assert [o.product_id for o in met.products] == [42]
    assert (met.decision, met.reason) == (Decision(CloseAction.ORDER, minimum_met=True), "")
    missed = plan_close([ProductDemand(42, 5, TIERS, (_demand(1, 5),))], min_value_cents=501)
    assert missed.reason == "the minimum of 501 cents was missed (500 cents)"


def test_a_second_miss_after_an_extension_cancels():
    plan = plan_close(
        [ProductDemand(42, 5, TIERS, (_demand(1, 5),))],
        min_value_cents=1000,
        outcome=MinimumOutcome.EXTEND,
        already_extended=True,
    )
    assert plan.decision == Decision(CloseAction.CANCEL, minimum_met=False)


def test_the_totals_alone_extend_a_first_miss_and_give_nobody_units_yet():
    plan = plan_close_totals([ProductTotals(42, 5, TIERS, 5, 0)], 1000, MinimumOutcome.EXTEND)
    assert plan.decision == Decision(CloseAction.EXTEND, minimum_met=False)
    assert [(o.bought, o.allocations) for o in plan.products] == [(5, {})]


def test_no_case_filled_is_a_cancel_with_the_minimum_not_met():
    plan = plan_close([ProductDemand(42, 5, TIERS, (_demand(1, 3),))])
    assert plan.decision.action is CloseAction.CANCEL
    assert plan.decision.minimum_met is False
    assert plan.reason == "no case was filled"


def test_a_one_unit_product_left_out_of_the_delivery_is_reported_missing():
    errors = delivery_errors([DeliveryLine(1, 2)], {1: 2, 3: 1, 5: 4})
    assert [(e.field, e.message) for e in errors] == [
        ("lines", "every ordered product must be reported (0 if none came); missing: 3, 5")
    ]


def test_an_order_of_equal_quantity_and_flex_is_not_empty():
    assert order_line_errors([LineRequest(1, 1, 1)], {1}) == []
    [empty] = order_line_errors([LineRequest(1, 0, 0)], {1})
    assert (empty.field, empty.message) == ("lines", "an order needs at least one unit; to withdraw, cancel the order")


def test_a_refused_order_write_names_who_may_make_it():
    assert standing_refusal(Status.APPLICANT, OrderWrite.PLACE) == (
        "the member is applicant; only full, probationary, resigning members may place orders"
    )


def test_a_refused_group_buy_move_lists_the_moves_allowed():
    with pytest.raises(ConflictError) as refused:
        move_group_buy("open", GroupBuyEvent.DELIVER, group_buy_id=7)
    assert (
        refused.value.detail
        == "group buy 7 is open; it cannot deliver (allowed from open: cancel, extend, hold, order)"
    )
    with pytest.raises(ConflictError) as final:
        move_group_buy("settled", GroupBuyEvent.CANCEL, group_buy_id=7)
    assert final.value.detail.endswith("(allowed from settled: none (final state))")


def test_a_markup_as_a_fraction_is_exact():
    assert line_total_cents(3, 333, Fraction(1, 3)) == 1332
