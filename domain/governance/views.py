"""Views of the ballots the transports shape (api and workers never import the table module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

__all__ = [
    "AttendanceRow",
    "BallotRow",
    "BallotView",
    "CandidateRow",
    "CastBallotRow",
    "MeetingItemRow",
    "MeetingRow",
    "MeetingView",
    "MinutesRow",
    "PetitionView",
    "ProxyRow",
    "RecordedChoice",
    "RollEntry",
]


class BallotRow(Protocol):
    """The transports' view of a stored `Ballot`."""

    id: int | None
    title: str
    kind: str
    status: str
    record_date: date
    opens_at: datetime
    closes_at: datetime
    quorum_rate: Decimal
    threshold: str | None
    seats: int | None
    method: str | None
    secret: bool
    proxy_cap: int | None
    opened_at: datetime | None
    closed_at: datetime | None


class ProxyRow(Protocol):
    """The transports' view of a stored `BallotProxy`."""

    ballot_id: int
    grantor_member_id: int
    holder_member_id: int
    created_at: datetime
    used_at: datetime | None


class CandidateRow(Protocol):
    """The transports' view of a stored `BallotCandidate`."""

    id: int | None
    name: str


class CastBallotRow(Protocol):
    """The transports' view of a published `CastBallot`: a receipt and a choice, never a member."""

    receipt: str
    choice: str | None
    ranking: list[int] | None


@dataclass(frozen=True, slots=True)
class BallotView:
    """A ballot with its candidates, the size of its roll, the ballots cast so far and its stored result."""

    ballot: BallotRow
    candidates: list[CandidateRow]
    eligible: int
    cast: int
    result: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RollEntry:
    """An eligible member on the voter-roll export."""

    member_id: int
    member_number: int
    name: str
    email: str


class MeetingRow(Protocol):
    """The transports' view of a stored `Meeting`."""

    id: int | None
    kind: str
    title: str
    starts_at: datetime
    record_date: date
    quorum_rate: Decimal
    notice_sent_at: datetime


class MeetingItemRow(Protocol):
    """The transports' view of a stored `MeetingItem`."""

    position: int
    title: str
    ballot_id: int | None


class MinutesRow(Protocol):
    """The transports' view of stored `MeetingMinutes`."""

    text: str
    recorded_at: datetime
    approved_at: datetime | None
    approved_at_meeting_id: int | None


class AttendanceRow(Protocol):
    """The transports' view of a stored `MeetingAttendance`."""

    meeting_id: int
    member_id: int
    mode: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class MeetingView:
    """A meeting with its agenda, the size of its roll, who attends (by mode), its quorum and its minutes."""

    meeting: MeetingRow
    agenda: list[MeetingItemRow]
    eligible: int
    in_person: int
    online: int
    quorum_needed: int
    quorum_met: bool
    minutes: MinutesRow | None


@dataclass(frozen=True, slots=True)
class PetitionView:
    """A petition, its signatures and how many it needs (the number stored when met, else today's)."""

    id: int
    kind: str
    text: str
    status: str
    opened_by_member_id: int
    created_at: datetime
    signatures: int
    needed: int
    met_at: datetime | None
    meeting_id: int | None


@dataclass(frozen=True, slots=True)
class RecordedChoice:
    """What one member chose on a ballot that is not secret."""

    member_id: int
    member_number: int
    name: str
    choice: str | None
    ranking: list[int] | None
