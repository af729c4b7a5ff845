"""Pure rules of retained equity: redemption budgets and methods, base capital, exits, loans.

DOMAIN.md sections 1 (share redemption), 4 (equity redemption) and 5 (membership
loans). Inputs are per-lot or per-member aggregates; amounts are int cents, rates
Decimal, and every split is the largest remainder method of ``domain.money``.

Base capital plan, as modelled here (section 4, [policy]):

- ``req_i = CEIL(k * average patronage over the last N years)``
  (:func:`average_patronage`, :func:`base_capital_requirement`).
- At allocation, :func:`base_capital_split` splits a member's allocation:
  an under-invested member (equity held < req) retains ``min(gap, alloc - min cash)``
  where ``min cash = CEIL(alloc * 20%)``, so the notice stays qualified and the
  member never retains more than the gap; the rest is cash. An over-invested or
  exactly invested member takes the whole allocation in cash and their
  ``excess = held - req`` is reported.
- At redemption, :func:`excess_redemption` spends the budget on the excesses first
  (pro rata to excess when the budget is short, each member's share taken from
  their oldest lots first); the service spends what is left with FIFO or
  percentage over the remaining outstanding.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Generic, TypeVar

from domain.errors import FieldError, InvalidInputError
from domain.money import BIGINT_MAX, Rounding, allocate, apply_rate, round_to_cents
from domain.patronage.rules import fiscal_year_end, fiscal_year_of
from domain.transitions import check_move

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import date

__all__ = [
    "BUDGET_FIELDS",
    "DEFAULT_BASE_CAPITAL_RATE",
    "DEFAULT_BASE_CAPITAL_YEARS",
    "MAX_BASE_CAPITAL_YEARS",
    "MIN_CASH_RATE",
    "RATE_PLACES",
    "RUN_TRANSITIONS",
    "RUN_TRANSITION_REFUSED",
    "BaseCapitalPlan",
    "BaseCapitalSplit",
    "BudgetInputs",
    "LotBalance",
    "RedemptionRunStatus",
    "average_patronage",
    "base_capital_plan",
    "base_capital_requirement",
    "base_capital_split",
    "budget_inputs",
    "check_run_transition",
    "excess_redemption",
    "fifo_redemption",
    "loan_deduction",
    "lot_year_errors",
    "outstanding_cents",
    "percentage_redemption",
    "rate_errors",
    "redemption_budget",
    "revolving_years_errors",
    "set_off_debt",
    "special_redemption_value",
    "years_to_revolvement",
]

L = TypeVar("L")

MIN_CASH_RATE = Decimal("0.20")
"""The cash part of a qualified patronage dividend (IRC 1388(c)(1)(A))."""
DEFAULT_BASE_CAPITAL_RATE = Decimal("0.10")
DEFAULT_BASE_CAPITAL_YEARS = 3
MAX_BASE_CAPITAL_YEARS = 20


def _bad(detail: str, field: str) -> InvalidInputError:
    return InvalidInputError(detail, [FieldError(field, detail)])


def _cents(value: object, field: str) -> int:
    """``value`` as int cents, at least 0, or InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"{field} must be integer cents, at least 0", field)
    return value


def _rate(value: object, field: str, *, below_one: bool = False) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0 or value > 1 or (below_one and value == 1):
        upper = "below 1" if below_one else "at most 1"
        raise _bad(f"{field} must be a decimal rate from 0, {upper}", field)
    return value


@dataclass(frozen=True, slots=True)
class LotBalance(Generic[L]):
    """The rules' view of one equity lot (one member, one fiscal year, one qualified status): face and redeemed."""

    lot_key: L
    member_number: int
    fiscal_year: int
    qualified: bool
    face_cents: int
    redeemed_cents: int = 0

    @property
    def outstanding_cents(self) -> int:
        """Face not yet redeemed."""
        return outstanding_cents(self.face_cents, self.redeemed_cents)


def outstanding_cents(face_cents: int, redeemed_cents: int) -> int:
    """What of a lot is still to be redeemed: its face less what was redeemed (every lot view uses this)."""
    return face_cents - redeemed_cents


def _live_lots(lots: Iterable[LotBalance[L]]) -> list[LotBalance[L]]:
    """The lots with something outstanding, after checking every lot."""
    live = []
    for lot in lots:
        face = _cents(lot.face_cents, "face_cents")
        redeemed = _cents(lot.redeemed_cents, "redeemed_cents")
        if redeemed > face:
            raise _bad(f"lot {lot.lot_key!r}: redeemed {redeemed} is more than its face {face}", "redeemed_cents")
        if face > redeemed:
            live.append(lot)
    return live


