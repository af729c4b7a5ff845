"""General meetings: notice, attendance in time, and the minutes' approval (DOMAIN.md section 7)."""

from __future__ import annotations

import enum
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.errors import ConflictError, FieldError, InvalidInputError

if TYPE_CHECKING:
    from datetime import date, datetime


# --- meetings ---------------------------------------------------------------------------------


class MeetingKind(enum.StrEnum):
    """An annual general meeting or an extraordinary one (called by staff, or on a members' petition)."""

    AGM = "agm"
    EGM = "egm"


class AttendanceMode(enum.StrEnum):
    """How a member attends: in the room or online; either counts the same toward the quorum."""

    IN_PERSON = "in_person"
    ONLINE = "online"


# Policy: members get at least this much notice of a general meeting (a common bylaw minimum).
NOTICE_DAYS = 14
NOTICE_TOO_SHORT = "notice_too_short"
MEETING_NOT_STARTED = "meeting_not_started"
MINUTES_APPROVED = "minutes_approved"
NOT_THE_NEXT_MEETING = "not_the_next_meeting"


def check_new_meeting(*, starts_at: datetime, record_date: date, quorum_rate: Decimal, now: datetime) -> None:
    """400 naming a bad record date or quorum; 409 `notice_too_short` when it starts sooner than NOTICE_DAYS."""
    errors: list[FieldError] = []
    if record_date >= starts_at.date():
        errors.append(FieldError("record_date", "must be before the day of the meeting"))
    if not Decimal(0) <= quorum_rate <= Decimal(1):
        errors.append(FieldError("quorum_rate", "must be from 0 to 1"))
    if errors:
        msg = "the meeting is not valid"
        raise InvalidInputError(msg, errors)
    if starts_at - now < timedelta(days=NOTICE_DAYS):
        msg = f"members must have at least {NOTICE_DAYS} days' notice: the meeting starts {starts_at.isoformat()}"
        raise ConflictError(msg, code=NOTICE_TOO_SHORT)


def check_attendance_time(*, starts_at: datetime, now: datetime, minutes_approved: bool) -> None:
    """Attendance and minutes are recorded once the meeting has begun, and never after the minutes are approved."""
    if now < starts_at:
        msg = f"the meeting starts {starts_at.isoformat()}; nothing is recorded before"
        raise ConflictError(msg, code=MEETING_NOT_STARTED)
    if minutes_approved:
        msg = "the meeting's minutes are approved: its record is final"
        raise ConflictError(msg, code=MINUTES_APPROVED)


def check_minutes_approval(
    *, approving_starts_at: datetime, next_starts_at: datetime | None, now: datetime, approved: bool
) -> None:
    """Minutes are approved once, at the next meeting (the first to start after theirs), once it has begun."""
    if approved:
        msg = "these minutes are approved already"
        raise ConflictError(msg, code=MINUTES_APPROVED)
    if next_starts_at is None or approving_starts_at != next_starts_at:
        msg = "minutes are approved at the next meeting"
        raise ConflictError(msg, code=NOT_THE_NEXT_MEETING)
    if now < approving_starts_at:
        msg = f"the approving meeting starts {approving_starts_at.isoformat()}"
        raise ConflictError(msg, code=MEETING_NOT_STARTED)
