"""Pure rules of the year-end patronage allocation (DOMAIN.md sections 0, 3 and 6; US Subchapter T).

Inputs are per-member aggregates that the database computes (one row per member
and pool), never per-purchase records, so a run is a few passes over the members.

Choices the domain text leaves open, made here once:

- **Deficit recovery** (section 6, carry forward): a deficit carried from earlier
  years is recovered from this year's *member share* ``M`` after step 1 and before
  the funds of step 2: ``recovered = min(deficit, sum of M_p)``, split over the
  pools pro rata to ``M_p`` (LRM, pools ordered by name); each pool then computes
  its funds and distributable amount on ``M_p - recovered_p``. The losses were the
  members' patronage losses, so the members' share repays them, and reserves are
  built only on a true surplus (as Spanish and Italian co-op law require). The
  non-member share is untouched; the recovered cents go to unallocated equity,
  where the deficit sits, and are reported as ``deficit_recovered_cents``.
- **Losses of this year**: a pool with a negative margin allocates nothing and is
  not netted against other pools of the same year. Its loss is reported as
  ``loss_cents``; with the default ``carry_forward`` policy it is added to
  ``deficit_carried_forward_cents``. With ``charge_members`` the service charges it
  with :func:`loss_charges`; with ``absorb_reserves`` it charges divisible reserves.
- **Funds that round past the share**: each fund is ``CEIL(M_p * rate)`` but never
  more than what the earlier funds (in policy order) left, so ``D_p >= 0`` even
  when several CEILs of a tiny share would add up to more than the share.
- **A pool with margin but no volume at all** has ``M_p = 0``; its margin goes to
  unallocated equity as ``unattributed_cents`` (it is not a non-member share).
- ``net_margin_cents`` in the totals is the sum of the positive pool margins, the
  right-hand side of the balance ``cash + retained + funds + unallocated``.
"""

from __future__ import annotations

import calendar
import enum
import itertools
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from domain.errors import FieldError, InvalidInputError
from domain.money import Rounding, allocate, apply_rate, round_to_cents

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "FORM_1099_PATR_THRESHOLD_CENTS",
    "PROFILES",
    "QUALIFIED_CASH_RATE",
    "AllocationResult",
    "AllocationRounding",
    "AllocationTerms",
    "AllocationTotals",
    "Form1099PatrRow",
    "Fund",
    "FundAmount",
    "LossPolicy",
    "MemberAllocation",
    "MemberPatronage",
    "NonmemberShare",
    "PatronagePayment",
    "PatronagePaymentKind",
    "PoolAllocation",
    "PoolInput",
    "check_balanced",
    "compute_allocation",
    "form_1099_patr_rows",
    "is_within_payment_period",
    "loss_charges",
    "payment_period_end",
    "policy_errors",
    "policy_from_profile",
]

K = TypeVar("K")

QUALIFIED_CASH_RATE = Decimal("0.20")
"""IRC 1388(c)(1)(A): at least 20% of a qualified patronage dividend is paid in cash."""

FORM_1099_PATR_THRESHOLD_CENTS = 1000
"""Form 1099-PATR is filed for a recipient paid at least $10 in the calendar year."""

_PAYMENT_PERIOD_MONTHS = 9
_PAYMENT_PERIOD_DAY = 15
_MONTHS = 12


class AllocationRounding(enum.StrEnum):
    """How the distributable amount of a pool is split among its members."""

    LARGEST_REMAINDER = "largest_remainder"
    """LRM: the parts sum exactly to the distributable amount."""
    RESIDUE_TO_RESERVE = "residue_to_reserve"
    """Each member gets FLOOR of the exact share; the residue cents go to unallocated equity."""


class NonmemberShare(enum.StrEnum):
    """What happens to the non-member share of margin; only retention is lawful here."""

    RETAIN = "retain"


class LossPolicy(enum.StrEnum):
    """DOMAIN.md section 6: how a pool's loss is handled."""

    CARRY_FORWARD = "carry_forward"
    CHARGE_MEMBERS = "charge_members"
    ABSORB_RESERVES = "absorb_reserves"


