"""Equity redemption use cases: redemption runs (FIFO revolving fund, percentage) and special redemptions.

DOMAIN.md section 4. The rules (budget, methods, present value, set-off) are the pure
functions of :mod:`domain.equity.rules`; this module loads lot balances from the
ledger, stores what the rules decided, and posts it. The lots are the subsidiary ledger of the
retained equity account (migration 0041): a lot's outstanding is its face plus the postings
that name it (its redemptions are debits). A FIFO run's lines are computed
by one SQL statement that applies ``rules.fifo_redemption`` set-based (a hypothesis
test holds the two to the same cents), and approval posts from the stored lines in
SQL, so neither holds a run's lots in Python.

Locking, in one order so concurrent writers never deadlock: the run's row, then the
members' rows in id order, then the equity lots' rows in id order, then every ledger
account the change touches in id order (the retained equity account, payouts payable, and
the own accounts of lots written before 0041). Lots and members are locked ``FOR NO KEY
UPDATE``, which rows inserted with a foreign key to them (lines, payouts) do not wait for.
Approval takes no
member's row: its payouts' member key is checked per statement (migration 0033), which
locks no member, and a member's row is never deleted or re-keyed, so there is no key lock
to take early (before 0033 it took ``FOR KEY SHARE`` on every member up front, the lock each
payout's foreign key would otherwise have taken late, behind a member's exit).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.equity import rules

# What callers give compute_run; the rule that checks the figures owns it.
from domain.equity.rules import BudgetInputs as BudgetInputs  # noqa: PLC0414 - re-exported
from domain.equity.tables import (
    EquityLot,
    RedemptionLine,
    RedemptionRun,
    SpecialRedemption,
    SpecialRedemptionLine,
)
from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side
from domain.ledger.tables import Posting
from domain.membership import service as membership
from domain.membership.tables import Member
from domain.payments.service import create_payout

if TYPE_CHECKING:
    from datetime import date, datetime
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

DEFAULT_REVOLVING_YEARS = 7
"""Years from a lot's fiscal year to its normal revolvement [policy]."""


class Method(enum.StrEnum):
    """How a run spends its budget (DOMAIN.md section 4)."""

    FIFO = "fifo"
    PERCENTAGE = "percentage"


class Reason(enum.StrEnum):
    """Why a member's equity is redeemed before its time."""

    DEATH = "death"
    RETIREMENT = "retirement"
    EXIT = "exit"


# --- lot balances --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LotBalance:
    """An equity lot with its face and its redemptions (the debits that name it) from the ledger."""

    lot_id: int
    member_id: int
    member_number: int
    fiscal_year: int
    qualified: bool
    own_account_id: int | None
    """The lot's own account, for a lot written before migration 0041; else it is in the retained equity account."""
    face_cents: int
    redeemed_cents: int

    @property
    def outstanding_cents(self) -> int:
        """What is still to be redeemed."""
        return rules.outstanding_cents(self.face_cents, self.redeemed_cents)

    def as_rule_lot(self) -> rules.LotBalance[int]:
        """The lot as the pure rules see it, keyed by its id."""
        return rules.LotBalance(
            self.lot_id, self.member_number, self.fiscal_year, self.qualified, self.face_cents, self.redeemed_cents
        )


async def _lot_balances(
    session: AsyncSession,
    *,
    member_id: int | None = None,
    up_to_year: int | None = None,
) -> list[LotBalance]:
    """Lots with something outstanding, in id order; summed in the database, one row per lot.

    A credit that names a lot (a reversed redemption) adds to its face as it did to its account's.
    """
    credits = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.CREDIT.value), 0)
    debits = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.DEBIT.value), 0)
    face = col(EquityLot.face_cents) + credits
    query = (
        sa.select(
            col(EquityLot.id),
            col(EquityLot.member_id),
            col(Member.member_number),
            col(EquityLot.fiscal_year),
            col(EquityLot.qualified),
            col(EquityLot.account_id),
            face,
            debits,
        )
        .join(Member, col(Member.id) == col(EquityLot.member_id))
        .outerjoin(Posting, col(Posting.equity_lot_id) == col(EquityLot.id))
        .group_by(col(EquityLot.id), col(Member.member_number))
        .having(face > debits)
        .order_by(col(EquityLot.id))
    )
    if member_id is not None:
        query = query.where(col(EquityLot.member_id) == member_id)
    if up_to_year is not None:
        query = query.where(col(EquityLot.fiscal_year) <= up_to_year)
    rows = (await session.execute(query)).all()
    return [LotBalance(r[0], r[1], r[2], r[3], r[4], r[5], int(r[6]), int(r[7])) for r in rows]