# --- budget --------------------------------------------------------------------


def redemption_budget(
    board_budget_cents: int,
    cash_available_cents: int,
    minimum_cash_cents: int,
    equity_cents: int,
    assets_cents: int,
    k: Decimal,
) -> int:
    """``R = min(board, cash - minimum cash, FLOOR((E - k*A) / (1 - k)))``, never below 0.

    The last term keeps equity/assets at or above ``k`` after redeeming ``R``
    (redemption lowers equity and assets alike): ``(E - R) / (A - R) >= k``.
    """
    board = _cents(board_budget_cents, "board_budget_cents")
    for value, field in (
        (cash_available_cents, "cash_available_cents"),
        (minimum_cash_cents, "minimum_cash_cents"),
        (equity_cents, "equity_cents"),
        (assets_cents, "assets_cents"),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f"{field} must be integer cents", field)
    ratio = Fraction(_rate(k, "k", below_one=True))
    equity_cap = round_to_cents((equity_cents - ratio * assets_cents) / (1 - ratio), Rounding.FLOOR)
    return max(0, min(board, cash_available_cents - minimum_cash_cents, equity_cap))


# --- methods -------------------------------------------------------------------


def _split_over(lots: Sequence[LotBalance[L]], amount: int) -> list[tuple[L, int]]:
    """LRM of ``amount`` over ``lots`` pro rata to outstanding; ``lots`` are ordered for ties."""
    parts = allocate(amount, [lot.outstanding_cents for lot in lots])
    return [(lot.lot_key, part) for lot, part in zip(lots, parts, strict=True) if part > 0]


def fifo_redemption(lots: Iterable[LotBalance[L]], budget_cents: int) -> list[tuple[L, int]]:
    """Revolving fund: oldest fiscal year first, whole years while the budget lasts.

    The budget left when a year no longer fits is split over that year's lots pro
    rata to outstanding (LRM; ties to the larger outstanding, then the lower member
    number, then the order given: pass lots in a stable order, e.g. by id).
    Former members' lots take part like any other. Answers
    (lot key, amount) for the lots that get something, by year then member number.
    """
    left = _cents(budget_cents, "budget_cents")
    live = sorted(_live_lots(lots), key=lambda lot: (lot.fiscal_year, lot.member_number))
    redeemed: list[tuple[L, int]] = []
    for _, year in itertools.groupby(live, key=lambda lot: lot.fiscal_year):
        if left == 0:
            break
        year_lots = list(year)
        outstanding = sum(lot.outstanding_cents for lot in year_lots)
        if left >= outstanding:
            redeemed.extend((lot.lot_key, lot.outstanding_cents) for lot in year_lots)
            left -= outstanding
        else:
            redeemed.extend(_split_over(year_lots, left))
            left = 0
    return redeemed


def fifo_years(outstanding_by_year: Mapping[int, int], budget_cents: int) -> list[int]:
    """The fiscal years a FIFO run of ``budget_cents`` touches: oldest first, while the budget lasts.

    From each year's outstanding total alone, so only those years' lots need to be read:
    ``fifo_redemption`` over them gives what it gives over every lot.
    """
    left = _cents(budget_cents, "budget_cents")
    years = []
    for year in sorted(y for y, cents in outstanding_by_year.items() if cents > 0):
        if left == 0:
            break
        years.append(year)
        left -= min(left, outstanding_by_year[year])
    return years


def fifo_products_fit_bigint(outstanding_by_year: Mapping[int, int], years: Iterable[int], budget_cents: int) -> bool:
    """Whether every product a FIFO run's pro rata split forms fits in a signed 64-bit integer.

    A year's split multiplies what the run spends on it (at most the budget and the year's
    outstanding) by each lot's outstanding (at most the year's), so the bound is per year.
    """
    return all(min(budget_cents, outstanding_by_year[y]) * outstanding_by_year[y] <= BIGINT_MAX for y in years)


def percentage_redemption(lots: Iterable[LotBalance[L]], budget_cents: int) -> list[tuple[L, int]]:
    """Percentage of all equities: ``R / sum of outstanding`` of every lot, by LRM.

    Redeems ``min(budget, total outstanding)``; ties go to the larger outstanding,
    then the lower member number, then the older year, then the order given. Answers (lot key, amount)
    for the lots that get something, by member number then year.
    """
    budget = _cents(budget_cents, "budget_cents")
    live = sorted(_live_lots(lots), key=lambda lot: (lot.member_number, lot.fiscal_year))
    amount = min(budget, sum(lot.outstanding_cents for lot in live))
    return _split_over(live, amount)