_ROUNDINGS = frozenset(m.value for m in AllocationRounding)
_NONMEMBER_SHARES = frozenset(m.value for m in NonmemberShare)
_LOSS_POLICIES = frozenset(m.value for m in LossPolicy)


# --- policy --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fund:
    """A fund taken from the member share before allocation: ``CEIL(M_p * rate)``."""

    name: str
    rate: Decimal
    indivisible: bool
    """Indivisible funds can never be credited to members."""


@dataclass(frozen=True, slots=True)
class AllocationTerms:
    """The board's allocation terms for one fiscal year (the API calls them ``policy``)."""

    cash_rate: Decimal
    min_allocation_cents: int = 0
    funds: tuple[Fund, ...] = ()
    """Taken in this order; an earlier fund has priority when rounding runs out of cents."""
    rounding: AllocationRounding = AllocationRounding.LARGEST_REMAINDER
    nonmember_share: NonmemberShare = NonmemberShare.RETAIN
    loss_policy: LossPolicy = LossPolicy.CARRY_FORWARD

    def __post_init__(self) -> None:
        """Accept the enums' string values and a list of funds; policy_errors judges the rest."""
        if isinstance(self.funds, list):
            object.__setattr__(self, "funds", tuple(self.funds))
        for name, enum_type in (
            ("rounding", AllocationRounding),
            ("nonmember_share", NonmemberShare),
            ("loss_policy", LossPolicy),
        ):
            value = getattr(self, name)
            if isinstance(value, str) and not isinstance(value, enum_type) and value in enum_type.__members__.values():
                object.__setattr__(self, name, enum_type(value))


_POLICY_FIELDS = frozenset(f.name for f in fields(AllocationTerms))

# The percentages of the non-US profiles are the statutory minimums of DOMAIN.md
# section 3, all taken from the member share M_p (step 2). The default cash rate
# is 20% everywhere so that a US co-op using a foreign preset still issues
# qualified notices; override ``cash_rate`` (e.g. 0 for Mondragon-style capital
# accounts credited entirely, which makes the notices non-qualified).
#
# France (SCOP): the ">= 25% to employees" (part travail) is not a member
# allocation: a purchasing co-op's members are businesses, not its employees. It is
# modelled as the fund ``employee_share`` with ``indivisible=True`` (never credited
# to members), so it is carved out of the member share before allocation; the
# service posts it to an employee profit-sharing liability rather than a reserve.
# Override ``funds`` to drop it where no employee share is owed.
PROFILES: Mapping[str, AllocationTerms] = MappingProxyType(
    {
        "us": AllocationTerms(cash_rate=QUALIFIED_CASH_RATE),
        "mondragon": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("obligatory_reserve", Decimal("0.45"), indivisible=True),
                Fund("education_social_fund", Decimal("0.10"), indivisible=True),
            ),
        ),
        "italy": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("legal_reserve", Decimal("0.30"), indivisible=True),
                Fund("mutualistic_fund", Decimal("0.03"), indivisible=True),
            ),
        ),
        "spain": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("obligatory_reserve_fund", Decimal("0.20"), indivisible=True),
                Fund("education_promotion_fund", Decimal("0.05"), indivisible=True),
            ),
        ),
        "france_scop": AllocationTerms(
            cash_rate=QUALIFIED_CASH_RATE,
            funds=(
                Fund("legal_reserve", Decimal("0.15"), indivisible=True),
                Fund("employee_share", Decimal("0.25"), indivisible=True),
            ),
        ),
    }
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _rate_errors(value: object, field: str) -> list[FieldError]:
    if not isinstance(value, Decimal) or not value.is_finite():
        return [FieldError(field, "must be a decimal rate")]
    if not Decimal(0) <= value <= Decimal(1):
        return [FieldError(field, "must be between 0 and 1")]
    return []


