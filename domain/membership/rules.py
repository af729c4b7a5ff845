"""Pure membership rules: lifecycle, votes, shares, set-off (DOMAIN.md §1, §5)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.errors import ConflictError, FieldError
from domain.money import Rounding, round_to_cents
from domain.transitions import check_move

if TYPE_CHECKING:
    from datetime import date


class Status(enum.StrEnum):
    """Where a member stands; only `full` members vote."""

    APPLICANT = "applicant"
    PROBATIONARY = "probationary"
    FULL = "full"
    RESIGNING = "resigning"
    FORMER = "former"
    SUSPENDED = "suspended"
    EXPELLED = "expelled"


# Every transition the bylaws allow; anything else is refused with a reason.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.APPLICANT: frozenset({Status.PROBATIONARY, Status.FULL, Status.FORMER}),
    Status.PROBATIONARY: frozenset({Status.FULL, Status.FORMER, Status.EXPELLED}),
    Status.FULL: frozenset({Status.RESIGNING, Status.FORMER, Status.SUSPENDED, Status.EXPELLED}),
    Status.RESIGNING: frozenset({Status.FORMER, Status.FULL}),
    Status.SUSPENDED: frozenset({Status.FULL, Status.EXPELLED, Status.FORMER}),
    Status.FORMER: frozenset(),
    Status.EXPELLED: frozenset(),
}

MEMBER_TRANSITION_REFUSED = "member_transition_refused"

# States in which a member has left and its membership share is redeemed.
EXITED = frozenset({Status.FORMER, Status.EXPELLED})


def check_transition(current: Status, target: Status) -> None:
    """Refuse a transition the bylaws do not allow (409, code ``member_transition_refused``)."""
    check_move(TRANSITIONS, current, target, what="the member", code=MEMBER_TRANSITION_REFUSED)


# Staff can bring back only a suspended member or one whose notice is pending; everyone
# else becomes full through admission, with the share paid and probation over.
REINSTATABLE = frozenset({Status.SUSPENDED, Status.RESIGNING})


def check_standing_change(current: Status, target: Status) -> None:
    """Staff decisions (suspend, reinstate, expel) keep to the lifecycle and never skip admission."""
    if target is Status.FULL and current not in REINSTATABLE:
        msg = f"a member who is {current} becomes full through admission and a paid share, not reinstatement"
        raise ConflictError(msg)
    check_transition(current, target)


# Who may give notice of withdrawal, and what it does: a full member resigns until its
# effective date (keeping its standing, not its vote); anyone else not yet gone leaves
# on the date at once. A resigning member takes its notice back before giving another.
NOTICE_GIVERS = frozenset({Status.APPLICANT, Status.PROBATIONARY, Status.FULL, Status.SUSPENDED})


def notice_target(current: Status, *, effective_on: date | None, today: date) -> Status:
    """Where a notice of withdrawal puts the member: `resigning` until a future date, else `former`."""
    if current not in NOTICE_GIVERS:
        msg = f"a member who is {current} cannot give notice of withdrawal"
        raise ConflictError(msg)
    if current is Status.FULL and effective_on is not None and effective_on > today:
        return Status.RESIGNING
    return Status.FORMER


def check_notice_withdrawal(current: Status) -> None:
    """Only a pending notice can be taken back; after its date the member has left."""
    if current is not Status.RESIGNING:
        msg = f"a member who is {current} has no notice of withdrawal pending"
        raise ConflictError(msg)


class RedemptionDecision(enum.StrEnum):
    """The board's decision on redeeming a leaving member's share (DOMAIN.md §1)."""

    APPROVED = "approved"
    DECLINED = "declined"


# A declined share stays owed as equity and may be approved later; an approved one is paid.
REDEMPTION_DECISIONS: dict[RedemptionDecision | None, frozenset[RedemptionDecision]] = {
    None: frozenset(RedemptionDecision),
    RedemptionDecision.DECLINED: frozenset(RedemptionDecision),
    RedemptionDecision.APPROVED: frozenset({RedemptionDecision.APPROVED}),
}


def check_redemption_decision(status: Status, current: RedemptionDecision | None, target: RedemptionDecision) -> None:
    """The board decides once the member has left; approval is final (and repeating it changes nothing)."""
    if status not in EXITED:
        msg = f"a member who is {status} has not left; its share is redeemed only after it leaves"
        raise ConflictError(msg)
    if target not in REDEMPTION_DECISIONS[current]:
        msg = "the share redemption was already approved and paid; it cannot be declined"
        raise ConflictError(msg)


def votes(status: Status) -> int:
    """One member, one vote: 1 for a full member, 0 otherwise, whatever else it holds."""
    return 1 if status is Status.FULL else 0


def admitted_status(*, share_paid_cents: int, par_cents: int, probation_ends: date | None, today: date) -> Status:
    """After admission: full once the share is paid and any probation has ended."""
    probation_over = probation_ends is None or probation_ends <= today
    return Status.FULL if share_paid_cents >= par_cents and probation_over else Status.PROBATIONARY


def share_payment_errors(amount_cents: int, *, paid_cents: int, par_cents: int, status: Status) -> list[FieldError]:
    """A share payment is positive and never more than what remains due."""
    if status in EXITED:
        article = "an" if str(status)[0] in "aeiou" else "a"
        return [FieldError("amount_cents", f"{article} {status} member cannot buy a membership share")]
    if amount_cents <= 0:
        return [FieldError("amount_cents", "must be a positive number of cents")]
    remaining = par_cents - paid_cents
    if amount_cents > remaining:
        return [FieldError("amount_cents", f"only {remaining} cents of the {par_cents} cent share remain due")]
    return []


@dataclass(frozen=True, slots=True)
class ShareRedemption:
    """What a leaving member's share yields: cash paid out and the part set off against debts."""

    payout_cents: int
    set_off_cents: int