# --- base capital plan ---------------------------------------------------------


def average_patronage(yearly_patronage_cents: Sequence[int], years: int = DEFAULT_BASE_CAPITAL_YEARS) -> Fraction:
    """Exact average of the last ``years`` entries (oldest first); fewer years average what there is."""
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise _bad("years must be a whole number, at least 1", "years")
    recent = [_cents(v, "patronage_cents") for v in yearly_patronage_cents[-years:]]
    return Fraction(sum(recent), len(recent)) if recent else Fraction(0)


@dataclass(frozen=True, slots=True)
class BaseCapitalPlan:
    """The board's base capital plan: requirement CEIL(k x average patronage of the last `years` years)."""

    k: Decimal
    years: int


def base_capital_plan(
    k: object = DEFAULT_BASE_CAPITAL_RATE, years: object = DEFAULT_BASE_CAPITAL_YEARS, *, field: str = "base_capital"
) -> BaseCapitalPlan:
    """The plan with `k` a finite rate from 0 to 1 and `years` whole from 1 to 20, or every fault at once.

    `k` may be a Decimal or its decimal string (as a stored request keeps it), never a float;
    errors are named `<field>.k` and `<field>.years`.
    """
    errors: list[FieldError] = []
    rate: Decimal | None = None
    if isinstance(k, Decimal | str):
        try:
            rate = Decimal(k)
        except InvalidOperation:
            rate = None
    if rate is None or not rate.is_finite() or rate < 0 or rate > 1:
        errors.append(FieldError(f"{field}.k", "must be a decimal rate from 0 to 1"))
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= MAX_BASE_CAPITAL_YEARS:
        errors.append(FieldError(f"{field}.years", f"must be a whole number from 1 to {MAX_BASE_CAPITAL_YEARS}"))
    if errors or rate is None or not isinstance(years, int):
        raise InvalidInputError("invalid base capital plan", errors)
    return BaseCapitalPlan(rate, years)


def base_capital_requirement(avg_patronage_cents: int | Fraction, k: Decimal = DEFAULT_BASE_CAPITAL_RATE) -> int:
    """``req_i = CEIL(k * average patronage)`` (DOMAIN.md section 4)."""
    if isinstance(avg_patronage_cents, bool) or not isinstance(avg_patronage_cents, int | Fraction):
        raise _bad("average patronage must be int or Fraction cents", "avg_patronage_cents")
    if avg_patronage_cents < 0:
        raise _bad("average patronage must not be negative", "avg_patronage_cents")
    return round_to_cents(avg_patronage_cents * Fraction(_rate(k, "k")), Rounding.CEIL)


@dataclass(frozen=True, slots=True)
class BaseCapitalSplit:
    """A member's allocation under the base capital plan."""

    cash_cents: int
    retained_cents: int
    excess_cents: int
    """Equity held above the requirement, redeemable first (0 when under-invested)."""


def base_capital_split(
    allocation_cents: int,
    requirement_cents: int,
    equity_held_cents: int,
    cash_rate_min: Decimal = MIN_CASH_RATE,
) -> BaseCapitalSplit:
    """Cash and retained parts of ``allocation_cents`` for a member holding ``equity_held_cents``.

    Under-invested: retain ``min(requirement - held, allocation - CEIL(allocation *
    cash_rate_min))``; the rest is cash. Otherwise all cash, with the excess reported.
    """
    allocation = _cents(allocation_cents, "allocation_cents")
    requirement = _cents(requirement_cents, "requirement_cents")
    held = _cents(equity_held_cents, "equity_held_cents")
    minimum_cash = apply_rate(allocation, _rate(cash_rate_min, "cash_rate_min"), Rounding.CEIL)
    gap = requirement - held
    if gap > 0:
        retained = min(gap, allocation - minimum_cash)
        return BaseCapitalSplit(cash_cents=allocation - retained, retained_cents=retained, excess_cents=0)
    return BaseCapitalSplit(cash_cents=allocation, retained_cents=0, excess_cents=-gap)


