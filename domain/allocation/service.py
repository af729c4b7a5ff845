"""Allocation runs: staff start one, a job computes it from patronage in the database, staff read it."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select

from domain.allocation import margins, rules
from domain.allocation.tables import AllocationLine, AllocationRun
from domain.db import utc_now
from domain.equity.rules import (
    DEFAULT_BASE_CAPITAL_RATE,
    DEFAULT_BASE_CAPITAL_YEARS,
    MIN_CASH_RATE,
    BaseCapitalPlan,
    BaseCapitalSplit,
    average_patronage,
    base_capital_plan,
    base_capital_requirement,
    base_capital_split,
)
from domain.equity.statements import retained_by_member
from domain.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from domain.jobs import service as outbox
from domain.ledger import chart
from domain.membership.service import shares_paid
from domain.membership.tables import Member, MemberConsent
from domain.patronage.rules import (
    QUALIFIED_CASH_RATE,
    AllocationResult,
    AllocationRounding,
    AllocationTotals,
    MemberAllocation,
    MemberPatronage,
    PoolInput,
    allocation_totals,
    compute_allocation,
    fiscal_year_end,
    payment_period_end,
    policy_from_profile,
    pool_steps,
)
from domain.patronage.service import count_own_records
from domain.patronage.tables import PatronageTotal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence
    from datetime import date

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.patronage.rules import AllocationTerms

COMPUTE_JOB = "compute_allocation_run"
LINE_BATCH = 5_000


def policy_of(request: Mapping[str, Any]) -> AllocationTerms:
    """The run's policy: a profile (default `us`) with the request's fields over it."""
    raw = dict(request.get("policy") or {})
    raw.pop("base_capital", None)  # applied to the lines afterwards, see _base_capital_splits
    profile = str(raw.pop("profile", None) or "us")
    return policy_from_profile(profile, {k: v for k, v in raw.items() if v is not None})


def plan_of(request: Mapping[str, Any]) -> BaseCapitalPlan | None:
    """The run's base capital plan, if it has one; InvalidInputError naming `policy.base_capital.*`."""
    plan = (request.get("policy") or {}).get("base_capital")
    if not plan:
        return None
    return base_capital_plan(
        plan.get("k", DEFAULT_BASE_CAPITAL_RATE),
        plan.get("years", DEFAULT_BASE_CAPITAL_YEARS),
        field="policy.base_capital",
    )


async def start(
    session: AsyncSession,
    *,
    fiscal_year: int,
    request: dict[str, Any],
    payment_date: date,
    actor: int,
    fiscal_year_start_month: int,
    today: date,
) -> AllocationRun:
    """Check the request, store the run as `computing`, and ask for the computation after commit.

    What the computation would refuse anyway (a year not ended, a payment date outside
    the payment period, a pool without patronage) is refused here, before anything is stored.
    """
    policy_of(request)  # raises InvalidInputError listing the bad policy fields
    plan_of(request)
    pools = [p["pool"] for p in request["pools"]]
    if len(set(pools)) != len(pools):
        raise InvalidInputError("each pool may appear once", [FieldError("pools", "a pool is listed twice")])
    from_books = request.get("margin_source") == margins.SOURCE_BOOKS
    errors = _margin_errors(request["pools"], from_books=from_books)
    errors += rules.run_date_errors(
        fiscal_year, start_month=fiscal_year_start_month, payment_date=payment_date, today=today
    )
    errors += rules.pool_errors(pools, await _pools_with_patronage(session, fiscal_year, pools))
    if errors:
        raise InvalidInputError("the allocation run cannot be started", errors)
    posted = await posted_run(session, fiscal_year)
    if posted is not None:
        raise ConflictError(f"fiscal year {fiscal_year} was already allocated by run {posted.id}")
    derivation = None
    if from_books:
        # The margins are read once, here: the run allocates, shows and (when posted) closes these figures.
        books = await margins.book_margins(session, fiscal_year, pools, fiscal_year_start_month=fiscal_year_start_month)
        derivation = [margins.derivation_json(b) for b in books]
        request = {
            **request,
            "pools": [{"pool": b.pool, "net_margin_cents": b.net_margin_cents} for b in books],
        }
    run = AllocationRun(
        fiscal_year=fiscal_year,
        status=rules.AllocationRunStatus.COMPUTING.value,
        payment_date=payment_date,
        request=request,
        margin_derivation=derivation,
        created_by=actor,
    )
    session.add(run)
    await session.flush()
    await outbox.add(session, COMPUTE_JOB, f"allocation_run:{run.id}:compute", {"run_id": run.id})
    return run


