"""Rules that used to live inside services: group buy creation, delivery reports, supplier value,
an allocation line's money, and the redemption budget and rates (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.allocation import rules as allocation
from domain.buying import rules as buying
from domain.equity import rules as equity
from domain.equity.rules import BaseCapitalSplit
from domain.errors import FieldError, InvalidInputError

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


# --- group buy creation --------------------------------------------------------------


def test_a_buy_opens_at_once_unless_it_opens_later() -> None:
    assert buying.initial_status(NOW, NOW) is buying.GroupBuyStatus.OPEN
    assert buying.initial_status(NOW - timedelta(seconds=1), NOW) is buying.GroupBuyStatus.OPEN
    assert buying.initial_status(NOW + timedelta(seconds=1), NOW) is buying.GroupBuyStatus.SCHEDULED


def _buy_errors(
    *,
    product_ids: tuple[int, ...] = (1,),
    opens_at: datetime = NOW,
    closes_at: datetime = NOW + timedelta(days=1),
    payment_mode: buying.PaymentMode = buying.PaymentMode.ACCOUNT,
    card_payments: bool = False,
) -> list[FieldError]:
    products = {
        1: buying.OfferedProduct(supplier_id=7, retired=False),
        2: buying.OfferedProduct(supplier_id=8, retired=False),
        3: buying.OfferedProduct(supplier_id=7, retired=True),
    }
    return buying.group_buy_errors(
        supplier_id=7,
        product_ids=product_ids,
        products=products,
        opens_at=opens_at,
        closes_at=closes_at,
        now=NOW,
        payment_mode=payment_mode,
        card_payments=card_payments,
    )


def test_a_valid_buy_has_no_errors() -> None:
    assert _buy_errors() == []


def test_a_buy_closes_in_the_future_and_after_it_opens() -> None:
    assert _buy_errors(closes_at=NOW) == [
        FieldError("closes_at", "must be in the future"),
        FieldError("opens_at", "must be before closes_at"),
    ]
    later = NOW + timedelta(days=2)
    assert _buy_errors(opens_at=later) == [FieldError("opens_at", "must be before closes_at")]


def test_card_payments_need_a_configured_provider() -> None:
    refused = _buy_errors(payment_mode=buying.PaymentMode.CARD, card_payments=False)
    assert refused == [FieldError("payment_mode", "card payments are not configured")]
    assert _buy_errors(payment_mode=buying.PaymentMode.CARD, card_payments=True) == []


def test_each_product_once_existing_the_suppliers_own_and_not_retired() -> None:
    assert _buy_errors(product_ids=(1, 1, 9, 2, 3)) == [
        FieldError("product_ids[1]", "the product appears more than once"),
        FieldError("product_ids[2]", "no product 9"),
        FieldError("product_ids[3]", "the product belongs to another supplier"),
        FieldError("product_ids[4]", "the product is retired"),
    ]


# --- delivery reports ----------------------------------------------------------------


def test_a_complete_delivery_within_the_ordered_units_is_valid() -> None:
    lines = [buying.DeliveryLine(1, 12), buying.DeliveryLine(2, 0)]
    assert buying.delivery_errors(lines, {1: 12, 2: 6, 3: 0}) == []


def test_a_delivery_names_every_bad_line_and_every_product_left_out() -> None:
    lines = [
        buying.DeliveryLine(1, 13),
        buying.DeliveryLine(1, 1),
        buying.DeliveryLine(9, 1),
        buying.DeliveryLine(2, -1),
    ]
    assert buying.delivery_errors(lines, {1: 12, 2: 6, 4: 5, 5: 0}) == [
        FieldError("lines[0].delivered_quantity", "must be between 0 and the 12 units ordered"),
        FieldError("lines[1].product_id", "the product appears more than once"),
        FieldError("lines[2].product_id", "the product is not in this group buy"),
        FieldError("lines[3].delivered_quantity", "must be between 0 and the 6 units ordered"),
        FieldError("lines", "every ordered product must be reported (0 if none came); missing: 4"),
    ]


# --- supplier value ------------------------------------------------------------------


@given(st.integers(0, 10_000), st.integers(0, 1_000_000))
def test_supplier_value_is_units_at_the_tier_price_and_the_payable_is_the_same_on_delivered_units(
    units: int, price: int
) -> None:
    assert buying.supplier_value_cents(units, price) == units * price
    assert buying.payable_cents(units, price) == buying.supplier_value_cents(units, price)


def test_supplier_value_refuses_negative_figures() -> None:
    with pytest.raises(ValueError, match="units must not be negative"):
        buying.supplier_value_cents(-1, 100)
    with pytest.raises(ValueError, match="unit_price_cents must not be negative"):
        buying.supplier_value_cents(1, -100)


def test_a_product_outcome_is_worth_its_bought_units_at_the_tier_price() -> None:
    outcome = buying.ProductOutcome(1, 10, 2, 2, 12, 250, {})
    assert outcome.supplier_value_cents == buying.supplier_value_cents(12, 250) == 3_000


# --- an allocation line's money ------------------------------------------------------


def test_the_policys_split_stands_without_a_plan_or_a_loan() -> None:
    money = allocation.line_money(
        allocation_cents=10_000, cash_cents=2_000, retained_cents=8_000, base_capital=None, unpaid_share_cents=0
    )
    assert money == allocation.LineMoney(2_000, 8_000, 0)
    assert money.payout_cents == 2_000


def test_the_base_capital_plan_overrides_the_policys_split() -> None:
    plan = BaseCapitalSplit(cash_cents=10_000, retained_cents=0, excess_cents=500)
    money = allocation.line_money(
        allocation_cents=10_000, cash_cents=2_000, retained_cents=8_000, base_capital=plan, unpaid_share_cents=0
    )
    assert money == allocation.LineMoney(10_000, 0, 0)


def test_an_unpaid_share_is_repaid_from_the_cash_above_the_minimum() -> None:
    # DOMAIN.md section 5: 50,001 allocated, 25,001 cash, the 20% minimum CEIL(10,000.2) = 10,001 stays cash.
    money = allocation.line_money(
        allocation_cents=50_001, cash_cents=25_001, retained_cents=25_000, base_capital=None, unpaid_share_cents=7_500
    )
    assert money == allocation.LineMoney(25_001, 25_000, 7_500)
    assert money.payout_cents == 17_501
    capped = allocation.line_money(
        allocation_cents=50_001, cash_cents=25_001, retained_cents=25_000, base_capital=None, unpaid_share_cents=90_000
    )
    assert capped.loan_deduction_cents == 15_000
    assert capped.payout_cents == 10_001


def test_the_last_cent_owed_on_a_share_is_repaid() -> None:
    money = allocation.line_money(
        allocation_cents=10_000, cash_cents=5_000, retained_cents=5_000, base_capital=None, unpaid_share_cents=1
    )
    assert money == allocation.LineMoney(5_000, 5_000, 1)


def test_the_loan_is_taken_from_the_cash_the_plan_leaves() -> None:
    plan = BaseCapitalSplit(cash_cents=2_000, retained_cents=8_000, excess_cents=0)
    money = allocation.line_money(
        allocation_cents=10_000, cash_cents=10_000, retained_cents=0, base_capital=plan, unpaid_share_cents=5_000
    )
    assert money == allocation.LineMoney(2_000, 8_000, 0)  # 2,000 is the minimum: nothing above it to take


def test_no_cash_means_no_deduction() -> None:
    money = allocation.line_money(
        allocation_cents=0, cash_cents=0, retained_cents=0, base_capital=None, unpaid_share_cents=5_000
    )
    assert money.loan_deduction_cents == 0


@pytest.mark.parametrize(("par", "paid", "owed"), [(10_000, 2_500, 7_500), (10_000, 10_000, 0), (10_000, 12_000, 0)])
def test_what_is_unpaid_on_a_share_is_never_below_zero(par: int, paid: int, owed: int) -> None:
    assert allocation.unpaid_share_cents(par, paid) == owed


# --- the redemption budget and rates -------------------------------------------------


def test_no_budget_figures_means_the_boards_budget_alone() -> None:
    none = dict.fromkeys(equity.BUDGET_FIELDS)
    assert equity.budget_inputs(**none) is None


def test_all_five_budget_figures_are_kept() -> None:
    inputs = equity.budget_inputs(
        cash_available_cents=1,
        minimum_cash_cents=2,
        equity_cents=3,
        assets_cents=4,
        equity_ratio_floor=Decimal("0.4"),
    )
    assert inputs == equity.BudgetInputs(1, 2, 3, 4, Decimal("0.4"))


def test_some_budget_figures_but_not_all_name_each_missing_one() -> None:
    with pytest.raises(InvalidInputError) as refused:
        equity.budget_inputs(
            cash_available_cents=1,
            minimum_cash_cents=None,
            equity_cents=3,
            assets_cents=None,
            equity_ratio_floor=Decimal(1),
        )
    assert [e.field for e in refused.value.errors] == ["minimum_cash_cents", "assets_cents", "equity_ratio_floor"]


@pytest.mark.parametrize(
    ("rate", "below_one", "ok"),
    [
        (Decimal(0), True, True),
        (Decimal("0.999999"), True, True),
        (Decimal(1), True, False),
        (Decimal(1), False, True),
        (Decimal("1.000001"), False, False),
        (Decimal("-0.1"), False, False),
        (Decimal("0.1234567"), False, False),
        (Decimal("NaN"), False, False),
        (Decimal("Infinity"), False, False),
    ],
)
def test_a_rate_is_from_0_to_1_with_at_most_six_places(rate: Decimal, below_one: bool, ok: bool) -> None:
    errors = equity.rate_errors(rate, "r", below_one=below_one)
    assert (errors == []) is ok
    assert all(e.field == "r" for e in errors)


def test_revolving_years_are_zero_or_more() -> None:
    assert equity.revolving_years_errors(0) == []
    assert equity.revolving_years_errors(-1) == [FieldError("revolving_years", "must be at least 0")]
