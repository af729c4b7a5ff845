"""What staff and members read when the membership rules refuse a move, a payment, an issue or a date.

The detail, the code and every (field, message) pair reach the client as problem+json, so they
are pinned exactly, as in test_equity_refusals.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from domain.membership.rules import (
    RedemptionDecision,
    Status,
    check_notice_withdrawal,
    check_redemption_decision,
    check_standing_change,
    check_transition,
    email_errors,
    normalize_email,
    notice_target,
    preferred_issue_errors,
    share_payment_errors,
    withdrawal_date_errors,
)
from tests.unit.refusals import conflict

if TYPE_CHECKING:
    from domain.errors import FieldError

TODAY = date(2026, 11, 30)


def _pairs(errors: list[FieldError]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in errors]


def test_a_move_the_bylaws_do_not_allow_names_the_member_and_the_moves_it_has() -> None:
    assert conflict(lambda: check_transition(Status.APPLICANT, Status.RESIGNING)) == (
        "the member is applicant; it cannot become resigning (allowed from applicant: former, full, probationary)",
        "member_transition_refused",
    )


def test_staff_cannot_reinstate_an_applicant_or_a_probationary_member_into_full() -> None:
    assert conflict(lambda: check_standing_change(Status.APPLICANT, Status.FULL)) == (
        "a member who is applicant becomes full through admission and a paid share, not reinstatement",
        None,
    )
    assert conflict(lambda: check_standing_change(Status.PROBATIONARY, Status.FULL)) == (
        "a member who is probationary becomes full through admission and a paid share, not reinstatement",
        None,
    )


def test_a_standing_change_other_than_reinstatement_still_keeps_to_the_lifecycle() -> None:
    check_standing_change(Status.FULL, Status.SUSPENDED)
    check_standing_change(Status.PROBATIONARY, Status.EXPELLED)
    assert conflict(lambda: check_standing_change(Status.APPLICANT, Status.SUSPENDED)) == (
        "the member is applicant; it cannot become suspended (allowed from applicant: former, full, probationary)",
        "member_transition_refused",
    )
    # A reinstatable member still needs the move in the table: a former member is never reinstated.
    assert conflict(lambda: check_standing_change(Status.FORMER, Status.FULL))[1] is None


def test_notice_refusals_say_who_cannot_give_or_take_back_a_notice() -> None:
    assert conflict(lambda: notice_target(Status.RESIGNING, effective_on=None, today=TODAY)) == (
        "a member who is resigning cannot give notice of withdrawal",
        None,
    )
    assert conflict(lambda: check_notice_withdrawal(Status.FULL)) == (
        "a member who is full has no notice of withdrawal pending",
        None,
    )


def test_redemption_decision_refusals_say_why() -> None:
    approve, decline = RedemptionDecision.APPROVED, RedemptionDecision.DECLINED
    assert conflict(lambda: check_redemption_decision(Status.RESIGNING, None, approve)) == (
        "a member who is resigning has not left; its share is redeemed only after it leaves",
        None,
    )
    assert conflict(lambda: check_redemption_decision(Status.FORMER, approve, decline)) == (
        "the share redemption was already approved and paid; it cannot be declined",
        None,
    )


@pytest.mark.parametrize(
    ("amount", "paid", "status", "pairs"),
    [
        (100, 0, Status.FORMER, [("amount_cents", "a former member cannot buy a membership share")]),
        (100, 0, Status.EXPELLED, [("amount_cents", "an expelled member cannot buy a membership share")]),
        (0, 0, Status.APPLICANT, [("amount_cents", "must be a positive number of cents")]),
        (-1, 0, Status.APPLICANT, [("amount_cents", "must be a positive number of cents")]),
        (4_001, 6_000, Status.PROBATIONARY, [("amount_cents", "only 4000 cents of the 10000 cent share remain due")]),
        (4_000, 6_000, Status.PROBATIONARY, []),
        (1, 0, Status.SUSPENDED, []),
    ],
)
def test_share_payment_refusals_name_the_amount(amount, paid, status, pairs) -> None:
    errors = share_payment_errors(amount, paid_cents=paid, par_cents=10_000, status=status)
    assert _pairs(errors) == pairs


def test_a_preferred_issue_above_the_cap_says_what_it_would_be_and_the_limit() -> None:
    cap = Decimal("0.25")
    errors = preferred_issue_errors(25_001, preferred_total_cents=0, total_equity_cents=75_000, cap_rate=cap)
    assert _pairs(errors) == [
        ("amount_cents", "preferred capital would be 25001 cents, above 25% of total equity (25000)")
    ]
    assert _pairs(preferred_issue_errors(-5, preferred_total_cents=0, total_equity_cents=1, cap_rate=cap)) == [
        ("amount_cents", "must be a positive number of cents")
    ]


def test_the_preferred_cap_counts_both_what_is_held_and_the_issue() -> None:
    cap = Decimal("0.25")
    # 10,000 held + 15,000 issued = 25,000 of 100,000 after the issue: exactly at the cap.
    assert preferred_issue_errors(15_000, preferred_total_cents=10_000, total_equity_cents=85_000, cap_rate=cap) == []
    assert preferred_issue_errors(15_001, preferred_total_cents=10_000, total_equity_cents=85_000, cap_rate=cap)
    # The issue adds to total equity too: 1 of 1 + 3 is exactly a quarter.
    assert preferred_issue_errors(1, preferred_total_cents=0, total_equity_cents=3, cap_rate=cap) == []
    assert preferred_issue_errors(1, preferred_total_cents=1, total_equity_cents=3, cap_rate=cap)


def test_withdrawal_date_refusals_name_the_date_and_the_limit() -> None:
    before = withdrawal_date_errors(date(2026, 11, 29), joined_on=date(2026, 11, 30), today=TODAY)
    assert _pairs(before) == [("effective_date", "must not be before the member joined (2026-11-30)")]
    long_ago = withdrawal_date_errors(TODAY - timedelta(days=32), joined_on=None, today=TODAY)
    assert _pairs(long_ago) == [("effective_date", "may be at most 31 days in the past (today is 2026-11-30)")]
    assert withdrawal_date_errors(TODAY - timedelta(days=31), joined_on=None, today=TODAY) == []


@pytest.mark.parametrize("email", ["ann@x.test", "  Ann.Lee+coop@Mail.Example.ORG  ", "a@b.c", "o'brien@x-y.test"])
def test_a_deliverable_looking_address_passes(email) -> None:
    assert email_errors(email) == []


@pytest.mark.parametrize(
    "email",
    ["", "ann", "ann@", "@x.test", "ann@x", "ann@@x.test", "ann@x.", "ann lee@x.test", "ann@x .test", "ann@x.test\nb"],
)
def test_an_address_that_cannot_be_delivered_is_refused_by_field(email) -> None:
    assert _pairs(email_errors(email)) == [("email", "not a valid e-mail address")]
    assert _pairs(email_errors(email, "contact_email")) == [("contact_email", "not a valid e-mail address")]


def test_addresses_compare_without_case_or_surrounding_blanks() -> None:
    assert normalize_email("  Ann@Example.TEST\t") == "ann@example.test"