def _fund_errors(funds: object, field: str) -> list[FieldError]:
    if not isinstance(funds, tuple):
        return [FieldError(field, "must be a list of funds")]
    errors: list[FieldError] = []
    names: set[str] = set()
    total = Decimal(0)
    for i, fund in enumerate(funds):
        where = f"{field}[{i}]"
        if not isinstance(fund, Fund):
            errors.append(FieldError(where, "must be a fund with name, rate and indivisible"))
            continue
        if not isinstance(fund.name, str) or not fund.name.strip():
            errors.append(FieldError(f"{where}.name", "must not be empty"))
        elif fund.name in names:
            errors.append(FieldError(f"{where}.name", "is used by another fund"))
        else:
            names.add(fund.name)
        rate_errors = _rate_errors(fund.rate, f"{where}.rate")
        errors.extend(rate_errors)
        if not rate_errors:
            total += fund.rate
        if not isinstance(fund.indivisible, bool):
            errors.append(FieldError(f"{where}.indivisible", "must be true or false"))
    if total > 1:
        errors.append(FieldError(field, f"fund rates sum to {total}, more than 1"))
    return errors


def policy_errors(policy: AllocationTerms, prefix: str = "policy") -> list[FieldError]:
    """What is wrong with ``policy``, field by field (empty when it is usable).

    A cash rate below 20% is allowed: the notices are then non-qualified.
    """
    p = f"{prefix}." if prefix else ""
    errors = _rate_errors(policy.cash_rate, f"{p}cash_rate")
    if not _is_int(policy.min_allocation_cents) or policy.min_allocation_cents < 0:
        errors.append(FieldError(f"{p}min_allocation_cents", "must be a whole number of cents, at least 0"))
    errors.extend(_fund_errors(policy.funds, f"{p}funds"))
    if policy.rounding not in _ROUNDINGS:
        errors.append(FieldError(f"{p}rounding", f"must be one of {', '.join(sorted(_ROUNDINGS))}"))
    if policy.nonmember_share not in _NONMEMBER_SHARES:
        errors.append(FieldError(f"{p}nonmember_share", f"must be one of {', '.join(sorted(_NONMEMBER_SHARES))}"))
    if policy.loss_policy not in _LOSS_POLICIES:
        errors.append(FieldError(f"{p}loss_policy", f"must be one of {', '.join(sorted(_LOSS_POLICIES))}"))
    return errors


def _as_rate(value: object) -> object:
    """Strings and ints become Decimal; anything else (float!) is left for policy_errors to refuse."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _as_fund(value: object) -> object:
    if isinstance(value, Fund):
        return value
    if isinstance(value, dict) and {"name", "rate", "indivisible"} <= value.keys():
        return Fund(value["name"], _as_rate(value["rate"]), value["indivisible"])  # type: ignore[arg-type]
    return value


def policy_from_profile(name: str, overrides: Mapping[str, object] | None = None) -> AllocationTerms:
    """The preset ``name`` of :data:`PROFILES` with ``overrides`` (policy field -> value) applied.

    ``funds`` may be given as Fund objects or as ``{name, rate, indivisible}`` dicts;
    rates may be Decimal, int or decimal strings (never float). Raises
    InvalidInputError for an unknown profile or field, or an invalid result.
    """
    base = PROFILES.get(name)
    if base is None:
        raise InvalidInputError(
            f"unknown allocation profile {name!r}",
            [FieldError("policy.profile", f"must be one of {', '.join(sorted(PROFILES))}")],
        )
    changes: dict[str, Any] = dict(overrides or {})
    unknown = sorted(set(changes) - _POLICY_FIELDS)
    if unknown:
        raise InvalidInputError(
            "unknown allocation policy fields", [FieldError(f"policy.{key}", "unknown field") for key in unknown]
        )
    if "cash_rate" in changes:
        changes["cash_rate"] = _as_rate(changes["cash_rate"])
    if "funds" in changes:
        given = changes["funds"]
        changes["funds"] = tuple(_as_fund(f) for f in given) if isinstance(given, list | tuple) else given
    policy = replace(base, **changes)
    errors = policy_errors(policy)
    if errors:
        raise InvalidInputError("invalid allocation policy", errors)
    return policy


# --- payment period ------------------------------------------------------------


def payment_period_end(fiscal_year_end: date) -> date:
    """IRC 1382(d): the 15th day of the 9th month after the fiscal year closes.

    >>> payment_period_end(date(2025, 12, 31))
    datetime.date(2026, 9, 15)
    """
    month_index = fiscal_year_end.month - 1 + _PAYMENT_PERIOD_MONTHS
    return date(fiscal_year_end.year + month_index // _MONTHS, month_index % _MONTHS + 1, _PAYMENT_PERIOD_DAY)


def is_within_payment_period(fiscal_year_end: date, payment_date: date) -> bool:
    """Cash and notices dated no later than :func:`payment_period_end` are in time.

    The period opens on the first day of the fiscal year, so every date of a
    year-end allocation (never before the year closes) only needs the upper bound.
    """
    return payment_date <= payment_period_end(fiscal_year_end)


# --- inputs and results --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolInput:
    """One pool of the fiscal year: its net margin and the volumes behind it."""

    pool: str
    net_margin_cents: int
    member_volume_cents: int
    nonmember_volume_cents: int


@dataclass(frozen=True, slots=True)
class MemberPatronage(Generic[K]):
    """One member's patronage volume in one pool (a database aggregate)."""

    member_number: int
    member_key: K
    pool: str
    volume_cents: int
    has_consent: bool


