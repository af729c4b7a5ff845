"""Patronage records: imports (idempotent, all-or-nothing), who sees what, fiscal years, immutability."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from domain.membership import service as membership
from domain.patronage import service
from domain.patronage.tables import PatronageRecord
from tests.support.buying import make_supplier, ordering_member, staff_headers, supplier_headers
from tests.support.users import make_member


def record(ref: str, number: int | None, amount: int, when: str = "2024-05-01T12:00:00Z", pool: str = "purchases"):
    return {"external_ref": ref, "member_number": number, "pool": pool, "amount_cents": amount, "occurred_at": when}


async def test_imports_are_idempotent_and_date_membership(client, session):
    staff = await staff_headers(client, session)
    member = await make_member(session, "Old Timer")
    assert member.id is not None
    await membership.admit(session, member.id, probation_days=0, now=datetime(2024, 3, 1, tzinfo=UTC), actor=0)
    await session.commit()
    body = {
        "records": [
            record("old-1", member.member_number, 12_345),
            record("old-2", member.member_number, 500, "2024-02-01T00:00:00Z"),  # before joining
            record("walk-in-1", None, 999, pool="fuel"),
            record("old-3", member.member_number, -345, "2024-12-31T23:59:59Z"),  # a correction
        ]
    }
    first = await client.post("/v1/patronage/imports", json=body, headers=staff)
    assert first.status_code == 200, first.text
    assert first.json() == {"imported": 4, "duplicates": 0}
    again = await client.post("/v1/patronage/imports", json=body, headers=staff)
    assert again.json() == {"imported": 0, "duplicates": 4}
    listed = await client.get("/v1/patronage", params={"fiscal_year": 2024}, headers=staff)
    rows = {
        r["external_ref"]: r
        for r in listed.json()["items"]
        if r["external_ref"] in {"old-1", "old-2", "old-3", "walk-in-1"}
    }
    assert {
        ref: (r["member_id"], r["member_business"], r["amount_cents"], r["fiscal_year"], r["source"])
        for ref, r in rows.items()
    } == {
        "old-1": (str(member.id), True, 12_345, 2024, "import"),
        "old-2": (str(member.id), False, 500, 2024, "import"),
        "walk-in-1": (None, False, 999, 2024, "import"),
        "old-3": (str(member.id), True, -345, 2024, "import"),
    }
    mine = await client.get("/v1/patronage", params={"member_id": str(member.id)}, headers=staff)
    assert sorted(r["amount_cents"] for r in mine.json()["items"]) == [-345, 500, 12_345]


async def test_a_bad_import_writes_nothing_and_lists_every_bad_row(client, session):
    staff = await staff_headers(client, session)
    member = await make_member(session)
    body = {
        "records": [
            record("ok-1", member.member_number, 100),
            record("bad-1", 987_654_321, 100),
            record("ok-1", None, 100),
            record("bad-2", None, 0, pool="Bad Pool"),
        ]
    }
    answer = await client.post("/v1/patronage/imports", json=body, headers=staff)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [
        "records[1].member_number",
        "records[2].external_ref",
        "records[3].pool",
        "records[3].amount_cents",
    ]
    count = await session.execute(sa.select(sa.func.count()).where(col(PatronageRecord.external_ref) == "ok-1"))
    assert count.scalar_one() == 0
    bad: dict[str, Any]
    for bad in (
        {"records": [{"external_ref": "x"}]},
        {"rows": []},
        {"records": [{**record("y", None, 1), "extra": 1}]},
    ):
        assert (await client.post("/v1/patronage/imports", json=bad, headers=staff)).status_code == 400


async def test_members_see_only_their_own_patronage(client, session):
    staff = await staff_headers(client, session)
    alice, alice_h = await ordering_member(client, session, "Alice")
    bob, _ = await ordering_member(client, session, "Bob")
    body = {"records": [record("a-1", alice.member_number, 100), record("b-1", bob.member_number, 200)]}
    await client.post("/v1/patronage/imports", json=body, headers=staff)
    own = await client.get("/v1/patronage", headers=alice_h)
    assert [(r["member_id"], r["amount_cents"]) for r in own.json()["items"]] == [(str(alice.id), 100)]
    assert (await client.get("/v1/patronage", params={"member_id": str(bob.id)}, headers=alice_h)).status_code == 404
    assert (await client.post("/v1/patronage/imports", json=body, headers=alice_h)).status_code == 403
    supplier = await supplier_headers(client, session, (await make_supplier(session)).id)
    assert (await client.get("/v1/patronage", headers=supplier)).status_code == 403
    assert (await client.get("/v1/patronage", params={"member_id": "nope"}, headers=staff)).status_code == 400
    assert (await client.get("/v1/patronage", params={"fiscal_year": "soon"}, headers=staff)).status_code == 400


async def test_fiscal_years_follow_the_coop_start_month(session):
    member = await make_member(session)
    rows = [
        service.ImportRow("fy-1", member.member_number, "purchases", 10, datetime(2025, 6, 30, 23, 0, tzinfo=UTC)),
        service.ImportRow("fy-2", member.member_number, "purchases", 10, datetime(2025, 7, 1, 0, 0, tzinfo=UTC)),
    ]
    await service.import_records(session, rows, fiscal_year_start_month=7, now=datetime.now(UTC))
    years = (
        await session.exec(
            select(PatronageRecord.external_ref, PatronageRecord.fiscal_year).where(
                col(PatronageRecord.external_ref).in_(["fy-1", "fy-2"])
            )
        )
    ).all()
    assert sorted(years) == [("fy-1", 2025), ("fy-2", 2026)]


@pytest.mark.parametrize("statement", ["UPDATE patronage_record SET amount_cents = 1", "DELETE FROM patronage_record"])
async def test_patronage_records_are_immutable(session, statement):
    member = await make_member(session)
    session.add(
        PatronageRecord(
            member_id=member.id,
            member_business=False,
            fiscal_year=2025,
            pool="purchases",
            amount_cents=100,
            occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
            source="correction",
        )
    )
    await session.flush()
    with pytest.raises(DBAPIError, match="is not allowed: rows are immutable"):
        await session.execute(sa.text(statement))
