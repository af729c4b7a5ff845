"""Migration 0041 on a database holding lots written before it, each in its own ledger account.

The rows are written at 0040 in plain SQL, as the 0040 code wrote them (year-end approval, a lot
import with a part redeemed before the move, a redemption run, a special redemption). After the
upgrade each lot's face and entry come from its face credit, every other posting on its account
names it, no amount moves, and the new readers say what the old ledger said. The new code still
redeems such a lot on its own account; 0040 takes the database back while every lot has one.
"""

from __future__ import annotations

import asyncio
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from domain import migrate
from domain.allocation import reports
from domain.db import make_engine, make_session_maker
from domain.equity import imports as lot_imports
from domain.equity import rules as equity_rules
from domain.equity import service as equity
from domain.equity.statements import capital_account
from domain.ledger import chart
from domain.patronage.rules import PatronagePayment, PatronagePaymentKind
from domain.payments.rules import PayoutMethod, PayoutStatus
from domain.payments.service import change_status
from domain.statements import service as statements
from tests.support.scratch_db import drop, empty_database, recreate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from sqlmodel.ext.asyncio.session import AsyncSession

    from deploy.stack import StackUrls

pytestmark = pytest.mark.slow

OLD = "coop_lot_ledger_0040"
RUN_AS_OF = date(2021, 6, 30)
SPECIAL_AS_OF = date(2022, 6, 30)
SPECIAL_RATE = Decimal("0.05")


@dataclass(frozen=True)
class Seeded:
    """The members and lots written at 0040."""

    members: dict[str, int]  # a, b, c, d
    numbers: dict[str, int]
    lots: dict[str, int]  # a18, a19, c18, c19, d18 (allocated); b16, c16 (imported)
    special_present_cents: int


# --- the 0040 code's writes, in plain SQL ------------------------------------------------


async def _entry(
    conn: asyncpg.Connection, kind: str, key: str, occurred: datetime, memo: str, lines: list[tuple[int, str, int]]
) -> int:
    """A journal entry and its postings in one statement, in the order given (ledger.post_entry)."""
    entry = await conn.fetchval(
        "INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key) VALUES ($1, $2, $3, $4) RETURNING id",
        kind,
        memo,
        occurred,
        key,
    )
    await conn.execute(
        "INSERT INTO posting (entry_id, account_id, side, amount_cents)"
        " SELECT $1, u.a, u.s, u.c FROM unnest($2::bigint[], $3::text[], $4::bigint[]) WITH ORDINALITY AS u(a, s, c, n)"
        " ORDER BY u.n",
        entry,
        [a for a, _, _ in lines],
        [s for _, s, _ in lines],
        [c for _, _, c in lines],
    )
    return int(entry)


async def _account(conn: asyncpg.Connection, code: str, name: str, kind: str, member: int | None = None) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO ledger_account (code, name, kind, member_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (code) DO NOTHING RETURNING id",
            code,
            name,
            kind,
            member,
        )
        or await conn.fetchval("SELECT id FROM ledger_account WHERE code = $1", code)
    )


