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
    MemberPatronage,
    NonmemberShare,
    PatronagePayment,
    PatronagePaymentKind,
    PoolInput,
    compute_allocation,
    form_1099_patr_rows,
    loss_charges,
    policy_errors,
    policy_from_profile,
    utc_day_range,
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


# --- the allocation's inputs -----------------------------------------------------------

FYE = date(2025, 12, 31)
PAY = date(2026, 3, 31)
TERMS = AllocationTerms(cash_rate=Decimal("0.2"))


def _inputs_refused(pools, members, **kw) -> tuple[str, list[tuple[str, str]]]:
    kw.setdefault("policy", TERMS)
    kw.setdefault("payment_date", PAY)
    with pytest.raises(InvalidInputError) as refused:
        compute_allocation(pools, members, kw["policy"], FYE, kw["payment_date"], kw.get("deficit", 0))
    assert len(refused.value.errors) >= 1
    return refused.value.detail, [(e.field, e.message) for e in refused.value.errors]


def _one(detail: str, field: str) -> tuple[str, list[tuple[str, str]]]:
    return detail, [(field, detail)]


def _row(number: int, pool: str = "g", volume: object = 100, key: str | None = None, consent: object = True):
    return MemberPatronage(number, key or f"m{number}", pool, volume, consent)  # type: ignore[arg-type]


G = PoolInput("g", 1000, 100, 0)


@pytest.mark.parametrize(
    ("pools", "members", "expected"),
    [
        ([PoolInput("", 1, 0, 0)], [], _one("a pool needs a name", "pools")),
        ([PoolInput(None, 1, 0, 0)], [], _one("a pool needs a name", "pools")),  # type: ignore[arg-type]
        ([G, G], [], _one("pool 'g' is given twice", "pools")),
        ([PoolInput("g", 1.5, 0, 0)], [], _one("pool 'g': amounts must be integer cents", "pools")),  # type: ignore[arg-type]
        ([PoolInput("g", 1, True, 0)], [], _one("pool 'g': amounts must be integer cents", "pools")),
        ([PoolInput("g", 1, 0, 1.0)], [], _one("pool 'g': amounts must be integer cents", "pools")),  # type: ignore[arg-type]
        ([PoolInput("g", 1, -1, 0)], [], _one("pool 'g': volumes must not be negative", "pools")),
        ([PoolInput("g", 1, 0, -1)], [], _one("pool 'g': volumes must not be negative", "pools")),
        (
            [G],
            [_row(1, volume=-1)],
            _one("member 1: volume must be integer cents, at least 0", "member_patronage"),
        ),
        (
            [G],
            [_row(1, volume=1.0)],
            _one("member 1: volume must be integer cents, at least 0", "member_patronage"),
        ),
        (
            [G],
            [MemberPatronage("1", "m1", "g", 100, True)],  # type: ignore[arg-type]
            _one("member '1': volume must be integer cents, at least 0", "member_patronage"),
        ),
        ([G], [_row(1, pool="h")], _one("member 1: pool 'h' has no net margin", "pools")),
        (
            [G, PoolInput("h", 10, 5, 0)],
            [_row(1), _row(1, pool="h", volume=5, key="other")],
            _one("member 1: key or consent differ between pools", "member_patronage"),
        ),
        (
            [G, PoolInput("h", 10, 5, 0)],
            [_row(1), _row(1, pool="h", volume=5, consent=False)],
            _one("member 1: key or consent differ between pools", "member_patronage"),
        ),
        (
            [PoolInput("g", 1000, 100, 0)],
            [_row(2, volume=50), _row(2, volume=50)],
            _one("member 2 appears twice in pool 'g'", "member_patronage"),
        ),
        ([G], [_row(1, volume=99)], _one("pool 'g': member volumes sum to 99, not 100", "pools")),
    ],
)
def test_inconsistent_inputs_are_refused_naming_what_and_where(pools, members, expected):
    assert _inputs_refused(pools, members) == expected


def test_a_consent_that_is_not_true_counts_as_no_consent_in_every_pool():
    pools = [PoolInput("g", 1000, 100, 0), PoolInput("h", 1000, 100, 0)]
    result = compute_allocation([*pools], [_row(1, consent="yes"), _row(1, pool="h", consent=1)], TERMS, FYE, PAY)
    assert [(line.member_number, line.qualified) for line in result.lines] == [(1, False)]


@pytest.mark.parametrize("deficit", [-1, 1.0, True])
def test_a_bad_carried_deficit_is_refused(deficit):
    assert _inputs_refused([G], [_row(1)], deficit=deficit) == _one(
        "the carried deficit must be integer cents, at least 0", "deficit_carried_cents"
    )


def test_a_payment_before_the_year_ends_is_refused_and_on_the_last_day_accepted():
    assert _inputs_refused([G], [_row(1)], payment_date=date(2025, 12, 30)) == _one(
        "the payment date must not be before the fiscal year end", "payment_date"
    )
    assert compute_allocation([G], [_row(1)], TERMS, FYE, FYE).totals.allocated_cents == 1000


def test_bad_terms_are_refused_before_anything_is_computed():
    detail, errors = _inputs_refused([G], [_row(1)], policy=AllocationTerms(cash_rate=Decimal(3)))
    assert (detail, errors) == ("invalid allocation policy", [("policy.cash_rate", "must be between 0 and 1")])


@pytest.mark.parametrize("loss", [-1, 2.0, False])
def test_a_loss_is_charged_only_as_whole_positive_cents(loss):
    with pytest.raises(InvalidInputError) as refused:
        loss_charges(loss, [(1, 10)])
    detail = "a loss is charged as a positive number of cents"
    assert (refused.value.detail, [(e.field, e.message) for e in refused.value.errors]) == _one(detail, "loss_cents")


def test_a_pool_with_margin_and_no_volume_is_unattributed_not_a_loss():
    pools = [G, PoolInput("idle", 500, 0, 0)]
    reserve = Fund("reserve", Decimal("0.1"), indivisible=True)
    result = compute_allocation(pools, [_row(1)], AllocationTerms(cash_rate=Decimal("0.2"), funds=(reserve,)), FYE, PAY)
    idle = next(p for p in result.pools if p.pool == "idle")
    assert (idle.unattributed_cents, idle.loss_cents, idle.member_share_cents) == (500, 0, 0)
    assert result.totals.loss_cents == 0
    assert [(f.name, f.amount_cents, f.indivisible) for f in result.pools[0].funds] == [("reserve", 100, True)]


def test_a_date_range_that_ends_before_it_starts_is_refused_naming_its_end():
    with pytest.raises(InvalidInputError) as refused:
        utc_day_range(date(2025, 3, 2), date(2025, 3, 1))
    assert refused.value.detail == "the date range ends before it starts"
    assert [(e.field, e.message) for e in refused.value.errors] == [("occurred_to", "must not be before occurred_from")]


def test_a_one_cent_allocation_is_a_qualified_notice_and_the_run_keeps_its_inputs():
    pools = [PoolInput("g", 1, 100, 0)]
    result = compute_allocation(pools, [_row(1)], TERMS, FYE, PAY)
    [line] = result.lines
    assert (line.allocation_cents, line.cash_cents, line.retained_cents, line.qualified) == (1, 1, 0, True)
    assert (result.fiscal_year_end, result.payment_date, result.policy) == (FYE, PAY, TERMS)
