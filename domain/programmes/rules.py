"""Supplier programmes (DOMAIN.md section 8): rebates, fees, pass-through, contract periods, report lines.

Pure: every figure here is computed from plain values, so the live accrual of a period and the
claim at its end are the same function of the same purchases.
"""

from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from domain.catalog.rules import pool_errors
from domain.errors import ConflictError, FieldError, InvalidInputError
from domain.ledger.rules import Side
from domain.money import Rounding, allocate, apply_rate, round_to_cents

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "CLAIM_TRANSITIONS",
    "LINE_TRANSITIONS",
    "MAX_EXPENSE_CENTS",
    "MAX_LINES",
    "BookAccount",
    "ClaimStatus",
    "ExpensePaidFrom",
    "Holding",
    "LineIn",
    "LineStatus",
    "MemberFacts",
    "Period",
    "PeriodFigures",
    "PoolBooks",
    "RebateMode",
    "ReportContext",
    "Tier",
    "UnmatchedReason",
    "add_months",
    "admin_fee_cents",
    "check_claim_transition",
    "check_contract",
    "check_line_transition",
    "classify_lines",
    "closing_legs",
    "contract_errors",
    "expense_errors",
    "figures",
    "pass_through_cents",
    "period_of",
    "rebate_cents",
    "receipt_outcome",
    "report_errors",
    "split_pass_through",
]

MAX_LINES = 10_000  # lines per report: one request stays a bounded, set-based write
MAX_TIERS = 20
MAX_ELIGIBLE = 10_000
_ONE = Decimal(1)
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


class Period(enum.StrEnum):
    """How a contract's term is cut into rebate periods, counted from its first day."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def months(self) -> int:
        """Calendar months in one period."""
        return _MONTHS[self.value]


class RebateMode(enum.StrEnum):
    """Retroactive pays the highest tier reached on all spend; graduated pays each slice at its tier."""

    RETROACTIVE = "retroactive"
    GRADUATED = "graduated"


@dataclass(frozen=True, slots=True)
class Tier:
    """From ``min_spend_cents`` of spend in the period on, the rebate rate is ``rate``."""

    min_spend_cents: int
    rate: Decimal


# --- money ----------------------------------------------------------------------


def _exact_rebate(spend_cents: int, tiers: Sequence[Tier], mode: RebateMode) -> Fraction:
    if spend_cents <= 0:
        return Fraction(0)
    if mode is RebateMode.RETROACTIVE:
        reached = [t for t in tiers if t.min_spend_cents <= spend_cents]
        return Fraction(reached[-1].rate) * spend_cents
    total = Fraction(0)
    for i, tier in enumerate(tiers):
        upper = tiers[i + 1].min_spend_cents if i + 1 < len(tiers) else None
        top = spend_cents if upper is None else min(spend_cents, upper)
        if top > tier.min_spend_cents:
            total += Fraction(tier.rate) * (top - tier.min_spend_cents)
    return total


def rebate_cents(spend_cents: int, tiers: Sequence[Tier], mode: RebateMode) -> int:
    """The rebate on a period's spend, rounded HALF_UP once (tiers sorted, first at 0)."""
    return round_to_cents(_exact_rebate(spend_cents, tiers, mode), Rounding.HALF_UP)


def admin_fee_cents(spend_cents: int, fee_rate: Decimal) -> int:
    """The administrative fee billed to the supplier for a period: HALF_UP(spend * rate)."""
    return apply_rate(max(spend_cents, 0), fee_rate, Rounding.HALF_UP)


def pass_through_cents(rebate: int, rate: Decimal) -> int:
    """The members' share of a rebate: CEIL, since a promise to members is a minimum."""
    return apply_rate(rebate, rate, Rounding.CEIL)


def split_pass_through(total: int, spends: Mapping[int, int]) -> dict[int, int]:
    """``total`` split by largest remainder over each member's spend, keyed by member number.

    Ties go to the larger spend, then to the lower member number.
    """
    numbers = sorted(n for n, s in spends.items() if s > 0)
    # A positive total over no spend cannot be split: allocate refuses it rather than lose it.
    parts = dict(zip(numbers, allocate(total, [spends[n] for n in numbers]), strict=True))
    return {n: parts.get(n, 0) for n in spends}


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """What a period's purchases earn: the same for the live accrual and for the claim."""

    spend_cents: int
    rebate_cents: int
    fee_cents: int
    pass_through_cents: int
    # member number -> (spend, pass-through share)
    members: dict[int, tuple[int, int]]


