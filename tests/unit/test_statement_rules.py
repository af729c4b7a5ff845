"""The value of membership statement's arithmetic (pure rules)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from domain.statements.rules import (
    EquityRollForward,
    Ratio,
    ValueFigures,
    line_savings_cents,
    ratio,
    statement_fiscal_year,
)


def test_savings_are_first_tier_less_price_paid_per_delivered_unit_before_markup():
    assert line_savings_cents(1_000, 800, 6) == 1_200
    assert line_savings_cents(1_000, 1_000, 6) == 0
    assert line_savings_cents(1_000, 800, 0) == 0


def test_the_return_is_exact_and_rounded_once_half_up():
    assert ratio(219_418, 6_338_613).value == Decimal("0.0346")
    assert ratio(1, 8).value == Decimal("0.1250")
    assert ratio(1, 20_000).value == Decimal("0.0001")  # 0.00005 is a tie: away from zero
    assert ratio(1, 20_001).value == Decimal("0.0000")
    assert ratio(5, 0).value is None
    assert ratio(5, -10).value is None


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**12))
def test_the_rounded_ratio_is_within_half_a_unit_of_the_exact_one(numerator, denominator):
    shown = ratio(numerator, denominator)
    assert (shown.numerator_cents, shown.denominator_cents) == (numerator, denominator)
    assert shown.value is not None
    assert abs(Fraction(shown.value) - Fraction(numerator, denominator)) <= Fraction(1, 2 * 10**4)
    assert shown == ratio(numerator, denominator)


def test_the_statement_adds_up():
    equity = EquityRollForward(opening_cents=50_000, paid_in_cents=10_000, retained_cents=123_907, redeemed_cents=7_000)
    assert equity.closing_cents == 176_907
    figures = ValueFigures(5_280, 6_333_333, 1_200, 63_334, 30_977, 123_907, equity)
    assert figures.spend_cents == 6_338_613
    assert figures.benefit_cents == 219_418
    assert figures.return_on_spend.value == Decimal("0.0346")
    assert figures.return_on_equity.value == Decimal("4.3884")  # 219,418 / 50,000


def test_without_a_year_the_statement_covers_the_fiscal_year_today_falls_in():
    # A calendar-year co-op turns over at New Year; a July co-op names July 2025 - June 2026 FY 2026.
    assert statement_fiscal_year(None, date(2025, 12, 31), 1) == 2025
    assert statement_fiscal_year(None, date(2026, 1, 1), 1) == 2026
    assert statement_fiscal_year(None, date(2025, 6, 30), 7) == 2025
    assert statement_fiscal_year(None, date(2025, 7, 1), 7) == 2026
    assert statement_fiscal_year(2019, date(2025, 7, 1), 7) == 2019


def test_without_a_base_the_ratio_keeps_both_amounts_and_shows_no_figure():
    assert ratio(5, 0) == Ratio(5, 0, None, "HALF_UP to 4 decimal places")
    assert ratio(-3, -10) == Ratio(-3, -10, None, "HALF_UP to 4 decimal places")
    assert ratio(1, 8) == Ratio(1, 8, Decimal("0.1250"), "HALF_UP to 4 decimal places")
