"""Pure membership rules: lifecycle, votes, share payments, redemption, preferred capital."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ConflictError
from domain.membership.rules import (
    EXITED,
    TRANSITIONS,
    Status,
    admitted_status,
    check_standing_change,
    check_transition,
    preferred_dividend_cents,
    preferred_issue_errors,
    share_payment_errors,
    share_redemption,
    votes,
)


@given(st.lists(st.sampled_from(list(Status)), max_size=30))
def test_only_full_members_ever_vote(targets):
    status = Status.APPLICANT
    for target in targets:
        try:
            check_transition(status, target)
        except ConflictError:
            continue
        status = target
        assert votes(status) == (1 if status is Status.FULL else 0)


def test_exits_are_final_and_refusals_say_why():
    for final in EXITED:
        assert TRANSITIONS[final] == frozenset()
        with pytest.raises(ConflictError, match="final state"):
            check_transition(final, Status.FULL)
    with pytest.raises(ConflictError, match="cannot become resigning") as refused:
        check_transition(Status.APPLICANT, Status.RESIGNING)
    assert refused.value.code == "member_transition_refused"


@pytest.mark.parametrize("current", [Status.APPLICANT, Status.PROBATIONARY])
def test_reinstatement_never_skips_admission(current):
    with pytest.raises(ConflictError, match="through admission"):
        check_standing_change(current, Status.FULL)
    check_standing_change(Status.SUSPENDED, Status.FULL)
    check_standing_change(Status.RESIGNING, Status.FULL)


def test_admitted_members_are_full_only_when_paid_and_past_probation():
    today = date(2026, 5, 1)
    assert admitted_status(share_paid_cents=10_000, par_cents=10_000, probation_ends=None, today=today) is Status.FULL
    assert admitted_status(share_paid_cents=9_999, par_cents=10_000, probation_ends=None, today=today) is (
        Status.PROBATIONARY
    )
    later = today + timedelta(days=1)
    assert admitted_status(share_paid_cents=10_000, par_cents=10_000, probation_ends=later, today=today) is (
        Status.PROBATIONARY
    )
    assert admitted_status(share_paid_cents=10_000, par_cents=10_000, probation_ends=today, today=today) is Status.FULL


@given(paid=st.integers(0, 10_000), amount=st.integers(-5, 20_000))
def test_a_share_payment_never_exceeds_what_remains(paid, amount):
    errors = share_payment_errors(amount, paid_cents=paid, par_cents=10_000, status=Status.PROBATIONARY)
    assert (errors == []) == (0 < amount <= 10_000 - paid)


def test_leavers_cannot_buy_a_share():
    assert share_payment_errors(100, paid_cents=0, par_cents=10_000, status=Status.FORMER)


@given(par=st.integers(1, 10**6), paid=st.integers(0, 2 * 10**6), owed=st.integers(-(10**6), 10**7))
def test_share_redemption_never_exceeds_par_or_goes_negative(par, paid, owed):
    r = share_redemption(par_cents=par, paid_cents=paid, owed_cents=owed)
    assert r.payout_cents >= 0
    assert r.set_off_cents >= 0
    assert r.payout_cents + r.set_off_cents == min(par, paid)
    assert r.set_off_cents == min(max(owed, 0), par, paid)


def test_preferred_capital_is_capped_and_dividends_round_half_up():
    cap = Decimal("0.25")
    assert preferred_issue_errors(25_000, preferred_total_cents=0, total_equity_cents=75_000, cap_rate=cap) == []
    assert preferred_issue_errors(25_001, preferred_total_cents=0, total_equity_cents=75_000, cap_rate=cap)
    assert preferred_issue_errors(0, preferred_total_cents=0, total_equity_cents=75_000, cap_rate=cap)
    assert preferred_dividend_cents(12_345, Decimal("0.06")) == 741  # 740.7
    assert preferred_dividend_cents(250, Decimal("0.05")) == 13  # 12.5 rounds away from zero


def test_a_withdrawal_is_dated_after_joining_and_at_most_a_month_back() -> None:
    from datetime import date

    from domain.membership.rules import withdrawal_date_errors

    today = date(2026, 11, 30)
    assert withdrawal_date_errors(date(2026, 11, 30), joined_on=date(2026, 11, 30), today=today) == []
    assert withdrawal_date_errors(date(2026, 10, 30), joined_on=None, today=today) == []
    before = withdrawal_date_errors(date(2026, 11, 29), joined_on=date(2026, 11, 30), today=today)
    assert [e.field for e in before] == ["effective_date"]
    long_ago = withdrawal_date_errors(date(2026, 10, 29), joined_on=date(2020, 1, 1), today=today)
    assert [e.field for e in long_ago] == ["effective_date"]
    assert withdrawal_date_errors(date(2027, 6, 1), joined_on=date(2020, 1, 1), today=today) == []


def test_a_notice_makes_a_full_member_resigning_until_its_date_and_others_leave_on_it():
    from domain.membership.rules import notice_target

    today = date(2026, 5, 1)
    assert notice_target(Status.FULL, effective_on=today + timedelta(days=1), today=today) is Status.RESIGNING
    assert notice_target(Status.FULL, effective_on=today, today=today) is Status.FORMER
    assert notice_target(Status.FULL, effective_on=None, today=today) is Status.FORMER
    for status in (Status.APPLICANT, Status.PROBATIONARY, Status.SUSPENDED):
        assert notice_target(status, effective_on=today + timedelta(days=9), today=today) is Status.FORMER
    for status in (Status.RESIGNING, Status.FORMER, Status.EXPELLED):
        with pytest.raises(ConflictError, match=str(status)):
            notice_target(status, effective_on=None, today=today)


def test_only_a_resigning_member_can_take_its_notice_back():
    from domain.membership.rules import check_notice_withdrawal

    check_notice_withdrawal(Status.RESIGNING)
    for status in set(Status) - {Status.RESIGNING}:
        with pytest.raises(ConflictError, match="no notice"):
            check_notice_withdrawal(status)


def test_the_board_decides_a_share_redemption_only_after_the_member_left_and_approval_is_final():
    from domain.membership.rules import RedemptionDecision, check_redemption_decision

    approve, decline = RedemptionDecision.APPROVED, RedemptionDecision.DECLINED
    for status in EXITED:
        check_redemption_decision(status, None, approve)
        check_redemption_decision(status, None, decline)
        check_redemption_decision(status, decline, approve)  # the share stays owed: approved later
        check_redemption_decision(status, decline, decline)
        check_redemption_decision(status, approve, approve)  # idempotent
        with pytest.raises(ConflictError, match="already approved"):
            check_redemption_decision(status, approve, decline)
    for status in set(Status) - EXITED:
        with pytest.raises(ConflictError, match="has not left"):
            check_redemption_decision(status, None, approve)
