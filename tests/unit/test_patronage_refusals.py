"""What the board and staff read when allocation terms or 1099 inputs are refused.

The detail and every (field, message) pair are the problem+json a client shows, so they are
pinned exactly: a refusal that names the wrong field, says nothing, or stops at the first bad
fund is a defect a person has to debug by hand.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.errors import InvalidInputError
from domain.patronage.rules import (
    AllocationRounding,
    AllocationTerms,
    Fund,
    LossPolicy,
    NonmemberShare,
    PatronagePayment,
    PatronagePaymentKind,
    form_1099_patr_rows,
    policy_errors,
    policy_from_profile,
)


def _refusal(overrides: dict[str, object] | None = None, profile: str = "us") -> tuple[str, list[tuple[str, str]]]:
    with pytest.raises(InvalidInputError) as refused:
        policy_from_profile(profile, overrides)
    return refused.value.detail, [(e.field, e.message) for e in refused.value.errors]


def test_an_unknown_profile_names_the_ones_there_are():
    assert _refusal(profile="mars") == (
        "unknown allocation profile 'mars'",
        [("policy.profile", "must be one of france_scop, italy, mondragon, spain, us")],
    )


def test_unknown_policy_fields_are_each_named_in_order():
    assert _refusal({"zeta": 1, "alpha": 2}) == (
        "unknown allocation policy fields",
        [("policy.alpha", "unknown field"), ("policy.zeta", "unknown field")],
    )


@pytest.mark.parametrize(
    ("cash_rate", "message"),
    [
        ("abc", "must be a decimal rate"),
        (0.2, "must be a decimal rate"),
        (True, "must be a decimal rate"),
        ("NaN", "must be a decimal rate"),
        ("1.5", "must be between 0 and 1"),
        (-1, "must be between 0 and 1"),
    ],
)
def test_a_bad_cash_rate_is_refused_by_name(cash_rate, message):
    assert _refusal({"cash_rate": cash_rate}) == ("invalid allocation policy", [("policy.cash_rate", message)])


@pytest.mark.parametrize(("given", "rate"), [(1, Decimal(1)), (0, Decimal(0)), ("0.35", Decimal("0.35"))])
def test_ints_and_decimal_strings_become_exact_rates(given, rate):
    policy = policy_from_profile("us", {"cash_rate": given})
    assert policy.cash_rate == rate
    assert type(policy.cash_rate) is Decimal


@pytest.mark.parametrize("cents", [-1, True, "5"])
def test_a_bad_minimum_allocation_is_refused(cents):
    assert _refusal({"min_allocation_cents": cents}) == (
        "invalid allocation policy",
        [("policy.min_allocation_cents", "must be a whole number of cents, at least 0")],
    )


def test_funds_that_are_not_a_list_are_refused_as_a_whole():
    assert _refusal({"funds": "reserve"}) == (
        "invalid allocation policy",
        [("policy.funds", "must be a list of funds")],
    )


def test_every_bad_fund_is_named_not_only_the_first():
    funds = [
        "junk",
        {"name": "", "rate": "0.1", "indivisible": True},
        {"name": "a", "rate": "0.6", "indivisible": "yes"},
        {"name": "a", "rate": "0.5", "indivisible": False},
        {"name": "b", "rate": "2", "indivisible": True},
    ]
    assert _refusal({"funds": funds}) == (
        "invalid allocation policy",
        [
            ("policy.funds[0]", "must be a fund with name, rate and indivisible"),
            ("policy.funds[1].name", "must not be empty"),
            ("policy.funds[2].indivisible", "must be true or false"),
            ("policy.funds[3].name", "is used by another fund"),
            ("policy.funds[4].rate", "must be between 0 and 1"),
            ("policy.funds", "fund rates sum to 1.2, more than 1"),
        ],
    )


def test_funds_given_as_dicts_become_funds_in_order():
    policy = policy_from_profile("us", {"funds": [{"name": "reserve", "rate": "0.25", "indivisible": True}]})
    assert policy.funds == (Fund("reserve", Decimal("0.25"), indivisible=True),)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rounding", "nearest", "must be one of largest_remainder, residue_to_reserve"),
        ("nonmember_share", "pay_out", "must be one of retain"),
        ("loss_policy", "forget", "must be one of absorb_reserves, carry_forward, charge_members"),
    ],
)
def test_a_choice_outside_its_options_lists_them(field, value, message):
    assert _refusal({field: value}) == ("invalid allocation policy", [(f"policy.{field}", message)])


def test_policy_errors_name_fields_under_the_prefix_given():
    bad = AllocationTerms(cash_rate=Decimal(2), min_allocation_cents=-1)
    assert [(e.field, e.message) for e in policy_errors(bad, prefix="")] == [
        ("cash_rate", "must be between 0 and 1"),
        ("min_allocation_cents", "must be a whole number of cents, at least 0"),
    ]
    assert [e.field for e in policy_errors(bad, prefix="terms")] == ["terms.cash_rate", "terms.min_allocation_cents"]
    assert policy_errors(AllocationTerms(cash_rate=Decimal("0.2"))) == []


def test_terms_built_from_plain_values_hold_the_enums_and_a_tuple_of_funds():
    fund = Fund("reserve", Decimal("0.1"), indivisible=True)
    terms = AllocationTerms(
        cash_rate=Decimal("0.2"),
        funds=[fund],  # type: ignore[arg-type]
        rounding="residue_to_reserve",  # type: ignore[arg-type]
        nonmember_share="retain",  # type: ignore[arg-type]
        loss_policy="charge_members",  # type: ignore[arg-type]
    )
    assert terms.funds == (fund,)
    assert type(terms.funds) is tuple
    assert terms.rounding is AllocationRounding.RESIDUE_TO_RESERVE
    assert terms.nonmember_share is NonmemberShare.RETAIN
    assert terms.loss_policy is LossPolicy.CHARGE_MEMBERS
    assert policy_errors(terms) == []


# --- Form 1099-PATR inputs ---------------------------------------------------------------

K = PatronagePaymentKind


def _paid(number: int, kind: object, cents: object, on: date = date(2025, 6, 1)) -> PatronagePayment[int]:
    return PatronagePayment(number, number * 10, kind, cents, on)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payment", "detail"),
    [
        (_paid(7, K.PATRONAGE_CASH, -1), "member 7: amounts are integer cents, at least 0"),
        (_paid(7, K.PATRONAGE_CASH, 10.0), "member 7: amounts are integer cents, at least 0"),
        (_paid(7, "bonus", 1000), "unknown payment kind 'bonus'"),
    ],
)
def test_a_bad_payment_is_refused_naming_the_payments(payment, detail):
    with pytest.raises(InvalidInputError) as refused:
        form_1099_patr_rows([payment])
    assert refused.value.detail == detail
    assert [(e.field, e.message) for e in refused.value.errors] == [("payments", detail)]


def test_a_zero_payment_is_a_payment_of_nothing():
    rows = form_1099_patr_rows([_paid(1, K.PATRONAGE_CASH, 0), _paid(1, K.PATRONAGE_CASH, 1000)])
    assert [(r.member_number, r.box1_cents) for r in rows] == [(1, 1000)]


def test_payments_of_other_years_are_skipped_not_the_end_of_the_list():
    payments = [
        _paid(1, K.PATRONAGE_CASH, 5000, date(2024, 6, 1)),
        _paid(2, K.PATRONAGE_CASH, 1500, date(2025, 6, 1)),
        _paid(3, K.NONQUALIFIED_REDEMPTION, 2500, date(2023, 1, 1)),
        _paid(3, K.NONQUALIFIED_REDEMPTION, 1200, date(2025, 2, 1)),
    ]
    rows = form_1099_patr_rows(payments, calendar_year=2025)
    assert [(r.calendar_year, r.member_number, r.member_key, r.box1_cents, r.box5_cents) for r in rows] == [
        (2025, 2, 20, 1500, 0),
        (2025, 3, 30, 0, 1200),
    ]