_OUTSTANDING_BY_YEAR = sa.text("""
SELECT fiscal_year, sum(cents) FROM (
  SELECT fiscal_year, sum(face_cents) AS cents FROM equity_lot WHERE fiscal_year <= :year GROUP BY fiscal_year
  UNION ALL
  SELECT l.fiscal_year, sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END)
    FROM posting p JOIN equity_lot l ON l.id = p.equity_lot_id
   WHERE p.equity_lot_id IS NOT NULL AND l.fiscal_year <= :year
   GROUP BY l.fiscal_year
) t GROUP BY fiscal_year
""")


async def _outstanding_by_year(session: AsyncSession, up_to_year: int) -> dict[int, int]:
    """Per fiscal year, the sum of its lots' outstanding: their faces plus the postings that name them.

    Summed per year, not lot by lot first: a lot's debits never exceed its face (every
    redemption is checked against the lot's outstanding under the lot's lock, and an import's
    redeemed part against its face), so a year's sums are the outstanding of its lots that have
    some. At 1.5M lots the per-lot grouping took 4x as long (docs/performance.md, ninth part).
    """
    rows = await session.execute(_OUTSTANDING_BY_YEAR, {"year": up_to_year})
    return {int(year): int(cents) for year, cents in rows.all() if cents > 0}


_IDS = ARRAY(sa.BigInteger)

# Each member's pending payout of a run in one statement. Approval runs once per run (its status,
# under the run's lock), so no key exists yet: a plain insert, which a duplicate would fail, not an
# ON CONFLICT that skips it (a member unpaid while payouts payable holds the cents) and pays a
# speculative insertion per row.
_RUN_PAYOUTS = sa.text("""
INSERT INTO payout (member_id, kind, amount_cents, status, business_key, created_at)
SELECT member_id, 'equity_redemption', sum(amount_cents), 'pending', :prefix || member_id, now()
  FROM redemption_line WHERE run_id = :run GROUP BY member_id
""")


# A run's lines in one statement, in the rule's order (ids follow it), the rows passed as arrays.
_RUN_LINES = sa.text("""
INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified, amount_cents)
SELECT :run, u.lot, u.member, u.number, u.year, u.qualified, u.amount
  FROM unnest(:lots, :members, :numbers, :years, :qualified, :amounts) WITH ORDINALITY
    AS u(lot, member, number, year, qualified, amount, n)
 ORDER BY u.n
""").bindparams(
    sa.bindparam("lots", type_=_IDS),
    sa.bindparam("members", type_=_IDS),
    sa.bindparam("numbers", type_=_IDS),
    sa.bindparam("years", type_=ARRAY(sa.Integer)),
    sa.bindparam("qualified", type_=ARRAY(sa.Boolean)),
    sa.bindparam("amounts", type_=_IDS),
)


# Approval, set-based from the run's lines: no statement grows with the lots (no id arrays, no
# rows through Python). Locks in the module's order: the lots FOR NO KEY UPDATE in id order, then
# the accounts in id order: the retained equity account, payouts payable and the own accounts of
# lots written before 0041, which this statement answers (none once those lots are redeemed).
_LOCK_RUN_LOTS = sa.text("""
WITH locked AS MATERIALIZED (
  SELECT l.id, l.account_id
    FROM redemption_line r
    JOIN equity_lot l ON l.id = r.lot_id
   WHERE r.run_id = :run
   ORDER BY l.id
     FOR NO KEY UPDATE OF l
)
SELECT DISTINCT account_id FROM locked WHERE account_id IS NOT NULL
""")
# A lot ``l``'s outstanding as ``b.outstanding``: its face and the postings that name it, an
# index-only scan a lot (ix_posting_equity_lot_id covers them), never a pass over other postings.
_LOT_OUTSTANDING = """CROSS JOIN LATERAL (
    SELECT l.face_cents
           + coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END), 0) AS outstanding
      FROM posting p WHERE p.equity_lot_id = l.id
  ) b"""
