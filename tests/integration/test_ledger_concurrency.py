"""The journal under concurrent writers, on real separate connections and real COMMITs.

The ledger is append-only, so nothing here can be cleaned up: every account code
and idempotency key is unique (uuid4), and leftovers never collide with anything.
The `engine` fixture pools 5 + 5 connections, so at most 10 writers run at once
and the rest queue for a connection.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col

from domain.db import make_session_maker
from domain.errors import ConflictError
from domain.ledger import service
from domain.ledger.rules import AccountKind, PostingLine, Side
from domain.ledger.tables import Account, JournalEntry, Posting

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    from domain.db import SessionMaker

D, C = Side.DEBIT, Side.CREDIT
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def make_accounts(maker: SessionMaker, n: int, kind: AccountKind = AccountKind.ASSET) -> list[int]:
    async with maker() as s:
        ids = []
        for _ in range(n):
            acc = await service.ensure_account(s, unique("test:conc"), kind, "concurrency test")
            assert acc.id is not None
            ids.append(acc.id)
        await s.commit()
    return ids


async def gather_all(calls: Sequence[Awaitable[Any]]) -> list[Any]:
    """Run every call at once; return results and exceptions (never cancel the others)."""
    return list(await asyncio.gather(*calls, return_exceptions=True))


def failures(results: list[Any]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException)]


async def post(maker: SessionMaker, key: str, lines: list[PostingLine]) -> int:
    """One writer: one session, one transaction, a real COMMIT."""
    async with maker() as s:
        entry = await service.post_entry(s, kind="conc", idempotency_key=key, occurred_at=WHEN, lines=lines)
        await s.commit()
        assert entry.id is not None
        return entry.id


async def test_opposite_transfers_neither_deadlock_nor_lose_money(committing_engine):
    maker = make_session_maker(committing_engine)
    a, b, c = await make_accounts(maker, 3)
    rng = random.Random(20260301)  # noqa: S311 - deterministic mix of directions and amounts
    routes = [(a, b), (b, a), (b, c), (c, b), (c, a), (a, c)]
    plans: list[list[PostingLine]] = []
    for i in range(40):
        amount = rng.randint(1, 10_000)
        if i % 5 == 4:  # now and then a three-leg entry touching all three accounts
            split = rng.randint(1, amount)
            plans.append([PostingLine(a, D, amount + split), PostingLine(b, C, amount), PostingLine(c, C, split)])
        else:
            src, dst = routes[i % len(routes)]
            plans.append([PostingLine(dst, D, amount), PostingLine(src, C, amount)])

    results = await gather_all([post(maker, unique("transfer"), lines) for lines in plans])

    assert failures(results) == []  # a deadlock would surface here as DBAPIError (SQLSTATE 40P01)
    assert len(set(results)) == len(plans)  # every transfer committed as its own entry
    expected: Counter[int] = Counter()
    for lines in plans:
        for ln in lines:
            expected[ln.account_id] += ln.amount_cents if ln.side is D else -ln.amount_cents
    async with maker() as s:
        for acc in (a, b, c):
            got = await service.balance(s, acc)
            debits = sum(ln.amount_cents for p in plans for ln in p if ln.account_id == acc and ln.side is D)
            credits = sum(ln.amount_cents for p in plans for ln in p if ln.account_id == acc and ln.side is C)
            assert got == service.Balance(acc, debits, credits, expected[acc])
        assert sum(expected.values()) == 0
        postings = (await s.execute(sa.select(sa.func.count()).where(col(Posting.entry_id).in_(results)))).scalar_one()
        assert postings == sum(len(p) for p in plans)


async def test_same_key_from_twenty_writers_makes_one_entry(committing_engine):
    maker = make_session_maker(committing_engine)
    a, b = await make_accounts(maker, 2)
    key = unique("same-key")
    lines = [PostingLine(a, D, 1234), PostingLine(b, C, 1234)]

    results = await gather_all([post(maker, key, lines) for _ in range(20)])

    assert failures(results) == []
    assert len(set(results)) == 1  # every caller got the same entry
    async with maker() as s:
        entries = (
            (await s.execute(sa.select(col(JournalEntry.id)).where(col(JournalEntry.idempotency_key) == key)))
            .scalars()
            .all()
        )
        assert list(entries) == [results[0]]
        postings = (await s.execute(sa.select(sa.func.count()).where(col(Posting.entry_id) == results[0]))).scalar_one()
        assert postings == 2
        assert await service.balance(s, a) == service.Balance(a, 1234, 0, 1234)
        assert await service.balance(s, b) == service.Balance(b, 0, 1234, -1234)


async def test_same_key_with_two_bodies_one_wins_the_other_conflicts(committing_engine):
    maker = make_session_maker(committing_engine)
    a, b = await make_accounts(maker, 2)
    key = unique("two-bodies")
    bodies = [[PostingLine(a, D, 100), PostingLine(b, C, 100)], [PostingLine(a, D, 200), PostingLine(b, C, 200)]]
    calls = [(i % 2, post(maker, key, bodies[i % 2])) for i in range(20)]

    results = await gather_all([call for _, call in calls])

    winners = {body for (body, _), r in zip(calls, results, strict=True) if isinstance(r, int)}
    assert len(winners) == 1  # exactly one body was written ...
    for (body, _), r in zip(calls, results, strict=True):
        if body in winners:
            assert isinstance(r, int)
        else:
            assert isinstance(r, ConflictError)  # ... and every caller with the other body was refused
    async with maker() as s:
        n = (await s.execute(sa.select(sa.func.count()).where(col(JournalEntry.idempotency_key) == key))).scalar_one()
        assert n == 1
        amount = bodies[winners.pop()][0].amount_cents
        assert (await service.balance(s, a)).balance_cents == amount


async def test_concurrent_reversals_of_one_entry_make_one_reversal(committing_engine):
    maker = make_session_maker(committing_engine)
    a, b = await make_accounts(maker, 2)
    original = await post(maker, unique("to-reverse"), [PostingLine(a, D, 900), PostingLine(b, C, 900)])

    async def reverse() -> int:
        async with maker() as s:
            entry = await service.reverse_entry(s, original, occurred_at=WHEN)
            await s.commit()
            assert entry.id is not None
            return entry.id

    results = await gather_all([reverse() for _ in range(10)])

    assert failures(results) == []
    assert len(set(results)) == 1
    async with maker() as s:
        n = (await s.execute(sa.select(sa.func.count()).where(col(JournalEntry.reverses_id) == original))).scalar_one()
        assert n == 1
        assert await service.balance(s, a) == service.Balance(a, 900, 900, 0)
        assert await service.balance(s, b) == service.Balance(b, 900, 900, 0)


async def test_concurrent_ensure_account_creates_one_account(committing_engine):
    maker = make_session_maker(committing_engine)
    code = unique("test:conc-account")

    async def ensure() -> int:
        async with maker() as s:
            acc = await service.ensure_account(s, code, AccountKind.EQUITY, "one of many")
            await s.commit()
            assert acc.id is not None
            return acc.id

    results = await gather_all([ensure() for _ in range(10)])

    assert failures(results) == []
    assert len(set(results)) == 1
    async with maker() as s:
        n = (await s.execute(sa.select(sa.func.count()).where(col(Account.code) == code))).scalar_one()
        assert n == 1
