"""The double-entry journal against the real PostgreSQL.

Part one proves that every guard the database owns fires on its own, with the
Python checks bypassed by raw SQL. Part two covers the service's use cases.

Tests run inside one rolled-back transaction (sessions commit into savepoints),
so deferred constraint triggers never reach a real COMMIT there: the tests force
them with `SET CONSTRAINTS ALL IMMEDIATE`; the tests that need a real COMMIT use
their own database (`committing_engine`), since the append-only ledger cannot be
cleaned up.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col

from domain.db import make_session_maker
from domain.errors import ConflictError, NotFoundError
from domain.ledger import service
from domain.ledger.rules import AccountKind, PostingLine, Side, UnbalancedEntryError
from domain.ledger.tables import Account, JournalEntry, Posting

D, C = Side.DEBIT, Side.CREDIT
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UNBALANCED = r"journal entry \d+ is unbalanced: debits {} credits {}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def account(session: Any, kind: AccountKind = AccountKind.ASSET) -> int:
    acc = await service.ensure_account(session, unique(f"test:{kind.value}"), kind, f"test {kind.value}")
    assert acc.id is not None
    return acc.id


async def raw_entry(session: Any, key: str | None = None) -> int:
    """A journal row written straight in SQL, bypassing post_entry."""
    result = await session.execute(
        sa.text(
            "INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key) "
            "VALUES ('raw', '', now(), :key) RETURNING id"
        ),
        {"key": key or unique("raw")},
    )
    entry_id: int = result.scalar_one()
    return entry_id


async def raw_posting(session: Any, entry_id: int, account_id: int, side: str, amount: int) -> None:
    await session.execute(
        sa.text(
            "INSERT INTO posting (entry_id, account_id, side, amount_cents) VALUES (:entry, :account, :side, :amount)"
        ),
        {"entry": entry_id, "account": account_id, "side": side, "amount": amount},
    )


async def check_now(session: Any) -> None:
    """Run the deferred balance checks of everything written so far in this transaction."""
    await session.execute(sa.text("SET CONSTRAINTS ALL IMMEDIATE"))


async def count(session: Any, table: type[Any], *where: Any) -> int:
    n: int = (await session.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one()
    return n


# --- database guards ---------------------------------------------------------------


async def test_a_balanced_raw_entry_passes_the_deferred_check(session):
    a, b = await account(session), await account(session)
    entry = await raw_entry(session)
    await raw_posting(session, entry, a, "debit", 100)
    await raw_posting(session, entry, b, "credit", 60)
    await raw_posting(session, entry, b, "credit", 40)
    await check_now(session)  # no error


@pytest.mark.leaves_unbalanced_entry
async def test_an_unbalanced_entry_is_inserted_but_refused_by_the_deferred_check(session):
    a, b = await account(session), await account(session)
    entry = await raw_entry(session)
    await raw_posting(session, entry, a, "debit", 100)
    await raw_posting(session, entry, b, "credit", 99)  # the rows go in: the check is deferred
    await session.commit()  # only a savepoint in tests: deferred triggers do not fire yet
    with pytest.raises(IntegrityError, match=UNBALANCED.format(100, 99)) as caught:
        await check_now(session)
    assert getattr(caught.value.orig, "sqlstate", None) == "23514"  # check_violation


async def test_an_entry_without_postings_is_refused(session):
    await raw_entry(session)
    with pytest.raises(IntegrityError, match=UNBALANCED.format(0, 0)):
        await check_now(session)


@pytest.mark.parametrize(("side", "debits", "credits"), [("debit", 100, 0), ("credit", 0, 100)])
async def test_a_single_posting_entry_is_refused(session, side, debits, credits):
    a = await account(session)
    entry = await raw_entry(session)
    await raw_posting(session, entry, a, side, 100)
    with pytest.raises(IntegrityError, match=UNBALANCED.format(debits, credits)):
        await check_now(session)


async def test_one_unbalanced_entry_among_balanced_ones_is_named(session):
    a, b = await account(session), await account(session)
    good = await raw_entry(session)
    await raw_posting(session, good, a, "debit", 5)
    await raw_posting(session, good, b, "credit", 5)
    bad = await raw_entry(session)
    await raw_posting(session, bad, a, "debit", 7)
    await raw_posting(session, bad, b, "debit", 7)
    with pytest.raises(IntegrityError, match=f"journal entry {bad} is unbalanced: debits 14 credits 0"):
        await check_now(session)


async def test_a_balanced_entry_commits_for_real(committing_engine):
    """Own connection, real COMMIT: the deferred checks on journal_entry and posting both pass."""
    maker = make_session_maker(committing_engine)
    async with maker() as s:
        a, b = await account(s), await account(s, AccountKind.LIABILITY)
        entry = await service.post_entry(
            s,
            kind="real-commit",
            idempotency_key=unique("real-commit"),
            occurred_at=WHEN,
            lines=[PostingLine(a, D, 700), PostingLine(b, C, 700)],
        )
        await s.commit()
    async with maker() as s:
        assert await service.balance(s, a) == service.Balance(a, 700, 0, 700)
        assert await service.balance(s, b) == service.Balance(b, 0, 700, 700)
        assert (await s.get(JournalEntry, entry.id)) is not None


async def test_the_deferred_check_fires_at_a_real_commit(committing_engine):
    """Own connection, real BEGIN/COMMIT: the rows insert fine and the COMMIT fails."""
    codes = [unique("test:real-commit"), unique("test:real-commit")]
    async with committing_engine.connect() as conn:
        async with conn.begin():  # accounts committed for real; unique codes, harmless leftovers
            ids = [
                (
                    await conn.execute(
                        sa.text(
                            "INSERT INTO ledger_account (code, name, kind) VALUES (:code, 'real commit', 'asset') "
                            "RETURNING id"
                        ),
                        {"code": code},
                    )
                ).scalar_one()
                for code in codes
            ]
        key = unique("real-commit-unbalanced")
        transaction = await conn.begin()
        entry = await raw_entry(conn, key)
        await raw_posting(conn, entry, ids[0], "debit", 100)
        await raw_posting(conn, entry, ids[1], "credit", 1)
        with pytest.raises(IntegrityError, match=UNBALANCED.format(100, 1)):
            await transaction.commit()
    async with committing_engine.connect() as conn:  # nothing of the refused entry survived
        assert await count(conn, JournalEntry, col(JournalEntry.idempotency_key) == key) == 0
        assert await count(conn, Posting, col(Posting.account_id).in_(ids)) == 0


async def _committed_accounts(conn: Any) -> list[int]:
    """Two accounts committed for real (unique codes: harmless leftovers in an own database)."""
    async with conn.begin():
        return [
            (
                await conn.execute(
                    sa.text(
                        "INSERT INTO ledger_account (code, name, kind) VALUES (:code, 'guard', 'asset') RETURNING id"
                    ),
                    {"code": unique("test:guard")},
                )
            ).scalar_one()
            for _ in range(2)
        ]


async def _committed_entry(conn: Any, a: int, b: int) -> int:
    """A balanced entry committed for real."""
    async with conn.begin():
        entry = await raw_entry(conn)
        await raw_posting(conn, entry, a, "debit", 100)
        await raw_posting(conn, entry, b, "credit", 100)
    return entry


async def _in_one_transaction(conn: Any, postings: list[tuple[int, int, str, int]]) -> None:
    """Postings (entry, account, side, amount) inserted one by one and committed."""
    async with conn.begin():
        for entry, acc, side, amount in postings:
            await raw_posting(conn, entry, acc, side, amount)


async def test_unbalanced_entries_are_refused_at_a_real_commit(committing_engine):
    """One posting, two postings not summing to zero, no posting at all: each COMMIT fails, nothing stays."""
    shapes = {
        "one posting": ([("debit", 100)], (100, 0)),
        "two postings not summing to zero": ([("debit", 100), ("credit", 99)], (100, 99)),
        "no posting": ([], (0, 0)),
    }
    async with committing_engine.connect() as conn:
        a, b = await _committed_accounts(conn)
    keys = []
    for legs, (debits, credits) in shapes.values():
        keys.append(unique("refused"))
        async with committing_engine.connect() as conn:  # a connection per refused COMMIT
            transaction = await conn.begin()
            entry = await raw_entry(conn, keys[-1])
            for (side, amount), acc in zip(legs, (a, b), strict=False):
                await raw_posting(conn, entry, acc, side, amount)
            with pytest.raises(IntegrityError, match=UNBALANCED.format(debits, credits)):
                await transaction.commit()
    async with committing_engine.connect() as conn:
        assert await count(conn, JournalEntry, col(JournalEntry.idempotency_key).in_(keys)) == 0
        assert await count(conn, Posting, col(Posting.account_id).in_([a, b])) == 0


async def test_a_posting_added_later_to_a_committed_entry_is_refused(committing_engine):
    """The entry was balanced at its commit; a later transaction cannot unbalance it, nor edit it."""
    async with committing_engine.connect() as conn:
        a, b = await _committed_accounts(conn)
        entry = await _committed_entry(conn, a, b)
        with pytest.raises(IntegrityError, match=rf"journal entry {entry} is (closed|unbalanced)"):
            async with conn.begin():  # refused at the insert or, at the latest, at the commit
                await raw_posting(conn, entry, a, "debit", 5)
        for statement in (
            "UPDATE posting SET amount_cents = 1 WHERE entry_id = :entry",
            "DELETE FROM posting WHERE entry_id = :entry",
            "UPDATE journal_entry SET memo = 'edited' WHERE id = :entry",
            "DELETE FROM journal_entry WHERE id = :entry",
        ):
            with pytest.raises(IntegrityError, match="is not allowed: the ledger is append-only"):
                async with conn.begin():
                    await conn.execute(sa.text(statement), {"entry": entry})
        assert await count(conn, Posting, col(Posting.entry_id) == entry) == 2


async def test_a_balanced_pair_added_later_to_a_committed_entry_is_refused_at_insert(committing_engine):
    """Even legs that keep the entry balanced: a committed entry is closed; a correction is its own entry."""
    async with committing_engine.connect() as conn:
        a, b = await _committed_accounts(conn)
        entry = await _committed_entry(conn, a, b)
        with pytest.raises(IntegrityError, match=f"journal entry {entry} is closed"):
            await _in_one_transaction(conn, [(entry, a, "debit", 5), (entry, b, "credit", 5)])
        assert await count(conn, Posting, col(Posting.entry_id) == entry) == 2


async def test_postings_in_savepoints_of_the_entry_transaction_are_accepted(committing_engine):
    """The entry and its postings written in savepoints (released, rolled back, nested) of one transaction."""
    async with committing_engine.connect() as conn:
        a, b = await _committed_accounts(conn)
        async with conn.begin():
            async with conn.begin_nested():  # the entry in a released savepoint
                entry = await raw_entry(conn)
            await raw_posting(conn, entry, a, "debit", 100)  # a posting at the top level
            async with conn.begin_nested(), conn.begin_nested():  # a posting two savepoints deep
                await raw_posting(conn, entry, b, "credit", 60)
            rolled_back = await conn.begin_nested()
            await raw_posting(conn, entry, b, "credit", 999)
            await rolled_back.rollback()  # gone with its savepoint
            async with conn.begin_nested():
                await raw_posting(conn, entry, b, "credit", 40)
                inner = await raw_entry(conn)  # an entry and its postings in one savepoint
                await raw_posting(conn, inner, a, "debit", 7)
                await raw_posting(conn, inner, b, "credit", 7)
        assert await count(conn, Posting, col(Posting.entry_id).in_([entry, inner])) == 5


@pytest.mark.parametrize("amount", [0, -1, -100])
async def test_non_positive_amounts_are_refused_by_check(session, amount):
    a = await account(session)
    entry = await raw_entry(session)
    with pytest.raises(IntegrityError, match=r'violates check constraint "\w*amount_positive"'):
        await raw_posting(session, entry, a, "debit", amount)


@pytest.mark.parametrize("side", ["left", "DEBIT", "", "cr"])
async def test_sides_other_than_debit_or_credit_are_refused_by_check(session, side):
    a = await account(session)
    entry = await raw_entry(session)
    with pytest.raises(IntegrityError, match=r'violates check constraint "\w*side"'):
        await raw_posting(session, entry, a, side, 100)


async def _posted(session: Any) -> tuple[int, int]:
    """A real, balanced entry; returns (entry id, one of its posting ids)."""
    a, b = await account(session), await account(session)
    entry = await service.post_entry(
        session,
        kind="test",
        idempotency_key=unique("k"),
        occurred_at=WHEN,
        lines=[PostingLine(a, D, 100), PostingLine(b, C, 100)],
    )
    assert entry.id is not None
    posting: int = (
        await session.execute(sa.select(sa.func.min(col(Posting.id))).where(col(Posting.entry_id) == entry.id))
    ).scalar_one()
    return entry.id, posting


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("UPDATE journal_entry SET memo = 'edited' WHERE id = :entry", "journal_entry"),
        ("UPDATE journal_entry SET idempotency_key = idempotency_key || 'x' WHERE id = :entry", "journal_entry"),
        ("DELETE FROM journal_entry WHERE id = :entry", "journal_entry"),
        ("UPDATE posting SET amount_cents = amount_cents + 1 WHERE id = :posting", "posting"),
        ("UPDATE posting SET side = side WHERE id = :posting", "posting"),  # even a no-op update
        ("DELETE FROM posting WHERE id = :posting", "posting"),
        ("DELETE FROM posting WHERE entry_id = :entry", "posting"),
    ],
)
async def test_updates_and_deletes_are_refused(session, statement, table):
    entry, posting = await _posted(session)
    op = statement.split()[0]
    with pytest.raises(IntegrityError, match=f"{op} on {table} is not allowed: the ledger is append-only") as caught:
        await session.execute(sa.text(statement), {"entry": entry, "posting": posting})
    assert getattr(caught.value.orig, "sqlstate", None) == "23001"  # restrict_violation


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("TRUNCATE posting", "posting"),
        (
            (
                "TRUNCATE journal_entry, posting, payout_event, supplier_payment, event_registration,"
                " share_card_payment, supplier_transfer_reversal"
            ),
            "journal_entry|posting",
        ),
        ("TRUNCATE journal_entry CASCADE", "journal_entry|posting"),
    ],
)
async def test_truncate_is_refused(session, statement, table):
    # Nothing written first: TRUNCATE also refuses tables with pending (deferred) trigger events.
    with pytest.raises(DBAPIError, match=f"TRUNCATE on ({table}) is not allowed"):
        await session.execute(sa.text(statement))


# --- service: accounts -----------------------------------------------------------


async def test_ensure_account_is_idempotent(session):
    code = unique("test:cash")
    first = await service.ensure_account(session, code, AccountKind.ASSET, "Cash")
    again = await service.ensure_account(session, code, AccountKind.ASSET, "Cash, renamed")
    assert first.id == again.id
    assert again.kind == "asset"
    assert again.name == "Cash"  # the first write wins; the call only ensures existence
    assert await count(session, Account, col(Account.code) == code) == 1


async def test_ensure_account_refuses_a_kind_change(session):
    code = unique("test:kind")
    await service.ensure_account(session, code, AccountKind.ASSET, "x")
    with pytest.raises(ConflictError, match="exists with kind asset, not liability"):
        await service.ensure_account(session, code, AccountKind.LIABILITY, "x")
    assert await count(session, Account, col(Account.code) == code) == 1


# --- service: entries and balances ---------------------------------------------------


async def test_post_entry_writes_postings_and_balances_follow_the_account_kind(session):
    cash = await account(session, AccountKind.ASSET)
    sales = await account(session, AccountKind.INCOME)
    payable = await account(session, AccountKind.LIABILITY)
    entry = await service.post_entry(
        session,
        kind="sale",
        idempotency_key=unique("sale"),
        occurred_at=WHEN,
        lines=[PostingLine(cash, D, 1000), PostingLine(sales, C, 700), PostingLine(payable, C, 300)],
        memo="first sale",
    )
    await service.post_entry(
        session,
        kind="payout",
        idempotency_key=unique("payout"),
        occurred_at=WHEN,
        lines=[PostingLine(payable, D, 100), PostingLine(cash, C, 100)],
    )
    assert entry.id is not None
    assert (entry.kind, entry.memo, entry.occurred_at, entry.reverses_id) == ("sale", "first sale", WHEN, None)
    assert entry.recorded_at is not None
    rows = (
        await session.execute(
            sa.select(col(Posting.account_id), col(Posting.side), col(Posting.amount_cents))
            .where(col(Posting.entry_id) == entry.id)
            .order_by(col(Posting.id))
        )
    ).all()
    assert [tuple(r) for r in rows] == [(cash, "debit", 1000), (sales, "credit", 700), (payable, "credit", 300)]

    assert await service.balance(session, cash) == service.Balance(cash, 1000, 100, 900)
    assert await service.balance(session, sales) == service.Balance(sales, 0, 700, 700)
    assert await service.balance(session, payable) == service.Balance(payable, 100, 300, 200)
    for acc in (cash, sales, payable):
        assert type((await service.balance(session, acc)).balance_cents) is int
    await check_now(session)  # the database agrees both entries balance


async def test_balance_of_an_account_without_postings_is_zero(session):
    expense = await account(session, AccountKind.EXPENSE)
    assert await service.balance(session, expense) == service.Balance(expense, 0, 0, 0)


async def test_balance_of_an_unknown_account_is_not_found(session):
    with pytest.raises(NotFoundError):
        await service.balance(session, -1)


async def test_post_entry_refuses_unbalanced_lines_before_the_database(session):
    a, b = await account(session), await account(session)
    key = unique("bad")
    with pytest.raises(UnbalancedEntryError):
        await service.post_entry(
            session, kind="x", idempotency_key=key, occurred_at=WHEN, lines=[PostingLine(a, D, 2), PostingLine(b, C, 1)]
        )
    assert await count(session, JournalEntry, col(JournalEntry.idempotency_key) == key) == 0


async def test_same_key_same_lines_returns_the_same_entry(session):
    a, b = await account(session), await account(session)
    key = unique("same")
    lines = [PostingLine(a, D, 250), PostingLine(b, C, 250)]
    first = await service.post_entry(session, kind="t", idempotency_key=key, occurred_at=WHEN, lines=lines)
    await session.commit()
    entries, postings = await count(session, JournalEntry), await count(session, Posting)
    again = await service.post_entry(session, kind="t", idempotency_key=key, occurred_at=WHEN, lines=lines[::-1])
    assert again.id == first.id
    assert (await count(session, JournalEntry), await count(session, Posting)) == (entries, postings)
    assert await service.balance(session, a) == service.Balance(a, 250, 0, 250)


async def test_same_key_other_lines_is_a_conflict(session):
    a, b, c = await account(session), await account(session), await account(session)
    key = unique("other")
    await service.post_entry(
        session, kind="t", idempotency_key=key, occurred_at=WHEN, lines=[PostingLine(a, D, 10), PostingLine(b, C, 10)]
    )
    postings = await count(session, Posting)
    for other in (
        [PostingLine(a, D, 11), PostingLine(b, C, 11)],  # other amount
        [PostingLine(a, C, 10), PostingLine(b, D, 10)],  # other sides
        [PostingLine(a, D, 10), PostingLine(c, C, 10)],  # other account
        [PostingLine(a, D, 10), PostingLine(b, C, 5), PostingLine(b, C, 5)],  # other split
    ):
        with pytest.raises(ConflictError, match=f"{key} was already used for different postings"):
            await service.post_entry(session, kind="t", idempotency_key=key, occurred_at=WHEN, lines=other)
    assert await count(session, Posting) == postings
    assert await count(session, JournalEntry, col(JournalEntry.idempotency_key) == key) == 1


# --- service: reversals ---------------------------------------------------------------


async def test_reverse_entry_brings_balances_back_to_zero_once(session):
    cash = await account(session, AccountKind.ASSET)
    equity = await account(session, AccountKind.EQUITY)
    original = await service.post_entry(
        session,
        kind="capital",
        idempotency_key=unique("capital"),
        occurred_at=WHEN,
        lines=[PostingLine(cash, D, 5000), PostingLine(equity, C, 5000)],
    )
    assert original.id is not None
    reversal = await service.reverse_entry(session, original.id, occurred_at=WHEN, memo="typo")
    assert reversal.id != original.id
    assert reversal.reverses_id == original.id
    assert reversal.kind == "reversal:capital"
    assert reversal.idempotency_key == f"reversal:{original.id}"
    assert await service.balance(session, cash) == service.Balance(cash, 5000, 5000, 0)
    assert await service.balance(session, equity) == service.Balance(equity, 5000, 5000, 0)

    entries = await count(session, JournalEntry)
    again = await service.reverse_entry(session, original.id, occurred_at=WHEN)
    assert again.id == reversal.id
    assert await count(session, JournalEntry) == entries
    assert await count(session, JournalEntry, col(JournalEntry.reverses_id) == original.id) == 1
    assert (await service.balance(session, cash)).balance_cents == 0

    assert reversal.id is not None
    with pytest.raises(ConflictError, match="is itself a reversal"):
        await service.reverse_entry(session, reversal.id, occurred_at=WHEN)
    await check_now(session)


async def test_reverse_entry_of_an_unknown_entry_is_not_found(session):
    with pytest.raises(NotFoundError, match="not found"):
        await service.reverse_entry(session, -42, occurred_at=WHEN)


async def test_the_database_refuses_a_second_reversal_of_one_entry(session):
    """Even under another key, reverses_id is unique: an entry is reversed at most once."""
    entry, _ = await _posted(session)
    insert = sa.text(
        "INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key, reverses_id) "
        "VALUES ('r', '', now(), :key, :entry)"
    )
    await session.execute(insert, {"key": unique("r"), "entry": entry})
    with pytest.raises(IntegrityError, match="reverses_id"):
        await session.execute(insert, {"key": unique("r"), "entry": entry})


# --- service: trial balance ---------------------------------------------------------------


async def test_trial_balance_amounts_are_ints(session):
    a, b = await account(session), await account(session, AccountKind.INCOME)
    await service.post_entry(
        session,
        kind="t",
        idempotency_key=unique("tb"),
        occurred_at=WHEN,
        lines=[PostingLine(a, D, 3), PostingLine(b, C, 3)],
    )
    lines = {ln.account_id: ln for ln in await service.trial_balance(session)}
    assert type(lines[a].balance_cents) is int
    assert type(lines[b].balance_cents) is int


async def test_trial_balance_totals_are_equal(session):
    cash = await account(session, AccountKind.ASSET)
    stock = await account(session, AccountKind.ASSET)
    payable = await account(session, AccountKind.LIABILITY)
    income = await account(session, AccountKind.INCOME)
    idle = await account(session, AccountKind.EXPENSE)
    await service.post_entry(
        session,
        kind="buy",
        idempotency_key=unique("tb"),
        occurred_at=WHEN,
        lines=[PostingLine(stock, D, 800), PostingLine(payable, C, 800)],
    )
    sale = await service.post_entry(
        session,
        kind="sell",
        idempotency_key=unique("tb"),
        occurred_at=WHEN,
        lines=[PostingLine(cash, D, 1200), PostingLine(stock, C, 800), PostingLine(income, C, 400)],
    )
    assert sale.id is not None
    await service.reverse_entry(session, sale.id, occurred_at=WHEN)

    lines = await service.trial_balance(session)
    assert sum(ln.debits_cents for ln in lines) == sum(ln.credits_cents for ln in lines)
    assert [ln.code for ln in lines] == sorted(ln.code for ln in lines)
    mine = {ln.account_id: ln for ln in lines}
    assert (mine[cash].debits_cents, mine[cash].credits_cents, mine[cash].balance_cents) == (1200, 1200, 0)
    assert (mine[stock].debits_cents, mine[stock].credits_cents, mine[stock].balance_cents) == (1600, 800, 800)
    assert (mine[payable].debits_cents, mine[payable].credits_cents, mine[payable].balance_cents) == (0, 800, 800)
    assert (mine[income].debits_cents, mine[income].credits_cents, mine[income].balance_cents) == (400, 400, 0)
    assert (mine[idle].debits_cents, mine[idle].credits_cents, mine[idle].balance_cents) == (0, 0, 0)
    assert mine[payable].kind is AccountKind.LIABILITY
    for acc in (cash, stock, payable, income, idle):
        b = await service.balance(session, acc)
        assert (b.debits_cents, b.credits_cents, b.balance_cents) == (
            mine[acc].debits_cents,
            mine[acc].credits_cents,
            mine[acc].balance_cents,
        )
    await check_now(session)


async def test_post_entry_lines_writes_one_entry_of_many_lines_once(session):
    members = [await account(session, AccountKind.ASSET) for _ in range(3)]
    sales = await account(session, AccountKind.INCOME)
    key = unique("settle")
    lines = [*(PostingLine(m, D, 100 * (i + 1)) for i, m in enumerate(members)), PostingLine(sales, C, 600)]
    entry_id = await service.post_entry_lines(
        session, kind="charge", idempotency_key=key, occurred_at=WHEN, lines=lines
    )
    rows = (
        await session.execute(
            sa.select(col(Posting.account_id), col(Posting.side), col(Posting.amount_cents))
            .where(col(Posting.entry_id) == entry_id)
            .order_by(col(Posting.id))
        )
    ).all()
    assert [tuple(r) for r in rows] == [(ln.account_id, ln.side.value, ln.amount_cents) for ln in lines]
    # The same key with the same lines is the entry already written; with other lines, a conflict.
    again = await service.post_entry_lines(session, kind="charge", idempotency_key=key, occurred_at=WHEN, lines=lines)
    assert again == entry_id
    other = [PostingLine(members[0], D, 600), PostingLine(sales, C, 600)]
    with pytest.raises(ConflictError):
        await service.post_entry_lines(session, kind="charge", idempotency_key=key, occurred_at=WHEN, lines=other)
    with pytest.raises(UnbalancedEntryError):
        await service.post_entry_lines(
            session, kind="charge", idempotency_key=unique("settle"), occurred_at=WHEN, lines=lines[:-1]
        )
    await check_now(session)
