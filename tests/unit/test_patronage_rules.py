"""Unit tests for domain.patronage.rules (pure, no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInputError
from domain.money import Rounding, apply_rate, round_to_cents
from domain.patronage.rules import (
    FORM_1099_PATR_THRESHOLD_CENTS,
    PROFILES,
    AllocationResult,
    AllocationRounding,
    AllocationTerms,
    Fund,
    LossPolicy,
    MemberPatronage,
    PatronagePayment,
    PatronagePaymentKind,
    PoolInput,
    check_balanced,
    compute_allocation,
    fiscal_year_of,
    form_1099_patr_rows,
    is_member_business,
    is_within_payment_period,
    loss_charges,
    payment_period_end,
    policy_errors,
    policy_from_profile,
    pool_steps,
    utc_day_range,
)

FY_END = date(2025, 12, 31)
PAY = date(2026, 3, 31)

# DOMAIN.md section 3, worked example EX1 (cents).
EX1_POOL = PoolInput("general", 1799800, 24018733, 5981267)
EX1_VOLUMES = {1: 10123456, 2: 7777777, 3: 5000000, 4: 1108766, 5: 8734}  # A..E
EX1_ALLOC = {1: 607340, 2: 466615, 3: 299967, 4: 66518, 5: 524}
EX1_M = 1440964
EX1_NONMEMBER = 358836


def ex1_members(consent: bool = True) -> list[MemberPatronage[str]]:
    return [MemberPatronage(n, f"member-{n}", "general", v, consent) for n, v in EX1_VOLUMES.items()]


def run(
    pools: list[PoolInput],
    members: list[MemberPatronage[str]],
    policy: AllocationTerms,
    payment_date: date = PAY,
    deficit: int = 0,
) -> AllocationResult[str]:
    result = compute_allocation(pools, members, policy, FY_END, payment_date, deficit)
    assert check_balanced(result)
    return result


def allocations(result: AllocationResult[str]) -> dict[int, int]:
    return {line.member_number: line.allocation_cents for line in result.lines}


def balance(result: AllocationResult[str]) -> int:
    t = result.totals
    return t.cash_cents + t.retained_cents + sum(f.amount_cents for f in t.funds) + t.unallocated_cents


# --- EX1 -----------------------------------------------------------------------


def test_ex1_to_the_cent():
    result = run([EX1_POOL], ex1_members(), AllocationTerms(cash_rate=Decimal("0.20")))
    t = result.totals
    assert t.net_margin_cents == 1799800
    assert t.member_share_cents == EX1_M
    assert t.nonmember_share_cents == EX1_NONMEMBER
    assert t.distributable_cents == EX1_M
    assert allocations(result) == EX1_ALLOC
    assert t.allocated_cents == EX1_M
    assert t.unallocated_cents == EX1_NONMEMBER
    assert t.funds == ()
    assert balance(result) == 1799800
    assert [line.member_key for line in result.lines] == [f"member-{n}" for n in range(1, 6)]
    assert [line.patronage_cents for line in result.lines] == list(EX1_VOLUMES.values())


def test_ex1_per_member_half_up_would_overpay_by_one_cent():
    shares = [Fraction(EX1_M * v, sum(EX1_VOLUMES.values())) for v in EX1_VOLUMES.values()]
    assert [round_to_cents(s, Rounding.FLOOR) for s in shares] == [607339, 466614, 299966, 66518, 523]
    assert sum(round_to_cents(s, Rounding.HALF_UP) for s in shares) == EX1_M + 1


def test_ex1_cash_rate_20_percent_ceil_keeps_c_qualified():
    result = run([EX1_POOL], ex1_members(), AllocationTerms(cash_rate=Decimal("0.20")))
    c = result.lines[2]
    assert (c.allocation_cents, c.cash_cents, c.retained_cents) == (299967, 59994, 239973)
    assert c.qualified
    assert apply_rate(299967, Decimal("0.20"), Rounding.HALF_UP) == 59993  # would be 19.9999%
    assert all(line.qualified for line in result.lines)
    assert result.totals.cash_cents + result.totals.retained_cents == EX1_M


def test_ex1_min_allocation_sends_e_to_unallocated_without_redistribution():
    result = run([EX1_POOL], ex1_members(), AllocationTerms(cash_rate=Decimal("0.20"), min_allocation_cents=1000))
    e = result.lines[4]
    assert (e.computed_cents, e.allocation_cents, e.cash_cents, e.retained_cents) == (524, 0, 0, 0)
    assert e.below_minimum
    assert not e.qualified
    assert allocations(result) == {**EX1_ALLOC, 5: 0}  # nobody else gains E's cents
    assert result.totals.de_minimis_cents == 524
    assert result.totals.unallocated_cents == EX1_NONMEMBER + 524
    assert result.totals.allocated_cents == EX1_M - 524


def test_ex1_residue_to_reserve_floors_and_keeps_the_four_cents():
    policy = AllocationTerms(cash_rate=Decimal("0.20"), rounding=AllocationRounding.RESIDUE_TO_RESERVE)
    result = run([EX1_POOL], ex1_members(), policy)
    assert allocations(result) == {1: 607339, 2: 466614, 3: 299966, 4: 66518, 5: 523}
    assert result.totals.rounding_residue_cents == 4
    assert result.totals.unallocated_cents == EX1_NONMEMBER + 4


def test_rounding_accepts_its_string_value():
    policy = AllocationTerms(cash_rate=Decimal("0.20"), rounding="residue_to_reserve")  # type: ignore[arg-type]
    assert policy.rounding is AllocationRounding.RESIDUE_TO_RESERVE


def test_ex1_mondragon_funds_take_ceil_of_the_member_share():
    result = run([EX1_POOL], ex1_members(), PROFILES["mondragon"])
    reserve = round_to_cents(Fraction(EX1_M) * Fraction("0.45"), Rounding.CEIL)
    education = round_to_cents(Fraction(EX1_M) * Fraction("0.10"), Rounding.CEIL)
    assert (reserve, education) == (648434, 144097)
    funds = {f.name: (f.amount_cents, f.indivisible) for f in result.totals.funds}
    assert funds == {"obligatory_reserve": (648434, True), "education_social_fund": (144097, True)}
    assert result.totals.distributable_cents == EX1_M - reserve - education
    assert sum(allocations(result).values()) == EX1_M - reserve - education


# --- qualification and payment period ------------------------------------------


@pytest.mark.parametrize(
    ("fy_end", "end"),
    [
        (date(2025, 12, 31), date(2026, 9, 15)),
        (date(2025, 6, 30), date(2026, 3, 15)),
        (date(2025, 3, 31), date(2025, 12, 15)),
        (date(2025, 9, 30), date(2026, 6, 15)),
        (date(2024, 2, 29), date(2024, 11, 15)),
        (date(2025, 12, 27), date(2026, 9, 15)),  # 52-53 week years close mid-month
    ],
)
def test_payment_period_end(fy_end, end):
    assert payment_period_end(fy_end) == end
    assert is_within_payment_period(fy_end, end)
    assert not is_within_payment_period(fy_end, date.fromordinal(end.toordinal() + 1))


@pytest.mark.parametrize(
    ("cash_rate", "consent", "payment_date", "qualified"),
    [
        (Decimal("0.20"), True, date(2026, 9, 15), True),
        (Decimal("0.20"), True, FY_END, True),
        (Decimal(1), True, PAY, True),
        (Decimal("0.20"), True, date(2026, 9, 16), False),
        (Decimal("0.20"), False, PAY, False),
        (Decimal("0.19"), True, PAY, False),
        (Decimal("0.1999"), True, PAY, False),
        (Decimal(0), True, PAY, False),
    ],
)
def test_qualified_needs_rate_consent_and_period(cash_rate, consent, payment_date, qualified):
    result = run([EX1_POOL], ex1_members(consent), AllocationTerms(cash_rate=cash_rate), payment_date)
    assert {line.qualified for line in result.lines} == {qualified}
    assert result.payment_period_end == date(2026, 9, 15)


def test_consent_is_per_member():
    members = ex1_members()
    members[1] = replace(members[1], has_consent=False)
    result = run([EX1_POOL], members, AllocationTerms(cash_rate=Decimal("0.20")))
    assert [line.qualified for line in result.lines] == [True, False, True, True, True]


def test_payment_before_the_year_ends_is_refused():
    with pytest.raises(InvalidInputError, match="payment date"):
        compute_allocation([EX1_POOL], ex1_members(), PROFILES["us"], FY_END, date(2025, 12, 30))


# --- several pools, funds, zero volume ----------------------------------------


def test_members_sum_over_pools():
    pools = [PoolInput("food", 10000, 300, 100), PoolInput("tools", 5001, 2, 0)]
    members = [
        MemberPatronage(7, "a", "food", 200, True),
        MemberPatronage(3, "b", "food", 100, True),
        MemberPatronage(3, "b", "tools", 1, True),
        MemberPatronage(9, "c", "tools", 1, True),
    ]
    result = run(pools, members, AllocationTerms(cash_rate=Decimal("0.30")))
    # food: M = 7500 -> 5000 / 2500; tools: M = 5001, tie 2500.5 each -> lower member number.
    assert allocations(result) == {3: 2500 + 2501, 7: 5000, 9: 2500}
    assert {line.member_number: line.patronage_cents for line in result.lines} == {3: 101, 7: 200, 9: 1}
    assert [p.pool for p in result.pools] == ["food", "tools"]
    assert result.totals.nonmember_share_cents == 2500


def test_funds_never_exceed_the_share():
    policy = AllocationTerms(
        cash_rate=Decimal("0.20"),
        funds=(Fund("a", Decimal("0.5"), indivisible=True), Fund("b", Decimal("0.5"), indivisible=False)),
    )
    result = run([PoolInput("p", 1, 1, 0)], [MemberPatronage(1, "x", "p", 1, True)], policy)
    assert [(f.name, f.amount_cents) for f in result.totals.funds] == [("a", 1), ("b", 0)]
    assert result.totals.distributable_cents == 0


def test_a_pool_without_volume_goes_to_unallocated():
    result = run([PoolInput("p", 12345, 0, 0)], [], PROFILES["us"])
    assert result.totals.unattributed_cents == 12345
    assert result.totals.unallocated_cents == 12345
    assert result.totals.member_share_cents == 0
    assert result.lines == ()


def test_nonmember_only_pool_keeps_everything_unallocated():
    result = run([PoolInput("p", 12345, 0, 999)], [], PROFILES["us"])
    assert result.totals.nonmember_share_cents == 12345


def test_member_with_zero_volume_gets_zero():
    members = [MemberPatronage(1, "a", "p", 0, True), MemberPatronage(2, "b", "p", 10, True)]
    result = run([PoolInput("p", 1000, 10, 0)], members, PROFILES["us"])
    assert allocations(result) == {1: 0, 2: 1000}
    assert not result.lines[0].qualified


# --- losses (section 6) --------------------------------------------------------


def test_negative_pool_allocates_nothing_and_its_loss_is_carried():
    pools = [PoolInput("bad", -5000, 100, 0), PoolInput("good", 3000, 100, 0)]
    members = [MemberPatronage(1, "a", "bad", 100, True), MemberPatronage(1, "a", "good", 100, True)]
    result = run(pools, members, PROFILES["us"])
    assert allocations(result) == {1: 3000}  # the loss does not offset the good pool
    assert result.lines[0].patronage_cents == 200
    assert result.totals.loss_cents == 5000
    assert result.totals.deficit_carried_forward_cents == 5000
    assert result.totals.net_margin_cents == 3000


def test_loss_not_carried_under_other_policies():
    policy = replace(PROFILES["us"], loss_policy=LossPolicy.CHARGE_MEMBERS)
    result = run([PoolInput("bad", -5000, 100, 0)], [MemberPatronage(1, "a", "bad", 100, True)], policy)
    assert result.totals.loss_cents == 5000
    assert result.totals.deficit_carried_forward_cents == 0


def test_carried_deficit_is_recovered_from_the_member_share_before_funds():
    policy = AllocationTerms(cash_rate=Decimal("0.20"), funds=(Fund("reserve", Decimal("0.10"), indivisible=True),))
    pools = [PoolInput("p", 10000, 800, 200)]  # M = 8000, non-member 2000
    members = [MemberPatronage(1, "a", "p", 800, True)]
    result = run(pools, members, policy, deficit=3000)
    t = result.totals
    assert t.deficit_recovered_cents == 3000
    assert t.deficit_carried_forward_cents == 0
    assert t.funds[0].amount_cents == 500  # 10% of 8000 - 3000
    assert t.allocated_cents == 4500
    assert t.nonmember_share_cents == 2000  # untouched
    assert t.unallocated_cents == 2000 + 3000


def test_deficit_larger_than_the_member_share_takes_it_all():
    pools = [PoolInput("p", 10000, 800, 200), PoolInput("q", 999, 1, 0), PoolInput("z", -100, 0, 0)]
    members = [MemberPatronage(1, "a", "p", 800, True), MemberPatronage(1, "a", "q", 1, True)]
    result = run(pools, members, PROFILES["us"], deficit=1_000_000)
    t = result.totals
    assert t.deficit_recovered_cents == 8999
    assert t.deficit_carried_forward_cents == 1_000_000 - 8999 + 100
    assert t.allocated_cents == 0
    assert [p.deficit_recovered_cents for p in result.pools] == [8000, 999, 0]


def test_recovery_is_split_over_pools_pro_rata():
    pools = [PoolInput("a", 300, 1, 0), PoolInput("b", 100, 1, 0)]
    members = [MemberPatronage(1, "x", "a", 1, True), MemberPatronage(1, "x", "b", 1, True)]
    result = run(pools, members, PROFILES["us"], deficit=101)
    assert [p.deficit_recovered_cents for p in result.pools] == [76, 25]  # 75.75 / 25.25


def test_pool_steps_without_a_carried_deficit_recover_nothing():
    steps = pool_steps([EX1_POOL], AllocationTerms(cash_rate=Decimal("0.20")), FY_END, PAY)
    assert (steps.recovered, steps.recoveries, steps.distributable) == (0, (0,), (EX1_M,))


def test_pool_figures_need_one_residue_per_pool():
    steps = pool_steps([PoolInput("a", 300, 1, 0), PoolInput("b", 100, 1, 0)], PROFILES["us"], FY_END, PAY)
    assert [(p.pool, p.rounding_residue_cents) for p in steps.results([0, 3])] == [("a", 0), ("b", 3)]
    with pytest.raises(ValueError, match="shorter"):  # pool b is never dropped from the run
        steps.results([0])


def test_loss_charges_lrm():
    assert loss_charges(100, [(2, 1), (1, 1), (3, 1)]) == [(1, 34), (2, 33), (3, 33)]
    assert loss_charges(10, [(5, 3), (4, 1)]) == [(4, 2), (5, 8)]  # 2.5 / 7.5: tie to the larger
    assert loss_charges(0, []) == []


# --- bad inputs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pools", "members", "match"),
    [
        ([PoolInput("p", 10, 5, 0)], [MemberPatronage(1, "a", "p", 4, True)], "sum to 4, not 5"),
        ([PoolInput("p", 10, 5, 0)], [MemberPatronage(1, "a", "q", 5, True)], "no net margin"),
        ([PoolInput("p", 10, 5, 0), PoolInput("p", 1, 1, 0)], [], "given twice"),
        (
            [PoolInput("p", 10, 2, 0)],
            [MemberPatronage(1, "a", "p", 1, True), MemberPatronage(1, "a", "p", 1, True)],
            "twice in pool",
        ),
        (
            [PoolInput("p", 10, 2, 0), PoolInput("q", 10, 2, 0)],
            [MemberPatronage(1, "a", "p", 2, True), MemberPatronage(1, "b", "q", 2, True)],
            "differ",
        ),
        ([PoolInput("p", 10, -1, 0)], [], "negative"),
        ([PoolInput("p", 10.0, 1, 0)], [], "integer cents"),  # type: ignore[arg-type]
        ([PoolInput("p", 10, 1, 0)], [MemberPatronage(1, "a", "p", -1, True)], "at least 0"),
    ],
)
def test_inconsistent_inputs_are_refused(pools, members, match):
    with pytest.raises(InvalidInputError, match=match):
        compute_allocation(pools, members, PROFILES["us"], FY_END, PAY)


def test_invalid_policy_is_refused():
    with pytest.raises(InvalidInputError) as info:
        compute_allocation([EX1_POOL], ex1_members(), AllocationTerms(cash_rate=Decimal("1.5")), FY_END, PAY)
    assert [e.field for e in info.value.errors] == ["policy.cash_rate"]


def test_negative_carried_deficit_is_refused():
    with pytest.raises(InvalidInputError, match="deficit"):
        compute_allocation([EX1_POOL], ex1_members(), PROFILES["us"], FY_END, PAY, -1)


# --- policy and profiles -------------------------------------------------------


def test_profiles():
    assert set(PROFILES) == {"us", "mondragon", "italy", "spain", "france_scop"}
    rates = {name: [(f.name, f.rate, f.indivisible) for f in p.funds] for name, p in PROFILES.items()}
    assert rates["us"] == []
    assert rates["mondragon"] == [
        ("obligatory_reserve", Decimal("0.45"), True),
        ("education_social_fund", Decimal("0.10"), True),
    ]
    assert rates["italy"] == [("legal_reserve", Decimal("0.30"), True), ("mutualistic_fund", Decimal("0.03"), True)]
    assert rates["spain"] == [
        ("obligatory_reserve_fund", Decimal("0.20"), True),
        ("education_promotion_fund", Decimal("0.05"), True),
    ]
    assert rates["france_scop"] == [("legal_reserve", Decimal("0.15"), True), ("employee_share", Decimal("0.25"), True)]
    for policy in PROFILES.values():
        assert policy.cash_rate == Decimal("0.20")
        assert policy_errors(policy) == []
    # Mondragon leaves 45% to the members.
    assert 1 - sum(f.rate for f in PROFILES["mondragon"].funds) == Decimal("0.45")


def test_profiles_are_read_only():
    with pytest.raises(TypeError):
        PROFILES["us"] = PROFILES["italy"]  # type: ignore[index]


@pytest.mark.parametrize("name", ["us", "mondragon", "italy", "spain", "france_scop"])
def test_every_profile_balances_on_ex1(name):
    result = run([EX1_POOL], ex1_members(), policy_from_profile(name))
    assert balance(result) == 1799800


def test_policy_from_profile_overrides():
    policy = policy_from_profile(
        "mondragon",
        {"cash_rate": "0.35", "min_allocation_cents": 1000, "rounding": "residue_to_reserve"},
    )
    assert policy.cash_rate == Decimal("0.35")
    assert policy.min_allocation_cents == 1000
    assert policy.rounding is AllocationRounding.RESIDUE_TO_RESERVE
    assert policy.funds == PROFILES["mondragon"].funds
    funds = policy_from_profile("italy", {"funds": [{"name": "legal_reserve", "rate": "0.40", "indivisible": True}]})
    assert funds.funds == (Fund("legal_reserve", Decimal("0.40"), indivisible=True),)
    assert policy_from_profile("us", {"cash_rate": Decimal(1)}).cash_rate == 1
    assert policy_from_profile("us") == PROFILES["us"]


@pytest.mark.parametrize(
    ("name", "overrides", "fields"),
    [
        ("atlantis", None, ["policy.profile"]),
        ("us", {"colour": "red"}, ["policy.colour"]),
        ("us", {"cash_rate": 0.2}, ["policy.cash_rate"]),
        ("us", {"cash_rate": "lots"}, ["policy.cash_rate"]),
        ("us", {"cash_rate": "-0.01"}, ["policy.cash_rate"]),
        ("us", {"min_allocation_cents": -1}, ["policy.min_allocation_cents"]),
        ("us", {"rounding": "bankers"}, ["policy.rounding"]),
        ("us", {"loss_policy": "ignore"}, ["policy.loss_policy"]),
        ("italy", {"funds": [{"name": "x", "rate": "0.3", "indivisible": True}] * 2}, ["policy.funds[1].name"]),
        (
            "italy",
            {
                "funds": [
                    {"name": "x", "rate": "0.6", "indivisible": True},
                    {"name": "y", "rate": "0.6", "indivisible": True},
                ]
            },
            ["policy.funds"],
        ),
        (
            "us",
            {"funds": [{"name": "", "rate": "2", "indivisible": 1}]},
            [f"policy.funds[0].{f}" for f in ("name", "rate", "indivisible")],
        ),
        ("us", {"funds": [{"rate": "0.1"}]}, ["policy.funds[0]"]),
    ],
)
def test_policy_from_profile_refuses_bad_policies(name, overrides, fields):
    with pytest.raises(InvalidInputError) as info:
        policy_from_profile(name, overrides)
    assert [e.field for e in info.value.errors] == fields


def test_policy_errors_prefix():
    errors = policy_errors(AllocationTerms(cash_rate=Decimal("NaN")), prefix="")
    assert [e.field for e in errors] == ["cash_rate"]


# --- properties for random co-ops ---------------------------------------------

rates = st.decimals(min_value=0, max_value=1, places=4)


@st.composite
def coops(draw: st.DrawFn) -> tuple[list[PoolInput], list[MemberPatronage[str]], AllocationTerms, int]:
    pool_names = draw(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=3, unique=True))
    numbers = draw(st.lists(st.integers(1, 500), min_size=0, max_size=25, unique=True))
    consent = {n: draw(st.booleans()) for n in numbers}
    pools, members = [], []
    for name in pool_names:
        in_pool = [n for n in numbers if draw(st.booleans())]
        volumes = [draw(st.integers(0, 10**7)) for _ in in_pool]
        members += [MemberPatronage(n, f"k{n}", name, v, consent[n]) for n, v in zip(in_pool, volumes, strict=True)]
        margin = draw(st.integers(-(10**6), 10**8))
        pools.append(PoolInput(name, margin, sum(volumes), draw(st.integers(0, 10**7))))
    fund_rates = draw(st.lists(st.decimals(min_value=0, max_value=Decimal("0.5"), places=3), max_size=3))
    fund_rates = [r for i, r in enumerate(fund_rates) if sum(fund_rates[: i + 1]) <= 1]
    funds = tuple(Fund(f"f{i}", r, draw(st.booleans())) for i, r in enumerate(fund_rates))
    policy = AllocationTerms(
        cash_rate=draw(rates),
        min_allocation_cents=draw(st.sampled_from([0, 0, 1, 1000, 50000])),
        funds=funds,
        rounding=draw(st.sampled_from(list(AllocationRounding))),
    )
    deficit = draw(st.sampled_from([0, 0, 1, 12345, 10**9]))
    return pools, members, policy, deficit


def lrm_oracle(total: int, rows: list[tuple[int, int]]) -> dict[int, int]:
    """LRM written from DOMAIN.md section 0, independently of domain.money."""
    weight = sum(v for _, v in rows)
    exact = {n: Fraction(total * v, weight) for n, v in rows}
    parts = {n: s.numerator // s.denominator for n, s in exact.items()}
    order = sorted(rows, key=lambda r: (-(exact[r[0]] - parts[r[0]]), -r[1], r[0]))
    for n, _ in order[: total - sum(parts.values())]:
        parts[n] += 1
    return parts


@settings(max_examples=150, deadline=None)
@given(coops())
def test_random_coops(coop):
    pools, members, policy, deficit = coop
    result = compute_allocation(pools, members, policy, FY_END, PAY, deficit)
    t = result.totals
    assert check_balanced(result)
    positive = sum(p.net_margin_cents for p in pools if p.net_margin_cents > 0)
    assert balance(result) == positive == t.net_margin_cents
    # Allocations (before de minimis) sum exactly to the distributable amount.
    assert sum(line.computed_cents for line in result.lines) + t.rounding_residue_cents == t.distributable_cents
    if policy.rounding == AllocationRounding.LARGEST_REMAINDER:
        assert t.rounding_residue_cents == 0
        expected: dict[int, int] = dict.fromkeys((m.member_number for m in members), 0)
        for pool in result.pools:
            rows = [(m.member_number, m.volume_cents) for m in members if m.pool == pool.pool]
            if pool.distributable_cents:
                for n, part in lrm_oracle(pool.distributable_cents, rows).items():
                    expected[n] += part
        assert {line.member_number: line.computed_cents for line in result.lines} == expected
    else:
        assert all(0 <= p.rounding_residue_cents < max(1, len(members)) for p in result.pools)
    for line in result.lines:
        # Cash never below the rate, and only the minimum CEIL needs.
        assert Fraction(line.cash_cents) >= line.allocation_cents * Fraction(policy.cash_rate)
        assert line.cash_cents == apply_rate(line.allocation_cents, policy.cash_rate, Rounding.CEIL)
        assert line.cash_cents + line.retained_cents == line.allocation_cents
        assert line.retained_cents >= 0
        # Nobody below the threshold gets anything; everyone else gets their computed amount.
        if line.computed_cents < policy.min_allocation_cents:
            assert line.below_minimum
            assert (line.allocation_cents, line.cash_cents, line.retained_cents) == (0, 0, 0)
            assert not line.qualified
        else:
            assert line.allocation_cents == line.computed_cents
        if line.qualified:
            assert policy.cash_rate >= Decimal("0.20")
    for pool in result.pools:
        if pool.net_margin_cents < 0:
            assert pool.distributable_cents == 0
            assert pool.loss_cents == -pool.net_margin_cents
        funds = sum(f.amount_cents for f in pool.funds)
        assert pool.deficit_recovered_cents + funds + pool.distributable_cents == pool.member_share_cents
        assert pool.distributable_cents >= 0
    assert t.deficit_recovered_cents == min(deficit, t.member_share_cents)
    # Deterministic, whatever order the database streams rows in.
    shuffled = sorted(members, key=lambda m: (m.volume_cents, -m.member_number, m.pool))
    assert compute_allocation(list(reversed(pools)), shuffled, policy, FY_END, PAY, deficit) == result


@given(st.integers(0, 10**9), rates)
def test_fast_cash_rounding_matches_apply_rate(allocation, rate):
    members = [MemberPatronage(1, "a", "p", 1, True)]
    result = compute_allocation([PoolInput("p", allocation, 1, 0)], members, AllocationTerms(rate), FY_END, PAY)
    assert result.lines[0].cash_cents == apply_rate(allocation, rate, Rounding.CEIL)


def test_100k_members_balance_to_the_cent():
    # Speed is measured in bench/, not asserted here.
    members = [MemberPatronage(n, n, "general", n * 7_919_617 % 10_000_019, True) for n in range(1, 100_001)]
    volume = sum(m.volume_cents for m in members)
    policy = replace(PROFILES["spain"], min_allocation_cents=1000)
    result = compute_allocation([PoolInput("general", 10**11, volume, volume // 3)], members, policy, FY_END, PAY)
    assert check_balanced(result)
    assert len(result.lines) == 100_000


# --- Form 1099-PATR -------------------------------------------------------------

K = PatronagePaymentKind


def pay(member: int, kind: PatronagePaymentKind, amount: int, day: date = date(2026, 3, 31)):
    return PatronagePayment(member, f"m{member}", kind, amount, day)


def test_1099_patr_boxes_and_threshold():
    payments = [
        pay(1, K.PATRONAGE_CASH, 2000),
        pay(1, K.QUALIFIED_NOTICE, 8000),
        pay(1, K.NONQUALIFIED_REDEMPTION, 500),
        pay(1, K.QUALIFIED_REDEMPTION, 99999),  # taxed when the notice was issued
        pay(2, K.PATRONAGE_CASH, 600),
        pay(2, K.NONQUALIFIED_NOTICE, 100000),  # not reported until redeemed
        pay(3, K.NONQUALIFIED_REDEMPTION, 1000),
        pay(4, K.PATRONAGE_CASH, 999),
        pay(5, K.PATRONAGE_CASH, 500),
        pay(5, K.PATRONAGE_CASH, 500, date(2027, 1, 2)),
    ]
    rows = form_1099_patr_rows(payments)
    assert [(r.calendar_year, r.member_number, r.box1_cents, r.box5_cents) for r in rows] == [
        (2026, 1, 10000, 500),
        (2026, 3, 0, 1000),
    ]
    assert rows[0].member_key == "m1"
    assert rows[0].total_cents == 10500
    assert FORM_1099_PATR_THRESHOLD_CENTS == 1000


def test_1099_patr_sums_within_a_year_and_filters_by_year():
    payments = [
        pay(5, K.PATRONAGE_CASH, 500, date(2026, 1, 1)),
        pay(5, K.QUALIFIED_NOTICE, 500, date(2026, 12, 31)),
        pay(6, K.PATRONAGE_CASH, 5000, date(2025, 12, 31)),
    ]
    assert [(r.calendar_year, r.member_number) for r in form_1099_patr_rows(payments)] == [(2025, 6), (2026, 5)]
    assert [r.member_number for r in form_1099_patr_rows(payments, calendar_year=2026)] == [5]


def test_1099_patr_refuses_negative_amounts():
    with pytest.raises(InvalidInputError):
        form_1099_patr_rows([pay(1, K.PATRONAGE_CASH, -1)])


def test_fiscal_year_examples():
    assert fiscal_year_of(date(2025, 12, 31)) == 2025
    assert fiscal_year_of(date(2025, 1, 1)) == 2025
    assert fiscal_year_of(date(2025, 6, 30), 7) == 2025
    assert fiscal_year_of(date(2025, 7, 1), 7) == 2026
    with pytest.raises(ValueError, match="1-12"):
        fiscal_year_of(date(2025, 1, 1), 13)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2200, 1, 1)), st.integers(1, 12))
def test_fiscal_years_are_twelve_consecutive_months(day, start_month):
    fy, after = fiscal_year_of(day, start_month), fiscal_year_of(day + timedelta(days=1), start_month)
    starts = (day + timedelta(days=1)).day == 1 and (day + timedelta(days=1)).month == start_month
    assert after - fy == (1 if starts else 0)
    assert fy in {day.year, day.year + 1}


def test_member_business_is_between_joining_and_leaving():
    joined = datetime(2024, 3, 1, tzinfo=UTC)
    left = datetime(2025, 3, 1, tzinfo=UTC)
    assert not is_member_business(None, None, joined)
    assert not is_member_business(joined, None, joined - timedelta(seconds=1))
    assert is_member_business(joined, None, joined)
    assert is_member_business(joined, left, left - timedelta(seconds=1))
    assert not is_member_business(joined, left, left)


def test_a_fiscal_year_ends_the_day_before_the_next_one_starts():
    from domain.patronage.rules import fiscal_year_end

    assert fiscal_year_end(2025, 1) == date(2025, 12, 31)
    assert fiscal_year_end(2026, 7) == date(2026, 6, 30)
    assert fiscal_year_end(2024, 3) == date(2024, 2, 29)
    for start in range(1, 13):
        end = fiscal_year_end(2030, start)
        assert fiscal_year_of(end, start) == 2030
        assert fiscal_year_of(end + timedelta(days=1), start) == 2031


@given(st.dates(), st.integers(min_value=0, max_value=400))
def test_a_day_range_covers_whole_utc_days_and_only_them(first, days):
    last = first + timedelta(days=days) if first <= date.max - timedelta(days=days + 1) else first
    start, end = utc_day_range(first, last)
    assert start == datetime(first.year, first.month, first.day, tzinfo=UTC)
    assert end == datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    assert utc_day_range(None, None) == (None, None)


def test_a_day_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(InvalidInputError) as refused:
        utc_day_range(date(2024, 4, 2), date(2024, 4, 1))
    assert [e.field for e in refused.value.errors] == ["occurred_to"]
    assert utc_day_range(date(2024, 4, 1), date(2024, 4, 1))[1] == datetime(2024, 4, 2, tzinfo=UTC)