def _margin_errors(pools: Sequence[Mapping[str, Any]], *, from_books: bool) -> list[FieldError]:
    """Typed margins name each pool's figure; margins from the books leave it to the books."""
    field = "pools[{}].net_margin_cents"
    if from_books:
        return [
            FieldError(field.format(i), "leave it out: with margin_source books the margin is read from the ledger")
            for i, pool in enumerate(pools)
            if pool.get("net_margin_cents") is not None
        ]
    return [
        FieldError(field.format(i), "required (or give margin_source books)")
        for i, pool in enumerate(pools)
        if pool.get("net_margin_cents") is None
    ]


async def _pools_with_patronage(session: AsyncSession, fiscal_year: int, pools: list[str]) -> set[str]:
    """Which of the pools have any patronage record (member or not) in the fiscal year (a total has one)."""
    await count_own_records(session)
    found = await session.execute(
        sa.select(col(PatronageTotal.pool))
        .where(col(PatronageTotal.fiscal_year) == fiscal_year, col(PatronageTotal.pool).in_(pools))
        .distinct()
    )
    return {str(pool) for (pool,) in found}


async def get(session: AsyncSession, run_id: int) -> AllocationRun:
    """The run, or 404."""
    run = await session.get(AllocationRun, run_id)
    if run is None:
        raise NotFoundError(f"allocation run {run_id} not found")
    return run


async def lines(session: AsyncSession, run_id: int, *, after_member_number: int, limit: int) -> list[AllocationLine]:
    """A page of the run's lines in member-number order."""
    await get(session, run_id)
    result = await session.exec(
        select(AllocationLine)
        .where(col(AllocationLine.run_id) == run_id, col(AllocationLine.member_number) > after_member_number)
        .order_by(col(AllocationLine.member_number))
        .limit(limit)
    )
    return list(result.all())


async def posted_run(session: AsyncSession, fiscal_year: int) -> AllocationRun | None:
    """The fiscal year's posted run, if any (there is at most one)."""
    result = await session.exec(
        select(AllocationRun).where(
            col(AllocationRun.fiscal_year) == fiscal_year,
            col(AllocationRun.status) == rules.AllocationRunStatus.POSTED.value,
        )
    )
    return result.one_or_none()


async def compute(session: AsyncSession, run_id: int, *, fiscal_year_start_month: int) -> AllocationRun:
    """The job: aggregate patronage in PostgreSQL, apply the rules, store lines and totals.

    Runs once: a run that is no longer `computing` is returned as it is. A rule
    that refuses the inputs fails the run with the reason, for staff to read.
    """
    run = (await session.exec(select(AllocationRun).where(col(AllocationRun.id) == run_id).with_for_update())).one()
    if run.status != rules.AllocationRunStatus.COMPUTING:
        return run
    fy_end = fiscal_year_end(run.fiscal_year, fiscal_year_start_month)
    # The year's totals are joined and grouped per member in one statement; give it room to stay in memory.
    await session.execute(sa.text("SET LOCAL work_mem = '128MB'"))
    await count_own_records(session)
    # Nothing is written before the rules have accepted every input, so a refusal
    # leaves only the failed status (a run stored before a check existed fails here too).
    try:
        plan = plan_of(run.request)
        if plan is None:
            run.totals = await _compute_set_based(session, run, fy_end)
        else:
            await _compute_with_plan(session, run, fy_end, plan)
    except InvalidInputError as exc:
        fail(run, refusal_reason(exc))
        session.add(run)
        return run
    rules.check_run_transition(run.status, rules.AllocationRunStatus.COMPUTED, run_id=run.id)
    run.status = rules.AllocationRunStatus.COMPUTED.value
    run.computed_at = utc_now()
    session.add(run)
    return run


