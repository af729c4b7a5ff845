"""Ledger use cases: accounts, entries, reversals, balances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.errors import ConflictError, NotFoundError
from domain.ledger import chart
from domain.ledger.rules import (
    AccountKind,
    PostingLine,
    Side,
    check_balanced,
    receipt_memo,
    reversal_of,
    signed_balance,
)
from domain.ledger.tables import Account, JournalEntry, Posting

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.ledger.chart import AccountSpec


async def ensure_account(
    session: AsyncSession, code: str, kind: AccountKind, name: str, member_id: int | None = None
) -> Account:
    """Return the account with `code`, creating it once even under concurrency."""
    await session.execute(
        insert(Account)
        .values(code=code, kind=kind.value, name=name, member_id=member_id)
        .on_conflict_do_nothing(index_elements=["code"])
    )
    account = (await session.exec(select(Account).where(col(Account.code) == code))).one()
    if account.kind != kind.value:
        msg = f"account {code} exists with kind {account.kind}, not {kind.value}"
        raise ConflictError(msg)
    return account


async def lock_accounts(session: AsyncSession, account_ids: Sequence[int]) -> None:
    """Lock accounts in ascending id order so concurrent postings never deadlock."""
    ids = sorted(set(account_ids))
    # One array parameter, not one per id: a settlement locks thousands of accounts.
    await session.execute(
        sa.select(col(Account.id))
        .where(col(Account.id) == sa.any_(sa.bindparam("ids", ids, type_=ARRAY(sa.BigInteger))))
        .order_by(col(Account.id))
        .with_for_update()
    )


_ENSURE_ACCOUNTS = sa.text("""
INSERT INTO ledger_account (code, name, kind, member_id)
SELECT * FROM unnest(:codes, :names, :kinds, :members)
ON CONFLICT (code) DO NOTHING
""").bindparams(
    sa.bindparam("codes", type_=ARRAY(sa.Text)),
    sa.bindparam("names", type_=ARRAY(sa.Text)),
    sa.bindparam("kinds", type_=ARRAY(sa.Text)),
    sa.bindparam("members", type_=ARRAY(sa.BigInteger)),
)


async def account_ids(session: AsyncSession, specs: Sequence[chart.AccountSpec]) -> dict[str, int]:
    """The ids of the accounts ``specs`` name, by code, creating the missing ones: two statements for any number."""
    if not specs:
        return {}
    await session.execute(
        _ENSURE_ACCOUNTS,
        {
            "codes": [s.code for s in specs],
            "names": [s.name for s in specs],
            "kinds": [s.kind.value for s in specs],
            "members": [s.member_id for s in specs],
        },
    )
    kinds = {s.code: s.kind.value for s in specs}
    rows = (
        await session.execute(
            sa.select(col(Account.code), col(Account.id), col(Account.kind)).where(
                col(Account.code) == sa.any_(sa.bindparam("codes", list(kinds), type_=ARRAY(sa.Text)))
            )
        )
    ).all()
    if wrong := sorted(code for code, _, kind in rows if kinds[code] != kind):
        msg = f"accounts {wrong[:5]} exist with another kind"
        raise ConflictError(msg)
    return {code: int(account_id) for code, account_id, _ in rows}


# One entry and all its postings in one statement, the lines passed as arrays: an entry of
# 10,000 lines would take 40,000 bind parameters as a multi-row VALUES (asyncpg stops at 32,767).
_POST_ENTRY_LINES = sa.text("""
WITH e AS (
  INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
  VALUES (:kind, :memo, :occurred, :key)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id
), p AS (
  INSERT INTO posting (entry_id, account_id, side, amount_cents, equity_lot_id)
  SELECT e.id, u.account, u.side, u.amount, u.lot
    FROM e CROSS JOIN unnest(:accounts, :sides, :amounts, :lots) WITH ORDINALITY AS u(account, side, amount, lot, n)
   ORDER BY u.n
)
SELECT id FROM e
""").bindparams(
    sa.bindparam("accounts", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("sides", type_=ARRAY(sa.Text)),
    sa.bindparam("amounts", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("lots", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("occurred", type_=sa.DateTime(timezone=True)),
)


async def post_entry_lines(
    session: AsyncSession,
    *,
    kind: str,
    idempotency_key: str,
    occurred_at: datetime,
    lines: Sequence[PostingLine],
    memo: str = "",
) -> int:
    """Write one balanced entry of any number of lines in one statement; its id.

    `post_entry` for an entry of thousands of lines (a settlement's charge to every member):
    the caller has locked the accounts (sorted ids). The same key again with the same lines
    answers the entry already written; with other lines, a 409.
    """
    check_balanced(lines)
    entry_id = (
        await session.execute(
            _POST_ENTRY_LINES,
            {
                "kind": kind,
                "memo": memo,
                "occurred": occurred_at,
                "key": idempotency_key,
                "accounts": [ln.account_id for ln in lines],
                "sides": [ln.side.value for ln in lines],
                "amounts": [ln.amount_cents for ln in lines],
                "lots": [ln.equity_lot_id for ln in lines],
            },
        )
    ).scalar_one_or_none()
    if entry_id is not None:
        return int(entry_id)
    existing = await _posted_before(session, idempotency_key, lines)
    assert existing.id is not None  # noqa: S101 - loaded from the database
    return existing.id


async def _lines_of(session: AsyncSession, entry_id: int) -> list[PostingLine]:
    rows = (
        await session.execute(
            sa.select(col(Posting.account_id), col(Posting.side), col(Posting.amount_cents), col(Posting.equity_lot_id))
            .where(col(Posting.entry_id) == entry_id)
            .order_by(col(Posting.id))
        )
    ).all()
    return [PostingLine(r.account_id, Side(r.side), r.amount_cents, r.equity_lot_id) for r in rows]


async def post_entry(
    session: AsyncSession,
    *,
    kind: str,
    idempotency_key: str,
    occurred_at: datetime,
    lines: Sequence[PostingLine],
    memo: str = "",
    reverses_id: int | None = None,
) -> JournalEntry:
    """Write one balanced entry; the same key again returns the entry already written.

    The insert itself detects a reused key (ON CONFLICT), so a new entry costs the
    account locks, one insert returning the row, and one insert of its postings.
    """
    check_balanced(lines)
    await lock_accounts(session, [line.account_id for line in lines])
    entry = (
        await session.scalars(
            insert(JournalEntry)
            .values(
                kind=kind, memo=memo, occurred_at=occurred_at, idempotency_key=idempotency_key, reverses_id=reverses_id
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(JournalEntry)
        )
    ).one_or_none()
    if entry is None:  # the key was used before, by an earlier call or a concurrent writer
        return await _posted_before(session, idempotency_key, lines)
    await session.execute(
        sa.insert(Posting).values(
            [
                {
                    "entry_id": entry.id,
                    "account_id": ln.account_id,
                    "side": ln.side.value,
                    "amount_cents": ln.amount_cents,
                    "equity_lot_id": ln.equity_lot_id,
                }
                for ln in lines
            ]
        )
    )
    return entry


async def entry_by_key(session: AsyncSession, key: str) -> JournalEntry | None:
    """The entry posted under ``key``, if any."""
    result = await session.exec(select(JournalEntry).where(col(JournalEntry.idempotency_key) == key))
    return result.one_or_none()


async def _posted_before(session: AsyncSession, key: str, lines: Sequence[PostingLine]) -> JournalEntry:
    """The entry a key refused by ON CONFLICT names, if it has these lines; otherwise a 409."""
    entry = await entry_by_key(session, key)
    assert entry is not None  # noqa: S101 - the conflict proves it exists
    assert entry.id is not None  # noqa: S101 - loaded from the database
    asked = sorted((ln.account_id, ln.side, ln.amount_cents, ln.equity_lot_id or 0) for ln in lines)
    stored = sorted(
        (ln.account_id, ln.side, ln.amount_cents, ln.equity_lot_id or 0) for ln in await _lines_of(session, entry.id)
    )
    if asked != stored:
        msg = f"journal key {entry.idempotency_key} was already used for different postings"
        raise ConflictError(msg)
    return entry


async def reverse_entry(session: AsyncSession, entry_id: int, *, occurred_at: datetime, memo: str = "") -> JournalEntry:
    """Undo an entry with its mirror image; an entry is reversed at most once."""
    original = await session.get(JournalEntry, entry_id)
    if original is None:
        msg = f"journal entry {entry_id} not found"
        raise NotFoundError(msg)
    if original.reverses_id is not None:
        msg = f"journal entry {entry_id} is itself a reversal"
        raise ConflictError(msg)
    lines = reversal_of(await _lines_of(session, entry_id))
    return await post_entry(
        session,
        kind=f"reversal:{original.kind}",
        idempotency_key=f"reversal:{entry_id}",
        occurred_at=occurred_at,
        lines=lines,
        memo=memo,
        reverses_id=entry_id,
    )


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's totals, derived from its postings."""

    account_id: int
    debits_cents: int
    credits_cents: int
    balance_cents: int


async def balance(session: AsyncSession, account_id: int) -> Balance:
    """Sum the account's postings; positive balance is on the account's normal side."""
    account = await session.get(Account, account_id)
    if account is None:
        msg = f"account {account_id} not found"
        raise NotFoundError(msg)
    debit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.DEBIT.value), 0)
    credit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.CREDIT.value), 0)
    row = (await session.execute(sa.select(debit, credit).where(col(Posting.account_id) == account_id))).one()
    debits, credits = int(row[0]), int(row[1])
    return Balance(account_id, debits, credits, signed_balance(AccountKind(account.kind), debits, credits))