def figures(
    member_spends: Mapping[int, int],
    *,
    tiers: Sequence[Tier],
    mode: RebateMode,
    fee_rate: Decimal,
    pass_through_rate: Decimal,
) -> PeriodFigures:
    """Rebate, fee and pass-through of a period from each member's spend in it."""
    spend = sum(member_spends.values())
    rebate = rebate_cents(spend, tiers, mode)
    passed = pass_through_cents(rebate, pass_through_rate)
    parts = split_pass_through(passed, member_spends)
    return PeriodFigures(
        spend_cents=spend,
        rebate_cents=rebate,
        fee_cents=admin_fee_cents(spend, fee_rate),
        pass_through_cents=passed,
        members={n: (member_spends[n], parts[n]) for n in sorted(member_spends)},
    )


# --- periods --------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, kept at the month's last day when it has fewer days."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_of(starts_on: date, ends_on: date, period: Period, day: date) -> tuple[date, date] | None:
    """The period ``day`` falls in, as [start, end] inclusive days, or None outside the term.

    Periods are counted from the contract's first day (each starts ``k`` periods after it);
    the last one ends with the term.
    """
    if not starts_on <= day <= ends_on:
        return None
    months = (day.year - starts_on.year) * 12 + day.month - starts_on.month
    k = months // period.months
    # Period k starts in an earlier month than `day` or in the same month, where it may start
    # on a later day; period k + 1 starts in a later month. So k is right or one too many.
    if add_months(starts_on, k * period.months) > day:
        k -= 1
    start = add_months(starts_on, k * period.months)
    end = min(add_months(starts_on, (k + 1) * period.months) - timedelta(days=1), ends_on)
    return start, end


# --- contracts ------------------------------------------------------------------


def _rate_errors(rate: Decimal, field: str) -> list[FieldError]:
    if not rate.is_finite() or rate < 0 or rate > _ONE:
        return [FieldError(field, "must be a rate from 0 to 1")]
    return []


