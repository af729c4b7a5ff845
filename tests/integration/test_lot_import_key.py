"""An imported lot's key (external_ref) stays unique; retained lots, which have none, stay out of its index (0039).

Approval writes 100,000 retained lots at 100k members; before 0039 each put a NULL entry in the
unique index that only the lot import reads, by refs it was given.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

INSERT_LOT = (
    "INSERT INTO equity_lot (member_id, fiscal_year, kind, qualified, external_ref, created_at)"
    " VALUES (:member, 2020, :kind, true, :ref, now())"
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


async def test_an_imported_lot_key_is_refused_twice_and_retained_lots_have_none(session):
    member = await _member(session)
    ref = f"lot-{uuid.uuid4().hex}"
    for _ in range(2):  # many lots without a key, as approval writes them
        await session.execute(sa.text(INSERT_LOT), {"member": member, "kind": "retained_patronage", "ref": None})
    await session.execute(sa.text(INSERT_LOT), {"member": member, "kind": "imported", "ref": ref})
    with pytest.raises(IntegrityError, match="uq_equity_lot_external_ref") as caught:
        await session.execute(sa.text(INSERT_LOT), {"member": member, "kind": "imported", "ref": ref})
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