async def _compute_with_plan(session: AsyncSession, run: AllocationRun, fy_end: date, plan: BaseCapitalPlan) -> None:
    """A run with a base capital plan: every member's line through the pure rules, then the plan's split."""
    result = await _allocate(session, run, fy_end)
    splits = await _base_capital_splits(session, run, result.lines, plan)
    loans = await _unpaid_shares(session, [line.member_key for line in result.lines if line.cash_cents > 0])
    rows = []
    for line in result.lines:
        money = rules.line_money(
            allocation_cents=line.allocation_cents,
            cash_cents=line.cash_cents,
            retained_cents=line.retained_cents,
            base_capital=splits.get(line.member_key),
            unpaid_share_cents=loans.get(line.member_key, 0),
        )
        rows.append(
            {
                "run_id": run.id,
                "member_id": line.member_key,
                "member_number": line.member_number,
                "patronage_cents": line.patronage_cents,
                "computed_cents": line.computed_cents,
                "allocation_cents": line.allocation_cents,
                "cash_cents": money.cash_cents,
                "retained_cents": money.retained_cents,
                "loan_deduction_cents": money.loan_deduction_cents,
                "qualified": line.qualified,
                "below_minimum": line.below_minimum,
            }
        )
    for start_at in range(0, len(rows), LINE_BATCH):
        await session.execute(sa.insert(AllocationLine), rows[start_at : start_at + LINE_BATCH])
    run.totals = totals_json(result)
    if splits:  # the plan moved amounts between cash and retained; the sums stay equal
        run.totals["cash_cents"] = sum(r["cash_cents"] for r in rows)
        run.totals["retained_cents"] = sum(r["retained_cents"] for r in rows)


# Each pool's member volume (members' business, net above 0, of a member on the roll), non-member
# volume, and the largest member volume (which bounds the products the split multiplies), read
# from the year's totals as kept current in patronage_total (one row per group: the records are
# not summed again).
_POOL_VOLUMES = sa.text("""
SELECT v.pool,
       coalesce(sum(v.amount_cents) FILTER (WHERE v.member_business AND v.amount_cents > 0 AND m.id IS NOT NULL), 0),
       coalesce(sum(v.amount_cents) FILTER (WHERE NOT v.member_business), 0),
       coalesce(max(v.amount_cents) FILTER (WHERE v.member_business AND v.amount_cents > 0 AND m.id IS NOT NULL), 0)
  FROM patronage_total v LEFT JOIN member m ON m.id = v.member_id
 WHERE v.fiscal_year = :fy
 GROUP BY v.pool
""")