async def _allocate(
    conn: asyncpg.Connection, run: int, fy: int, lines: list[tuple[int, int, int, bool]]
) -> dict[int, int]:
    """Year-end approval at 0040 (allocation/posting.py): per member a lot and its own account, the
    run's one entry debiting the income summary and crediting each lot's account and the payable."""
    summary = await _account(conn, f"coop:income_summary:{fy}", f"Income summary FY{fy}", "equity")
    payable = await _account(conn, chart.PAYOUTS_PAYABLE.code, chart.PAYOUTS_PAYABLE.name, "liability")
    occurred = datetime(fy + 1, 3, 15, tzinfo=UTC)
    lots: dict[int, int] = {}
    async with conn.transaction():
        credits = []
        for member, retained, _, qualified in lines:
            lot = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('equity_lot', 'id'))")
            account = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('ledger_account', 'id'))")
            await conn.execute(
                "INSERT INTO ledger_account (id, code, name, kind, member_id) VALUES ($1, $2, $3, 'equity', $4)",
                account,
                f"member:{member}:equity_lot:{lot}",
                f"Retained equity FY{fy}",
                member,
            )
            await conn.execute(
                "INSERT INTO equity_lot (id, member_id, fiscal_year, kind, qualified, source_key, account_id)"
                " VALUES ($1, $2, $3, 'retained_patronage', $4, $5, $6)",
                lot,
                member,
                fy,
                qualified,
                f"allocation:{run}:{member}",
                account,
            )
            lots[member] = int(lot)
            credits.append((int(account), "credit", retained))
        cash = sum(c for _, _, c, _ in lines)
        allocated = sum(r for _, r, _, _ in lines) + cash
        await _entry(
            conn,
            "patronage_allocation",
            f"allocation:{run}:members",
            occurred,
            f"patronage allocation FY{fy}",
            [(summary, "debit", allocated), *credits, (payable, "credit", cash)],
        )
        for member, _, paid, _ in (line for line in lines if line[2] > 0):
            await conn.execute(
                "INSERT INTO payout (member_id, kind, amount_cents, status, business_key)"
                " VALUES ($1, 'patronage_cash', $2, 'pending', $3)",
                member,
                paid,
                f"allocation:{run}:{member}",
            )
    return lots


async def _import(
    conn: asyncpg.Connection, member: int, ref: str, fy: int, *, face: int, redeemed: int, qualified: bool
) -> int:
    """A lot import at 0040 (equity/imports.py): the lot, then its account, its face credited from
    opening balances, and what was redeemed before the move debited."""
    opening = await _account(conn, chart.OPENING_BALANCES.code, chart.OPENING_BALANCES.name, "equity")
    year_end = datetime(fy, 12, 31, tzinfo=UTC)
    async with conn.transaction():
        lot = int(
            await conn.fetchval(
                "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, external_ref)"
                " VALUES ($1, $2, 'imported', $3, $4) RETURNING id",
                member,
                fy,
                qualified,
                ref,
            )
        )
        account = await _account(conn, f"member:{member}:equity_lot:{lot}", "Retained equity", "equity", member)
        await conn.execute("UPDATE equity_lot SET account_id = $1 WHERE id = $2", account, lot)
        await _entry(
            conn,
            "opening_equity_lot",
            f"import:lot:{ref}:face",
            year_end,
            f"retained equity FY{fy} brought over",
            [(opening, "debit", face), (account, "credit", face)],
        )
        if redeemed:
            await _entry(
                conn,
                "opening_equity_redeemed",
                f"import:lot:{ref}:redeemed",
                year_end,
                f"FY{fy} equity redeemed before the move",
                [(account, "debit", redeemed), (opening, "credit", redeemed)],
            )
    return lot


async def _redemption_run(conn: asyncpg.Connection, budget: int, parts: list[tuple[int, int]]) -> int:
    """An approved FIFO run at 0040 (equity/service.py): its lines, one entry debiting each lot's
    account and crediting the payable with the total, a pending payout a member."""
    payable = await _account(conn, chart.PAYOUTS_PAYABLE.code, chart.PAYOUTS_PAYABLE.name, "liability")
    now = datetime(RUN_AS_OF.year, 7, 15, tzinfo=UTC)
    redeemed = sum(amount for _, amount in parts)
    async with conn.transaction():
        outstanding = await conn.fetchval(
            "SELECT sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END)"
            " FROM equity_lot l JOIN posting p ON p.account_id = l.account_id WHERE l.fiscal_year <= $1",
            RUN_AS_OF.year,
        )
        run = await conn.fetchval(
            "INSERT INTO redemption_run (method, status, as_of, board_budget_cents, budget_cents, outstanding_cents,"
            " redeemed_cents, line_count, member_count, posted_at)"
            " VALUES ('fifo', 'posted', $1, $2, $2, $3, $4, $5, $5, $6) RETURNING id",
            RUN_AS_OF,
            budget,
            outstanding,
            redeemed,
            len(parts),
            now,
        )
        debits = []
        for lot, amount in parts:
            row = await conn.fetchrow(
                "SELECT l.member_id, m.member_number, l.fiscal_year, l.qualified, l.account_id"
                " FROM equity_lot l JOIN member m ON m.id = l.member_id WHERE l.id = $1",
                lot,
            )
            await conn.execute(
                "INSERT INTO redemption_line (run_id, lot_id, member_id, member_number, fiscal_year, qualified,"
                " amount_cents) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                run,
                lot,
                row["member_id"],
                row["member_number"],
                row["fiscal_year"],
                row["qualified"],
                amount,
            )
            debits.append((int(row["account_id"]), "debit", amount))
        await _entry(
            conn,
            "equity_redemption",
            f"redemption:{run}:lots",
            now,
            f"retained equity redeemed by redemption run {run}",
            [*debits, (payable, "credit", redeemed)],
        )
        await conn.execute(
            "INSERT INTO payout (member_id, kind, amount_cents, status, business_key)"
            " SELECT member_id, 'equity_redemption', sum(amount_cents), 'pending', $2 || member_id"
            " FROM redemption_line WHERE run_id = $1 GROUP BY member_id",
            run,
            f"redemption:{run}:",
        )
    return int(run)