@dataclass(frozen=True, slots=True)
class FundAmount:
    """What one fund receives."""

    name: str
    amount_cents: int
    indivisible: bool


@dataclass(frozen=True, slots=True)
class PoolAllocation:
    """Steps 1-3 for one pool.

    ``net_margin = member_share + nonmember_share + unattributed`` for a pool with a
    non-negative margin; ``member_share = deficit_recovered + funds + distributable``;
    ``distributable = (what the members got) + rounding_residue``.
    """

    pool: str
    net_margin_cents: int
    member_share_cents: int
    nonmember_share_cents: int
    unattributed_cents: int
    deficit_recovered_cents: int
    funds: tuple[FundAmount, ...]
    distributable_cents: int
    rounding_residue_cents: int
    loss_cents: int


@dataclass(frozen=True, slots=True)
class MemberAllocation(Generic[K]):
    """One member's allocation (a written notice when ``allocation_cents > 0``)."""

    member_number: int
    member_key: K
    patronage_cents: int
    """The member's volume summed over every pool of the year."""
    computed_cents: int
    """``alloc_i`` of step 3, before the de minimis rule."""
    allocation_cents: int
    cash_cents: int
    retained_cents: int
    qualified: bool
    below_minimum: bool
    """``computed_cents < min_allocation_cents``: no notice, the amount is unallocated."""


@dataclass(frozen=True, slots=True)
class AllocationTotals:
    """The run's totals; ``cash + retained + sum(funds) + unallocated == net_margin``.

    ``unallocated = nonmember_share + unattributed + deficit_recovered +
    rounding_residue + de_minimis``.
    """

    net_margin_cents: int
    member_share_cents: int
    nonmember_share_cents: int
    unattributed_cents: int
    funds: tuple[FundAmount, ...]
    distributable_cents: int
    allocated_cents: int
    cash_cents: int
    retained_cents: int
    de_minimis_cents: int
    rounding_residue_cents: int
    unallocated_cents: int
    deficit_recovered_cents: int
    loss_cents: int
    deficit_carried_forward_cents: int


@dataclass(frozen=True, slots=True)
class AllocationResult(Generic[K]):
    """A computed (not yet posted) allocation run."""

    fiscal_year_end: date
    payment_date: date
    payment_period_end: date
    policy: AllocationTerms
    lines: tuple[MemberAllocation[K], ...]
    """One per member with patronage, by member number."""
    pools: tuple[PoolAllocation, ...]
    """By pool name."""
    totals: AllocationTotals


# --- computation ---------------------------------------------------------------


@dataclass(slots=True)
class _Member(Generic[K]):
    key: K
    consent: bool
    patronage: int = 0
    computed: int = 0


def _bad(detail: str, field: str) -> InvalidInputError:
    return InvalidInputError(detail, [FieldError(field, detail)])


def _validated_pools(pools: Iterable[PoolInput]) -> list[PoolInput]:
    by_name: dict[str, PoolInput] = {}
    for pool in pools:
        if not isinstance(pool.pool, str) or not pool.pool:
            raise _bad("a pool needs a name", "pools")
        if pool.pool in by_name:
            raise _bad(f"pool {pool.pool!r} is given twice", "pools")
        amounts = (pool.net_margin_cents, pool.member_volume_cents, pool.nonmember_volume_cents)
        if not all(_is_int(v) for v in amounts):
            raise _bad(f"pool {pool.pool!r}: amounts must be integer cents", "pools")
        if pool.member_volume_cents < 0 or pool.nonmember_volume_cents < 0:
            raise _bad(f"pool {pool.pool!r}: volumes must not be negative", "pools")
        by_name[pool.pool] = pool
    return [by_name[name] for name in sorted(by_name)]


