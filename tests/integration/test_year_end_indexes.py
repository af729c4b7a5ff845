"""Indexes the year end writes only where a reader needs them (0039).

An imported lot's key (external_ref) stays unique, and retained lots, which have none, stay out
of its index: approval writes 100,000 of them at 100k members, and before 0039 each put a NULL
entry in the unique index that only the lot import reads, by refs it was given. Allocation lines
are indexed by run and member together only: the computation writes 100,000 at 100k members, and
a member's notices find its lines run by run.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

INSERT_LOT = (
    "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, face_cents, entry_id, external_ref, created_at)"
    " VALUES (:member, 2020, :kind, true, 100, :entry, :ref, now())"
)


async def _member(session) -> int:
    member: int = (
        await session.execute(
            sa.text(
                "INSERT INTO member (name, email, status, share_par_cents, joined_at, created_at)"
                " VALUES ('Lot key', :email, 'full', 10000, '2015-01-01', now()) RETURNING id"
            ),
            {"email": f"{uuid.uuid4().hex}@lots.test"},
        )
    ).scalar_one()
    return member


async def _entry(session) -> int:
    """A balanced entry for the lots' face to name (migration 0041)."""
    key = f"lot-key:{uuid.uuid4().hex}"
    entry: int = (
        await session.execute(
            sa.text(
                "WITH account AS (INSERT INTO ledger_account (code, name, kind) VALUES (:key, 'Lot key', 'equity')"
                " RETURNING id),"
                " entry AS (INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)"
                " VALUES ('lot_key', '', now(), :key) RETURNING id),"
                " posted AS (INSERT INTO posting (entry_id, account_id, side, amount_cents)"
                " SELECT entry.id, account.id, side, 100 FROM entry, account, unnest(ARRAY['debit', 'credit']) AS side)"
                " SELECT id FROM entry"
            ),
            {"key": key},
        )
    ).scalar_one()
    return entry


async def test_an_imported_lot_key_is_refused_twice_and_retained_lots_have_none(session):
    lot = {"member": await _member(session), "entry": await _entry(session)}
    ref = f"lot-{uuid.uuid4().hex}"
    for _ in range(2):  # many lots without a key, as approval writes them
        await session.execute(sa.text(INSERT_LOT), lot | {"kind": "retained_patronage", "ref": None})
    await session.execute(sa.text(INSERT_LOT), lot | {"kind": "imported", "ref": ref})
    with pytest.raises(IntegrityError, match="uq_equity_lot_external_ref") as caught:
        await session.execute(sa.text(INSERT_LOT), lot | {"kind": "imported", "ref": ref})
    assert getattr(caught.value.orig, "sqlstate", None) == "23505"


async def test_only_keyed_lots_are_in_the_index_and_the_import_look_up_uses_it(session):
    predicate = (
        await session.execute(
            sa.text(
                "SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
                " WHERE indexrelid = CAST('uq_equity_lot_external_ref' AS regclass) AND indisunique"
            )
        )
    ).scalar_one()
    assert predicate == "(external_ref IS NOT NULL)"
    # The import asks for the refs it was given (domain/equity/imports.py); that implies NOT NULL.
    await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        row[0]
        for row in await session.execute(
            sa.text("EXPLAIN SELECT external_ref FROM equity_lot WHERE external_ref IN ('a', 'b')")
        )
    )
    assert "uq_equity_lot_external_ref" in plan


async def test_allocation_lines_are_keyed_by_run_and_member_only_and_notices_use_it(session):
    indexes = {
        row[0]
        for row in await session.execute(
            sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'allocation_line'")
        )
    }
    assert indexes == {"pk_allocation_line"}
    # A member's notices (domain/allocation/listing.py): the posted runs, then one probe of each run's line.
    await session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        row[0]
        for row in await session.execute(
            sa.text(
                "EXPLAIN SELECT r.id, l.allocation_cents"
                " FROM allocation_run r JOIN allocation_line l ON l.run_id = r.id"
                " WHERE l.member_id = 1 AND r.status = 'posted' AND l.allocation_cents <> 0 AND r.id > 0"
                " ORDER BY r.id LIMIT 50"
            )
        )
    )
    assert "pk_allocation_line" in plan


async def test_a_second_line_for_the_same_run_and_member_is_refused(session):
    member = await _member(session)
    run = (
        await session.execute(
            sa.text(
                "INSERT INTO allocation_run (fiscal_year, status, payment_date, request, created_at)"
                " VALUES (2025, 'computing', '2026-03-15', '{}', now()) RETURNING id"
            )
        )
    ).scalar_one()
    line = sa.text(
        "INSERT INTO allocation_line (run_id, member_id, member_number, patronage_cents, computed_cents,"
        " allocation_cents, cash_cents, retained_cents, loan_deduction_cents, qualified, below_minimum)"
        " VALUES (:run, :member, 1, 100, 100, 100, 20, 80, 0, true, false)"
    )
    await session.execute(line, {"run": run, "member": member})
    with pytest.raises(IntegrityError, match="pk_allocation_line") as caught:
        async with session.begin_nested():
            await session.execute(line, {"run": run, "member": member})
    assert getattr(caught.value.orig, "sqlstate", None) == "23505"