async def _special_redemption(conn: asyncpg.Connection, member: int, lot: int) -> int:
    """A special redemption of the member's one lot at 0040: the lot's account debited with its
    outstanding, the payable credited with the present value and unallocated equity with the discount."""
    payable = await _account(conn, chart.PAYOUTS_PAYABLE.code, chart.PAYOUTS_PAYABLE.name, "liability")
    unallocated = await _account(conn, chart.UNALLOCATED_EQUITY.code, chart.UNALLOCATED_EQUITY.name, "equity")
    await _account(conn, f"member:{member}:trade", "Trade account", "asset", member)
    occurred = datetime.combine(SPECIAL_AS_OF, datetime.min.time(), tzinfo=UTC)
    key = f"special_redemption:{member}:{SPECIAL_AS_OF.isoformat()}"
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT l.fiscal_year, l.qualified, l.account_id,"
            " sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END) AS outstanding"
            " FROM equity_lot l JOIN posting p ON p.account_id = l.account_id WHERE l.id = $1"
            " GROUP BY l.id",
            lot,
        )
        outstanding = int(row["outstanding"])
        years = equity_rules.years_to_revolvement(row["fiscal_year"], 7, SPECIAL_AS_OF.year)
        present, discount = equity_rules.special_redemption_value(outstanding, SPECIAL_RATE, years)
        await _entry(
            conn,
            "special_redemption",
            f"{key}:{lot}",
            occurred,
            f"FY{row['fiscal_year']} retained equity redeemed early (exit), {years} years discounted",
            [
                (row["account_id"], "debit", outstanding),
                (payable, "credit", present),
                (unallocated, "credit", discount),
            ],
        )
        payout = await conn.fetchval(
            "INSERT INTO payout (member_id, kind, amount_cents, status, business_key)"
            " VALUES ($1, 'equity_redemption', $2, 'pending', $3) RETURNING id",
            member,
            present,
            key,
        )
        special = await conn.fetchval(
            "INSERT INTO special_redemption (member_id, reason, as_of, discount_rate, revolving_years,"
            " outstanding_cents, present_value_cents, discount_cents, set_off_cents, payout_cents, payout_id)"
            " VALUES ($1, 'exit', $2, $3, 7, $4, $5, $6, 0, $5, $7) RETURNING id",
            member,
            SPECIAL_AS_OF,
            SPECIAL_RATE,
            outstanding,
            present,
            discount,
            payout,
        )
        await conn.execute(
            "INSERT INTO special_redemption_line (special_redemption_id, lot_id, fiscal_year, qualified,"
            " outstanding_cents, years, present_value_cents, discount_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            special,
            lot,
            row["fiscal_year"],
            row["qualified"],
            outstanding,
            years,
            present,
            discount,
        )
    return int(present)


