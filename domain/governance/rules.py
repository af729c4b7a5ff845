"""Ballots and their count (DOMAIN.md §7): quorum, thresholds, plurality, STV, the ballot's states.

Pure: exact rationals (`Fraction`) from the first vote to the last transfer; nothing is
rounded except the quorum, which is a minimum and so rounds up (CEIL, DOMAIN.md §0).

STV is counted by the weighted inclusive Gregory method (WIGM): an elected candidate's
surplus goes on with every ballot it holds, each at its current weight times
surplus / tally, kept as an exact fraction (no rounding, so no vote value is lost or made).
Ties are broken by the rule in docs/governance.md: the candidate lower (for an exclusion)
or higher (for an election) at the earliest round where the tied candidates differ, then
by lot with a seed derived from the ballot id and shown in the result.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING

from domain.errors import ConflictError, FieldError, InvalidInputError
from domain.transitions import check_move

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import date, datetime

__all__ = [
    "BALLOT_TRANSITION_REFUSED",
    "MEETING_NOT_STARTED",
    "MINUTES_APPROVED",
    "NOTICE_DAYS",
    "NOTICE_TOO_SHORT",
    "NOT_THE_NEXT_MEETING",
    "PETITION_NOT_MET",
    "PETITION_RATE",
    "PETITION_SCHEDULED",
    "PETITION_TRANSITIONS",
    "PETITION_TRANSITION_REFUSED",
    "PROXIES_NOT_ALLOWED",
    "PROXY_CAP_REACHED",
    "TRANSITIONS",
    "AttendanceMode",
    "BallotEvent",
    "BallotKind",
    "BallotStatus",
    "Choice",
    "ElectionCount",
    "MeetingKind",
    "Method",
    "NewBallotRules",
    "PetitionKind",
    "PetitionStatus",
    "ResolutionCount",
    "Round",
    "Threshold",
    "check_attendance_time",
    "check_minutes_approval",
    "check_new_ballot",
    "check_new_meeting",
    "check_petition_for_meeting",
    "check_petition_move",
    "check_proxy",
    "check_vote",
    "count_plurality",
    "count_resolution",
    "count_stv",
    "droop_quota",
    "lot_seed",
    "move_ballot",
    "quorum_met",
    "quorum_needed",
    "signatures_needed",
    "status_at",
    "threshold_met",
]


class BallotKind(enum.StrEnum):
    """A resolution (yes / no / abstain) or a board election (seats, candidates, ranked ballots)."""

    RESOLUTION = "resolution"
    ELECTION = "election"


class Threshold(enum.StrEnum):
    """What share of the votes for and against a resolution needs (abstentions count for neither)."""

    MAJORITY = "majority"
    TWO_THIRDS = "two_thirds"
    THREE_QUARTERS = "three_quarters"


class Method(enum.StrEnum):
    """How an election is counted."""

    STV = "stv"
    PLURALITY = "plurality"


class Choice(enum.StrEnum):
    """A member's answer to a resolution."""

    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class BallotStatus(enum.StrEnum):
    """``scheduled -> open -> closed`` (TRANSITIONS); closed is final, with the result stored."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class BallotEvent(enum.StrEnum):
    """What moves a ballot: the clock (or staff) opening and closing it."""

    OPEN = "open"
    CLOSE = "close"


# A scheduled ballot may be closed before it opened (staff call it off): its count is of no votes.
TRANSITIONS: Mapping[tuple[BallotStatus, BallotEvent], BallotStatus] = MappingProxyType(
    {
        (BallotStatus.SCHEDULED, BallotEvent.OPEN): BallotStatus.OPEN,
        (BallotStatus.SCHEDULED, BallotEvent.CLOSE): BallotStatus.CLOSED,
        (BallotStatus.OPEN, BallotEvent.CLOSE): BallotStatus.CLOSED,
    }
)

BALLOT_TRANSITION_REFUSED = "ballot_transition_refused"


def move_ballot(status: str, event: BallotEvent, *, ballot_id: int | None = None) -> BallotStatus:
    """Where ``event`` takes a ballot in ``status``; a move the table lacks is a 409 (``ballot_transition_refused``)."""
    current = BallotStatus(status)
    target = TRANSITIONS.get((current, event))
    if target is None:
        allowed = ", ".join(sorted(e for s, e in TRANSITIONS if s is current)) or "none (final state)"
        msg = f"ballot {ballot_id} is {current}; it cannot {event} (allowed from {current}: {allowed})"
        raise ConflictError(msg, code=BALLOT_TRANSITION_REFUSED)
    return target


# --- the voter roll ---------------------------------------------------------------------------


def status_at(changes: Iterable[tuple[datetime, int, str]], cutoff: datetime) -> str | None:
    """The status in force at `cutoff` from dated changes `(effective_at, recorded order, to_status)`.

    The latest change effective before the cut-off wins; two on the same instant go to the
    one recorded later. A member's vote on a ballot is `status_at(history, end of the record
    date) == "full"` (the service runs the same rule in SQL).
    """
    before = [c for c in changes if c[0] < cutoff]
    return max(before, key=lambda c: (c[0], c[1]))[2] if before else None


# --- quorum and thresholds --------------------------------------------------------------


def quorum_needed(eligible: int, quorum_rate: Decimal | Fraction) -> int:
    """Ballots needed: CEIL(quorum_rate * eligible), exactly (a minimum never rounds down)."""
    return math.ceil(Fraction(quorum_rate) * eligible)


def quorum_met(cast: int, eligible: int, quorum_rate: Decimal | Fraction) -> bool:
    """Ballots cast (abstentions included) reach the quorum."""
    return cast >= quorum_needed(eligible, quorum_rate)


_SHARES: Mapping[Threshold, Fraction] = MappingProxyType(
    {Threshold.TWO_THIRDS: Fraction(2, 3), Threshold.THREE_QUARTERS: Fraction(3, 4)}
)


def threshold_met(threshold: Threshold, yes: int, no: int) -> bool:
    """``majority``: yes > no; the others: yes >= share of (yes + no), with at least one vote for or against.

    Without the last condition 0 yes and 0 no would pass two-thirds (0 >= 0); a resolution
    nobody voted for passes nothing.
    """
    if threshold is Threshold.MAJORITY:
        return yes > no
    return yes + no > 0 and yes >= _SHARES[threshold] * (yes + no)


@dataclass(frozen=True, slots=True)
class ResolutionCount:
    """The result of a resolution: eligible, cast, quorum, counts and whether it passed."""

    eligible: int
    cast: int
    quorum_needed: int
    quorum_met: bool
    yes: int
    no: int
    abstain: int
    passed: bool


def count_resolution(
    choices: Iterable[Choice],
    *,
    eligible: int,
    quorum_rate: Decimal | Fraction,
    threshold: Threshold,
    turnout: int | None = None,
) -> ResolutionCount:
    """Count yes / no / abstain; below quorum nothing passes.

    `turnout`: the members counted toward the quorum when that is not just the ballots cast
    (a meeting's ballot: its voters and the members present, docs/governance.md).
    """
    tally = dict.fromkeys(Choice, 0)
    for choice in choices:
        tally[Choice(choice)] += 1
    cast = sum(tally.values())
    needed = quorum_needed(eligible, quorum_rate)
    met = (cast if turnout is None else turnout) >= needed
    yes, no = tally[Choice.YES], tally[Choice.NO]
    return ResolutionCount(
        eligible=eligible,
        cast=cast,
        quorum_needed=needed,
        quorum_met=met,
        yes=yes,
        no=no,
        abstain=tally[Choice.ABSTAIN],
        passed=met and threshold_met(threshold, yes, no),
    )


# --- elections ------------------------------------------------------------------------------


def lot_seed(ballot_id: int) -> int:
    """The seed of the lot that breaks a tie nothing else breaks: fixed by the ballot id, so a recount agrees."""
    return int.from_bytes(hashlib.sha256(f"coop-ballot:{ballot_id}".encode()).digest()[:8], "big")


def droop_quota(valid_ballots: int, seats: int) -> int:
    """``floor(valid / (seats + 1)) + 1``."""
    return valid_ballots // (seats + 1) + 1


@dataclass(frozen=True, slots=True)
class Round:
    """One step of a count, so a member can follow it: tallies before the step, then what the step did.

    `transfers` is the vote value each continuing candidate received in this step and
    `exhausted` what no continuing candidate could take (both exact; cumulative exhausted
    is `exhausted_total`). `tie` names the rule that broke a tie in this step, if one did.
    """

    number: int
    quota: int | None
    tallies: Mapping[int, Fraction]
    elected: tuple[int, ...] = ()
    eliminated: tuple[int, ...] = ()
    transfers: Mapping[int, Fraction] = field(default_factory=dict)
    exhausted: Fraction = Fraction(0)
    exhausted_total: Fraction = Fraction(0)
    kept: Mapping[int, Fraction] = field(default_factory=dict)
    tie: str | None = None


@dataclass(frozen=True, slots=True)
class ElectionCount:
    """The result of an election: quorum, the elected in order of election, and every round."""

    eligible: int
    cast: int
    quorum_needed: int
    quorum_met: bool
    seats: int
    quota: int | None
    elected: tuple[int, ...]
    rounds: tuple[Round, ...]
    seed: int


@dataclass(slots=True)
class _Paper:
    ranking: tuple[int, ...]
    weight: Fraction
    at: int | None  # the candidate holding it, None when exhausted

    def move_on(self, continuing: set[int]) -> None:
        self.at = next((c for c in self.ranking if c in continuing), None)


class _Ties:
    """The written tie rule: the earliest round where the tied differ, then a lot with a recorded seed."""

    def __init__(self, seed: int) -> None:
        self.history: list[Mapping[int, Fraction]] = []
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible lot, not a secret

    def pick(self, tied: Sequence[int], *, lowest: bool) -> tuple[int, str | None]:
        """The one to exclude (lowest) or elect (highest) among candidates tied now."""
        if len(tied) == 1:
            return tied[0], None
        field_ = sorted(tied)
        for number, tallies in enumerate(self.history, start=1):
            values = {c: tallies.get(c, Fraction(0)) for c in field_}
            extreme = min(values.values()) if lowest else max(values.values())
            narrowed = [c for c in field_ if values[c] == extreme]
            if len(narrowed) < len(field_):
                field_ = narrowed
                if len(field_) == 1:
                    return field_[0], f"tie between {sorted(tied)} broken by the tallies of round {number}"
        chosen = self.rng.choice(field_)
        return chosen, f"tie between {field_} broken by lot (seed recorded)"


def _tallies(papers: Iterable[_Paper], continuing: Iterable[int]) -> dict[int, Fraction]:
    tallies = dict.fromkeys(sorted(continuing), Fraction(0))
    for paper in papers:
        if paper.at is not None:
            tallies[paper.at] += paper.weight
    return tallies


def _extreme(tallies: Mapping[int, Fraction], *, lowest: bool) -> list[int]:
    value = min(tallies.values()) if lowest else max(tallies.values())
    return [c for c, v in tallies.items() if v == value]


def count_stv(
    rankings: Iterable[Sequence[int]],
    *,
    candidates: Iterable[int],
    seats: int,
    eligible: int,
    quorum_rate: Decimal | Fraction,
    seed: int,
    turnout: int | None = None,
) -> ElectionCount:
    """Single transferable vote, Droop quota, weighted inclusive Gregory transfers (exact), every round kept.

    Each round either elects the continuing candidate with the most votes at or above the
    quota and passes its surplus on, or, when nobody reaches the quota, excludes the one
    with the fewest and passes its ballots on at their weight. When the continuing
    candidates are no more than the open seats, they are all elected. Below quorum
    nobody is elected.
    """
    papers = [_Paper(tuple(r), Fraction(1), None) for r in rankings if r]
    continuing = set(candidates)
    valid = len(papers)
    quota = droop_quota(valid, seats)
    needed = quorum_needed(eligible, quorum_rate)
    met = (valid if turnout is None else turnout) >= needed
    if not met:
        return ElectionCount(eligible, valid, needed, met, seats, quota, (), (), seed)
    for paper in papers:
        paper.move_on(continuing)
    ties = _Ties(seed)
    elected: list[int] = []
    kept: dict[int, Fraction] = {}
    rounds: list[Round] = []
    exhausted_total = Fraction(valid) - sum((p.weight for p in papers if p.at is not None), Fraction(0))
    elected_now: tuple[int, ...]
    eliminated_now: tuple[int, ...]
    while len(elected) < seats and continuing:
        tallies = _tallies(papers, continuing)
        ties.history.append(tallies)
        number = len(rounds) + 1
        open_seats = seats - len(elected)
        if len(continuing) <= open_seats:
            order = sorted(continuing, key=lambda c: (-tallies[c], c))
            elected.extend(order)
            kept.update(tallies)
            continuing.clear()
            rounds.append(
                Round(number, quota, tallies, elected=tuple(order), exhausted_total=exhausted_total, kept=dict(kept))
            )
            break
        reached = {c: v for c, v in tallies.items() if v >= quota}
        if reached:
            winner, tie = ties.pick(_extreme(reached, lowest=False), lowest=False)
            total = tallies[winner]
            surplus = total - quota
            continuing.discard(winner)
            elected.append(winner)
            kept[winner] = Fraction(quota)
            moved = [p for p in papers if p.at == winner]
            for paper in moved:
                paper.weight = paper.weight * surplus / total
            transfers, exhausted = _pass_on(moved, continuing)
            elected_now, eliminated_now = (winner,), ()
        else:
            loser, tie = ties.pick(_extreme(tallies, lowest=True), lowest=True)
            continuing.discard(loser)
            transfers, exhausted = _pass_on([p for p in papers if p.at == loser], continuing)
            elected_now, eliminated_now = (), (loser,)
        exhausted_total += exhausted
        rounds.append(
            Round(
                number,
                quota,
                tallies,
                elected=elected_now,
                eliminated=eliminated_now,
                transfers=transfers,
                exhausted=exhausted,
                exhausted_total=exhausted_total,
                kept=dict(kept),
                tie=tie,
            )
        )
    return ElectionCount(eligible, valid, needed, met, seats, quota, tuple(elected), tuple(rounds), seed)


def _pass_on(papers: Sequence[_Paper], continuing: set[int]) -> tuple[dict[int, Fraction], Fraction]:
    """Move ballots to their next continuing preference; what none can take is exhausted."""
    transfers: dict[int, Fraction] = {}
    exhausted = Fraction(0)
    for paper in papers:
        paper.move_on(continuing)
        if paper.at is None:
            exhausted += paper.weight
        else:
            transfers[paper.at] = transfers.get(paper.at, Fraction(0)) + paper.weight
    return dict(sorted(transfers.items())), exhausted


def count_plurality(
    rankings: Iterable[Sequence[int]],
    *,
    candidates: Iterable[int],
    seats: int,
    eligible: int,
    quorum_rate: Decimal | Fraction,
    seed: int,
    turnout: int | None = None,
) -> ElectionCount:
    """Plurality at large: a ballot is one vote for each candidate it names (at most `seats`); the most votes win.

    One round; a tie for the last seat is broken by lot with the recorded seed.
    """
    papers = [tuple(r) for r in rankings if r]
    valid = len(papers)
    needed = quorum_needed(eligible, quorum_rate)
    met = (valid if turnout is None else turnout) >= needed
    if not met:
        return ElectionCount(eligible, valid, needed, met, seats, None, (), (), seed)
    tallies = dict.fromkeys(sorted(set(candidates)), Fraction(0))
    for paper in papers:
        for candidate in paper:
            tallies[candidate] += 1
    ties = _Ties(seed)
    remaining = dict(tallies)
    elected: list[int] = []
    notes: list[str] = []
    while remaining and len(elected) < seats:
        chosen, tie = ties.pick(_extreme(remaining, lowest=False), lowest=False)
        if tie is not None:
            notes.append(tie)
        elected.append(chosen)
        del remaining[chosen]
    only = Round(1, None, tallies, elected=tuple(elected), kept=dict(tallies), tie="; ".join(notes) or None)
    return ElectionCount(eligible, valid, needed, met, seats, None, tuple(elected), (only,), seed)


# --- proxies ------------------------------------------------------------------------------------

PROXIES_NOT_ALLOWED = "proxies_not_allowed"
PROXY_CAP_REACHED = "proxy_cap_reached"


def check_proxy(*, grantor: int, holder: int, cap: int | None, held: int) -> None:
    """A member may appoint another (never itself) when the ballot allows proxies and the holder is below the cap."""
    if grantor == holder:
        msg = "a member cannot appoint itself"
        raise InvalidInputError(msg, [FieldError("holder_member_id", "must be another member")])
    if cap is None:
        msg = "this ballot takes no proxies"
        raise ConflictError(msg, code=PROXIES_NOT_ALLOWED)
    if held >= cap:
        msg = f"member {holder} already holds {held} proxies, the most this ballot allows"
        raise ConflictError(msg, code=PROXY_CAP_REACHED)


# --- validation -------------------------------------------------------------------------------

MAX_SEATS = 100
MAX_CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class NewBallotRules:
    """What a new ballot's validity depends on."""

    kind: BallotKind
    record_date: date
    opens_at: datetime
    closes_at: datetime
    quorum_rate: Decimal
    threshold: Threshold | None
    seats: int | None
    method: Method | None
    candidate_names: tuple[str, ...] | None


def check_new_ballot(new: NewBallotRules, *, now: datetime) -> None:  # noqa: C901 - one check per field
    """400 naming every bad field: the window, the record date, the quorum and the kind's own fields."""
    errors: list[FieldError] = []
    if new.closes_at <= new.opens_at:
        errors.append(FieldError("closes_at", "must be after opens_at"))
    if new.closes_at <= now:
        errors.append(FieldError("closes_at", "must be in the future"))
    if new.record_date >= new.opens_at.date():
        # The roll is the status at the end of the record date: it must be fixed before voting starts.
        errors.append(FieldError("record_date", "must be before the day the ballot opens"))
    if not Decimal(0) <= new.quorum_rate <= Decimal(1):
        errors.append(FieldError("quorum_rate", "must be from 0 to 1"))
    if new.kind is BallotKind.RESOLUTION:
        errors.extend(
            FieldError(name, "only for elections")
            for name, value in (("seats", new.seats), ("method", new.method), ("candidates", new.candidate_names))
            if value is not None
        )
    else:
        if new.threshold is not None:
            errors.append(FieldError("threshold", "only for resolutions"))
        if new.seats is None or not 1 <= new.seats <= MAX_SEATS:
            errors.append(FieldError("seats", f"an election needs 1 to {MAX_SEATS} seats"))
        names = new.candidate_names or ()
        if not 1 <= len(names) <= MAX_CANDIDATES:
            errors.append(FieldError("candidates", f"an election needs 1 to {MAX_CANDIDATES} candidates"))
        folded = [n.strip().casefold() for n in names]
        if len(set(folded)) < len(folded):
            errors.append(FieldError("candidates", "candidate names must differ"))
    if errors:
        msg = "the ballot is not valid"
        raise InvalidInputError(msg, errors)


def check_vote(
    kind: BallotKind,
    *,
    choice: str | None,
    ranking: Sequence[int] | None,
    candidates: Iterable[int],
    method: Method | None,
    seats: int | None,
) -> None:
    """400 naming the field: a resolution takes a choice; an election a ranking of its own candidates, once each."""
    errors: list[FieldError] = []
    if kind is BallotKind.RESOLUTION:
        if choice is None:
            errors.append(FieldError("choice", "a resolution takes yes, no or abstain"))
        if ranking is not None:
            errors.append(FieldError("ranking", "only for elections"))
    else:
        if choice is not None:
            errors.append(FieldError("choice", "only for resolutions"))
        if not ranking:
            errors.append(FieldError("ranking", "rank at least one candidate"))
        else:
            known = set(candidates)
            if any(c not in known for c in ranking):
                errors.append(FieldError("ranking", "names a candidate not on this ballot"))
            if len(set(ranking)) < len(ranking):
                errors.append(FieldError("ranking", "names a candidate twice"))
            if method is Method.PLURALITY and seats is not None and len(ranking) > seats:
                errors.append(FieldError("ranking", f"a plurality ballot names at most {seats} candidates"))
    if errors:
        msg = "the vote is not valid"
        raise InvalidInputError(msg, errors)


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


# --- petitions --------------------------------------------------------------------------------


class PetitionKind(enum.StrEnum):
    """What members petition for: an extraordinary general meeting, or an amendment of the bylaws."""

    EGM = "egm"
    BYLAW_AMENDMENT = "bylaw_amendment"


class PetitionStatus(enum.StrEnum):
    """`open` while collecting; `met` once enough signed; `scheduled` once staff called the EGM it asked for."""

    OPEN = "open"
    MET = "met"
    SCHEDULED = "scheduled"


# Every move a petition may make: enough signatures meet it, staff scheduling the EGM it asked
# for answers it. Scheduled is final; a met bylaw petition stays met (its vote is a ballot).
PETITION_TRANSITIONS: Mapping[PetitionStatus, frozenset[PetitionStatus]] = MappingProxyType(
    {
        PetitionStatus.OPEN: frozenset({PetitionStatus.MET}),
        PetitionStatus.MET: frozenset({PetitionStatus.SCHEDULED}),
        PetitionStatus.SCHEDULED: frozenset(),
    }
)

# Policy: the share of full members whose signatures make a petition (rounded up: a minimum).
PETITION_RATE = Decimal("0.10")
PETITION_NOT_MET = "petition_not_met"
PETITION_SCHEDULED = "petition_scheduled"
PETITION_TRANSITION_REFUSED = "petition_transition_refused"
# A refusal from these states keeps the code clients already act on: not answerable yet, answered already.
_PETITION_REFUSALS: Mapping[PetitionStatus, str] = MappingProxyType(
    {PetitionStatus.OPEN: PETITION_NOT_MET, PetitionStatus.SCHEDULED: PETITION_SCHEDULED}
)


def check_petition_move(current: PetitionStatus, target: PetitionStatus, *, petition_id: int | None = None) -> None:
    """Refuse a move the petition's table lacks (409 `petition_not_met`, `petition_scheduled` or the generic code)."""
    check_move(
        PETITION_TRANSITIONS,
        current,
        target,
        what=f"petition {petition_id}",
        code=_PETITION_REFUSALS.get(current, PETITION_TRANSITION_REFUSED),
    )


def signatures_needed(full_members: int, rate: Decimal = PETITION_RATE) -> int:
    """CEIL(rate * full members), and at least one (the member opening it signs it)."""
    return max(1, math.ceil(Fraction(rate) * full_members))


def check_petition_for_meeting(
    *, petition_kind: PetitionKind, status: PetitionStatus, meeting_kind: str, petition_id: int | None = None
) -> None:
    """An EGM called on a petition answers a met EGM petition, once (its move to `scheduled`)."""
    if petition_kind is not PetitionKind.EGM or meeting_kind != "egm":
        msg = "only an EGM answers a petition, and only a petition for an EGM"
        raise InvalidInputError(msg, [FieldError("petition_id", "must be a petition for an EGM, on an EGM")])
    check_petition_move(status, PetitionStatus.SCHEDULED, petition_id=petition_id)