def excess_redemption(
    lots: Iterable[LotBalance[L]], excess_cents_by_member: Mapping[int, int], budget_cents: int
) -> list[tuple[L, int]]:
    """Base capital plan: redeem over-invested members' excess before anything else.

    Each member's redeemable excess is capped by their outstanding equity. When the
    budget is short it is split pro rata to excess (LRM; ties to the larger excess,
    then the lower member number). Each member's amount comes from their oldest
    lots first (FIFO within the member). Answers (lot key, amount) by member
    number then year.
    """
    budget = _cents(budget_cents, "budget_cents")
    by_member: dict[int, list[LotBalance[L]]] = {}
    for lot in sorted(_live_lots(lots), key=lambda lot: (lot.member_number, lot.fiscal_year)):
        by_member.setdefault(lot.member_number, []).append(lot)
    members = sorted(n for n, excess in excess_cents_by_member.items() if _cents(excess, "excess_cents") > 0)
    redeemable = [
        min(excess_cents_by_member[n], sum(lot.outstanding_cents for lot in by_member.get(n, []))) for n in members
    ]
    shares = allocate(min(budget, sum(redeemable)), redeemable)
    redeemed: list[tuple[L, int]] = []
    for number, share in zip(members, shares, strict=True):
        if share > 0:
            redeemed.extend(fifo_redemption(by_member[number], share))
    return redeemed


# --- exits and loans -----------------------------------------------------------


def special_redemption_value(face_cents: int, discount_rate: Decimal, years: int) -> tuple[int, int]:
    """Present value ``HALF_UP(face / (1 + r)^n)`` and the discount (to unallocated equity).

    ``years`` is the time until the lot's normal revolvement; 0 gives the face.
    Set-off of debts owed to the co-op is applied by the caller, to the present value.
    """
    face = _cents(face_cents, "face_cents")
    rate = _rate(discount_rate, "discount_rate")
    if isinstance(years, bool) or not isinstance(years, int) or years < 0:
        raise _bad("years must be a whole number, at least 0", "years")
    present = round_to_cents(Fraction(face) / (1 + Fraction(rate)) ** years, Rounding.HALF_UP)
    return present, face - present


