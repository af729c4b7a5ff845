"""Bringing an existing co-op over: the register and the equity lots, idempotent and all-or-nothing."""

from __future__ import annotations

import sqlalchemy as sa

from domain.membership.tables import Member
from tests.support.users import bearer, make_user

REGISTER = [
    {
        "external_ref": "old-1",
        "name": "Bakery",
        "email": "b@old.test",
        "joined_at": "2019-03-01T00:00:00Z",
        "status": "full",
        "share_paid_cents": 10_000,
    },
    {
        "external_ref": "old-2",
        "name": "Florist",
        "email": "f@old.test",
        "joined_at": "2020-06-15T00:00:00Z",
        "status": "full",
        "share_paid_cents": 2_500,
    },
    {
        "external_ref": "old-3",
        "name": "Cobbler",
        "email": "c@old.test",
        "joined_at": "2018-01-10T00:00:00Z",
        "status": "former",
        "share_paid_cents": 0,
        "left_at": "2023-12-31T00:00:00Z",
    },
]


async def _members(session) -> int:
    return int((await session.execute(sa.select(sa.func.count()).select_from(Member))).scalar_one())


async def test_register_import_keeps_history_and_is_idempotent(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    first = await client.post("/v1/members/imports", json={"members": REGISTER}, headers=staff)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["imported"], body["duplicates"]) == (3, 0)
    numbers = [m["member_number"] for m in body["members"]]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3

    again = await client.post("/v1/members/imports", json={"members": REGISTER}, headers=staff)
    assert (again.json()["imported"], again.json()["duplicates"]) == (0, 3)
    assert again.json()["members"] == body["members"]

    bakery, florist, cobbler = [
        (await client.get(f"/v1/members/{m['id']}", headers=staff)).json() for m in body["members"]
    ]
    assert (bakery["status"], bakery["votes"], bakery["joined_at"]) == ("full", 1, "2019-03-01T00:00:00Z")
    assert bakery["share"] == {"par_cents": 10_000, "paid_cents": 10_000, "issued": True}
    assert florist["share"]["paid_cents"] == 2_500
    assert (cobbler["status"], cobbler["votes"], cobbler["left_at"]) == ("former", 0, "2023-12-31T00:00:00Z")
    history = (await client.get(f"/v1/members/{cobbler['id']}/history", headers=staff)).json()
    assert [(h["to_status"], h["effective_at"][:10]) for h in history["items"]] == [
        ("full", "2018-01-10"),
        ("former", "2023-12-31"),
    ]

    lots = [
        {
            "external_ref": "lot-a",
            "member_number": numbers[0],
            "fiscal_year": 2021,
            "qualified": True,
            "face_cents": 12_345,
            "redeemed_cents": 0,
        },
        {
            "external_ref": "lot-b",
            "member_number": numbers[0],
            "fiscal_year": 2019,
            "qualified": False,
            "face_cents": 5_000,
            "redeemed_cents": 1_500,
        },
        {
            "external_ref": "lot-c",
            "member_number": numbers[2],
            "fiscal_year": 2020,
            "qualified": True,
            "face_cents": 800,
            "redeemed_cents": 800,
        },
    ]
    imported = await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"imported": 3, "duplicates": 0}
    assert (await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)).json() == {
        "imported": 0,
        "duplicates": 3,
    }
    equity = (await client.get(f"/v1/members/{bakery['id']}/equity", headers=staff)).json()
    assert equity["lots"] == [
        {
            "fiscal_year": 2019,
            "kind": "imported",
            "qualified": False,
            "face_cents": 5_000,
            "redeemed_cents": 1_500,
            "outstanding_cents": 3_500,
        },
        {
            "fiscal_year": 2021,
            "kind": "imported",
            "qualified": True,
            "face_cents": 12_345,
            "redeemed_cents": 0,
            "outstanding_cents": 12_345,
        },
    ]
    assert equity["total_equity_cents"] == 10_000 + 3_500 + 12_345
    balance = (await client.get("/v1/ledger/trial-balance", headers=staff)).json()
    assert balance["balanced"] is True


async def test_a_bad_row_rejects_the_whole_register_and_names_every_bad_row(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    before = await _members(session)
    rows = [
        REGISTER[0],
        {**REGISTER[1], "email": "not-an-email"},
        {**REGISTER[2], "left_at": None},
        {**REGISTER[0], "external_ref": "old-4", "email": "d@old.test", "share_paid_cents": 10_001},
        {**REGISTER[1], "external_ref": "old-1"},
    ]
    answer = await client.post("/v1/members/imports", json={"members": rows}, headers=staff)
    assert answer.status_code == 400
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {
        "members[1].email",
        "members[2].left_at",
        "members[3].share_paid_cents",
        "members[4].external_ref",
    }
    assert await _members(session) == before


async def test_a_bad_lot_rejects_the_whole_equity_import(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    numbers = [
        m["member_number"]
        for m in (await client.post("/v1/members/imports", json={"members": REGISTER}, headers=staff)).json()["members"]
    ]
    rows = [
        {
            "external_ref": "ok",
            "member_number": numbers[0],
            "fiscal_year": 2020,
            "qualified": True,
            "face_cents": 100,
            "redeemed_cents": 0,
        },
        {
            "external_ref": "bad-1",
            "member_number": 987_654,
            "fiscal_year": 2020,
            "qualified": True,
            "face_cents": 100,
            "redeemed_cents": 0,
        },
        {
            "external_ref": "bad-2",
            "member_number": numbers[0],
            "fiscal_year": 2020,
            "qualified": True,
            "face_cents": 100,
            "redeemed_cents": 101,
        },
    ]
    answer = await client.post("/v1/equity/imports", json={"lots": rows}, headers=staff)
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"lots[1].member_number", "lots[2].redeemed_cents"}
    member_id = next(
        m for m in (await client.get("/v1/members", headers=staff)).json()["items"] if m["member_number"] == numbers[0]
    )["id"]
    assert (await client.get(f"/v1/members/{member_id}/equity", headers=staff)).json()["lots"] == []