async def _seed(url: str) -> Seeded:
    """Four members; lots allocated (FY2018, FY2019), imported (FY2016), redeemed by a run and specially."""
    conn = await asyncpg.connect(url)
    try:
        members, numbers = {}, {}
        for name in "abcd":
            row = await conn.fetchrow(
                "INSERT INTO member (name, email, status, share_par_cents, joined_at)"
                " VALUES ($1, $2, 'full', 10000, '2010-01-01T00:00:00Z') RETURNING id, member_number",
                f"Shop {name}",
                f"{name}@lots.test",
            )
            members[name], numbers[name] = int(row["id"]), int(row["member_number"])
        a, b, c, d = (members[n] for n in "abcd")
        b16 = await _import(conn, b, "legacy-b-2016", 2016, face=25_000, redeemed=5_000, qualified=True)
        c16 = await _import(conn, c, "legacy-c-2016", 2016, face=10_000, redeemed=0, qualified=False)
        y18 = await _allocate(
            conn, 1, 2018, [(a, 50_000, 10_000, True), (c, 30_000, 5_000, False), (d, 20_000, 0, True)]
        )
        y19 = await _allocate(conn, 2, 2019, [(a, 40_000, 8_000, True), (c, 10_000, 2_000, False)])
        # A FIFO run of 150.00 reaches FY2016 only (300.00 outstanding): pro rata, B 100.00 and C 50.00.
        await _redemption_run(conn, 15_000, [(b16, 10_000), (c16, 5_000)])
        present = await _special_redemption(conn, d, y18[d])
    finally:
        await conn.close()
    lots = {"a18": y18[a], "a19": y19[a], "c18": y18[c], "c19": y19[c], "d18": y18[d], "b16": b16, "c16": c16}
    return Seeded(members, numbers, lots, present)


# --- the ledger as the 0040 code read it -------------------------------------------------


@dataclass(frozen=True)
class OldLedger:
    postings: list[tuple[int, int, int, str, int]]  # id, entry, account, side, cents
    accounts: dict[int, tuple[int, int]]  # id -> debits, credits
    lots: dict[int, asyncpg.Record]  # id -> every column at 0040
    lot_accounts: dict[int, tuple[int, int]]  # lot -> credits, debits on its own account
    face_postings: dict[int, tuple[int, int, int]]  # lot -> its first credit: posting, entry, cents


async def _old_ledger(url: str) -> OldLedger:
    conn = await asyncpg.connect(url)
    try:
        postings = [
            tuple(r)
            for r in await conn.fetch("SELECT id, entry_id, account_id, side, amount_cents FROM posting ORDER BY id")
        ]
        accounts = {
            r["id"]: (int(r["debits"]), int(r["credits"]))
            for r in await conn.fetch(
                "SELECT a.id, coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'debit'), 0) AS debits,"
                " coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'credit'), 0) AS credits"
                " FROM ledger_account a LEFT JOIN posting p ON p.account_id = a.id GROUP BY a.id"
            )
        }
        lots = {
            r["id"]: r
            for r in await conn.fetch(
                "SELECT id, member_id, fiscal_year, kind, qualified, account_id, external_ref, source_key, created_at"
                " FROM equity_lot"
            )
        }
        lot_accounts = {
            r["id"]: (int(r["credits"]), int(r["debits"]))
            for r in await conn.fetch(
                "SELECT l.id, coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'credit'), 0) AS credits,"
                " coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'debit'), 0) AS debits"
                " FROM equity_lot l JOIN posting p ON p.account_id = l.account_id GROUP BY l.id"
            )
        }
        face_postings = {
            r["lot"]: (r["id"], r["entry_id"], r["amount_cents"])
            for r in await conn.fetch(
                "SELECT DISTINCT ON (l.id) l.id AS lot, p.id, p.entry_id, p.amount_cents"
                " FROM equity_lot l JOIN posting p ON p.account_id = l.account_id AND p.side = 'credit'"
                " ORDER BY l.id, p.id"
            )
        }
    finally:
        await conn.close()
    return OldLedger(postings, accounts, lots, lot_accounts, face_postings)


