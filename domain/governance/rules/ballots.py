"""A ballot's kinds and states, its voter roll, and what a new ballot, a vote and a proxy must be (DOMAIN.md §7)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from domain.errors import ConflictError, FieldError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import date, datetime


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


def status_at(changes: Iterable[tuple[datetime, int, str]], cutoff: datetime) -> str | None:
    """The status in force at `cutoff` from dated changes `(effective_at, recorded order, to_status)`.

    The latest change effective before the cut-off wins; two on the same instant go to the
    one recorded later. A member's vote on a ballot is `status_at(history, end of the record
    date) == "full"` (the service runs the same rule in SQL).
    """
    before = [c for c in changes if c[0] < cutoff]
    return max(before, key=lambda c: (c[0], c[1]))[2] if before else None


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
