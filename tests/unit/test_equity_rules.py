"""Unit tests for domain.equity.rules (pure, no I/O)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.equity.rules import (
    BaseCapitalPlan,
    BaseCapitalSplit,
    LotBalance,
    average_patronage,
    base_capital_plan,
    base_capital_requirement,
    base_capital_split,
    excess_redemption,
    fifo_products_fit_bigint,
    fifo_redemption,
    fifo_years,
    loan_deduction,
    percentage_redemption,
    redemption_budget,
    set_off_debt,
    special_redemption_value,
    years_to_revolvement,
)
from domain.errors import InvalidInputError
from domain.money import Rounding, apply_rate


def lot(key: str, member: int, year: int, face: int, redeemed: int = 0, qualified: bool = True) -> LotBalance[str]:
    return LotBalance(key, member, year, qualified, face, redeemed)


# --- budget --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "budget"),
    [
        ((100_000, 10**9, 0, 10**9, 10**9, Decimal("0.3")), 100_000),  # the board's budget binds
        ((10**9, 500_000, 200_000, 10**9, 10**9, Decimal("0.3")), 300_000),  # cash binds
        # (E - kA) / (1 - k) = (400,000 - 300,000) / 0.7 = 142,857.14...
        ((10**9, 10**9, 0, 400_000, 1_000_000, Decimal("0.3")), 142_857),
        ((10**9, 10**9, 0, 200_000, 1_000_000, Decimal("0.3")), 0),  # already below the ratio
        ((10**9, 100, 200, 10**9, 10**9, Decimal("0.3")), 0),  # cash below its minimum
        ((500, 10**9, 0, 1000, 10**6, Decimal(0)), 500),
        ((0, 10**9, 0, 10**9, 10**9, Decimal("0.1")), 0),
    ],
)
def test_redemption_budget(args, budget):
    assert redemption_budget(*args) == budget


@given(
    st.integers(0, 10**10),
    st.integers(0, 10**10),
    st.decimals(min_value=0, max_value=Decimal("0.99"), places=3),
)
def test_budget_keeps_the_equity_ratio(equity, extra_assets, k):
    assets = equity + extra_assets
    budget = redemption_budget(10**12, 10**12, 0, equity, assets, k)
    kf = Fraction(k)
    assert budget >= 0
    if budget > 0:
        assert equity - budget >= kf * (assets - budget)  # ratio kept
        assert equity - budget - 1 < kf * (assets - budget - 1)  # one cent more breaks it


@pytest.mark.parametrize("k", [Decimal(1), Decimal("-0.1"), Decimal("NaN")])
def test_budget_refuses_bad_ratio(k):
    with pytest.raises(InvalidInputError):
        redemption_budget(1, 1, 0, 1, 1, k)


def test_budget_refuses_float_cents():
    with pytest.raises(InvalidInputError):
        redemption_budget(1, 1.0, 0, 1, 1, Decimal("0.1"))  # type: ignore[arg-type]


# --- FIFO ----------------------------------------------------------------------


LOTS = [
    lot("2019-a", 1, 2019, 1000),
    lot("2019-b", 2, 2019, 500, redeemed=500),  # nothing left
    lot("2020-a", 1, 2020, 300),
    lot("2020-b", 2, 2020, 700, qualified=False),
    lot("2021-c", 3, 2021, 5000),
    lot("2018-x", 9, 2018, 200, redeemed=50),  # a former member's lot
]


def test_fifo_whole_years_then_pro_rata():
    # 2018: 150, 2019: 1000, then 2020 (1000 outstanding) gets 500 pro rata: 150 / 350.
    assert fifo_redemption(LOTS, 1650) == [("2018-x", 150), ("2019-a", 1000), ("2020-a", 150), ("2020-b", 350)]


def test_fifo_exact_years_and_more_than_everything():
    assert fifo_redemption(LOTS, 1150) == [("2018-x", 150), ("2019-a", 1000)]
    everything = fifo_redemption(LOTS, 10**9)
    assert sum(a for _, a in everything) == 150 + 1000 + 1000 + 5000
    assert fifo_redemption(LOTS, 0) == []


def test_fifo_ties_go_to_the_lower_member_number():
    lots = [lot("c", 3, 2020, 100), lot("a", 1, 2020, 100), lot("b", 2, 2020, 100)]
    assert fifo_redemption(lots, 100) == [("a", 34), ("b", 33), ("c", 33)]
    assert fifo_redemption(lots, 2) == [("a", 1), ("b", 1)]


def test_fifo_tie_prefers_the_larger_outstanding():
    lots = [lot("small", 1, 2020, 1), lot("big", 2, 2020, 3)]
    # 0.5 / 1.5: equal remainders, the larger outstanding wins the residue cent.
    assert fifo_redemption(lots, 2) == [("big", 2)]


@pytest.mark.parametrize(
    "bad",
    [lot("x", 1, 2020, 100, redeemed=101), lot("x", 1, 2020, -1), lot("x", 1, 2020, 10, redeemed=-1)],
)
def test_bad_lots_are_refused(bad):
    with pytest.raises(InvalidInputError):
        fifo_redemption([bad], 10)
    with pytest.raises(InvalidInputError):
        percentage_redemption([bad], 10)


def test_negative_budget_is_refused():
    with pytest.raises(InvalidInputError):
        fifo_redemption(LOTS, -1)


lots_strategy = st.lists(
    st.builds(
        lambda i, m, y, face, frac: LotBalance(i, m, y, True, face, face * frac // 100),
        st.integers(),
        st.integers(1, 30),
        st.integers(2010, 2025),
        st.integers(0, 10**6),
        st.integers(0, 100),
    ),
    max_size=40,
    unique_by=lambda lot: lot.lot_key,
)


@settings(max_examples=200)
@given(lots_strategy, st.integers(0, 3 * 10**6))
def test_fifo_properties(lots, budget):
    redeemed = fifo_redemption(lots, budget)
    by_key = {lot.lot_key: lot for lot in lots}
    amounts = dict(redeemed)
    total = sum(lot.outstanding_cents for lot in lots)
    assert len(amounts) == len(redeemed)
    assert sum(amounts.values()) == min(budget, total) <= budget
    assert all(0 < a <= by_key[k].outstanding_cents for k, a in amounts.items())
    # A younger year is touched only when every older lot was redeemed in full.
    touched = [by_key[k].fiscal_year for k in amounts]
    if touched:
        youngest = max(touched)
        for lot in lots:
            if lot.fiscal_year < youngest:
                assert amounts.get(lot.lot_key, 0) == lot.outstanding_cents
    # At most one year is partly redeemed.
    partly = {by_key[k].fiscal_year for k, a in amounts.items() if a < by_key[k].outstanding_cents}
    assert len(partly) <= 1
    assert fifo_redemption(lots, budget) == redeemed  # deterministic for the same input order


@settings(max_examples=200)
@given(lots_strategy, st.integers(0, 3 * 10**6))
def test_fifo_over_the_years_it_touches_is_fifo_over_every_lot(lots, budget):
    by_year: dict[int, int] = {}
    for lot in lots:
        by_year[lot.fiscal_year] = by_year.get(lot.fiscal_year, 0) + lot.outstanding_cents
    years = fifo_years(by_year, budget)
    assert years == sorted(years)
    assert fifo_redemption([lot for lot in lots if lot.fiscal_year in years], budget) == fifo_redemption(lots, budget)


def test_fifo_years_stop_where_the_budget_does():
    by_year = {2019: 1000, 2018: 150, 2020: 500, 2017: 0}
    assert fifo_years(by_year, 0) == []
    assert fifo_years(by_year, 150) == [2018]
    assert fifo_years(by_year, 151) == [2018, 2019]
    assert fifo_years(by_year, 10**9) == [2018, 2019, 2020]


def test_fifo_products_fit_bigint_up_to_the_largest_signed_64_bit_product():
    assert fifo_products_fit_bigint({2018: 3_037_000_499}, [2018], 10**12)  # its square is just below 2**63
    assert not fifo_products_fit_bigint({2018: 3_037_000_500}, [2018], 10**12)
    assert fifo_products_fit_bigint({2018: (2**63 - 1) // 7}, [2018], 7)  # exactly 2**63 - 1
    assert not fifo_products_fit_bigint({2018: (2**63 - 1) // 7 + 1}, [2018], 7)
    assert fifo_products_fit_bigint({2018: 2**62}, [2018], 1)  # a small budget spends at most itself
    assert not fifo_products_fit_bigint({2018: 2**62}, [2018], 2)
    assert fifo_products_fit_bigint({2017: 2**62, 2018: 10}, [2018], 10**9)  # only the years reached count
    assert not fifo_products_fit_bigint({2017: 2**62, 2018: 10}, [2017, 2018], 10**9)


# --- percentage ----------------------------------------------------------------


def test_percentage_of_all_equities():
    # 7150 outstanding; 715 is 10% of each lot.
    assert percentage_redemption(LOTS, 715) == [
        ("2019-a", 100),
        ("2020-a", 30),
        ("2020-b", 70),
        ("2021-c", 500),
        ("2018-x", 15),
    ]
    assert sum(a for _, a in percentage_redemption(LOTS, 10**9)) == 7150


@settings(max_examples=200)
@given(lots_strategy, st.integers(0, 3 * 10**6))
def test_percentage_properties(lots, budget):
    redeemed = percentage_redemption(lots, budget)
    by_key = {lot.lot_key: lot for lot in lots}
    total = sum(lot.outstanding_cents for lot in lots)
    assert sum(a for _, a in redeemed) == min(budget, total)
    for key, amount in redeemed:
        outstanding = by_key[key].outstanding_cents
        assert 0 < amount <= outstanding
        exact = Fraction(min(budget, total) * outstanding, total)
        assert exact - 1 < amount < exact + 1


# --- base capital plan ---------------------------------------------------------


def test_base_capital_requirement_is_ceil():
    assert base_capital_requirement(1_000_001) == 100_001
    assert base_capital_requirement(1_000_000) == 100_000
    assert base_capital_requirement(Fraction(2_000_001, 3), Decimal("0.10")) == 66_667
    assert base_capital_requirement(0) == 0
    assert base_capital_requirement(999, Decimal("0.25")) == 250


def test_average_patronage_over_the_last_years():
    assert average_patronage([9_999_999, 100, 200, 301]) == Fraction(601, 3)
    assert average_patronage([100, 201], years=3) == Fraction(301, 2)
    assert average_patronage([]) == 0
    assert average_patronage([5, 6], years=1) == 6


def test_base_capital_split():
    # Under-invested by 300: retains 300, takes the rest in cash.
    assert base_capital_split(1000, 500, 200) == BaseCapitalSplit(700, 300, 0)
    # A big gap is capped by the 20% cash: CEIL(200.2) = 201.
    assert base_capital_split(1001, 10**6, 0) == BaseCapitalSplit(201, 800, 0)
    # Over-invested: all cash, the excess is redeemable first.
    assert base_capital_split(1000, 500, 800) == BaseCapitalSplit(1000, 0, 300)
    assert base_capital_split(1000, 500, 500) == BaseCapitalSplit(1000, 0, 0)
    # One cent short of the requirement retains that cent.
    assert base_capital_split(1000, 501, 500) == BaseCapitalSplit(999, 1, 0)


@given(st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 10**8))
def test_base_capital_split_properties(allocation, requirement, held):
    split = base_capital_split(allocation, requirement, held)
    assert split.cash_cents + split.retained_cents == allocation
    assert Fraction(split.cash_cents) >= Fraction(allocation) / 5
    assert split.retained_cents <= max(0, requirement - held)
    assert split.excess_cents == max(0, held - requirement)


def test_excess_redemption_first():
    lots = [lot("a19", 1, 2019, 100), lot("a20", 1, 2020, 500), lot("b20", 2, 2020, 1000), lot("c20", 3, 2020, 50)]
    excess = {1: 300, 2: 100, 3: 0, 4: 999}  # member 4 holds nothing
    assert excess_redemption(lots, excess, 10**6) == [("a19", 100), ("a20", 200), ("b20", 100)]
    # Short budget: pro rata to excess (300 : 100), each from the oldest lot first.
    assert excess_redemption(lots, excess, 200) == [("a19", 100), ("a20", 50), ("b20", 50)]
    assert excess_redemption(lots, {}, 200) == []


def test_an_excess_of_one_cent_is_redeemed():
    lots = [lot("a19", 1, 2019, 100), lot("b19", 2, 2019, 100)]
    assert excess_redemption(lots, {1: 1}, 10**6) == [("a19", 1)]
    # A budget of one cent goes to the larger excess.
    assert excess_redemption(lots, {1: 1, 2: 3}, 1) == [("b19", 1)]


# --- exits and loans -----------------------------------------------------------


@pytest.mark.parametrize(
    ("face", "rate", "years"),
    [(10_000, Decimal("0.05"), 3), (123_456, Decimal("0.07"), 10), (1, Decimal("0.5"), 1), (999, Decimal(0), 4)],
)
def test_special_redemption_value(face, rate, years):
    present, discount = special_redemption_value(face, rate, years)
    exact = Fraction(face) / (1 + Fraction(rate)) ** years
    assert abs(present - exact) <= Fraction(1, 2)
    assert present + discount == face


def test_special_redemption_examples():
    assert special_redemption_value(10_000, Decimal("0.05"), 3) == (8638, 1362)  # 8638.376...
    assert special_redemption_value(10_000, Decimal("0.05"), 0) == (10_000, 0)
    assert special_redemption_value(1, Decimal(1), 1) == (1, 0)  # 0.5 rounds half up
    assert special_redemption_value(3, Decimal("0.2"), 1) == (3, 0)  # 2.5 rounds half up


def test_special_redemption_refuses_negative_years():
    with pytest.raises(InvalidInputError):
        special_redemption_value(100, Decimal("0.05"), -1)


@pytest.mark.parametrize(
    ("alloc", "cash", "loan", "deduction"),
    [
        (1000, 500, 250, 250),
        (1000, 500, 10_000, 300),
        (1000, 200, 10_000, 0),
        (1001, 500, 10_000, 299),  # the minimum is CEIL(200.2) = 201
        (1000, 1000, 0, 0),
        (0, 0, 100, 0),
    ],
)
def test_loan_deduction(alloc, cash, loan, deduction):
    assert loan_deduction(alloc, cash, loan) == deduction
    assert (
        loan_deduction(alloc_cents=alloc, cash_cents=cash, cash_rate_min=Decimal("0.20"), loan_outstanding_cents=loan)
        == deduction
    )


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_loan_deduction_leaves_the_minimum(alloc, extra, loan):
    cash = apply_rate(alloc, Decimal("0.20"), Rounding.CEIL) + extra
    deduction = loan_deduction(alloc, cash, loan)
    assert 0 <= deduction <= loan
    assert Fraction(cash - deduction) >= Fraction(alloc) / 5


def test_redemptions_sum_per_member_through_their_lots():
    # Redemptions name lots, so the service sums them per member for payouts.
    totals: dict[int, int] = defaultdict(int)
    by_key = {lot.lot_key: lot for lot in LOTS}
    for key, amount in fifo_redemption(LOTS, 1650):
        totals[by_key[key].member_number] += amount
    assert dict(totals) == {9: 150, 1: 1150, 2: 350}


# --- special redemption: years to revolvement and set-off ------------------------


@pytest.mark.parametrize(
    ("fiscal_year", "revolving", "as_of", "years"),
    [(2020, 7, 2025, 2), (2023, 7, 2025, 5), (2015, 7, 2025, 0), (2018, 7, 2025, 0), (2025, 0, 2025, 0)],
)
def test_years_to_revolvement(fiscal_year, revolving, as_of, years):
    assert years_to_revolvement(fiscal_year, revolving, as_of) == years


@pytest.mark.parametrize("bad", [(2020, -1, 2025), (2020, True, 2025), (2020.0, 7, 2025)])
def test_years_to_revolvement_refuses_bad_input(bad):
    with pytest.raises(InvalidInputError):
        years_to_revolvement(*bad)


@given(st.integers(0, 10**12), st.integers(-(10**12), 10**12))
def test_set_off_never_takes_more_than_owed_or_payable(payable, owed):
    set_off, payout = set_off_debt(payable, owed)
    assert set_off + payout == payable
    assert 0 <= set_off <= max(owed, 0)
    assert payout >= 0
    assert set_off == min(max(owed, 0), payable)


def test_set_off_refuses_bad_input():
    with pytest.raises(InvalidInputError):
        set_off_debt(-1, 0)
    with pytest.raises(InvalidInputError):
        set_off_debt(1, 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", ["NaN", "sNaN", "Infinity", "-Infinity", "2", "-0.01", "1.0001", "ten", "", 0.1, None])
def test_a_base_capital_plan_refuses_a_rate_that_is_not_finite_from_0_to_1(k: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        base_capital_plan(k, 3, field="policy.base_capital")
    assert [e.field for e in err.value.errors] == ["policy.base_capital.k"]


@pytest.mark.parametrize("years", [0, 21, -1, True, "3", 2.5])
def test_a_base_capital_plan_refuses_years_outside_1_to_20(years: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        base_capital_plan("0.10", years)
    assert [e.field for e in err.value.errors] == ["base_capital.years"]


def test_a_base_capital_plan_reads_a_stored_decimal_string() -> None:
    assert base_capital_plan("0.10", 2) == BaseCapitalPlan(Decimal("0.10"), 2)
    assert base_capital_plan(Decimal(1), 20) == BaseCapitalPlan(Decimal(1), 20)
    assert base_capital_plan() == BaseCapitalPlan(Decimal("0.10"), 3)
    assert base_capital_plan("0", 1) == BaseCapitalPlan(Decimal(0), 1)  # both lower bounds are allowed


def test_an_imported_lot_is_of_an_ended_year_the_member_belonged_in() -> None:
    from datetime import date

    from domain.equity.rules import lot_year_errors

    today = date(2026, 11, 30)
    assert lot_year_errors("lots[0]", 2025, joined_on=date(2025, 12, 31), today=today, start_month=1) == []
    assert lot_year_errors("lots[0]", 2025, joined_on=None, today=today, start_month=1) == []
    unended = lot_year_errors("lots[3]", 2026, joined_on=None, today=today, start_month=1)
    assert [e.field for e in unended] == ["lots[3].fiscal_year"]
    before = lot_year_errors("lots[0]", 2024, joined_on=date(2025, 1, 1), today=today, start_month=1)
    assert [e.field for e in before] == ["lots[0].fiscal_year"]
    # With a July start, FY2026 ended on 2026-06-30; FY2027 is running.
    assert lot_year_errors("lots[0]", 2026, joined_on=None, today=today, start_month=7) == []
    assert lot_year_errors("lots[0]", 2027, joined_on=None, today=today, start_month=7) != []