# The member statement's equity roll-forward as 0040 computed it (statements/service.py): every
# equity account of the member, a lot's own among them.
_OLD_ROLL_FORWARD = """
SELECT coalesce(sum(CASE WHEN p.side = 'credit' THEN p.amount_cents ELSE -p.amount_cents END)
                FILTER (WHERE je.occurred_at < $2), 0),
       coalesce(sum(p.amount_cents) FILTER (WHERE je.occurred_at >= $2 AND je.occurred_at < $3
                AND p.side = 'credit' AND a.code NOT LIKE 'member:%:equity_lot:%'), 0),
       coalesce(sum(p.amount_cents) FILTER (WHERE je.occurred_at >= $2 AND je.occurred_at < $3
                AND p.side = 'credit' AND a.code LIKE 'member:%:equity_lot:%'), 0),
       coalesce(sum(p.amount_cents) FILTER (WHERE je.occurred_at >= $2 AND je.occurred_at < $3
                AND p.side = 'debit'), 0)
  FROM posting p
  JOIN ledger_account a ON a.id = p.account_id
  JOIN journal_entry je ON je.id = p.entry_id
 WHERE a.member_id = $1 AND a.kind = 'equity'
"""
YEARS = range(2016, 2024)


def _year(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


async def _old_roll_forwards(url: str, members: dict[str, int]) -> dict[tuple[int, int], tuple[int, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            (member, year): tuple(int(v) for v in await conn.fetchrow(_OLD_ROLL_FORWARD, member, *_year(year)))
            for member in members.values()
            for year in YEARS
        }
    finally:
        await conn.close()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(stack: StackUrls) -> Iterator[Seeded]:
    """A database at 0040 holding old-style lots; each test works on a copy of it."""
    url = empty_database(stack.database_url, OLD)
    migrate.upgrade(url, "0040")
    yield asyncio.run(_seed(url))
    asyncio.run(drop(stack.database_url, OLD))


@pytest.fixture
async def copy_url(stack: StackUrls, seeded: Seeded, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    name = f"coop_lot_ledger_{request.node.name[5:30]}"
    yield await recreate(stack.database_url, name, template=OLD)
    await drop(stack.database_url, name)


async def _upgrade(url: str) -> None:
    """To 0041; alembic runs its own event loop (migrations/env.py), so from a thread."""
    await asyncio.to_thread(migrate.upgrade, url, "0041")


async def _downgrade(url: str) -> None:
    await asyncio.to_thread(migrate.downgrade, url, "0040")


async def _version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SELECT version_num FROM alembic_version"))
    finally:
        await conn.close()


async def _lot_marks(url: str) -> list[tuple[int, int | None]]:
    """Each posting and the lot it names."""
    conn = await asyncpg.connect(url)
    try:
        return [
            (r["id"], r["equity_lot_id"]) for r in await conn.fetch("SELECT id, equity_lot_id FROM posting ORDER BY id")
        ]
    finally:
        await conn.close()


# --- what the upgrade wrote, and what the new code reads -----------------------------------


async def _check_the_upgrade(url: str, before: OldLedger) -> None:
    """Faces and entries from the face credits; every other lot movement named; no amount moved."""
    conn = await asyncpg.connect(url)
    try:
        faces = {r["id"]: (r["face_cents"], r["entry_id"]) for r in await conn.fetch("SELECT * FROM equity_lot")}
        assert faces == {lot: (cents, entry) for lot, (_, entry, cents) in before.face_postings.items()}
        after = [
            tuple(r)
            for r in await conn.fetch(
                "SELECT id, entry_id, account_id, side, amount_cents, equity_lot_id FROM posting ORDER BY id"
            )
        ]
        lot_of_account = {row["account_id"]: lot for lot, row in before.lots.items()}
        face_ids = {posting for posting, _, _ in before.face_postings.values()}
        assert after == [(*p, None if p[0] in face_ids else lot_of_account.get(p[2])) for p in before.postings]
        assert sum(1 for p in after if p[5] is not None) == 4  # imported redeemed part, the run's two, the special
        balances = {
            r["id"]: (int(r["debits"]), int(r["credits"]))
            for r in await conn.fetch(
                "SELECT a.id, coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'debit'), 0) AS debits,"
                " coalesce(sum(p.amount_cents) FILTER (WHERE p.side = 'credit'), 0) AS credits"
                " FROM ledger_account a LEFT JOIN posting p ON p.account_id = a.id GROUP BY a.id"
            )
        }
    finally:
        await conn.close()
    assert balances == before.accounts
    debits, credits = (sum(side) for side in zip(*balances.values(), strict=True))
    assert debits == credits  # the trial balance


async def _check_the_readers(
    session: AsyncSession, seeded: Seeded, before: OldLedger, roll_forwards: dict[tuple[int, int], tuple[int, ...]]
) -> None:
    """The capital account statement, the lots a redemption reads, a FIFO run over all of them and
    the member statement's roll-forward say what the old ledger said."""
    outstanding = {lot: credits - debits for lot, (credits, debits) in before.lot_accounts.items()}
    for member in seeded.members.values():
        statement = await capital_account(session, member)
        assert {lot.lot_id: (lot.face_cents, lot.redeemed_cents) for lot in statement.lots} == {
            lot: before.lot_accounts[lot] for lot, row in before.lots.items() if row["member_id"] == member
        }
    redeemable = await equity._lot_balances(session)
    assert {b.lot_id: (b.face_cents, b.redeemed_cents, b.own_account_id) for b in redeemable} == {
        lot: (*before.lot_accounts[lot], before.lots[lot]["account_id"])
        for lot, cents in outstanding.items()
        if cents > 0
    }
    by_year: dict[int, int] = {}
    for lot, cents in outstanding.items():
        year = before.lots[lot]["fiscal_year"]
        by_year[year] = by_year.get(year, 0) + cents
    assert await equity._outstanding_by_year(session, 2030) == {y: c for y, c in by_year.items() if c > 0}
    everything = await equity.compute_run(
        session, method=equity.Method.FIFO, board_budget_cents=10**9, as_of=date(2030, 12, 31), inputs=None
    )
    assert everything.outstanding_cents == sum(outstanding.values())
    lines = await equity.run_lines(session, everything.id or 0, after_id=0, limit=100)
    assert {line.lot_id: line.amount_cents for line in lines} == {
        lot: cents for lot, cents in outstanding.items() if cents > 0
    }
    for (member, year), figures in roll_forwards.items():
        assert astuple(await statements._equity(session, member, *_year(year))) == figures, (member, year)


async def _check_box_5(session: AsyncSession, seeded: Seeded) -> None:
    """Form 1099-PATR box 5 reads the old lots' redemptions, once their payouts are paid."""
    paid_at = datetime(2022, 8, 1, tzinfo=UTC)
    payouts = await session.execute(sa.text("SELECT id FROM payout WHERE kind = 'equity_redemption' ORDER BY id"))
    for payout in payouts.scalars().all():
        await change_status(
            session,
            payout,
            PayoutStatus.PAID,
            method=PayoutMethod.CHECK,
            reference=None,
            reason=None,
            actor=None,
            now=paid_at,
        )
    await session.commit()
    numbers, members = seeded.numbers, seeded.members
    qualified, nonqualified = PatronagePaymentKind.QUALIFIED_REDEMPTION, PatronagePaymentKind.NONQUALIFIED_REDEMPTION
    assert sorted(await reports._redemptions_paid(session, 2022), key=lambda p: p.member_number) == [
        PatronagePayment(numbers["b"], members["b"], qualified, 10_000, paid_at.date()),
        PatronagePayment(numbers["c"], members["c"], nonqualified, 5_000, paid_at.date()),
        PatronagePayment(numbers["d"], members["d"], qualified, seeded.special_present_cents, paid_at.date()),
    ]


# --- the tests ---------------------------------------------------------------------------


async def test_old_lots_read_the_same_after_0041_and_redeem_on_their_own_accounts(copy_url, seeded):
    lots = seeded.lots
    before = await _old_ledger(copy_url)
    roll_forwards = await _old_roll_forwards(copy_url, seeded.members)
    outstanding = {lot: credits - debits for lot, (credits, debits) in before.lot_accounts.items()}
    assert outstanding == {
        lots["b16"]: 10_000,
        lots["c16"]: 5_000,
        lots["a18"]: 50_000,
        lots["c18"]: 30_000,
        lots["d18"]: 0,
        lots["a19"]: 40_000,
        lots["c19"]: 10_000,
    }
    faces = {"b16": 25_000, "c16": 10_000, "a18": 50_000, "c18": 30_000, "d18": 20_000, "a19": 40_000, "c19": 10_000}
    assert {lot: cents for lot, (_, _, cents) in before.face_postings.items()} == {
        lots[name]: cents for name, cents in faces.items()
    }

    await _upgrade(copy_url)

    await _check_the_upgrade(copy_url, before)
    engine = make_engine(copy_url, pool_size=2)
    try:
        async with make_session_maker(engine)() as session:
            await _check_the_readers(session, seeded, before, roll_forwards)
            await session.rollback()
            await _check_box_5(session, seeded)
            # The new code redeems old lots: a FIFO run of 60.00 (FY2016 pro rata, B 100.00 and C 50.00
            # outstanding), then a special redemption of A's two lots.
            small = await equity.compute_run(
                session, method=equity.Method.FIFO, board_budget_cents=6_000, as_of=date(2023, 12, 31), inputs=None
            )
            await equity.approve_run(session, small.id or 0, now=datetime(2024, 1, 15, tzinfo=UTC))
            terms = equity.SpecialTerms(equity.Reason.RETIREMENT, Decimal("0.04"), 7, date(2024, 3, 31))
            special, _ = await equity.special_redemption(session, seeded.members["a"], terms)
            assert special.outstanding_cents == 90_000
            await session.commit()
            debits = await session.execute(
                sa.text(
                    "SELECT p.account_id, p.amount_cents, p.equity_lot_id, je.kind FROM posting p"
                    " JOIN journal_entry je ON je.id = p.entry_id"
                    " WHERE je.kind IN ('equity_redemption', 'special_redemption') AND p.side = 'debit'"
                    " AND p.id > :last ORDER BY p.id"
                ),
                {"last": before.postings[-1][0]},
            )
            own = {lot: row["account_id"] for lot, row in before.lots.items()}
            assert [tuple(r) for r in debits] == [
                (own[lots["b16"]], 4_000, lots["b16"], "equity_redemption"),
                (own[lots["c16"]], 2_000, lots["c16"], "equity_redemption"),
                (own[lots["a18"]], 50_000, lots["a18"], "special_redemption"),
                (own[lots["a19"]], 40_000, lots["a19"], "special_redemption"),
            ]
            read = {
                lot.lot_id: lot.outstanding_cents
                for member in seeded.members.values()
                for lot in (await capital_account(session, member)).lots
            }
    finally:
        await engine.dispose()
    assert read == outstanding | {lots["b16"]: 6_000, lots["c16"]: 3_000, lots["a18"]: 0, lots["a19"]: 0}
    own_balances = (await _old_ledger(copy_url)).lot_accounts
    assert {lot: credits - debits for lot, (credits, debits) in own_balances.items()} == read

    # Every lot still has its own account, so 0040 takes the database back, and its reading of
    # each lot (its account's credits less debits) is what the new code said; 0041 again names
    # the same lot in the same postings.
    marks = await _lot_marks(copy_url)
    await _downgrade(copy_url)
    back = await _old_ledger(copy_url)
    assert {lot: credits - debits for lot, (credits, debits) in back.lot_accounts.items()} == read
    assert back.lots == before.lots
    await _upgrade(copy_url)
    assert await _lot_marks(copy_url) == marks


async def test_0040_takes_back_old_lots_as_they_were_and_refuses_once_a_new_lot_exists(copy_url, seeded):
    before = await _old_ledger(copy_url)
    await _upgrade(copy_url)
    await _downgrade(copy_url)
    assert await _old_ledger(copy_url) == before

    await _upgrade(copy_url)
    engine = make_engine(copy_url, pool_size=1)
    try:
        async with make_session_maker(engine)() as session:
            row = lot_imports.LotRow("new-style-a-2017", seeded.numbers["a"], 2017, True, 7_000, 0)
            await lot_imports.import_lots(session, [row], today=date(2027, 1, 1), fiscal_year_start_month=1)
            await session.commit()
    finally:
        await engine.dispose()
    with pytest.raises(DBAPIError, match="equity lots without their own account exist"):
        await _downgrade(copy_url)
    assert await _version(copy_url) == "0041"