# The run is one money movement, so one journal entry: each line debits its lot (a posting that
# names it, on the retained equity account or a pre-0041 lot's own), payouts payable is credited
# once with the run's total (each member's part is its payout row). Rows are per line,
# not per line x 3 (an entry, two postings) as when every lot had its own entry: at 200,000 lines
# that was 200,000 entries and their balance checks at commit. Approval runs once per run (its
# status, under the run's lock), so the key does not exist yet; a run without lines posts nothing.
# The stale check is in the same statement, from the same read of the lines and their lots: the
# lines whose lot now has less outstanding than the line redeems (redeemed since the run was
# computed) are answered with their fiscal years, and then no entry is inserted, so no posting.
# It runs after the lots' locks in a statement of its own (READ COMMITTED: a statement that waited
# for a lock still reads the snapshot it started with), and its postings are not in its own
# snapshot, so each lot's outstanding is read before the run's debit. A separate check statement
# read the lines and their lots a second time (docs/performance.md, twenty-ninth part).
_POST_RUN = sa.text(f"""
WITH line AS MATERIALIZED (
  SELECT r.amount_cents, r.fiscal_year, l.id AS lot_id, coalesce(l.account_id, :retained) AS account_id, b.outstanding
    FROM redemption_line r
    JOIN equity_lot l ON l.id = r.lot_id
    {_LOT_OUTSTANDING}
   WHERE r.run_id = :run
),
stale AS MATERIALIZED (SELECT fiscal_year FROM line WHERE outstanding < amount_cents),
entry AS (
  INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
  SELECT 'equity_redemption', :memo, :occurred, CAST(:prefix AS text) || 'lots'
   WHERE EXISTS (SELECT FROM line) AND NOT EXISTS (SELECT FROM stale)
  RETURNING id
),
posted AS (
  INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)
  SELECT entry.id, line.account_id, 'debit', line.amount_cents, line.lot_id FROM entry CROSS JOIN line
  UNION ALL
  SELECT entry.id, :payable, 'credit', (SELECT sum(amount_cents) FROM line), NULL FROM entry
)
SELECT fiscal_year FROM stale
""").bindparams(sa.bindparam("occurred", type_=sa.DateTime(timezone=True)))  # noqa: S608 - module constants; every value is a bound parameter


async def _lock_lots(session: AsyncSession, where: sa.ColumnElement[bool]) -> None:
    """Lock the lots' rows in id order: no one else redeems them until we commit."""
    await session.execute(
        sa.select(col(EquityLot.id)).where(where).order_by(col(EquityLot.id)).with_for_update(key_share=True)
    )