def _collect_patronage(
    member_patronage: Iterable[MemberPatronage[K]], pools: Sequence[PoolInput]
) -> tuple[dict[int, _Member[K]], dict[str, list[tuple[int, int]]]]:
    """Members by number, and each pool's (member number, volume) rows by member number."""
    members: dict[int, _Member[K]] = {}
    rows: dict[str, list[tuple[int, int]]] = {pool.pool: [] for pool in pools}
    for row in member_patronage:
        if not _is_int(row.member_number) or not _is_int(row.volume_cents) or row.volume_cents < 0:
            raise _bad(f"member {row.member_number!r}: volume must be integer cents, at least 0", "member_patronage")
        pool_rows = rows.get(row.pool)
        if pool_rows is None:
            raise _bad(f"member {row.member_number}: pool {row.pool!r} has no net margin", "pools")
        member = members.get(row.member_number)
        if member is None:
            member = members[row.member_number] = _Member(row.member_key, row.has_consent is True)
        elif member.key != row.member_key or member.consent != (row.has_consent is True):
            raise _bad(f"member {row.member_number}: key or consent differ between pools", "member_patronage")
        member.patronage += row.volume_cents
        pool_rows.append((row.member_number, row.volume_cents))
    for pool in pools:
        pool_rows = rows[pool.pool]
        pool_rows.sort()
        for (a, _), (b, _) in itertools.pairwise(pool_rows):
            if a == b:
                raise _bad(f"member {a} appears twice in pool {pool.pool!r}", "member_patronage")
        volume = sum(v for _, v in pool_rows)
        if volume != pool.member_volume_cents:
            raise _bad(
                f"pool {pool.pool!r}: member volumes sum to {volume}, not {pool.member_volume_cents}",
                "pools",
            )
    return members, rows


def _member_share(pool: PoolInput) -> tuple[int, int, int, int]:
    """Step 1: (member share, non-member share, unattributed, loss)."""
    margin = pool.net_margin_cents
    if margin < 0:
        return 0, 0, 0, -margin
    volume = pool.member_volume_cents + pool.nonmember_volume_cents
    if volume == 0:
        return 0, 0, margin, 0
    member_share = round_to_cents(Fraction(margin * pool.member_volume_cents, volume), Rounding.HALF_UP)
    return member_share, margin - member_share, 0, 0


def _fund_amounts(share_cents: int, funds: Sequence[Fund]) -> tuple[FundAmount, ...]:
    """Step 2: CEIL of each rate, never past what the earlier funds left."""
    left = share_cents
    amounts = []
    for fund in funds:
        amount = min(apply_rate(share_cents, fund.rate, Rounding.CEIL), left)
        left -= amount
        amounts.append(FundAmount(fund.name, amount, fund.indivisible))
    return tuple(amounts)