def years_to_revolvement(fiscal_year: int, revolving_years: int, as_of_year: int) -> int:
    """Whole years from ``as_of_year`` until the lot's normal revolvement, never below 0.

    A lot of fiscal year ``y`` revolves in ``y + revolving_years`` under the co-op's
    revolving policy [policy, default 7 years].
    """
    for value, field in ((fiscal_year, "fiscal_year"), (revolving_years, "revolving_years"), (as_of_year, "as_of")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(f"{field} must be a whole number", field)
    if revolving_years < 0:
        raise _bad("revolving_years must be at least 0", "revolving_years")
    return max(0, fiscal_year + revolving_years - as_of_year)


def set_off_debt(payable_cents: int, owed_cents: int) -> tuple[int, int]:
    """Debts owed to the co-op come out of a payment first (DOMAIN.md section 5).

    Answers ``(set_off, payout)``: the set-off is what the member owes (0 when the
    trade balance is in the member's favour) but never more than the payment, and
    the two add up to the payment.
    """
    payable = _cents(payable_cents, "payable_cents")
    if isinstance(owed_cents, bool) or not isinstance(owed_cents, int):
        raise _bad("owed_cents must be integer cents", "owed_cents")
    set_off = min(max(owed_cents, 0), payable)
    return set_off, payable - set_off


def loan_deduction(
    alloc_cents: int,
    cash_cents: int,
    loan_outstanding_cents: int,
    cash_rate_min: Decimal = MIN_CASH_RATE,
) -> int:
    """Membership loan repayment taken from patronage cash (DOMAIN.md section 5).

    Takes only the cash above the minimum ``CEIL(alloc * cash_rate_min)``, and
    never more than the loan outstanding.
    """
    allocation = _cents(alloc_cents, "alloc_cents")
    cash = _cents(cash_cents, "cash_cents")
    outstanding = _cents(loan_outstanding_cents, "loan_outstanding_cents")
    minimum = apply_rate(allocation, _rate(cash_rate_min, "cash_rate_min"), Rounding.CEIL)
    return max(0, min(cash - minimum, outstanding))


def lot_year_errors(
    at: str, fiscal_year: int, *, joined_on: date | None, today: date, start_month: int
) -> list[FieldError]:
    """An imported lot is retained patronage of a fiscal year that has ended, and the member was a member in it.

    Both are refused, not warned about: a lot is equity the co-op will redeem in cash,
    so a lot for a year still running (or to come), or for a year that ended before the
    member joined (no member patronage could have been allocated), is a wrong year or a
    wrong member number. The import is all or nothing, so staff correct the sheet and send it again.
    """
    current = fiscal_year_of(today, start_month)
    if fiscal_year >= current:
        return [FieldError(f"{at}.fiscal_year", f"must be a fiscal year that has ended (before {current})")]
    if joined_on is not None and fiscal_year_end(fiscal_year, start_month) < joined_on:
        return [FieldError(f"{at}.fiscal_year", f"ended before the member joined ({joined_on})")]
    return []


# --- the budget's caps and the rates staff give ----------------------------------

RATE_PLACES = 6
"""Rates are stored as NUMERIC(9, 6)."""


@dataclass(frozen=True, slots=True)
class BudgetInputs:
    """The figures that cap the board's budget: cash above its minimum and the equity ratio."""

    cash_available_cents: int
    minimum_cash_cents: int
    equity_cents: int
    assets_cents: int
    equity_ratio_floor: Decimal


BUDGET_FIELDS = ("cash_available_cents", "minimum_cash_cents", "equity_cents", "assets_cents", "equity_ratio_floor")


def budget_inputs(
    *,
    cash_available_cents: int | None,
    minimum_cash_cents: int | None,
    equity_cents: int | None,
    assets_cents: int | None,
    equity_ratio_floor: Decimal | None,
) -> BudgetInputs | None:
    """All five caps, or none (the board's budget alone); some but not all is a 400."""
    given = {
        "cash_available_cents": cash_available_cents,
        "minimum_cash_cents": minimum_cash_cents,
        "equity_cents": equity_cents,
        "assets_cents": assets_cents,
        "equity_ratio_floor": equity_ratio_floor,
    }
    missing = [name for name in BUDGET_FIELDS if given[name] is None]
    if len(missing) == len(BUDGET_FIELDS):
        return None
    errors = [FieldError(name, "give all five budget figures, or none") for name in missing]
    if equity_ratio_floor is not None:
        errors += rate_errors(equity_ratio_floor, "equity_ratio_floor", below_one=True)
    if errors:
        raise InvalidInputError("the budget figures are not usable", errors)
    assert cash_available_cents is not None  # noqa: S101 - none is missing
    assert minimum_cash_cents is not None  # noqa: S101
    assert equity_cents is not None  # noqa: S101
    assert assets_cents is not None  # noqa: S101
    assert equity_ratio_floor is not None  # noqa: S101
    return BudgetInputs(cash_available_cents, minimum_cash_cents, equity_cents, assets_cents, equity_ratio_floor)


def rate_errors(rate: Decimal, field: str, *, below_one: bool) -> list[FieldError]:
    """A rate from 0 to 1 (or below 1), finite, with no more places than the database keeps."""
    upper = "below 1" if below_one else "at most 1"
    message = f"must be a decimal rate from 0, {upper}, with at most {RATE_PLACES} decimals"
    if not rate.is_finite() or rate < 0 or rate > 1 or (below_one and rate == 1):
        return [FieldError(field, message)]
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -RATE_PLACES:
        return [FieldError(field, message)]
    return []


def revolving_years_errors(revolving_years: int) -> list[FieldError]:
    """Years to a lot's normal revolvement: 0 (due now) or more."""
    return [] if revolving_years >= 0 else [FieldError("revolving_years", "must be at least 0")]


# --- redemption run states -----------------------------------------------------------


class RedemptionRunStatus(enum.StrEnum):
    """A run is computed when it is created and posted at most once."""

    COMPUTED = "computed"
    POSTED = "posted"


# Every move a redemption run may make: a computed run is the board's proposal until it is
# approved; a posted run is in the ledger and final (a stale proposal is replaced by a new run).
RUN_TRANSITIONS: Mapping[RedemptionRunStatus, frozenset[RedemptionRunStatus]] = MappingProxyType(
    {
        RedemptionRunStatus.COMPUTED: frozenset({RedemptionRunStatus.POSTED}),
        RedemptionRunStatus.POSTED: frozenset(),
    }
)

RUN_TRANSITION_REFUSED = "redemption_run_transition_refused"


def check_run_transition(current: str, target: RedemptionRunStatus, *, run_id: int | None = None) -> None:
    """Refuse a move the table does not allow (409, code ``redemption_run_transition_refused``)."""
    check_move(
        RUN_TRANSITIONS,
        RedemptionRunStatus(current),
        target,
        what=f"redemption run {run_id}",
        code=RUN_TRANSITION_REFUSED,
    )
