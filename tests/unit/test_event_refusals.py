"""What an event's refusals tell the client, and what a registration still owes outside the ledger.

A refusal's detail, code and (field, message) pairs are the problem+json a client shows, so they are pinned
exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.membership.rules import Status
from domain.network.rules import (
    EventStatus,
    RegistrationStatus,
    attendance_refusal,
    cancellation_refusal,
    check_event_move,
    check_proposer_standing,
    check_registrant_standing,
    check_registration_move,
    event_errors,
    fee_owed_cents,
    registration_closed,
)
from tests.unit.refusals import conflict

NOW = datetime(2026, 5, 1, 9, tzinfo=UTC)


def test_a_bad_event_says_what_each_field_must_be() -> None:
    errors = event_errors(
        starts_at=NOW, ends_at=NOW, place=None, online_url=None, cancellation_deadline=NOW + timedelta(days=1), now=NOW
    )
    assert [(e.field, e.message) for e in errors] == [
        ("starts_at", "must be in the future"),
        ("ends_at", "must be after starts_at"),
        ("place", "give a place, an online_url, or both"),
        ("cancellation_deadline", "must not be after starts_at"),
    ]


def test_a_move_off_a_table_names_the_registration_or_the_event_and_where_it_stands() -> None:
    assert conflict(lambda: check_registration_move(RegistrationStatus.CANCELLED, RegistrationStatus.CONFIRMED)) == (
        "the registration is cancelled; it cannot become confirmed (allowed from cancelled: none (final state))",
        "registration_transition_refused",
    )
    assert conflict(lambda: check_event_move(EventStatus.PUBLISHED, EventStatus.DECLINED)) == (
        "the event is published; it cannot become declined (allowed from published: none (final state))",
        "event_transition_refused",
    )


def test_who_may_not_register_or_propose_is_named_with_their_status() -> None:
    assert conflict(lambda: check_registrant_standing(7, Status.SUSPENDED)) == (
        "member 7 is suspended",
        "member_not_in_good_standing",
    )
    assert conflict(lambda: check_proposer_standing(7, Status.PROBATIONARY)) == (
        "member 7 is probationary; only full members propose events",
        "member_not_full",
    )


def test_refusals_of_registrations_cancellations_and_attendance_say_why() -> None:
    refusals = [
        registration_closed(EventStatus.PROPOSED),
        cancellation_refusal(NOW, NOW),
        attendance_refusal(RegistrationStatus.CONFIRMED, NOW, NOW - timedelta(seconds=1)),
        attendance_refusal(RegistrationStatus.WAITLISTED, NOW, NOW),
    ]
    assert [(r.detail, r.code) if r else None for r in refusals] == [
        ("the event is proposed, not published", "event_not_published"),
        ("cancellations closed at 2026-05-01T09:00:00+00:00", "cancellation_deadline_passed"),
        ("the event starts at 2026-05-01T09:00:00+00:00", "event_not_started"),
        ("the registration is waitlisted, not confirmed", "registration_not_confirmed"),
    ]


@pytest.mark.parametrize("status", list(RegistrationStatus))
@pytest.mark.parametrize("is_member", [True, False])
def test_only_a_confirmed_non_member_owes_its_fee_outside_the_ledger(
    is_member: bool, status: RegistrationStatus
) -> None:
    owed = fee_owed_cents(is_member=is_member, status=status, fee_cents=2_500)
    assert owed == (2_500 if not is_member and status is RegistrationStatus.CONFIRMED else 0)
