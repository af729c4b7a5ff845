"""What a client reads when a meeting, its record, its minutes or a petition's answer is refused.

A refusal's detail, code and (field, message) pairs are the problem+json a client shows, so they are
pinned exactly; the quorum rate's bounds are both allowed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.governance.rules import (
    PetitionKind,
    PetitionStatus,
    check_attendance_time,
    check_minutes_approval,
    check_new_meeting,
    check_petition_for_meeting,
)
from tests.unit.refusals import conflict, invalid

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
STARTS = NOW + timedelta(days=20)
RECORDED = date(2026, 2, 28)


@pytest.mark.parametrize("rate", [Decimal(0), Decimal(1)])
def test_a_quorum_rate_of_none_or_of_everyone_is_allowed(rate: Decimal) -> None:
    check_new_meeting(starts_at=STARTS, record_date=RECORDED, quorum_rate=rate, now=NOW)


def test_a_bad_meeting_says_what_each_field_must_be() -> None:
    def call() -> None:
        check_new_meeting(starts_at=STARTS, record_date=STARTS.date(), quorum_rate=Decimal("1.01"), now=NOW)

    assert invalid(call) == (
        "the meeting is not valid",
        [("record_date", "must be before the day of the meeting"), ("quorum_rate", "must be from 0 to 1")],
    )


def test_a_meeting_called_at_short_notice_names_the_period_and_its_start() -> None:
    soon = NOW + timedelta(days=13)
    assert conflict(
        lambda: check_new_meeting(starts_at=soon, record_date=RECORDED, quorum_rate=Decimal("0.1"), now=NOW)
    ) == (
        "members must have at least 14 days' notice: the meeting starts 2026-03-14T12:00:00+00:00",
        "notice_too_short",
    )


def test_nothing_is_recorded_before_the_start_or_after_the_minutes_are_approved() -> None:
    early = NOW - timedelta(minutes=1)
    assert conflict(lambda: check_attendance_time(starts_at=NOW, now=early, minutes_approved=False)) == (
        "the meeting starts 2026-03-01T12:00:00+00:00; nothing is recorded before",
        "meeting_not_started",
    )
    assert conflict(lambda: check_attendance_time(starts_at=NOW, now=NOW, minutes_approved=True)) == (
        "the meeting's minutes are approved: its record is final",
        "minutes_approved",
    )


def test_minutes_are_refused_once_approved_away_from_the_next_meeting_or_before_it_starts() -> None:
    def approve(approving: datetime, following: datetime | None, now: datetime, *, approved: bool) -> None:
        check_minutes_approval(approving_starts_at=approving, next_starts_at=following, now=now, approved=approved)

    assert conflict(lambda: approve(STARTS, STARTS, STARTS, approved=True)) == (
        "these minutes are approved already",
        "minutes_approved",
    )
    assert conflict(lambda: approve(STARTS, None, STARTS, approved=False)) == (
        "minutes are approved at the next meeting",
        "not_the_next_meeting",
    )
    assert conflict(lambda: approve(STARTS, STARTS, NOW, approved=False)) == (
        "the approving meeting starts 2026-03-21T12:00:00+00:00",
        "meeting_not_started",
    )


@pytest.mark.parametrize(("kind", "meeting"), [(PetitionKind.BYLAW_AMENDMENT, "egm"), (PetitionKind.EGM, "agm")])
def test_only_an_egm_answers_a_petition_for_one(kind: PetitionKind, meeting: str) -> None:
    def call() -> None:
        check_petition_for_meeting(petition_kind=kind, status=PetitionStatus.MET, meeting_kind=meeting, petition_id=4)

    assert invalid(call) == (
        "only an EGM answers a petition, and only a petition for an EGM",
        [("petition_id", "must be a petition for an EGM, on an EGM")],
    )


def test_a_petition_answered_already_is_named_and_final() -> None:
    def call() -> None:
        check_petition_for_meeting(
            petition_kind=PetitionKind.EGM, status=PetitionStatus.SCHEDULED, meeting_kind="egm", petition_id=4
        )

    assert conflict(call) == (
        "petition 4 is scheduled; it cannot become scheduled (allowed from scheduled: none (final state))",
        "petition_scheduled",
    )
