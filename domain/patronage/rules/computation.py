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

import itertools
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Generic, TypeVar

from domain.errors import InvalidInputError
from domain.money import Rounding, allocate, apply_rate, round_to_cents
from domain.patronage.rules._checks import bad, is_int
from domain.patronage.rules.dating import is_within_payment_period, payment_period_end
from domain.patronage.rules.terms import (
    QUALIFIED_CASH_RATE,
    AllocationRounding,
    AllocationTerms,
    Fund,
    LossPolicy,
    policy_errors,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import date

__all__ = [
    "AllocationResult",
    "AllocationTotals",
    "FundAmount",
    "MemberAllocation",
    "MemberPatronage",
    "PoolAllocation",
    "PoolInput",
    "PoolSteps",
    "allocation_totals",
    "check_balanced",
    "compute_allocation",
    "loss_charges",
    "pool_steps",
]

K = TypeVar("K")

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


def _validated_pools(pools: Iterable[PoolInput]) -> list[PoolInput]:
    by_name: dict[str, PoolInput] = {}
    for pool in pools:
        if not isinstance(pool.pool, str) or not pool.pool:
            raise bad("a pool needs a name", "pools")
        if pool.pool in by_name:
            raise bad(f"pool {pool.pool!r} is given twice", "pools")
        amounts = (pool.net_margin_cents, pool.member_volume_cents, pool.nonmember_volume_cents)
        if not all(is_int(v) for v in amounts):
            raise bad(f"pool {pool.pool!r}: amounts must be integer cents", "pools")
        if pool.member_volume_cents < 0 or pool.nonmember_volume_cents < 0:
            raise bad(f"pool {pool.pool!r}: volumes must not be negative", "pools")
        by_name[pool.pool] = pool
    return [by_name[name] for name in sorted(by_name)]


def _collect_patronage(
    member_patronage: Iterable[MemberPatronage[K]], pools: Sequence[PoolInput]
) -> tuple[dict[int, _Member[K]], dict[str, list[tuple[int, int]]]]:
    """Members by number, and each pool's (member number, volume) rows by member number."""
    members: dict[int, _Member[K]] = {}
    rows: dict[str, list[tuple[int, int]]] = {pool.pool: [] for pool in pools}
    for row in member_patronage:
        if not is_int(row.member_number) or not is_int(row.volume_cents) or row.volume_cents < 0:
            raise bad(f"member {row.member_number!r}: volume must be integer cents, at least 0", "member_patronage")
        pool_rows = rows.get(row.pool)
        if pool_rows is None:
            raise bad(f"member {row.member_number}: pool {row.pool!r} has no net margin", "pools")
        member = members.get(row.member_number)
        if member is None:
            member = members[row.member_number] = _Member(row.member_key, row.has_consent is True)
        elif member.key != row.member_key or member.consent != (row.has_consent is True):
            raise bad(f"member {row.member_number}: key or consent differ between pools", "member_patronage")
        member.patronage += row.volume_cents
        pool_rows.append((row.member_number, row.volume_cents))
    for pool in pools:
        pool_rows = rows[pool.pool]
        pool_rows.sort()
        for (a, _), (b, _) in itertools.pairwise(pool_rows):
            if a == b:
                raise bad(f"member {a} appears twice in pool {pool.pool!r}", "member_patronage")
        volume = sum(v for _, v in pool_rows)
        if volume != pool.member_volume_cents:
            raise bad(
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


@dataclass(frozen=True, slots=True)
class PoolSteps:
    """Steps 1-2 of every pool (by name), before the members' split: what each pool distributes."""

    pools: tuple[PoolInput, ...]
    shares: tuple[tuple[int, int, int, int], ...]
    """(member share, non-member share, unattributed, loss) per pool."""
    recoveries: tuple[int, ...]
    funds: tuple[tuple[FundAmount, ...], ...]
    distributable: tuple[int, ...]
    recovered: int
    deficit_carried_cents: int
    in_period: bool

    def results(self, residues: Sequence[int]) -> list[PoolAllocation]:
        """Each pool's figures, given the rounding residue its split kept."""
        rows = zip(self.pools, self.shares, self.recoveries, self.funds, self.distributable, residues, strict=True)
        return [
            PoolAllocation(
                pool=pool.pool,
                net_margin_cents=pool.net_margin_cents,
                member_share_cents=share[0],
                nonmember_share_cents=share[1],
                unattributed_cents=share[2],
                deficit_recovered_cents=recovery,
                funds=funds,
                distributable_cents=distributable,
                rounding_residue_cents=residue,
                loss_cents=share[3],
            )
            for pool, share, recovery, funds, distributable, residue in rows
        ]


def pool_steps(
    pools: Iterable[PoolInput],
    policy: AllocationTerms,
    fiscal_year_end: date,
    payment_date: date,
    deficit_carried_cents: int = 0,
) -> PoolSteps:
    """Check the policy and inputs, then steps 1-2 per pool (and the deficit recovered, section 6).

    Raises InvalidInputError as ``compute_allocation`` does for an invalid policy, a bad
    deficit, a payment date before the year end or invalid pools.
    """
    errors = policy_errors(policy)
    if errors:
        raise InvalidInputError("invalid allocation policy", errors)
    if not is_int(deficit_carried_cents) or deficit_carried_cents < 0:
        raise bad("the carried deficit must be integer cents, at least 0", "deficit_carried_cents")
    if payment_date < fiscal_year_end:
        raise bad("the payment date must not be before the fiscal year end", "payment_date")
    pool_list = _validated_pools(pools)
    shares = [_member_share(pool) for pool in pool_list]
    recovered = min(deficit_carried_cents, sum(share[0] for share in shares))
    recoveries = allocate(recovered, [share[0] for share in shares])
    funds = [
        _fund_amounts(share[0] - recovery, policy.funds) for share, recovery in zip(shares, recoveries, strict=True)
    ]
    return PoolSteps(
        pools=tuple(pool_list),
        shares=tuple(shares),
        recoveries=tuple(recoveries),
        funds=tuple(funds),
        distributable=tuple(
            share[0] - recovery - sum(f.amount_cents for f in fs)
            for share, recovery, fs in zip(shares, recoveries, funds, strict=True)
        ),
        recovered=recovered,
        deficit_carried_cents=deficit_carried_cents,
        in_period=is_within_payment_period(fiscal_year_end, payment_date),
    )


def allocation_totals(
    steps: PoolSteps,
    pool_results: Sequence[PoolAllocation],
    policy: AllocationTerms,
    *,
    allocated_cents: int,
    cash_cents: int,
    retained_cents: int,
    de_minimis_cents: int,
) -> AllocationTotals:
    """Step 7's totals from the pools and the sums of the members' lines."""
    loss = sum(p.loss_cents for p in pool_results)
    nonmember = sum(p.nonmember_share_cents for p in pool_results)
    unattributed = sum(p.unattributed_cents for p in pool_results)
    residue = sum(p.rounding_residue_cents for p in pool_results)
    carried_loss = loss if policy.loss_policy == LossPolicy.CARRY_FORWARD else 0
    recovered = steps.recovered
    return AllocationTotals(
        net_margin_cents=sum(max(pool.net_margin_cents, 0) for pool in steps.pools),
        member_share_cents=sum(share[0] for share in steps.shares),
        nonmember_share_cents=nonmember,
        unattributed_cents=unattributed,
        funds=_sum_funds(pool_results, policy),
        distributable_cents=sum(p.distributable_cents for p in pool_results),
        allocated_cents=allocated_cents,
        cash_cents=cash_cents,
        retained_cents=retained_cents,
        de_minimis_cents=de_minimis_cents,
        rounding_residue_cents=residue,
        unallocated_cents=nonmember + unattributed + recovered + residue + de_minimis_cents,
        deficit_recovered_cents=recovered,
        loss_cents=loss,
        deficit_carried_forward_cents=steps.deficit_carried_cents - recovered + carried_loss,
    )


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
    steps = pool_steps(pools, policy, fiscal_year_end, payment_date, deficit_carried_cents)
    members, rows = _collect_patronage(member_patronage, steps.pools)
    residues = []
    for pool, distributable in zip(steps.pools, steps.distributable, strict=True):
        pool_rows = rows[pool.pool]
        parts, residue = _split(distributable, pool_rows, policy.rounding)
        for (number, _), part in zip(pool_rows, parts, strict=True):
            members[number].computed += part
        residues.append(residue)
    pool_results = steps.results(residues)
    lines, de_minimis = _lines(members, policy, in_period=steps.in_period)
    totals = allocation_totals(
        steps,
        pool_results,
        policy,
        allocated_cents=sum(line.allocation_cents for line in lines),
        cash_cents=sum(line.cash_cents for line in lines),
        retained_cents=sum(line.retained_cents for line in lines),
        de_minimis_cents=de_minimis,
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
    if not is_int(loss_cents) or loss_cents < 0:
        raise bad("a loss is charged as a positive number of cents", "loss_cents")
    charges = allocate(loss_cents, [volume for _, volume in rows])
    return [(number, charge) for (number, _), charge in zip(rows, charges, strict=True)]
