"""Meeting rules (issue 15): the notice period, when a meeting's record may be written, who approves minutes,
and attendance counted toward the quorum of a meeting's ballots."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import ConflictError, InvalidInputError
from domain.governance.rules import (
    NOTICE_DAYS,
    PETITION_TRANSITION_REFUSED,
    PETITION_TRANSITIONS,
    Choice,
    PetitionKind,
    PetitionStatus,
    Threshold,
    check_attendance_time,
    check_minutes_approval,
    check_new_meeting,
    check_petition_for_meeting,
    check_petition_move,
    count_resolution,
    count_stv,
    signatures_needed,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_the_notice_period_is_fourteen_days_to_the_second():
    assert NOTICE_DAYS == 14
    check_new_meeting(
        starts_at=NOW + timedelta(days=14), record_date=date(2026, 2, 28), quorum_rate=Decimal("0.1"), now=NOW
    )
    with pytest.raises(ConflictError) as short:
        check_new_meeting(
            starts_at=NOW + timedelta(days=14, seconds=-1),
            record_date=date(2026, 2, 28),
            quorum_rate=Decimal("0.1"),
            now=NOW,
        )
    assert short.value.code == "notice_too_short"


def test_a_bad_meeting_names_its_fields():
    with pytest.raises(InvalidInputError) as bad:
        check_new_meeting(
            starts_at=NOW + timedelta(days=20), record_date=date(2026, 3, 21), quorum_rate=Decimal(2), now=NOW
        )
    assert {e.field for e in bad.value.errors} == {"record_date", "quorum_rate"}


def test_the_record_is_written_from_the_start_until_the_minutes_are_approved():
    check_attendance_time(starts_at=NOW, now=NOW, minutes_approved=False)
    for now, approved, code in [
        (NOW - timedelta(seconds=1), False, "meeting_not_started"),
        (NOW, True, "minutes_approved"),
    ]:
        with pytest.raises(ConflictError) as refused:
            check_attendance_time(starts_at=NOW, now=now, minutes_approved=approved)
        assert refused.value.code == code


def test_minutes_are_approved_once_at_the_next_meeting_once_it_has_begun():
    later = NOW + timedelta(days=60)
    check_minutes_approval(approving_starts_at=later, next_starts_at=later, now=later, approved=False)
    cases = [
        (later + timedelta(days=1), later, later + timedelta(days=1), False, "not_the_next_meeting"),
        (later, None, later, False, "not_the_next_meeting"),
        (later, later, later - timedelta(seconds=1), False, "meeting_not_started"),
        (later, later, later, True, "minutes_approved"),
    ]
    for approving, following, now, approved, code in cases:
        with pytest.raises(ConflictError) as refused:
            check_minutes_approval(approving_starts_at=approving, next_starts_at=following, now=now, approved=approved)
        assert refused.value.code == code


def test_members_present_count_toward_a_meeting_ballots_quorum_never_toward_its_choices():
    choices = [Choice.YES, Choice.YES, Choice.NO]
    alone = count_resolution(choices, eligible=10, quorum_rate=Decimal("0.5"), threshold=Threshold.MAJORITY)
    assert (alone.quorum_met, alone.passed) == (False, False)
    present = count_resolution(
        choices, eligible=10, quorum_rate=Decimal("0.5"), threshold=Threshold.MAJORITY, turnout=5
    )
    assert (present.cast, present.yes, present.no, present.quorum_met, present.passed) == (3, 2, 1, True, True)
    election = count_stv(
        [[1], [1], [2]], candidates=[1, 2], seats=1, eligible=10, quorum_rate=Decimal("0.5"), seed=1, turnout=5
    )
    assert (election.cast, election.quorum_met, election.elected) == (3, True, (1,))


def test_a_petition_needs_ten_percent_of_full_members_rounded_up_and_at_least_one():
    assert [signatures_needed(n) for n in (0, 1, 10, 11, 20, 21, 100)] == [1, 1, 1, 2, 2, 3, 10]
    assert signatures_needed(30, Decimal("0.25")) == 8


def test_only_a_met_egm_petition_is_answered_by_an_egm_and_once():
    check_petition_for_meeting(petition_kind=PetitionKind.EGM, status=PetitionStatus.MET, meeting_kind="egm")
    for status, code in [(PetitionStatus.OPEN, "petition_not_met"), (PetitionStatus.SCHEDULED, "petition_scheduled")]:
        with pytest.raises(ConflictError) as refused:
            check_petition_for_meeting(petition_kind=PetitionKind.EGM, status=status, meeting_kind="egm")
        assert refused.value.code == code
    for kind, meeting in [(PetitionKind.BYLAW_AMENDMENT, "egm"), (PetitionKind.EGM, "agm")]:
        with pytest.raises(InvalidInputError):
            check_petition_for_meeting(petition_kind=kind, status=PetitionStatus.MET, meeting_kind=meeting)


def test_the_petition_table_is_its_lifecycle_and_scheduled_is_final():
    moves = {(s, t) for s, targets in PETITION_TRANSITIONS.items() for t in targets}
    assert moves == {(PetitionStatus.OPEN, PetitionStatus.MET), (PetitionStatus.MET, PetitionStatus.SCHEDULED)}
    assert set(PETITION_TRANSITIONS) == set(PetitionStatus)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(PetitionStatus, PetitionStatus)))
def test_a_petition_moves_only_as_its_table_says(current: PetitionStatus, target: PetitionStatus) -> None:
    if target in PETITION_TRANSITIONS[current]:
        check_petition_move(current, target, petition_id=4)
        return
    with pytest.raises(ConflictError) as refused:
        check_petition_move(current, target, petition_id=4)
    # An open petition cannot be answered yet, a scheduled one is answered already: the codes clients knew.
    expected = {PetitionStatus.OPEN: "petition_not_met", PetitionStatus.SCHEDULED: "petition_scheduled"}
    assert refused.value.code == expected.get(current, PETITION_TRANSITION_REFUSED)
    assert f"petition 4 is {current}; it cannot become {target}" in refused.value.detail