@dataclass(frozen=True, slots=True)
class TrialBalanceLine:
    """One account's totals in the trial balance."""

    account_id: int
    code: str
    name: str
    kind: AccountKind
    debits_cents: int
    credits_cents: int
    balance_cents: int


async def trial_balance(session: AsyncSession) -> list[TrialBalanceLine]:
    """Every account's totals, summed in the database; all debits equal all credits."""
    debit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.DEBIT.value), 0)
    credit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.CREDIT.value), 0)
    rows = (
        await session.execute(
            sa.select(col(Account.id), col(Account.code), col(Account.name), col(Account.kind), debit, credit)
            .outerjoin(Posting, col(Posting.account_id) == col(Account.id))
            .group_by(col(Account.id))
            .order_by(col(Account.code))
        )
    ).all()
    return [
        TrialBalanceLine(
            r[0],
            r[1],
            r[2],
            AccountKind(r[3]),
            int(r[4]),
            int(r[5]),
            signed_balance(AccountKind(r[3]), int(r[4]), int(r[5])),
        )
        for r in rows
    ]


async def account_id(session: AsyncSession, spec: AccountSpec) -> int:
    """The id of the account `spec` names, creating it on first use."""
    account = await ensure_account(session, spec.code, spec.kind, spec.name, spec.member_id)
    assert account.id is not None  # noqa: S101 - loaded from the database
    return account.id


