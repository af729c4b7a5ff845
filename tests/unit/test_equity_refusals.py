"""What staff read when the equity rules refuse a lot, a budget, a rate or a plan.

The detail and every (field, message) pair are the problem+json a client shows, so they are
pinned exactly: a refusal that names the wrong field or says nothing is a defect a person
has to debug by hand. A bool is never a count of cents or years, though Python calls it an int.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.equity.rules import (
    LotBalance,
    average_patronage,
    base_capital_plan,
    base_capital_requirement,
    base_capital_split,
    budget_inputs,
    excess_redemption,
    fifo_redemption,
    fifo_years,
    loan_deduction,
    lot_year_errors,
    percentage_redemption,
    rate_errors,
    redemption_budget,
    set_off_debt,
    special_redemption_value,
    years_to_revolvement,
)
from domain.errors import FieldError
from tests.unit.refusals import invalid

RATE = Decimal("0.10")


def _one(field: str, message: str) -> tuple[str, list[tuple[str, str]]]:
    """A refusal of one field: the detail is its message."""
    return message, [(field, message)]


def _lot(face: Any, redeemed: Any = 0) -> LotBalance[str]:
    return LotBalance("x", 1, 2020, True, face, redeemed)


# --- lots and budgets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("lot", "refusal"),
    [
        (_lot(-1), _one("face_cents", "face_cents must be integer cents, at least 0")),
        (_lot(True), _one("face_cents", "face_cents must be integer cents, at least 0")),
        (_lot(10, -1), _one("redeemed_cents", "redeemed_cents must be integer cents, at least 0")),
        (_lot(100, 101), _one("redeemed_cents", "lot 'x': redeemed 101 is more than its face 100")),
    ],
)
def test_a_bad_lot_is_refused_by_name(lot, refusal):
    assert invalid(lambda: fifo_redemption([lot], 10)) == refusal
    assert invalid(lambda: percentage_redemption([lot], 10)) == refusal


@pytest.mark.parametrize(
    "redeem",
    [
        lambda budget: fifo_redemption([], budget),
        lambda budget: fifo_years({}, budget),
        lambda budget: percentage_redemption([], budget),
        lambda budget: excess_redemption([], {}, budget),
    ],
)
@pytest.mark.parametrize("budget", [-1, True])
def test_a_bad_redemption_budget_is_refused(redeem, budget):
    assert invalid(lambda: redeem(budget)) == _one("budget_cents", "budget_cents must be integer cents, at least 0")


def test_a_bad_excess_is_refused():
    refusal = invalid(lambda: excess_redemption([], {1: -1}, 10))
    assert refusal == _one("excess_cents", "excess_cents must be integer cents, at least 0")


@pytest.mark.parametrize("position", range(1, 5))
def test_each_budget_cap_must_be_integer_cents(position):
    fields = ["cash_available_cents", "minimum_cash_cents", "equity_cents", "assets_cents"]
    args: list[Any] = [1, 1, 0, 1, 1, RATE]
    args[position] = 1.0
    assert invalid(lambda: redemption_budget(*args)) == _one(
        fields[position - 1], f"{fields[position - 1]} must be integer cents"
    )


def test_the_board_budget_and_the_equity_ratio_are_refused_by_name():
    assert invalid(lambda: redemption_budget(-1, 1, 0, 1, 1, RATE)) == _one(
        "board_budget_cents", "board_budget_cents must be integer cents, at least 0"
    )
    # The ratio must stay below 1: (E - kA) / (1 - k) divides by 1 - k.
    assert invalid(lambda: redemption_budget(1, 1, 0, 1, 1, Decimal(1))) == _one(
        "k", "k must be a decimal rate from 0, below 1"
    )


# --- base capital plan ---------------------------------------------------------------


@pytest.mark.parametrize("average", [True, "5", 1.5])
def test_an_average_patronage_that_is_not_cents_is_refused(average):
    assert invalid(lambda: base_capital_requirement(average)) == _one(
        "avg_patronage_cents", "average patronage must be int or Fraction cents"
    )


def test_a_negative_average_patronage_or_a_rate_above_one_is_refused():
    assert invalid(lambda: base_capital_requirement(-1)) == _one(
        "avg_patronage_cents", "average patronage must not be negative"
    )
    assert invalid(lambda: base_capital_requirement(100, Decimal("1.5"))) == _one(
        "k", "k must be a decimal rate from 0, at most 1"
    )


@pytest.mark.parametrize("years", [0, True])
def test_the_average_needs_at_least_one_whole_year(years):
    # years=0 would average every year given (a slice from -0), True the last one.
    assert invalid(lambda: average_patronage([100, 200], years)) == _one(
        "years", "years must be a whole number, at least 1"
    )


def test_negative_patronage_is_refused():
    assert invalid(lambda: average_patronage([100, -1])) == _one(
        "patronage_cents", "patronage_cents must be integer cents, at least 0"
    )


def test_a_bad_plan_names_the_rate_and_the_years_at_once():
    assert invalid(lambda: base_capital_plan("2", 0, field="policy.base_capital")) == (
        "invalid base capital plan",
        [
            ("policy.base_capital.k", "must be a decimal rate from 0 to 1"),
            ("policy.base_capital.years", "must be a whole number from 1 to 20"),
        ],
    )


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        ((-1, 0, 0), _one("allocation_cents", "allocation_cents must be integer cents, at least 0")),
        ((0, -1, 0), _one("requirement_cents", "requirement_cents must be integer cents, at least 0")),
        ((0, 0, -1), _one("equity_held_cents", "equity_held_cents must be integer cents, at least 0")),
        ((0, 0, 0, Decimal(2)), _one("cash_rate_min", "cash_rate_min must be a decimal rate from 0, at most 1")),
    ],
)
def test_a_bad_base_capital_split_is_refused_by_name(args, refusal):
    assert invalid(lambda: base_capital_split(*args)) == refusal


# --- exits and loans -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        ((-1, RATE, 1), _one("face_cents", "face_cents must be integer cents, at least 0")),
        ((1, Decimal(2), 1), _one("discount_rate", "discount_rate must be a decimal rate from 0, at most 1")),
        ((1, RATE, -1), _one("years", "years must be a whole number, at least 0")),
        ((1, RATE, True), _one("years", "years must be a whole number, at least 0")),
    ],
)
def test_a_bad_special_redemption_is_refused_by_name(args, refusal):
    assert invalid(lambda: special_redemption_value(*args)) == refusal


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        ((2020.0, 7, 2025), _one("fiscal_year", "fiscal_year must be a whole number")),
        ((2020, True, 2025), _one("revolving_years", "revolving_years must be a whole number")),
        ((2020, 7, "2025"), _one("as_of", "as_of must be a whole number")),
        ((2020, -1, 2025), _one("revolving_years", "revolving_years must be at least 0")),
    ],
)
def test_bad_years_to_revolvement_are_refused_by_name(args, refusal):
    assert invalid(lambda: years_to_revolvement(*args)) == refusal


def test_a_bad_set_off_is_refused_by_name():
    assert invalid(lambda: set_off_debt(-1, 0)) == _one(
        "payable_cents", "payable_cents must be integer cents, at least 0"
    )
    owed: Any = 1.5
    assert invalid(lambda: set_off_debt(1, owed)) == _one("owed_cents", "owed_cents must be integer cents")


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        ((-1, 0, 0), _one("alloc_cents", "alloc_cents must be integer cents, at least 0")),
        ((0, -1, 0), _one("cash_cents", "cash_cents must be integer cents, at least 0")),
        ((0, 0, -1), _one("loan_outstanding_cents", "loan_outstanding_cents must be integer cents, at least 0")),
        ((0, 0, 0, Decimal(-1)), _one("cash_rate_min", "cash_rate_min must be a decimal rate from 0, at most 1")),
    ],
)
def test_a_bad_loan_deduction_is_refused_by_name(args, refusal):
    assert invalid(lambda: loan_deduction(*args)) == refusal


# --- imported lots, budget figures, rates ------------------------------------------


def test_an_imported_lot_of_a_wrong_year_says_why():
    today = date(2026, 11, 30)
    assert lot_year_errors("lots[3]", 2026, joined_on=None, today=today, start_month=1) == [
        FieldError("lots[3].fiscal_year", "must be a fiscal year that has ended (before 2026)")
    ]
    assert lot_year_errors("lots[0]", 2024, joined_on=date(2025, 1, 1), today=today, start_month=1) == [
        FieldError("lots[0].fiscal_year", "ended before the member joined (2025-01-01)")
    ]


def test_some_budget_figures_are_refused_with_what_to_do():
    figures: dict[str, Any] = {
        "cash_available_cents": 1,
        "minimum_cash_cents": None,
        "equity_cents": 3,
        "assets_cents": None,
        "equity_ratio_floor": Decimal(1),
    }
    assert invalid(lambda: budget_inputs(**figures)) == (
        "the budget figures are not usable",
        [
            ("minimum_cash_cents", "give all five budget figures, or none"),
            ("assets_cents", "give all five budget figures, or none"),
            ("equity_ratio_floor", "must be a decimal rate from 0, below 1, with at most 6 decimals"),
        ],
    )


@pytest.mark.parametrize(
    ("rate", "below_one", "message"),
    [
        (Decimal(1), True, "must be a decimal rate from 0, below 1, with at most 6 decimals"),
        (Decimal("1.5"), False, "must be a decimal rate from 0, at most 1, with at most 6 decimals"),
        (Decimal("0.1234567"), False, "must be a decimal rate from 0, at most 1, with at most 6 decimals"),
    ],
)
def test_a_bad_rate_says_its_bounds(rate, below_one, message):
    assert rate_errors(rate, "r", below_one=below_one) == [FieldError("r", message)]