def _split(distributable: int, rows: Sequence[tuple[int, int]], rounding: AllocationRounding) -> tuple[list[int], int]:
    """Step 3 for one pool: the members' parts (in ``rows`` order) and the residue kept."""
    if distributable == 0:
        return [0] * len(rows), 0
    weights = [volume for _, volume in rows]
    if rounding == AllocationRounding.RESIDUE_TO_RESERVE:
        volume = sum(weights)
        parts = [distributable * w // volume for w in weights]
        return parts, distributable - sum(parts)
    # rows are by member number, so allocate()'s ties (larger weight, then earlier
    # position) are DOMAIN.md's (larger patronage, then lower member number).
    return allocate(distributable, weights), 0


def _ceil_at_rate(cents: int, numerator: int, denominator: int) -> int:
    """CEIL(cents * numerator / denominator) for cents >= 0; apply_rate(..., CEIL) in ints."""
    return -(-cents * numerator // denominator)


def _lines(
    members: Mapping[int, _Member[K]], policy: AllocationTerms, *, in_period: bool
) -> tuple[list[MemberAllocation[K]], int]:
    """Steps 4-5: the lines by member number and the de minimis total."""
    numerator, denominator = policy.cash_rate.as_integer_ratio()
    rate_qualifies = policy.cash_rate >= QUALIFIED_CASH_RATE
    lines: list[MemberAllocation[K]] = []
    de_minimis = 0
    for number in sorted(members):
        member = members[number]
        below = member.computed < policy.min_allocation_cents
        allocation = 0 if below else member.computed
        if below:
            de_minimis += member.computed
        cash = _ceil_at_rate(allocation, numerator, denominator)
        lines.append(
            MemberAllocation(
                member_number=number,
                member_key=member.key,
                patronage_cents=member.patronage,
                computed_cents=member.computed,
                allocation_cents=allocation,
                cash_cents=cash,
                retained_cents=allocation - cash,
                qualified=allocation > 0 and rate_qualifies and member.consent and in_period,
                below_minimum=below,
            )
        )
    return lines, de_minimis


def _sum_funds(pools: Iterable[PoolAllocation], policy: AllocationTerms) -> tuple[FundAmount, ...]:
    totals: dict[str, int] = defaultdict(int)
    for pool in pools:
        for fund in pool.funds:
            totals[fund.name] += fund.amount_cents
    return tuple(FundAmount(f.name, totals[f.name], f.indivisible) for f in policy.funds)


def compute_allocation(
    pools: Iterable[PoolInput],
    member_patronage: Iterable[MemberPatronage[K]],
    policy: AllocationTerms,
    fiscal_year_end: date,
    payment_date: date,
    deficit_carried_cents: int = 0,
) -> AllocationResult[K]:
    """DOMAIN.md section 3 steps 1-7 (and section 6 for losses) for one fiscal year.

    ``deficit_carried_cents`` is the deficit (a positive number) carried forward
    from earlier years; see the module docstring for where it is recovered.
    Raises InvalidInputError for an invalid policy or inconsistent inputs (a
    member row for a pool without margin, a member twice in a pool, member
    volumes not summing to the pool's member volume, a payment date before the
    fiscal year ends).
    """
    errors = policy_errors(policy)
    if errors:
        raise InvalidInputError("invalid allocation policy", errors)
    if not _is_int(deficit_carried_cents) or deficit_carried_cents < 0:
        raise _bad("the carried deficit must be integer cents, at least 0", "deficit_carried_cents")
    if payment_date < fiscal_year_end:
        raise _bad("the payment date must not be before the fiscal year end", "payment_date")
    pool_list = _validated_pools(pools)
    members, rows = _collect_patronage(member_patronage, pool_list)

    shares = [_member_share(pool) for pool in pool_list]
    member_share_total = sum(share[0] for share in shares)
    recovered = min(deficit_carried_cents, member_share_total)
    recoveries = allocate(recovered, [share[0] for share in shares])

    pool_results: list[PoolAllocation] = []
    for pool, (member_share, nonmember_share, unattributed, loss), recovery in zip(
        pool_list, shares, recoveries, strict=True
    ):
        net_share = member_share - recovery
        funds = _fund_amounts(net_share, policy.funds)
        distributable = net_share - sum(f.amount_cents for f in funds)
        pool_rows = rows[pool.pool]
        parts, residue = _split(distributable, pool_rows, policy.rounding)
        for (number, _), part in zip(pool_rows, parts, strict=True):
            members[number].computed += part
        pool_results.append(
            PoolAllocation(
                pool=pool.pool,
                net_margin_cents=pool.net_margin_cents,
                member_share_cents=member_share,
                nonmember_share_cents=nonmember_share,
                unattributed_cents=unattributed,
                deficit_recovered_cents=recovery,
                funds=funds,
                distributable_cents=distributable,
                rounding_residue_cents=residue,
                loss_cents=loss,
            )
        )

    lines, de_minimis = _lines(members, policy, in_period=is_within_payment_period(fiscal_year_end, payment_date))
    loss = sum(p.loss_cents for p in pool_results)
    nonmember = sum(p.nonmember_share_cents for p in pool_results)
    unattributed = sum(p.unattributed_cents for p in pool_results)
    residue = sum(p.rounding_residue_cents for p in pool_results)
    carried_loss = loss if policy.loss_policy == LossPolicy.CARRY_FORWARD else 0
    carried_forward = deficit_carried_cents - recovered + carried_loss
    totals = AllocationTotals(
        net_margin_cents=sum(max(pool.net_margin_cents, 0) for pool in pool_list),
        member_share_cents=member_share_total,
        nonmember_share_cents=nonmember,
        unattributed_cents=unattributed,
        funds=_sum_funds(pool_results, policy),
        distributable_cents=sum(p.distributable_cents for p in pool_results),
        allocated_cents=sum(line.allocation_cents for line in lines),
        cash_cents=sum(line.cash_cents for line in lines),
        retained_cents=sum(line.retained_cents for line in lines),
        de_minimis_cents=de_minimis,
        rounding_residue_cents=residue,
        unallocated_cents=nonmember + unattributed + recovered + residue + de_minimis,
        deficit_recovered_cents=recovered,
        loss_cents=loss,
        deficit_carried_forward_cents=carried_forward,
    )
    return AllocationResult(
        fiscal_year_end=fiscal_year_end,
        payment_date=payment_date,
        payment_period_end=payment_period_end(fiscal_year_end),
        policy=policy,
        lines=tuple(lines),
        pools=tuple(pool_results),
        totals=totals,
    )


def check_balanced(result: AllocationResult[K]) -> bool:
    """Whether the run balances (step 7) and its lines agree with its totals.

    ``cash + retained + funds + unallocated == net margin of the positive pools``,
    every line's ``allocation == cash + retained``, and the totals are the sums of
    the lines and pools.
    """
    totals = result.totals
    funds = sum(f.amount_cents for f in totals.funds)
    lines_ok = all(line.allocation_cents == line.cash_cents + line.retained_cents for line in result.lines)
    sums_ok = (
        totals.cash_cents == sum(line.cash_cents for line in result.lines)
        and totals.retained_cents == sum(line.retained_cents for line in result.lines)
        and totals.allocated_cents == totals.cash_cents + totals.retained_cents
        and funds == sum(f.amount_cents for p in result.pools for f in p.funds)
        and totals.net_margin_cents == sum(max(p.net_margin_cents, 0) for p in result.pools)
    )
    balance_ok = totals.cash_cents + totals.retained_cents + funds + totals.unallocated_cents == totals.net_margin_cents
    return lines_ok and sums_ok and balance_ok


def loss_charges(loss_cents: int, patronage: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Section 6, ``charge_members``: a pool's loss charged pro rata to the loss year's patronage.

    ``patronage`` holds (member number, volume in the loss pool); the answer is
    (member number, charge) by member number, LRM with ties to the larger
    patronage, then the lower member number. Charges sum to ``loss_cents``.
    """
    rows = sorted(patronage)
    if not _is_int(loss_cents) or loss_cents < 0:
        raise _bad("a loss is charged as a positive number of cents", "loss_cents")
    charges = allocate(loss_cents, [volume for _, volume in rows])
    return [(number, charge) for (number, _), charge in zip(rows, charges, strict=True)]


# --- Form 1099-PATR ------------------------------------------------------------


class PatronagePaymentKind(enum.StrEnum):
    """What a payment or notice to a patron was, for Form 1099-PATR."""

    PATRONAGE_CASH = "patronage_cash"
    """Box 1."""
    QUALIFIED_NOTICE = "qualified_notice"
    """Box 1: the stated amount of a qualified written notice of allocation (its retained part)."""
    NONQUALIFIED_NOTICE = "nonqualified_notice"
    """Not reported when issued; reported in box 5 when redeemed."""
    QUALIFIED_REDEMPTION = "qualified_redemption"
    """Not reported: it was taxed when the qualified notice was issued."""
    NONQUALIFIED_REDEMPTION = "nonqualified_redemption"
    """Box 5."""


@dataclass(frozen=True, slots=True)
class PatronagePayment(Generic[K]):
    """One cash payment or notice, dated when it was paid or issued."""

    member_number: int
    member_key: K
    kind: PatronagePaymentKind
    amount_cents: int
    paid_on: date


@dataclass(frozen=True, slots=True)
class Form1099PatrRow(Generic[K]):
    """One recipient's Form 1099-PATR for one calendar year."""

    calendar_year: int
    member_number: int
    member_key: K
    box1_cents: int
    """Patronage dividends: cash plus qualified notices."""
    box5_cents: int
    """Redemption of non-qualified notices and retain allocations."""

    @property
    def total_cents(self) -> int:
        """What the $10 threshold is measured against."""
        return self.box1_cents + self.box5_cents


_BOX1 = frozenset({PatronagePaymentKind.PATRONAGE_CASH, PatronagePaymentKind.QUALIFIED_NOTICE})
_BOX5 = frozenset({PatronagePaymentKind.NONQUALIFIED_REDEMPTION})
_KINDS = frozenset(m.value for m in PatronagePaymentKind)


def form_1099_patr_rows(
    payments: Iterable[PatronagePayment[K]], calendar_year: int | None = None
) -> list[Form1099PatrRow[K]]:
    """Form 1099-PATR data per recipient and calendar year of payment (DOMAIN.md section 3.8).

    Only rows whose box 1 + box 5 is at least $10 are returned, ordered by year and
    member number; ``calendar_year`` keeps only that year.
    """
    boxes: dict[tuple[int, int], list[int]] = {}
    keys: dict[int, K] = {}
    for payment in payments:
        if not _is_int(payment.amount_cents) or payment.amount_cents < 0:
            raise _bad(f"member {payment.member_number}: amounts are integer cents, at least 0", "payments")
        if payment.kind not in _KINDS:
            raise _bad(f"unknown payment kind {payment.kind!r}", "payments")
        year = payment.paid_on.year
        if calendar_year is not None and year != calendar_year:
            continue
        keys.setdefault(payment.member_number, payment.member_key)
        box = boxes.setdefault((year, payment.member_number), [0, 0])
        if payment.kind in _BOX1:
            box[0] += payment.amount_cents
        elif payment.kind in _BOX5:
            box[1] += payment.amount_cents
    return [
        Form1099PatrRow(year, number, keys[number], box1, box5)
        for (year, number), (box1, box5) in sorted(boxes.items())
        if box1 + box5 >= FORM_1099_PATR_THRESHOLD_CENTS
    ]


# --- patronage dating ----------------------------------------------------------------


def fiscal_year_of(day: date, start_month: int = 1) -> int:
    """The fiscal year ``day`` falls in, named by the calendar year in which that fiscal year ends.

    With ``start_month`` 1 it is the calendar year; with 7, July 2025 - June 2026 is FY 2026.
    """
    if not _is_int(start_month) or not 1 <= start_month <= _MONTHS:
        msg = f"start_month must be 1-12, got {start_month!r}"
        raise ValueError(msg)
    return day.year + (1 if start_month > 1 and day.month >= start_month else 0)


def is_member_business(joined_at: datetime | None, left_at: datetime | None, at: datetime) -> bool:
    """Whether business done at ``at`` is member business: the buyer had joined and not yet left.

    Patronage before ``joined_at`` (or by an applicant, who has not joined) and from ``left_at``
    on is non-member business (DOMAIN.md section 3: the status at the transaction date decides).
    """
    return joined_at is not None and joined_at <= at and (left_at is None or at < left_at)


def fiscal_year_end(fiscal_year: int, start_month: int) -> date:
    """The last day of a fiscal year named by the calendar year in which it ends."""
    end_month = 12 if start_month == 1 else start_month - 1
    return date(fiscal_year, end_month, calendar.monthrange(fiscal_year, end_month)[1])


def utc_day_range(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive UTC days as a half-open range of instants: [first 00:00, the day after last 00:00).

    A range that ends before it starts is refused, naming ``occurred_to``, rather than
    answering an empty list a client would take for "no records".
    """
    if first is not None and last is not None and last < first:
        raise InvalidInputError(
            "the date range ends before it starts", [FieldError("occurred_to", "must not be before occurred_from")]
        )
    start = None if first is None else datetime.combine(first, time.min, UTC)
    end = None if last is None else datetime.combine(last + timedelta(days=1), time.min, UTC)
    return start, end