def share_redemption(*, par_cents: int, paid_cents: int, owed_cents: int) -> ShareRedemption:
    """Redeemed at what was paid in, never above par, minus what the member owes the co-op."""
    value = min(par_cents, max(paid_cents, 0))
    set_off = min(max(owed_cents, 0), value)
    return ShareRedemption(payout_cents=value - set_off, set_off_cents=set_off)


def preferred_issue_errors(
    amount_cents: int, *, preferred_total_cents: int, total_equity_cents: int, cap_rate: Decimal
) -> list[FieldError]:
    """Preferred capital may not exceed `cap_rate` of total equity after the issue."""
    if amount_cents <= 0:
        return [FieldError("amount_cents", "must be a positive number of cents")]
    after_preferred = preferred_total_cents + amount_cents
    after_equity = total_equity_cents + amount_cents
    if Decimal(after_preferred) > cap_rate * Decimal(after_equity):
        limit = cap_rate * Decimal(after_equity)
        return [
            FieldError(
                "amount_cents",
                f"preferred capital would be {after_preferred} cents, above {cap_rate:%} of total equity ({limit:.0f})",
            )
        ]
    return []


def preferred_dividend_cents(holding_cents: int, rate: Decimal) -> int:
    """A holder's preferred dividend, HALF_UP per holder."""
    return round_to_cents(Decimal(holding_cents) * rate, Rounding.HALF_UP)


# How far back a notice of withdrawal may take effect: a notice that arrived by post
# and is recorded late. Further back would rewrite a closed month's member business.
MAX_WITHDRAWAL_BACKDATE_DAYS = 31


def withdrawal_date_errors(effective_on: date, *, joined_on: date | None, today: date) -> list[FieldError]:
    """A withdrawal takes effect after the member joined and at most a month in the past."""
    if joined_on is not None and effective_on < joined_on:
        return [FieldError("effective_date", f"must not be before the member joined ({joined_on})")]
    if (today - effective_on).days > MAX_WITHDRAWAL_BACKDATE_DAYS:
        return [
            FieldError(
                "effective_date", f"may be at most {MAX_WITHDRAWAL_BACKDATE_DAYS} days in the past (today is {today})"
            )
        ]
    return []


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def normalize_email(email: str) -> str:
    """E-mail addresses compare case-insensitively and without surrounding blanks."""
    return email.strip().lower()


def email_errors(email: str, field: str = "email") -> list[FieldError]:
    """What is wrong with an e-mail address a member or its user gives (empty when it looks deliverable)."""
    return [] if _EMAIL.fullmatch(normalize_email(email)) else [FieldError(field, "not a valid e-mail address")]
