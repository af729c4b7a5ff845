"""Supplier programme rules (DOMAIN.md section 8): rebates, fees, pass-through, periods, report lines."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.errors import ConflictError, InvalidInputError
from domain.programmes.rules import (
    ClaimStatus,
    Holding,
    LineIn,
    LineStatus,
    MemberFacts,
    Period,
    PeriodFigures,
    RebateMode,
    ReportContext,
    Tier,
    UnmatchedReason,
    admin_fee_cents,
    check_contract,
    check_line_transition,
    classify_lines,
    figures,
    pass_through_cents,
    period_of,
    rebate_cents,
    receipt_outcome,
    report_errors,
    split_pass_through,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

EXAMPLE_TIERS = (Tier(0, Decimal("0.01")), Tier(10_000_000, Decimal("0.02")))


def test_domain_example_retroactive_and_graduated():
    # DOMAIN.md section 8: tiers (0, 1%), (100,000.00, 2%); X = 120,000.00.
    assert rebate_cents(12_000_000, EXAMPLE_TIERS, RebateMode.RETROACTIVE) == 240_000
    assert rebate_cents(12_000_000, EXAMPLE_TIERS, RebateMode.GRADUATED) == 140_000


def test_rebate_rounds_half_up_once_per_period():
    tiers = (Tier(0, Decimal("0.005")),)
    assert rebate_cents(1, tiers, RebateMode.RETROACTIVE) == 0  # 0.005 cents
    assert rebate_cents(100, tiers, RebateMode.RETROACTIVE) == 1  # 0.5 cents: tie goes up
    # Rounded once on the total, not per slice: two slices of 0.5 cents each give 1, not 2.
    graduated = (Tier(0, Decimal("0.005")), Tier(100, Decimal("0.005")))
    assert rebate_cents(200, graduated, RebateMode.GRADUATED) == 1


def test_tier_boundary_is_reached_at_its_minimum():
    assert rebate_cents(9_999_999, EXAMPLE_TIERS, RebateMode.RETROACTIVE) == 100_000
    assert rebate_cents(10_000_000, EXAMPLE_TIERS, RebateMode.RETROACTIVE) == 200_000


def test_fee_and_pass_through_rounding():
    assert admin_fee_cents(101, Decimal("0.005")) == 1  # 0.505 HALF_UP
    assert admin_fee_cents(99, Decimal("0.005")) == 0  # 0.495
    assert pass_through_cents(101, Decimal("0.5")) == 51  # CEIL(50.5): a promise is a minimum
    assert pass_through_cents(100, Decimal("0.5")) == 50


def test_pass_through_ties_go_to_larger_spend_then_lower_member_number():
    assert split_pass_through(1, {7: 100, 3: 100}) == {7: 0, 3: 1}
    assert split_pass_through(1, {7: 200, 3: 100}) == {7: 1, 3: 0}
    assert split_pass_through(5, {1: 0, 2: 10}) == {1: 0, 2: 5}
    assert split_pass_through(0, {}) == {}
    assert split_pass_through(0, {1: 0, 2: 0}) == {1: 0, 2: 0}
    with pytest.raises(ValueError, match="positive total over no weights"):
        split_pass_through(5, {1: 0, 2: 0})  # never lost: nobody spent, so nothing can be passed through


tiers_strategy = st.lists(st.tuples(st.integers(1, 10**9), st.decimals(0, 1, places=4)), min_size=0, max_size=5).map(
    lambda raw: (
        Tier(0, Decimal("0.0")),
        *[
            Tier(m, r)
            for m, r in zip(
                sorted({m for m, _ in raw}), sorted(r for _, r in raw)[: len({m for m, _ in raw})], strict=False
            )
        ],
    )
)


@given(tiers=tiers_strategy, spend=st.integers(0, 10**12), first_rate=st.decimals(0, "0.0001", places=6))
@example(tiers=(Tier(0, Decimal(0)), Tier(5000, Decimal(0))), spend=5000, first_rate=Decimal("0.0001"))
def test_retroactive_never_pays_less_than_graduated(tiers, spend, first_rate):
    # Contracts refuse a rate below an earlier tier's, so the first rate stays at or under the next.
    tiers = (Tier(0, min([first_rate, *(t.rate for t in tiers[1:2])])), *tiers[1:])
    retro = rebate_cents(spend, tiers, RebateMode.RETROACTIVE)
    grad = rebate_cents(spend, tiers, RebateMode.GRADUATED)
    assert retro >= grad >= 0
    assert retro <= spend


@given(
    spends=st.dictionaries(st.integers(1, 10**6), st.integers(0, 10**10), max_size=30),
    tiers=tiers_strategy,
    rate=st.decimals(0, 1, places=4),
    fee=st.decimals(0, 1, places=4),
)
def test_pass_through_parts_sum_exactly_and_stay_within_the_rebate(spends, tiers, rate, fee):
    if sum(spends.values()) == 0:
        spends = {**spends, 1: 1}
    fig = figures(spends, tiers=tiers, mode=RebateMode.RETROACTIVE, fee_rate=fee, pass_through_rate=rate)
    assert sum(p for _, p in fig.members.values()) == fig.pass_through_cents
    assert 0 <= fig.pass_through_cents <= fig.rebate_cents
    assert all(p >= 0 for _, p in fig.members.values())
    # Bounds of LRM: each part within one cent of its exact share.
    total = fig.spend_cents
    for spend, part in fig.members.values():
        exact = fig.pass_through_cents * spend / total
        assert exact - 1 < part < exact + 1


@given(
    lines=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 10**8)), min_size=1, max_size=40),
    cut=st.integers(0, 40),
    order=st.randoms(use_true_random=False),
)
def test_accrual_as_reports_arrive_equals_the_claim(lines, cut, order):
    # Accruing report by report (in any order, in any number of reports) ends at the claim's figures.
    terms: dict[str, Any] = {
        "tiers": EXAMPLE_TIERS,
        "mode": RebateMode.RETROACTIVE,
        "fee_rate": Decimal("0.015"),
        "pass_through_rate": Decimal("0.5"),
    }
    shuffled = list(lines)
    order.shuffle(shuffled)
    accrued: dict[int, int] = {}
    for batch in (shuffled[:cut], shuffled[cut:]):
        for member, amount in batch:
            accrued[member] = accrued.get(member, 0) + amount
    claim_spends: dict[int, int] = {}
    for member, amount in lines:
        claim_spends[member] = claim_spends.get(member, 0) + amount
    assert figures(accrued, **terms) == figures(claim_spends, **terms)
    assert figures(claim_spends, **terms) == figures(dict(reversed(claim_spends.items())), **terms)


@given(
    # Any start the calendar allows a term after (not only this century): the period index is
    # counted from the months between the dates, never from the years themselves.
    starts=st.dates(date(1, 1, 2), date(9000, 1, 1)),
    length=st.integers(0, 2000),
    offset=st.integers(0, 2000),
    period=st.sampled_from(Period),
)
def test_periods_tile_the_term(starts, length, offset, period):
    ends = starts + timedelta(days=length)
    day = starts + timedelta(days=offset)
    found = period_of(starts, ends, period, day)
    if day > ends:
        assert found is None
        return
    assert found is not None
    start, end = found
    assert start <= day <= end <= ends
    # The day before a period starts is in the previous period (or before the term).
    before = period_of(starts, ends, period, start - timedelta(days=1))
    assert (before is None) == (start == starts)
    if before is not None:
        assert before[1] == start - timedelta(days=1)


def test_periods_from_the_first_day():
    # A term from the 31st: February's period starts on its last day, kept there.
    assert period_of(date(2026, 1, 31), date(2026, 12, 31), Period.MONTH, date(2026, 2, 27)) == (
        date(2026, 1, 31),
        date(2026, 2, 27),
    )
    assert period_of(date(2026, 1, 31), date(2026, 12, 31), Period.MONTH, date(2026, 2, 28)) == (
        date(2026, 2, 28),
        date(2026, 3, 30),
    )
    assert period_of(date(2026, 1, 1), date(2026, 12, 31), Period.QUARTER, date(2026, 5, 15)) == (
        date(2026, 4, 1),
        date(2026, 6, 30),
    )
    assert period_of(date(2026, 3, 1), date(2027, 5, 31), Period.YEAR, date(2027, 4, 1)) == (
        date(2027, 3, 1),
        date(2027, 5, 31),
    )
    assert period_of(date(2026, 3, 1), date(2027, 5, 31), Period.YEAR, date(2026, 2, 28)) is None


def _contract(**changes: Any) -> None:
    terms: dict[str, Any] = {
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2026, 12, 31),
        "pool": "direct",
        "tiers": EXAMPLE_TIERS,
        "admin_fee_rate": Decimal("0.01"),
        "pass_through_rate": Decimal("0.5"),
    } | changes
    check_contract(**terms)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ends_on": date(2025, 12, 31)}, "ends_on"),
        ({"pool": "Bad Pool"}, "pool"),
        ({"tiers": (Tier(5, Decimal("0.01")),)}, "rebate.tiers[0].min_spend_cents"),
        ({"tiers": ()}, "rebate.tiers"),
        ({"tiers": (Tier(0, Decimal("0.02")), Tier(10, Decimal("0.01")))}, "rebate.tiers[1].rate"),
        ({"tiers": (Tier(0, Decimal("0.01")), Tier(0, Decimal("0.02")))}, "rebate.tiers[1].min_spend_cents"),
        ({"tiers": (Tier(0, Decimal("1.5")),)}, "rebate.tiers[0].rate"),
        ({"admin_fee_rate": Decimal("-0.01")}, "admin_fee_rate"),
        ({"pass_through_rate": Decimal("1.01")}, "pass_through_rate"),
    ],
)
def test_contract_validation_names_the_field(changes, field):
    with pytest.raises(InvalidInputError) as caught:
        _contract(**changes)
    assert field in [e.field for e in caught.value.errors]


def test_a_valid_contract_passes():
    _contract()


def test_report_errors():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    assert [e.field for e in report_errors([])] == ["lines"]
    assert [e.field for e in report_errors([LineIn("a", 1, at, 5), LineIn("b", 1, at, 0)])] == ["lines[1].amount_cents"]


def test_lines_are_accepted_or_held_with_a_reason():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    context = ReportContext(
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        period=Period.MONTH,
        members={1: MemberFacts(11, 1, eligible=True), 2: MemberFacts(12, 2, eligible=False)},
        claimed_periods=frozenset({date(2026, 2, 1)}),
        spent={(11, date(2026, 1, 1)): 100},
    )
    lines = [
        LineIn("a", 1, at, 500),
        LineIn("b", 9, at, 500),
        LineIn("c", 2, at, 500),
        LineIn("d", 1, datetime(2027, 1, 1, tzinfo=UTC), 500),
        LineIn("e", 1, datetime(2026, 2, 3, tzinfo=UTC), 500),
        LineIn("f", 1, at, -600),  # 100 + 500 - 600 = 0: allowed
        LineIn("g", 1, at, -1),  # below 0: held
    ]
    reasons = [h.reason for h in classify_lines(lines, context)]
    assert reasons == [
        None,
        UnmatchedReason.UNKNOWN_MEMBER,
        UnmatchedReason.NOT_ELIGIBLE,
        UnmatchedReason.OUTSIDE_TERM,
        UnmatchedReason.PERIOD_CLAIMED,
        None,
        UnmatchedReason.CORRECTION_EXCEEDS_SPEND,
    ]


def test_receipts_move_the_claim():
    assert receipt_outcome(status="open", due_cents=100, received_cents=0, amount_cents=40) is ClaimStatus.SHORT_PAID
    assert receipt_outcome(status="short_paid", due_cents=100, received_cents=40, amount_cents=60) is ClaimStatus.PAID
    with pytest.raises(ConflictError) as over:
        receipt_outcome(status="short_paid", due_cents=100, received_cents=40, amount_cents=61)
    assert over.value.code == "claim_overpaid"
    with pytest.raises(ConflictError) as paid:
        receipt_outcome(status="paid", due_cents=100, received_cents=100, amount_cents=1)
    assert paid.value.code == "claim_transition_refused"


def test_one_cent_of_spend_earns_its_rebate_and_nothing_earns_nothing():
    half = (Tier(0, Decimal("0.5")),)
    for mode in RebateMode:
        assert rebate_cents(1, half, mode) == 1  # 0.5 cents, HALF_UP
        assert rebate_cents(0, half, mode) == 0
        assert rebate_cents(-500, half, mode) == 0


def test_graduated_pays_each_of_three_slices_at_its_own_rate():
    # (0, 1%), (100,000.00, 2%), (200,000.00, 3%); X = 250,000.00:
    # 1,000.00 + 2,000.00 + 1,500.00 graduated; 3% of all of it retroactive.
    tiers = (*EXAMPLE_TIERS, Tier(20_000_000, Decimal("0.03")))
    assert rebate_cents(25_000_000, tiers, RebateMode.GRADUATED) == 450_000
    assert rebate_cents(25_000_000, tiers, RebateMode.RETROACTIVE) == 750_000
    assert rebate_cents(15_000_000, tiers, RebateMode.GRADUATED) == 200_000


def test_no_spend_bears_no_fee():
    assert admin_fee_cents(0, Decimal(1)) == 0
    assert admin_fee_cents(-300, Decimal("0.5")) == 0
    assert admin_fee_cents(1, Decimal(1)) == 1


def test_a_one_cent_spend_shares_the_pass_through_and_nobody_spending_gets_zeros():
    assert split_pass_through(2, {1: 1, 2: 1}) == {1: 1, 2: 1}
    assert split_pass_through(3, {4: 0, 9: 1}) == {4: 0, 9: 3}
    assert split_pass_through(0, {4: 0, 9: 0}) == {4: 0, 9: 0}


def test_a_period_s_figures_worked_example():
    # DOMAIN.md section 8 example spend (120,000.00) by two members; fee 1.5%, half passed through.
    spends = {7: 7_000_000, 3: 5_000_000}
    terms: dict[str, Any] = {"tiers": EXAMPLE_TIERS, "fee_rate": Decimal("0.015"), "pass_through_rate": Decimal("0.5")}
    retroactive = figures(spends, mode=RebateMode.RETROACTIVE, **terms)
    assert retroactive == PeriodFigures(
        spend_cents=12_000_000,
        rebate_cents=240_000,
        fee_cents=180_000,
        pass_through_cents=120_000,
        members={3: (5_000_000, 50_000), 7: (7_000_000, 70_000)},
    )
    graduated = figures(spends, mode=RebateMode.GRADUATED, **terms)
    assert (graduated.rebate_cents, graduated.pass_through_cents) == (140_000, 70_000)
    assert graduated.members == {3: (5_000_000, 29_167), 7: (7_000_000, 40_833)}


def _march_context() -> ReportContext:
    return ReportContext(
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        period=Period.MONTH,
        members={1: MemberFacts(11, 1, eligible=True), 2: MemberFacts(12, 2, eligible=False)},
        claimed_periods=frozenset(),
        spent={},
    )


def test_each_holding_keeps_its_line_member_and_period_and_only_accepted_lines_count():
    day = datetime(2026, 3, 3, tzinfo=UTC)
    march, april = date(2026, 3, 1), date(2026, 4, 1)
    lines = [
        LineIn("a", 1, day, 500),  # nothing spent yet in March
        LineIn("b", 1, day, -501),  # 500 - 501 < 0: held, and not counted
        LineIn("c", 1, day, -500),  # 500 - 500 = 0: allowed, the held line did not count
        LineIn("d", 1, datetime(2026, 4, 2, tzinfo=UTC), -1),  # nothing spent in April
        LineIn("e", 1, day, 1),  # the accepted correction took March to 0
        LineIn("f", 1, day, -2),  # 1 - 2 < 0
        LineIn("g", 2, day, 500),
        LineIn("h", 9, day, 500),
        LineIn("i", 1, datetime(2027, 1, 1, tzinfo=UTC), 500),
    ]
    held = UnmatchedReason
    assert classify_lines(lines, _march_context()) == [
        Holding(lines[0], 11, march, None),
        Holding(lines[1], 11, march, held.CORRECTION_EXCEEDS_SPEND),
        Holding(lines[2], 11, march, None),
        Holding(lines[3], 11, april, held.CORRECTION_EXCEEDS_SPEND),
        Holding(lines[4], 11, march, None),
        Holding(lines[5], 11, march, held.CORRECTION_EXCEEDS_SPEND),
        Holding(lines[6], 12, march, held.NOT_ELIGIBLE),
        Holding(lines[7], None, march, held.UNKNOWN_MEMBER),
        Holding(lines[8], 11, None, held.OUTSIDE_TERM),
    ]


@pytest.fixture
def server_clock_west_of_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "EST5")  # POSIX: five hours behind UTC, no time zone database needed
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("server_clock_west_of_utc")
def test_a_purchase_falls_in_the_period_of_its_utc_day_whatever_the_server_clock():
    # 21:30 on 31 March in New York is 1 April in UTC; 00:30 UTC on 1 March is still February in New York.
    new_york = timezone(timedelta(hours=-4))
    lines = [
        LineIn("a", 1, datetime(2026, 3, 31, 21, 30, tzinfo=new_york), 500),
        LineIn("b", 1, datetime(2026, 3, 1, 0, 30, tzinfo=UTC), 500),
    ]
    assert [h.period_start for h in classify_lines(lines, _march_context())] == [date(2026, 4, 1), date(2026, 3, 1)]


@pytest.mark.parametrize("current", list(LineStatus))
@pytest.mark.parametrize("target", list(LineStatus))
def test_only_an_unmatched_line_can_be_matched_or_rejected(current, target):
    if current is LineStatus.UNMATCHED and target is not LineStatus.UNMATCHED:
        check_line_transition(current.value, target, line_id=5)
        return
    with pytest.raises(ConflictError) as refused:
        check_line_transition(current.value, target, line_id=5)
    assert refused.value.code == "purchase_line_transition_refused"
    assert refused.value.detail == f"purchase line 5 is {current.value}; it cannot become {target.value}"
