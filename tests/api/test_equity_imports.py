"""Issue 9: equity lot imports refuse lots of years not ended and lots from before the member joined."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.support.users import bearer, make_user


def _lot(ref: str, number: int, year: int) -> dict[str, object]:
    return {
        "external_ref": ref,
        "member_number": number,
        "fiscal_year": year,
        "qualified": True,
        "face_cents": 1_000,
        "redeemed_cents": 0,
    }


async def test_lots_of_unended_years_or_before_joining_are_400_by_row_and_nothing_is_imported(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    register = [
        {
            "external_ref": "eq-1",
            "name": "Joined 2020",
            "email": "j@eq.test",
            "joined_at": "2020-06-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        }
    ]
    member = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()["members"][0]
    number = member["member_number"]
    this_year = datetime.now(UTC).year
    lots = [
        _lot("eq-ok", number, 2020),  # joined mid-2020: its 2020 patronage could be allocated
        _lot("eq-now", number, this_year),  # the year is still running
        _lot("eq-future", number, this_year + 3),
        _lot("eq-before", number, 2019),  # ended before the member joined
    ]
    answer = await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [
        "lots[1].fiscal_year",
        "lots[2].fiscal_year",
        "lots[3].fiscal_year",
    ]
    assert (await session.execute(sa.text("SELECT count(*) FROM equity_lot"))).scalar_one() == 0
    ok = await client.post("/v1/equity/imports", json={"lots": lots[:1]}, headers=staff)
    assert ok.status_code == 200, ok.text


async def test_a_patronage_import_dated_in_the_future_is_400_naming_the_row(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    records = [
        {
            "external_ref": "fut-0",
            "member_number": None,
            "pool": "purchases",
            "amount_cents": 500,
            "occurred_at": "2025-05-01T00:00:00Z",
        },
        {
            "external_ref": "fut-1",
            "member_number": None,
            "pool": "purchases",
            "amount_cents": 500,
            "occurred_at": tomorrow,
        },
    ]
    answer = await client.post("/v1/patronage/imports", json={"records": records}, headers=staff)
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["records[1].occurred_at"]
    assert (await session.execute(sa.text("SELECT count(*) FROM patronage_record"))).scalar_one() == 0