def _tier_errors(tiers: Sequence[Tier]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not tiers:
        return [FieldError("rebate.tiers", "at least one tier, the first at 0")]
    if len(tiers) > MAX_TIERS:
        return [FieldError("rebate.tiers", f"at most {MAX_TIERS} tiers")]
    if tiers[0].min_spend_cents != 0:
        errors.append(FieldError("rebate.tiers[0].min_spend_cents", "the first tier starts at 0"))
    for i, tier in enumerate(tiers):
        errors += _rate_errors(tier.rate, f"rebate.tiers[{i}].rate")
        if i == 0:
            continue
        if tier.min_spend_cents <= tiers[i - 1].min_spend_cents:
            errors.append(FieldError(f"rebate.tiers[{i}].min_spend_cents", "must be above the previous tier's"))
        if tier.rate < tiers[i - 1].rate:
            errors.append(FieldError(f"rebate.tiers[{i}].rate", "must not be below the previous tier's"))
    return errors


def contract_errors(
    *,
    starts_on: date,
    ends_on: date,
    pool: str,
    tiers: Sequence[Tier],
    admin_fee_rate: Decimal,
    pass_through_rate: Decimal,
) -> list[FieldError]:
    """Every broken rule of a new contract, each naming its field."""
    errors = pool_errors(pool)
    if ends_on < starts_on:
        errors.append(FieldError("ends_on", "must not be before starts_on"))
    errors += _tier_errors(tiers)
    errors += _rate_errors(admin_fee_rate, "admin_fee_rate")
    errors += _rate_errors(pass_through_rate, "pass_through_rate")
    return errors


def check_contract(
    *,
    starts_on: date,
    ends_on: date,
    pool: str,
    tiers: Sequence[Tier],
    admin_fee_rate: Decimal,
    pass_through_rate: Decimal,
) -> None:
    """Refuse a contract that breaks a rule (400 naming the fields)."""
    errors = contract_errors(
        starts_on=starts_on,
        ends_on=ends_on,
        pool=pool,
        tiers=tiers,
        admin_fee_rate=admin_fee_rate,
        pass_through_rate=pass_through_rate,
    )
    if errors:
        raise InvalidInputError("the contract is not valid", errors)


# --- purchase report lines ------------------------------------------------------


class LineStatus(enum.StrEnum):
    """A reported line is accepted (a patronage record), held unmatched for staff, or rejected by staff."""

    ACCEPTED = "accepted"
    UNMATCHED = "unmatched"
    REJECTED = "rejected"


LINE_TRANSITIONS: dict[LineStatus, frozenset[LineStatus]] = {
    LineStatus.UNMATCHED: frozenset({LineStatus.ACCEPTED, LineStatus.REJECTED}),
    LineStatus.ACCEPTED: frozenset(),
    LineStatus.REJECTED: frozenset(),
}
LINE_TRANSITION_REFUSED = "purchase_line_transition_refused"


def check_line_transition(current: str, target: LineStatus, *, line_id: int | None = None) -> None:
    """Only an unmatched line can be matched or rejected (409 ``purchase_line_transition_refused``)."""
    status = LineStatus(current)
    if target not in LINE_TRANSITIONS[status]:
        msg = f"purchase line {line_id} is {status}; it cannot become {target}"
        raise ConflictError(msg, code=LINE_TRANSITION_REFUSED)


class UnmatchedReason(enum.StrEnum):
    """Why a line is held for staff instead of becoming patronage."""

    UNKNOWN_MEMBER = "unknown_member"
    NOT_ELIGIBLE = "member_not_eligible"
    OUTSIDE_TERM = "outside_term"
    PERIOD_CLAIMED = "period_claimed"
    CORRECTION_EXCEEDS_SPEND = "correction_exceeds_spend"


@dataclass(frozen=True, slots=True)
class LineIn:
    """One purchase as the supplier reported it (``amount_cents`` < 0 is a correction)."""

    external_ref: str
    member_number: int
    occurred_at: datetime
    amount_cents: int
    invoice_ref: str | None = None


def report_errors(lines: Sequence[LineIn]) -> list[FieldError]:
    """A report's malformed lines: none at all, too many, or an amount of zero."""
    if not lines:
        return [FieldError("lines", "at least one line")]
    if len(lines) > MAX_LINES:
        return [FieldError("lines", f"at most {MAX_LINES} lines per report")]
    return [
        FieldError(f"lines[{i}].amount_cents", "must not be 0 (a correction is negative)")
        for i, line in enumerate(lines)
        if line.amount_cents == 0
    ]


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the rules need to know of a reported member."""

    member_id: int
    member_number: int
    eligible: bool


@dataclass(frozen=True, slots=True)
class ReportContext:
    """A contract's state as a report is checked against it (the contract row is locked meanwhile)."""

    starts_on: date
    ends_on: date
    period: Period
    members: Mapping[int, MemberFacts]  # by member number
    claimed_periods: frozenset[date]
    # (member id, period start) -> spend already accepted
    spent: Mapping[tuple[int, date], int]


@dataclass(frozen=True, slots=True)
class Holding:
    """The fate of one line: accepted with its period, or held with a reason."""

    line: LineIn
    member_id: int | None
    period_start: date | None
    reason: UnmatchedReason | None

    @property
    def accepted(self) -> bool:
        """Whether the line becomes patronage now."""
        return self.reason is None


def _utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def classify_lines(lines: Sequence[LineIn], context: ReportContext) -> list[Holding]:
    """Accept or hold each line in order; a correction may not take a member's period spend below 0."""
    spent = dict(context.spent)
    out: list[Holding] = []
    for line in lines:
        facts = context.members.get(line.member_number)
        member_id = facts.member_id if facts else None
        bounds = period_of(context.starts_on, context.ends_on, context.period, _utc_day(line.occurred_at))
        start = bounds[0] if bounds else None
        reason: UnmatchedReason | None = None
        if facts is None:
            reason = UnmatchedReason.UNKNOWN_MEMBER
        elif not facts.eligible:
            reason = UnmatchedReason.NOT_ELIGIBLE
        elif start is None:
            reason = UnmatchedReason.OUTSIDE_TERM
        elif start in context.claimed_periods:
            reason = UnmatchedReason.PERIOD_CLAIMED
        elif spent.get((facts.member_id, start), 0) + line.amount_cents < 0:
            reason = UnmatchedReason.CORRECTION_EXCEEDS_SPEND
        if reason is None and facts is not None and start is not None:
            spent[facts.member_id, start] = spent.get((facts.member_id, start), 0) + line.amount_cents
        out.append(Holding(line, member_id, start, reason))
    return out


# --- claims ---------------------------------------------------------------------


class ClaimStatus(enum.StrEnum):
    """A claim is open until the supplier pays it; part of it paid is ``short_paid`` (flagged)."""

    OPEN = "open"
    SHORT_PAID = "short_paid"
    PAID = "paid"


CLAIM_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.OPEN: frozenset({ClaimStatus.SHORT_PAID, ClaimStatus.PAID}),
    ClaimStatus.SHORT_PAID: frozenset({ClaimStatus.SHORT_PAID, ClaimStatus.PAID}),
    ClaimStatus.PAID: frozenset(),
}
CLAIM_TRANSITION_REFUSED = "claim_transition_refused"
CLAIM_OVERPAID = "claim_overpaid"