async def transfer(
    session: AsyncSession,
    *,
    debit: AccountSpec,
    credit: AccountSpec,
    amount_cents: int,
    kind: str,
    idempotency_key: str,
    occurred_at: datetime,
    memo: str = "",
) -> JournalEntry:
    """The common two-legged entry: `amount_cents` from `credit` to `debit`."""
    lines = [
        PostingLine(await account_id(session, debit), Side.DEBIT, amount_cents),
        PostingLine(await account_id(session, credit), Side.CREDIT, amount_cents),
    ]
    return await post_entry(
        session, kind=kind, idempotency_key=idempotency_key, occurred_at=occurred_at, lines=lines, memo=memo
    )


async def record_receipt(
    session: AsyncSession,
    *,
    method: chart.PaymentMethod,
    credit: AccountSpec,
    amount_cents: int,
    kind: str,
    key: str,
    reference: str | None,
    occurred_at: datetime,
) -> JournalEntry:
    """Money received by ``method`` into the till, the bank or card clearing, credited to ``credit``.

    Idempotent by ``<kind>:<key>``; the memo is the method and the payer's reference.
    Share payments, trade payments and preferred share issues are all receipts.
    """
    return await transfer(
        session,
        debit=chart.received_into(method),
        credit=credit,
        amount_cents=amount_cents,
        kind=kind,
        idempotency_key=f"{kind}:{key}",
        occurred_at=occurred_at,
        memo=receipt_memo(method, reference),
    )


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One entry as it touched one account, with the running balance."""

    entry_id: int
    kind: str
    memo: str
    occurred_at: datetime
    amount_cents: int
    balance_cents: int


async def statement(session: AsyncSession, spec: AccountSpec) -> list[StatementLine]:
    """The account's entries in order, signed on its normal side, with running balance."""
    account = (await session.exec(select(Account).where(col(Account.code) == spec.code))).one_or_none()
    if account is None:
        return []
    normal = AccountKind(account.kind).normal_side.value
    signed = sa.case((col(Posting.side) == normal, col(Posting.amount_cents)), else_=-col(Posting.amount_cents))
    rows = (
        await session.execute(
            sa.select(
                col(JournalEntry.id),
                col(JournalEntry.kind),
                col(JournalEntry.memo),
                col(JournalEntry.occurred_at),
                sa.func.sum(signed),
            )
            .join(Posting, col(Posting.entry_id) == col(JournalEntry.id))
            .where(col(Posting.account_id) == account.id)
            .group_by(col(JournalEntry.id))
            .order_by(col(JournalEntry.id))
        )
    ).all()
    lines, running = [], 0
    for entry_id, kind, memo, occurred_at, amount in rows:
        running += int(amount)
        lines.append(StatementLine(entry_id, kind, memo, occurred_at, int(amount), running))
    return lines


async def balance_of(session: AsyncSession, spec: AccountSpec) -> int:
    """The balance of the account `spec` names (0 when it was never used)."""
    account = (await session.exec(select(Account).where(col(Account.code) == spec.code))).one_or_none()
    if account is None or account.id is None:
        return 0
    return (await balance(session, account.id)).balance_cents