# Steps 3-5 of compute_allocation for every member at once, and the loan deduction of
# line_money. Per pool, the distributable amount D is split by member volume: largest
# remainder (parts rounded down, the units left one each to the largest remainders, ties to
# the larger volume, then the lower member number) or rounded down with the residue kept.
# Per member: computed = the sum of its parts; below the minimum it allocates 0; cash is
# CEIL(allocation x cash rate); a member that owes on its share repays it from the cash above
# CEIL(allocation x the minimum cash rate). Answers the sums the totals need, and what each
# pool gave its members.
#
# The arithmetic is filled in by _lines_statement: in bigint when every product fits in 63 bits
# (a machine multiply and divide per row, and a sort of bigint remainders), in numeric otherwise.
# One window (its frame the whole pool) gives both the rank and the pool's sum of floors, so the
# rows are sorted once; pools are partitioned by their position, not compared as text. The share
# paid in is looked up by the member's share account code (a unique index), not by LIKE over every
# account, and the lines are inserted in member order (the indexes and the member FK probes then
# walk their pages in order). The year's totals are read here again, with the member's number and
# share par by a join, rather than once into a temporary table: creating it, ANALYZEing it (its
# plans need the statistics) and dropping it at commit cost more than a second read of a row or
# two a member. Bylaw consent is looked up only for a line that could be qualified.
_LINES_TEMPLATE = """
WITH pool AS (
  SELECT * FROM unnest(:pools, :distributable, :weights) WITH ORDINALITY AS p(pool, distributable, weights, n)
),
floored AS (
  SELECT v.member_id, m.member_number, m.share_par_cents, p.n, v.volume, p.distributable,
         {floor_part} AS floor_part, {remainder} AS remainder
    FROM (SELECT member_id, pool, amount_cents AS volume FROM patronage_total
           WHERE fiscal_year = :fy AND member_business AND amount_cents > 0) v
    JOIN member m ON m.id = v.member_id
    JOIN pool p ON p.pool = v.pool
),
part AS (
  SELECT member_id, member_number, share_par_cents, n, volume,
         floor_part + CASE WHEN :largest_remainder
                            AND row_number() OVER w <= distributable - CAST(sum(floor_part) OVER w AS bigint)
                           THEN 1 ELSE 0 END AS part
    FROM floored
  WINDOW w AS (PARTITION BY n ORDER BY remainder DESC, volume DESC, member_number
               ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
line AS (
  SELECT member_id, member_number, share_par_cents,
         CAST(sum(volume) AS bigint) AS patronage, CAST(sum(part) AS bigint) AS computed
    FROM part GROUP BY member_id, member_number, share_par_cents
),
money AS (
  SELECT line.*, computed < :minimum AS below, allocation, {cash} AS cash
    FROM line CROSS JOIN LATERAL (SELECT CASE WHEN computed < :minimum THEN 0 ELSE computed END AS allocation) a
),
paid AS (
  SELECT money.member_id, sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END) AS paid
    FROM money
    JOIN ledger_account a
      ON a.code = CAST(:share_prefix AS text) || CAST(money.member_id AS text) || CAST(:share_suffix AS text)
    JOIN posting p ON p.account_id = a.id
   WHERE money.cash > 0
   GROUP BY money.member_id
),
owed AS (
  SELECT money.*, greatest(share_par_cents - coalesce(paid.paid, 0), 0) AS unpaid
    FROM money LEFT JOIN paid ON paid.member_id = money.member_id
),
inserted AS (
  INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents, allocation_cents,
                               cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)
  SELECT :run, member_id, member_number, patronage, computed, allocation, cash, allocation - cash,
         CASE WHEN cash > 0 AND unpaid > 0 THEN greatest(0, least(cash - {minimum_cash}, unpaid)) ELSE 0 END,
         allocation > 0 AND :qualifies AND EXISTS (
           SELECT FROM member_consent c
            WHERE c.member_id = owed.member_id AND c.received_on <= :notice
              AND (c.revoked_on IS NULL OR c.revoked_on > :notice)
         ), below
    FROM owed ORDER BY member_id
  RETURNING allocation_cents, cash_cents, retained_cents, computed_cents, below_minimum
)
SELECT CAST(coalesce(sum(allocation_cents), 0) AS bigint), CAST(coalesce(sum(cash_cents), 0) AS bigint),
       CAST(coalesce(sum(retained_cents), 0) AS bigint),
       CAST(coalesce(sum(computed_cents) FILTER (WHERE below_minimum), 0) AS bigint),
       (SELECT coalesce(json_object_agg(n, given), '{{}}') FROM (SELECT n, sum(part) AS given FROM part GROUP BY n) g)
  FROM inserted
"""