async def _lock_member(session: AsyncSession, member_id: int) -> None:
    """Lock the member's row for a change of its capital (404 for an unknown member)."""
    found = (
        await session.execute(
            sa.select(col(Member.id)).where(col(Member.id) == member_id).with_for_update(key_share=True)
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"member {member_id} not found")


# --- redemption runs -----------------------------------------------------------


# A FIFO run's lines in one statement, from the years it reaches (``rules.fifo_years``): each lot's
# outstanding (``_LOT_OUTSTANDING``), a running sum of the years in FIFO order, whole years while
# the budget lasts (each lot its outstanding) and the rest split over the next year pro rata to
# outstanding by the largest remainder, exactly as ``rules.fifo_redemption`` does (ties to the
# larger remainder, then the larger outstanding, then the lower member number, then the lower lot
# id); only that one year's lots are ranked. Lines are inserted in the
# rule's order (year, member number, lot), so their ids follow it. Answers the lines, members and
# cents written. The split's products (a year's spend x a lot's outstanding) are BIGINT when
# ``rules.fifo_products_fit_bigint`` says they fit, else NUMERIC so a large budget times a large lot
# cannot overflow: the NUMERIC products, divisions and the sort on their remainders were most of
# the statement's windows (docs/performance.md, twenty-sixth part).
_FIFO_LINES_TEMPLATE = """
WITH lot AS MATERIALIZED (
  SELECT l.id, l.member_id, m.member_number, l.fiscal_year, l.qualified, CAST(b.outstanding AS {exact}) AS outstanding
    FROM equity_lot l
    JOIN member m ON m.id = l.member_id
    {lot_outstanding}
   WHERE l.fiscal_year = ANY(:years)
),
live AS (SELECT * FROM lot WHERE outstanding > 0),
year AS (
  SELECT fiscal_year, CAST(total AS {exact}) AS total,
         CAST(least(total, greatest(0, CAST(:budget AS numeric) - (sum(total) OVER (ORDER BY fiscal_year) - total)))
              AS {exact}) AS spend
    FROM (SELECT fiscal_year, sum(outstanding) AS total FROM live GROUP BY fiscal_year) t
),
share AS (
  SELECT live.*, year.spend,
         {base} AS base,
         {remainder} AS remainder
    FROM live JOIN year USING (fiscal_year)
   WHERE year.spend > 0 AND year.spend < year.total
),
ranked AS (
  SELECT share.*, CAST(spend - sum(base) OVER (PARTITION BY fiscal_year) AS {exact}) AS residue,
         row_number() OVER (PARTITION BY fiscal_year
                            ORDER BY remainder DESC, outstanding DESC, member_number, id) AS place
    FROM share
),
redeemed AS (
  SELECT id, member_id, member_number, fiscal_year, qualified, CAST(outstanding AS bigint) AS amount
    FROM live JOIN year USING (fiscal_year)
   WHERE year.spend = year.total
  UNION ALL
  SELECT id, member_id, member_number, fiscal_year, qualified,
         CAST(base AS bigint) + CASE WHEN remainder > 0 AND place <= residue THEN 1 ELSE 0 END
    FROM ranked
   WHERE base > 0 OR (remainder > 0 AND place <= residue)
),
line AS (
  INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified, amount_cents)
  SELECT :run, id, member_id, member_number, fiscal_year, qualified, amount
    FROM redeemed
   ORDER BY fiscal_year, member_number, id
  RETURNING member_id, amount_cents
)
SELECT count(*), count(DISTINCT member_id), coalesce(sum(amount_cents), 0) FROM line
"""


def _fifo_lines_statement(*, in_bigint: bool) -> sa.TextClause:
    """The lines statement with a lot's outstanding, a year's total and spend, and so every product, in one type."""
    exact, quotient, remainder = (
        ("bigint", "({}) / {}", "({}) % {}") if in_bigint else ("numeric", "div({}, {})", "mod({}, {})")
    )
    product, total = "year.spend * live.outstanding", "year.total"
    statement = _FIFO_LINES_TEMPLATE.format(
        lot_outstanding=_LOT_OUTSTANDING,
        exact=exact,
        base=quotient.format(product, total),
        remainder=remainder.format(product, total),
    )
    return sa.text(statement).bindparams(sa.bindparam("years", type_=ARRAY(sa.Integer)))


_FIFO_LINES_BIGINT = _fifo_lines_statement(in_bigint=True)
_FIFO_LINES_NUMERIC = _fifo_lines_statement(in_bigint=False)


def _new_run(
    method: Method,
    as_of: date,
    board_budget_cents: int,
    inputs: rules.BudgetInputs | None,
    budget: int,
    outstanding: int,
) -> RedemptionRun:
    return RedemptionRun(
        method=method.value,
        status=rules.RedemptionRunStatus.COMPUTED.value,
        as_of=as_of,
        board_budget_cents=board_budget_cents,
        cash_available_cents=inputs.cash_available_cents if inputs else None,
        minimum_cash_cents=inputs.minimum_cash_cents if inputs else None,
        equity_cents=inputs.equity_cents if inputs else None,
        assets_cents=inputs.assets_cents if inputs else None,
        equity_ratio_floor=inputs.equity_ratio_floor if inputs else None,
        budget_cents=budget,
        outstanding_cents=outstanding,
        redeemed_cents=0,
        line_count=0,
        member_count=0,
    )


async def _compute_fifo(
    session: AsyncSession, *, budget: int, as_of: date, inputs: rules.BudgetInputs | None, board: int
) -> RedemptionRun:
    """A FIFO run: each year's outstanding summed in PostgreSQL, then the lines of the years the budget reaches.

    Only those years' lots are read lot by lot (``rules.fifo_years``), and their lines are
    computed and written by one statement, whatever their number.
    """
    await session.execute(sa.text("SET LOCAL work_mem = '64MB'"))  # the lots' sums and windows in memory
    by_year = await _outstanding_by_year(session, as_of.year)
    years = rules.fifo_years(by_year, budget)
    run = _new_run(Method.FIFO, as_of, board, inputs, budget, sum(by_year.values()))
    session.add(run)
    await session.flush()
    if years:
        in_bigint = rules.fifo_products_fit_bigint(by_year, years, budget)
        lines, members, cents = (
            await session.execute(
                _FIFO_LINES_BIGINT if in_bigint else _FIFO_LINES_NUMERIC,
                {"run": run.id, "years": years, "budget": budget},
            )
        ).one()
        run.line_count, run.member_count, run.redeemed_cents = int(lines), int(members), int(cents)
        session.add(run)
        await session.flush()
    return run


async def compute_run(
    session: AsyncSession,
    *,
    method: Method,
    board_budget_cents: int,
    as_of: date,
    inputs: rules.BudgetInputs | None,
) -> RedemptionRun:
    """Decide what each lot gives up, within the budget, from the lots outstanding now.

    Lots of fiscal years up to ``as_of``'s year take part, former members' too. The
    budget is the board's, capped by cash and the equity-ratio rule when those are given.
    Nothing is posted until the run is approved.
    """
    if inputs is None:
        budget = board_budget_cents
    else:
        budget = rules.redemption_budget(
            board_budget_cents,
            inputs.cash_available_cents,
            inputs.minimum_cash_cents,
            inputs.equity_cents,
            inputs.assets_cents,
            inputs.equity_ratio_floor,
        )
    if method is Method.FIFO:
        return await _compute_fifo(session, budget=budget, as_of=as_of, inputs=inputs, board=board_budget_cents)
    lots = await _lot_balances(session, up_to_year=as_of.year)
    outstanding = sum(lot.outstanding_cents for lot in lots)
    rule_lots = [lot.as_rule_lot() for lot in lots]  # id order: the stable order for ties
    parts = rules.percentage_redemption(rule_lots, budget)
    by_id = {lot.lot_id: lot for lot in lots}
    run = _new_run(method, as_of, board_budget_cents, inputs, budget, outstanding)
    run.redeemed_cents = sum(amount for _, amount in parts)
    run.line_count = len(parts)
    run.member_count = len({by_id[lot_id].member_id for lot_id, _ in parts})
    session.add(run)
    await session.flush()
    if parts:
        lots_of = [by_id[lot_id] for lot_id, _ in parts]
        await session.execute(
            _RUN_LINES,
            {
                "run": run.id,
                "lots": [lot_id for lot_id, _ in parts],
                "members": [lot.member_id for lot in lots_of],
                "numbers": [lot.member_number for lot in lots_of],
                "years": [lot.fiscal_year for lot in lots_of],
                "qualified": [lot.qualified for lot in lots_of],
                "amounts": [amount for _, amount in parts],
            },
        )
    return run


async def get_run(session: AsyncSession, run_id: int) -> RedemptionRun:
    """The run, or 404."""
    run = await session.get(RedemptionRun, run_id)
    if run is None:
        raise NotFoundError(f"redemption run {run_id} not found")
    return run


async def run_lines(session: AsyncSession, run_id: int, *, after_id: int, limit: int) -> list[RedemptionLine]:
    """A page of the run's lines in the order the rule gave them (404 for an unknown run)."""
    await get_run(session, run_id)
    result = await session.exec(
        select(RedemptionLine)
        .where(col(RedemptionLine.run_id) == run_id, col(RedemptionLine.id) > after_id)
        .order_by(col(RedemptionLine.id))
        .limit(limit)
    )
    return list(result.all())


async def approve_run(session: AsyncSession, run_id: int, *, now: datetime) -> RedemptionRun:
    """Post the run once: each line debits its lot, each member gets one pending payout.

    Approving a posted run changes nothing and answers it. The lots are checked
    again under lock: if one has less outstanding than its line (redeemed since the
    run was computed), nothing is posted and the answer is 409: compute a new run.
    """
    run = (
        await session.exec(
            select(RedemptionRun)
            .where(col(RedemptionRun.id) == run_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if run is None:
        raise NotFoundError(f"redemption run {run_id} not found")
    if run.status == rules.RedemptionRunStatus.POSTED:
        return run
    rules.check_run_transition(run.status, rules.RedemptionRunStatus.POSTED, run_id=run_id)
    params = {"run": run_id}
    own_accounts = (await session.execute(_LOCK_RUN_LOTS, params)).scalars().all()
    payable = await ledger.account_id(session, chart.PAYOUTS_PAYABLE)
    retained = await ledger.account_id(session, chart.RETAINED_EQUITY)
    await ledger.lock_accounts(session, [payable, retained, *own_accounts])
    posting = params | {
        "payable": payable,
        "retained": retained,
        "prefix": f"redemption:{run_id}:",
        "memo": f"retained equity redeemed by redemption run {run_id}",
        "occurred": now,
    }
    stale = (await session.execute(_POST_RUN, posting)).scalars().all()
    if stale:  # nothing was posted
        years = sorted(set(stale))
        raise ConflictError(
            f"{len(stale)} lot(s) (fiscal years {', '.join(map(str, years))}) have less outstanding than this run"
            " redeems from them; they were redeemed since it was computed. Compute a new run."
        )
    await session.execute(_RUN_PAYOUTS, {"run": run_id, "prefix": f"redemption:{run_id}:"})
    run.status = rules.RedemptionRunStatus.POSTED.value
    run.posted_at = now
    session.add(run)
    await session.flush()
    return run


# --- special redemption ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecialTerms:
    """What the board decided: why, at what discount rate, under which revolving policy, as of when."""

    reason: Reason
    discount_rate: Decimal
    revolving_years: int
    as_of: date


async def special_redemption(
    session: AsyncSession, member_id: int, terms: SpecialTerms
) -> tuple[SpecialRedemption, list[SpecialRedemptionLine]]:
    """Redeem all of a member's outstanding equity now, at present value.

    Each lot is worth ``HALF_UP(outstanding / (1 + r)^n)``, n the years until its
    normal revolvement; the discount goes to unallocated equity. What the member
    owes on the trade account is set off first (its own entry); the rest is a
    pending payout. One per member and ``as_of``: the same terms again answer the
    stored redemption, other terms are a 409.
    """
    if errors := rules.rate_errors(terms.discount_rate, "discount_rate", below_one=False):
        raise InvalidInputError("the discount rate is not usable", errors)
    if errors := rules.revolving_years_errors(terms.revolving_years):
        raise InvalidInputError("the policy is not usable", errors)
    await _lock_member(session, member_id)
    new_id = (
        await session.execute(
            insert(SpecialRedemption)
            .values(
                member_id=member_id,
                reason=terms.reason.value,
                as_of=terms.as_of,
                discount_rate=terms.discount_rate,
                revolving_years=terms.revolving_years,
            )
            .on_conflict_do_nothing(constraint="uq_special_redemption_member_as_of")
            .returning(col(SpecialRedemption.id))
        )
    ).scalar_one_or_none()
    if new_id is None:
        return await _same_special_or_conflict(session, member_id, terms)
    redemption = await session.get(SpecialRedemption, new_id)
    assert redemption is not None  # noqa: S101 - inserted just above
    await _lock_lots(session, col(EquityLot.member_id) == member_id)
    lots = await _lot_balances(session, member_id=member_id)
    if not lots:
        raise ConflictError(f"member {member_id} has no outstanding retained equity to redeem")
    payable = await ledger.account_id(session, chart.PAYOUTS_PAYABLE)
    unallocated = await ledger.account_id(session, chart.UNALLOCATED_EQUITY)
    trade = await ledger.account_id(session, chart.member_trade(member_id))
    retained = await ledger.account_id(session, chart.RETAINED_EQUITY)
    own = [lot.own_account_id for lot in lots if lot.own_account_id is not None]
    await ledger.lock_accounts(session, [payable, unallocated, trade, retained, *own])
    occurred_at = membership.start_of(terms.as_of)
    key = f"special_redemption:{member_id}:{terms.as_of.isoformat()}"
    lines = []
    for lot in lots:
        years = rules.years_to_revolvement(lot.fiscal_year, terms.revolving_years, terms.as_of.year)
        present, discount = rules.special_redemption_value(lot.outstanding_cents, terms.discount_rate, years)
        account = retained if lot.own_account_id is None else lot.own_account_id
        legs = [PostingLine(account, Side.DEBIT, lot.outstanding_cents, equity_lot_id=lot.lot_id)]
        legs += [PostingLine(payable, Side.CREDIT, present)] if present else []
        legs += [PostingLine(unallocated, Side.CREDIT, discount)] if discount else []
        await ledger.post_entry(
            session,
            kind="special_redemption",
            idempotency_key=f"{key}:{lot.lot_id}",
            occurred_at=occurred_at,
            lines=legs,
            memo=f"FY{lot.fiscal_year} retained equity redeemed early ({terms.reason.value}), {years} years discounted",
        )
        lines.append(
            SpecialRedemptionLine(
                special_redemption_id=new_id,
                lot_id=lot.lot_id,
                fiscal_year=lot.fiscal_year,
                qualified=lot.qualified,
                outstanding_cents=lot.outstanding_cents,
                years=years,
                present_value_cents=present,
                discount_cents=discount,
            )
        )
    present_total = sum(line.present_value_cents for line in lines)
    owed = await ledger.balance_of(session, chart.member_trade(member_id))
    set_off, payout = rules.set_off_debt(present_total, owed)
    if set_off:
        await ledger.transfer(
            session,
            debit=chart.PAYOUTS_PAYABLE,
            credit=chart.member_trade(member_id),
            amount_cents=set_off,
            kind="set_off",
            idempotency_key=f"{key}:set_off",
            occurred_at=occurred_at,
            memo="trade balance set off against the special equity redemption",
        )
    if payout:
        made = await create_payout(
            session, member_id=member_id, kind="equity_redemption", amount_cents=payout, business_key=key
        )
        redemption.payout_id = made.id
    redemption.outstanding_cents = sum(line.outstanding_cents for line in lines)
    redemption.present_value_cents = present_total
    redemption.discount_cents = sum(line.discount_cents for line in lines)
    redemption.set_off_cents = set_off
    redemption.payout_cents = payout
    session.add(redemption)
    session.add_all(lines)
    await session.flush()
    return redemption, sorted(lines, key=lambda line: (line.fiscal_year, line.lot_id))


async def _same_special_or_conflict(
    session: AsyncSession, member_id: int, terms: SpecialTerms
) -> tuple[SpecialRedemption, list[SpecialRedemptionLine]]:
    existing = (
        await session.exec(
            select(SpecialRedemption).where(
                col(SpecialRedemption.member_id) == member_id, col(SpecialRedemption.as_of) == terms.as_of
            )
        )
    ).one()
    stored = (existing.reason, existing.discount_rate, existing.revolving_years)
    if stored != (terms.reason.value, terms.discount_rate, terms.revolving_years):
        raise ConflictError(
            f"member {member_id}'s equity was already redeemed as of {terms.as_of} on other terms"
            f" ({existing.reason}, rate {existing.discount_rate}, {existing.revolving_years} revolving years)"
        )
    return existing, await special_lines(session, existing)


async def special_lines(session: AsyncSession, redemption: SpecialRedemption) -> list[SpecialRedemptionLine]:
    """The lots of a special redemption, oldest first."""
    result = await session.exec(
        select(SpecialRedemptionLine)
        .where(col(SpecialRedemptionLine.special_redemption_id) == redemption.id)
        .order_by(col(SpecialRedemptionLine.fiscal_year), col(SpecialRedemptionLine.lot_id))
    )
    return list(result.all())