def check_claim_transition(current: str, target: ClaimStatus, *, claim_id: int | None = None) -> None:
    """Refuse a move the table does not allow (409 ``claim_transition_refused``)."""
    status = ClaimStatus(current)
    if target not in CLAIM_TRANSITIONS[status]:
        msg = f"claim {claim_id} is {status}; it cannot become {target}"
        raise ConflictError(msg, code=CLAIM_TRANSITION_REFUSED)


def receipt_outcome(
    *, status: str, due_cents: int, received_cents: int, amount_cents: int, claim_id: int | None = None
) -> ClaimStatus:
    """The claim's status once ``amount_cents`` more is received; more than is owed is refused (409)."""
    total = received_cents + amount_cents
    target = ClaimStatus.PAID if total >= due_cents else ClaimStatus.SHORT_PAID
    check_claim_transition(status, target, claim_id=claim_id)
    if total > due_cents:
        msg = f"claim {claim_id}: {amount_cents} cents is more than the {due_cents - received_cents} still owed"
        raise ConflictError(msg, code=CLAIM_OVERPAID)
    return target


# --- expenses and margins from the books (DOMAIN.md section 3) -----------------------

MAX_EXPENSE_CENTS = 10**13  # a hundred billion dollars: anything larger is a typo, not an expense


class ExpensePaidFrom(enum.StrEnum):
    """Where the money for an expense came from: the bank, the till, or owed (accrued)."""

    BANK = "bank"
    CASH = "cash"
    ACCRUED = "accrued"


def expense_errors(pool: str, amount_cents: int) -> list[FieldError]:
    """A pool expense names a valid pool and a non-zero amount (a negative one corrects an earlier one)."""
    errors = pool_errors(pool)
    if amount_cents == 0:
        errors.append(FieldError("amount_cents", "must not be 0 (a negative amount corrects an expense)"))
    elif abs(amount_cents) > MAX_EXPENSE_CENTS:
        errors.append(FieldError("amount_cents", f"must be within +-{MAX_EXPENSE_CENTS}"))
    return errors


class BookAccount(enum.StrEnum):
    """The accounts a pool's margin is read from, and closed out of, at year end."""

    REBATE_INCOME = "rebate_income"
    FEE_INCOME = "fee_income"
    PASS_THROUGH = "pass_through"  # noqa: S105 - an account, not a password
    SALES = "sales"
    COST_OF_GOODS = "cost_of_goods"
    EXPENSES = "expenses"
    INCOME_SUMMARY = "income_summary"


@dataclass(frozen=True, slots=True)
class PoolBooks:
    """A pool's margin for a fiscal year as the books show it, each figure still open in its account.

    Programme income and pass-through are the balances of the pool's programme accounts; the
    group-buy figures are the member charges (markup included) and the supplier cost of the
    buys settled in the year in this pool; expenses are what staff entered against the pool.
    """

    pool: str
    rebate_income_cents: int
    fee_income_cents: int
    pass_through_cents: int
    group_buy_sales_cents: int
    group_buy_cost_cents: int
    expenses_cents: int

    @property
    def programme_margin_cents(self) -> int:
        """Rebates and fees less what was passed through to members."""
        return self.rebate_income_cents + self.fee_income_cents - self.pass_through_cents

    @property
    def group_buy_markup_cents(self) -> int:
        """What members paid above the supplier's price."""
        return self.group_buy_sales_cents - self.group_buy_cost_cents

    @property
    def net_margin_cents(self) -> int:
        """The pool's net margin: programme margin plus group-buy markup less expenses."""
        return self.programme_margin_cents + self.group_buy_markup_cents - self.expenses_cents


def closing_legs(books: PoolBooks) -> list[tuple[BookAccount, Side, int]]:
    """The closing entry of a pool's year: each account emptied, the net margin to the income summary.

    Income accounts (credit balances) are debited, expense accounts (debit balances) credited;
    the income summary takes the difference, a credit for a margin and a debit for a loss.
    Legs of 0 are left out; the legs always balance.
    """
    debits = [
        (BookAccount.REBATE_INCOME, books.rebate_income_cents),
        (BookAccount.FEE_INCOME, books.fee_income_cents),
        (BookAccount.PASS_THROUGH, -books.pass_through_cents),
        (BookAccount.SALES, books.group_buy_sales_cents),
        (BookAccount.COST_OF_GOODS, -books.group_buy_cost_cents),
        (BookAccount.EXPENSES, -books.expenses_cents),
        (BookAccount.INCOME_SUMMARY, -books.net_margin_cents),
    ]
    return [(account, Side.DEBIT if cents > 0 else Side.CREDIT, abs(cents)) for account, cents in debits if cents != 0]
