"""A register of a few thousand members lands exactly as the row-by-row import landed it (issue 8, item 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import imports
from domain.membership.imports import MemberRow
from domain.membership.rules import Status
from domain.membership.service import shares_paid

PAR = 10_000
ROWS = 3_000


def _register(prefix: str, count: int) -> list[MemberRow]:
    start = datetime(2015, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(count):
        joined = start + timedelta(days=i % 2_000)
        former = i % 7 == 0
        rows.append(
            MemberRow(
                external_ref=f"{prefix}-{i}",
                name=f"Shop {i}",
                email=f"Shop{i}@Old.test ",
                joined_at=joined,
                status=Status.FORMER if former else Status.FULL,
                share_paid_cents=(i * 37) % (PAR + 1) if i % 5 else 0,
                left_at=joined + timedelta(days=400) if former else None,
            )
        )
    return rows


async def _scalar(session, sql: str, **params: object) -> int:
    return int((await session.execute(sa.text(sql), params)).scalar_one())


async def test_a_large_register_lands_with_its_history_consents_and_ledger(session):
    rows = _register("bulk", ROWS)
    opening_before = await ledger.balance_of(session, chart.OPENING_BALANCES)

    landed = await imports.import_members(session, rows, par_cents=PAR)

    assert [m.external_ref for m in landed] == [r.external_ref for r in rows]
    assert not any(m.duplicate for m in landed)
    numbers = [m.member_number for m in landed]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == ROWS
    ids = [m.member_id for m in landed]
    stored = (
        await session.execute(
            sa.text(
                "SELECT id, member_number, email, status, share_par_cents, joined_at, left_at FROM member"
                " WHERE id = ANY(:ids) ORDER BY member_number"
            ),
            {"ids": ids},
        )
    ).all()
    assert [(s.id, s.member_number) for s in stored] == [(m.member_id, m.member_number) for m in landed]
    assert [(s.email, s.status, s.share_par_cents, s.joined_at, s.left_at) for s in stored] == [
        (f"shop{i}@old.test", r.status.value, PAR, r.joined_at, r.left_at) for i, r in enumerate(rows)
    ]

    history = (
        await session.execute(
            sa.text(
                "SELECT member_id, from_status, to_status, effective_at FROM member_status_change"
                " WHERE member_id = ANY(:ids) ORDER BY member_id, effective_at"
            ),
            {"ids": ids},
        )
    ).all()
    expected: list[tuple[int, str | None, str, datetime | None]] = []
    for m, r in zip(landed, rows, strict=True):
        expected.append((m.member_id, None, "full", r.joined_at))
        if r.status is Status.FORMER:
            expected.append((m.member_id, "full", "former", r.left_at))
    assert [tuple(h) for h in history] == sorted(expected, key=lambda e: (e[0], e[3]))
    consents = await _scalar(
        session, "SELECT count(*) FROM member_consent WHERE member_id = ANY(:ids) AND kind = 'bylaw'", ids=ids
    )
    assert consents == ROWS

    paid = await shares_paid(session, ids)
    assert [paid[m.member_id] for m in landed] == [r.share_paid_cents for r in rows]
    total = sum(r.share_paid_cents for r in rows)
    assert await ledger.balance_of(session, chart.OPENING_BALANCES) - opening_before == -total
    entries = await _scalar(
        session, "SELECT count(*) FROM journal_entry WHERE idempotency_key LIKE :keys", keys="import:member:bulk-%"
    )
    assert entries == sum(1 for r in rows if r.share_paid_cents)
    legs = await _scalar(
        session,
        "SELECT count(*) FROM posting p JOIN journal_entry e ON e.id = p.entry_id WHERE e.idempotency_key LIKE :keys",
        keys="import:member:bulk-%",
    )
    assert legs == 2 * entries


async def test_a_repeated_register_reports_duplicates_where_they_landed(session):
    first = await imports.import_members(session, _register("again", 1_500), par_cents=PAR)
    mixed = _register("again", 2_500)  # the first 1,500 again, then 1,000 new ones
    second = await imports.import_members(session, mixed, par_cents=PAR)
    assert [m.duplicate for m in second] == [True] * 1_500 + [False] * 1_000
    assert second[:1_500] == [
        imports.ImportedMember(m.external_ref, m.member_id, m.member_number, duplicate=True) for m in first
    ]
    assert min(m.member_number for m in second[1_500:]) > max(m.member_number for m in first)
    entries = await _scalar(
        session, "SELECT count(*) FROM journal_entry WHERE idempotency_key LIKE :keys", keys="import:member:again-%"
    )
    assert entries == sum(1 for r in mixed if r.share_paid_cents)