def _lines_statement(*, in_bigint: bool) -> sa.TextClause:
    if in_bigint:
        # Integer division truncates toward zero: the floor here, as D >= 0 and the volumes > 0;
        # CEIL(a x num / den) for a >= 0 is (a x num + den - 1) / den.
        arithmetic = {
            "floor_part": "p.distributable * v.volume / p.weights",
            "remainder": "p.distributable * v.volume % p.weights",
            "cash": "(allocation * :cash_num + :cash_den - 1) / :cash_den",
            "minimum_cash": "(allocation * :minimum_cash_num + :minimum_cash_den - 1) / :minimum_cash_den",
        }
    else:
        arithmetic = {
            "floor_part": "CAST(div(CAST(p.distributable AS numeric) * v.volume, p.weights) AS bigint)",
            "remainder": "mod(CAST(p.distributable AS numeric) * v.volume, p.weights)",
            "cash": "CAST(ceil(allocation * CAST(:cash_rate AS numeric)) AS bigint)",
            "minimum_cash": "CAST(ceil(allocation * CAST(:minimum_cash_rate AS numeric)) AS bigint)",
        }
    rates = (
        [
            sa.bindparam(name, type_=sa.BigInteger)
            for name in ("cash_num", "cash_den", "minimum_cash_num", "minimum_cash_den")
        ]
        if in_bigint
        else [sa.bindparam(name, type_=sa.Numeric) for name in ("cash_rate", "minimum_cash_rate")]
    )
    return sa.text(_LINES_TEMPLATE.format(**arithmetic)).bindparams(
        sa.bindparam("pools", type_=ARRAY(sa.Text)),
        sa.bindparam("distributable", type_=ARRAY(sa.BigInteger)),
        sa.bindparam("weights", type_=ARRAY(sa.BigInteger)),
        *rates,
    )


_LINES_BIGINT = _lines_statement(in_bigint=True)
_LINES_NUMERIC = _lines_statement(in_bigint=False)


async def _compute_set_based(session: AsyncSession, run: AllocationRun, fy_end: date) -> dict[str, Any]:
    """Every member's line in SQL (from the year's kept totals), pool steps by the pure rules; the totals."""
    margins = {p["pool"]: int(p["net_margin_cents"]) for p in run.request["pools"]}
    volumes = {
        str(pool): (int(m), int(n), int(v))
        for pool, m, n, v in await session.execute(_POOL_VOLUMES, {"fy": run.fiscal_year})
    }
    none = (0, 0, 0)  # a pool without patronage this year
    pools = [
        PoolInput(pool, margin, volumes.get(pool, none)[0], max(volumes.get(pool, none)[1], 0))
        for pool, margin in margins.items()
    ]
    policy = policy_of(run.request)
    steps = pool_steps(pools, policy, fy_end, run.payment_date, await _deficit_carried_into(session, run.fiscal_year))
    cash_num, cash_den = policy.cash_rate.as_integer_ratio()
    minimum_num, minimum_den = MIN_CASH_RATE.as_integer_ratio()
    in_bigint = rules.lines_fit_bigint(
        steps.distributable,
        [volumes.get(p.pool, none)[2] for p in steps.pools],
        [(cash_num, cash_den), (minimum_num, minimum_den)],
    )
    allocated, cash, retained, de_minimis, given = (
        await session.execute(
            _LINES_BIGINT if in_bigint else _LINES_NUMERIC,
            {
                "run": run.id,
                "fy": run.fiscal_year,
                "notice": run.payment_date,
                "pools": [p.pool for p in steps.pools],
                "distributable": list(steps.distributable),
                "weights": [p.member_volume_cents for p in steps.pools],
                "largest_remainder": policy.rounding == AllocationRounding.LARGEST_REMAINDER,
                "minimum": policy.min_allocation_cents,
                "cash_num": cash_num,
                "cash_den": cash_den,
                "minimum_cash_num": minimum_num,
                "minimum_cash_den": minimum_den,
                "cash_rate": policy.cash_rate,
                "minimum_cash_rate": MIN_CASH_RATE,
                "share_prefix": chart.MEMBER_CODE_PREFIX,
                "share_suffix": chart.SHARE_SUFFIX,
                "qualifies": policy.cash_rate >= QUALIFIED_CASH_RATE and steps.in_period,
            },
        )
    ).one()
    # `given` is keyed by the pool's position in the statement's arrays (1-based).
    residues = [d - int(given.get(str(n), 0)) for n, d in enumerate(steps.distributable, start=1)]
    totals = allocation_totals(
        steps,
        steps.results(residues),
        policy,
        allocated_cents=int(allocated),
        cash_cents=int(cash),
        retained_cents=int(retained),
        de_minimis_cents=int(de_minimis),
    )
    return _totals_json(totals, payment_period_end(fy_end))


def refusal_reason(exc: InvalidInputError) -> str:
    """A refusal as staff read it: the detail and each field at fault."""
    return "; ".join([exc.detail, *(f"{e.field}: {e.message}" for e in exc.errors)])


