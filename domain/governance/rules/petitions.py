"""Members' petitions: their states, the signatures that meet them, and the meeting they ask for."""

from __future__ import annotations

import enum
import math
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING

from domain.errors import FieldError, InvalidInputError
from domain.transitions import check_move

if TYPE_CHECKING:
    from collections.abc import Mapping


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
