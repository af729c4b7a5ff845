"""The checks an allocation run request passes before anything is stored."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.allocation.rules import CashExplained, lines_fit_bigint, pool_errors, run_date_errors
from domain.errors import FieldError
from domain.money import BIGINT_MAX


def _fields(errors) -> list[str]:
    return [e.field for e in errors]


def test_a_year_that_has_not_ended_is_refused():
    assert _fields(run_date_errors(2026, start_month=1, payment_date=date(2027, 3, 1), today=date(2026, 12, 31))) == [
        "fiscal_year"
    ]
    assert run_date_errors(2026, start_month=1, payment_date=date(2027, 3, 1), today=date(2027, 1, 1)) == []
    future = run_date_errors(2030, start_month=1, payment_date=date(2031, 3, 1), today=date(2026, 11, 30))
    assert _fields(future) == ["fiscal_year"]


def test_a_fiscal_year_starting_in_july_ends_in_june():
    # FY 2026 runs July 2025 - June 2026; its payment period ends 2027-03-15.
    assert run_date_errors(2026, start_month=7, payment_date=date(2027, 3, 15), today=date(2026, 7, 1)) == []
    late = run_date_errors(2026, start_month=7, payment_date=date(2027, 3, 16), today=date(2026, 7, 1))
    assert _fields(late) == ["payment_date"]


def test_a_refused_run_says_when_the_year_ends_and_the_payment_period():
    errors = run_date_errors(2026, start_month=1, payment_date=date(2028, 1, 1), today=date(2026, 12, 31))
    assert errors == [
        FieldError("fiscal_year", "fiscal year 2026 has not ended (it ends on 2026-12-31)"),
        FieldError("payment_date", "must be within the payment period, 2026-12-31 to 2027-09-15"),
    ]


@given(st.integers(min_value=-400, max_value=400))
def test_the_payment_date_must_fall_in_the_payment_period(offset):
    day = date(2025, 12, 31) + timedelta(days=offset)
    errors = run_date_errors(2025, start_month=1, payment_date=day, today=date(2026, 11, 30))
    in_period = date(2025, 12, 31) <= day <= date(2026, 9, 15)
    assert _fields(errors) == ([] if in_period else ["payment_date"])


def test_a_pool_without_patronage_is_named_by_its_position():
    assert _fields(pool_errors(["purchases", "fuel", "purchase"], {"purchases", "fuel"})) == ["pools[2].pool"]
    assert pool_errors(["purchases"], {"purchases"}) == []
    assert pool_errors(["fuel"], set()) == [
        FieldError("pools[0].pool", "pool 'fuel' has no patronage in this fiscal year")
    ]


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=7, max_size=7))
def test_cash_is_explained_only_when_the_parts_add_up(parts):
    explained = CashExplained(sum(parts), *parts)
    assert explained.unexplained_cents == 0
    assert CashExplained(sum(parts) + 1, *parts).unexplained_cents == 1


def test_lines_go_to_numeric_only_past_63_bits():
    most = 2**63 - 1
    assert lines_fit_bigint([most // 3], [3], [(1, 5)])  # every product just fits
    assert lines_fit_bigint([most // 3], [3], [(4, 1)]) is False  # allocation x the rate passes
    assert lines_fit_bigint([2**62], [2], [(0, 1)]) is False  # D x the largest volume passes
    assert lines_fit_bigint([2**61, 5], [3, 2**60], [(1, 5), (3, 1)])
    assert lines_fit_bigint([], [], [(1, 5)])


def test_a_product_of_exactly_the_largest_bigint_still_fits():
    # 2**63 - 1 = 7 x 1,317,624,576,693,539,401.
    assert lines_fit_bigint([7], [BIGINT_MAX // 7], [(0, 1)])
    assert not lines_fit_bigint([7], [BIGINT_MAX // 7 + 1], [(0, 1)])
    # The CEIL of cash forms allocation x numerator + denominator.
    assert lines_fit_bigint([1], [1], [(BIGINT_MAX - 5, 5)])
    assert not lines_fit_bigint([1], [1], [(BIGINT_MAX - 4, 5)])