def fail(run: AllocationRun, reason: str) -> None:
    """Mark a run that is still computing as failed, for staff to read why."""
    if run.status == rules.AllocationRunStatus.COMPUTING:
        rules.check_run_transition(run.status, rules.AllocationRunStatus.FAILED, run_id=run.id)
        run.status = rules.AllocationRunStatus.FAILED.value
        run.failure_reason = reason[:2000]


async def give_up(session: AsyncSession, run_id: int, reason: str) -> None:
    """The compute job will not be tried again: the run fails instead of staying `computing`."""
    run = (await session.exec(select(AllocationRun).where(col(AllocationRun.id) == run_id).with_for_update())).one()
    fail(run, f"computation gave up: {reason}")
    session.add(run)


async def _allocate(session: AsyncSession, run: AllocationRun, fy_end: date) -> AllocationResult[int]:
    margins = {p["pool"]: int(p["net_margin_cents"]) for p in run.request["pools"]}
    # One pass over the year's totals gives both the members' volumes and the pools' totals.
    member_volume: dict[str, int] = defaultdict(int)
    nonmember_volume: dict[str, int] = defaultdict(int)
    patronage = []
    async for member_id, number, pool, business, volume, consent in _volumes(
        session, run.fiscal_year, run.payment_date
    ):
        if not business:
            nonmember_volume[pool] += volume
        elif volume > 0 and member_id is not None and number is not None:
            member_volume[pool] += volume
            if pool in margins:
                patronage.append(MemberPatronage(number, member_id, pool, volume, consent))
    pools = [
        PoolInput(pool, margin, member_volume.get(pool, 0), max(nonmember_volume.get(pool, 0), 0))
        for pool, margin in margins.items()
    ]
    carried = await _deficit_carried_into(session, run.fiscal_year)
    return compute_allocation(pools, patronage, policy_of(run.request), fy_end, run.payment_date, carried)


_STREAM_BATCH = 5_000


async def _volumes(
    session: AsyncSession, fiscal_year: int, notice_date: date
) -> AsyncIterator[tuple[int | None, int | None, str, bool, int, bool]]:
    """Stream (member_id, member_number, pool, member_business, volume, has_consent), one pass over the totals.

    Net patronage per member, pool and kind of business (corrections included), members
    in member-number order; non-member business (no member, or before joining) last.
    """
    volume = (
        sa.select(
            col(PatronageTotal.member_id),
            col(PatronageTotal.pool),
            col(PatronageTotal.member_business),
            col(PatronageTotal.amount_cents).label("volume"),
        )
        .where(col(PatronageTotal.fiscal_year) == fiscal_year)
        .subquery()
    )
    consent = (
        sa.select(col(MemberConsent.id))
        .where(
            col(MemberConsent.member_id) == volume.c.member_id,
            col(MemberConsent.received_on) <= notice_date,
            sa.or_(col(MemberConsent.revoked_on).is_(None), col(MemberConsent.revoked_on) > notice_date),
        )
        .exists()
    )
    query = (
        sa.select(
            volume.c.member_id,
            col(Member.member_number),
            volume.c.pool,
            volume.c.member_business,
            volume.c.volume,
            sa.and_(volume.c.member_business, consent),
        )
        .outerjoin(Member, col(Member.id) == volume.c.member_id)
        .order_by(col(Member.member_number).asc().nulls_last(), volume.c.pool)
    )
    stream = await session.stream(query)
    # Fetched in batches: one hand-over between the driver and this loop per batch, not per row.
    async for batch in stream.partitions(_STREAM_BATCH):
        for row in batch:
            member_id = None if row[0] is None else int(row[0])
            number = None if row[1] is None else int(row[1])
            yield member_id, number, str(row[2]), bool(row[3]), int(row[4]), bool(row[5])


async def _base_capital_splits(
    session: AsyncSession, run: AllocationRun, lines: Sequence[MemberAllocation[int]], plan: BaseCapitalPlan
) -> dict[int, BaseCapitalSplit]:
    """Base capital plan (DOMAIN.md §4): members retain up to their requirement, the rest is cash.

    The requirement is CEIL(k x average yearly patronage over the last N years in which
    the member had patronage); equity held is the outstanding face of its lots.
    """
    k, years = plan.k, plan.years
    ids = [line.member_key for line in lines if line.allocation_cents > 0]
    if not ids:
        return {}
    members = sa.literal(ids, ARRAY(sa.BigInteger))
    # Each year's member business summed over pools from the kept totals (a few rows a member-year).
    yearly = await session.execute(
        sa.select(
            col(PatronageTotal.member_id),
            col(PatronageTotal.fiscal_year),
            sa.func.sum(col(PatronageTotal.amount_cents)),
        )
        .where(
            col(PatronageTotal.member_id) == sa.any_(members),
            col(PatronageTotal.member_business).is_(True),
            col(PatronageTotal.fiscal_year).between(run.fiscal_year - years + 1, run.fiscal_year),
        )
        .group_by(col(PatronageTotal.member_id), col(PatronageTotal.fiscal_year))
        .order_by(col(PatronageTotal.member_id), col(PatronageTotal.fiscal_year))
    )
    history: dict[int, list[int]] = {}
    for member_id, _, cents in yearly:
        history.setdefault(int(member_id), []).append(max(int(cents), 0))
    held = await retained_by_member(session, ids)
    splits = {}
    for line in lines:
        if line.allocation_cents > 0:
            requirement = base_capital_requirement(average_patronage(history.get(line.member_key, []), years), k)
            splits[line.member_key] = base_capital_split(
                line.allocation_cents, requirement, held.get(line.member_key, 0)
            )
    return splits


async def _unpaid_shares(session: AsyncSession, member_ids: list[int]) -> dict[int, int]:
    """What each member still owes on its membership share (a membership loan)."""
    if not member_ids:
        return {}
    paid = await shares_paid(session, member_ids)
    pars = dict(
        (
            await session.execute(
                sa.select(col(Member.id), col(Member.share_par_cents)).where(
                    col(Member.id) == sa.any_(sa.literal(member_ids, ARRAY(sa.BigInteger)))
                )
            )
        ).all()
    )
    return {mid: rules.unpaid_share_cents(int(pars[mid]), paid.get(mid, 0)) for mid in member_ids if mid in pars}


async def _deficit_carried_into(session: AsyncSession, fiscal_year: int) -> int:
    """The deficit the latest earlier posted run carried forward (DOMAIN.md §6, default policy)."""
    result = await session.exec(
        select(AllocationRun)
        .where(
            col(AllocationRun.fiscal_year) < fiscal_year,
            col(AllocationRun.status) == rules.AllocationRunStatus.POSTED.value,
        )
        .order_by(col(AllocationRun.fiscal_year).desc())
        .limit(1)
    )
    previous = result.one_or_none()
    if previous is None or previous.totals is None:
        return 0
    return int(previous.totals.get("deficit_carried_forward_cents", 0))


def totals_json(result: AllocationResult[int]) -> dict[str, Any]:
    """The run's totals as stored (and shown): every figure reconciliation needs."""
    return _totals_json(result.totals, result.payment_period_end)


def _totals_json(t: AllocationTotals, period_end: date) -> dict[str, Any]:
    return {
        "net_margin_cents": t.net_margin_cents,
        "member_share_cents": t.member_share_cents,
        "nonmember_share_cents": t.nonmember_share_cents,
        "unattributed_cents": t.unattributed_cents,
        "funds": [{"name": f.name, "amount_cents": f.amount_cents, "indivisible": f.indivisible} for f in t.funds],
        "distributable_cents": t.distributable_cents,
        "allocated_cents": t.allocated_cents,
        "cash_cents": t.cash_cents,
        "retained_cents": t.retained_cents,
        "de_minimis_cents": t.de_minimis_cents,
        "rounding_residue_cents": t.rounding_residue_cents,
        "unallocated_cents": t.unallocated_cents,
        "deficit_recovered_cents": t.deficit_recovered_cents,
        "loss_cents": t.loss_cents,
        "deficit_carried_forward_cents": t.deficit_carried_forward_cents,
        "payment_period_end": period_end.isoformat(),
    }
