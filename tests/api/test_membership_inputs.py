"""Membership input that must be refused or answered idempotently (issue 9): e-mails, consents, imports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from domain.membership.tables import Member, MemberConsent
from tests.support.users import bearer, make_user


async def _staff(client, session) -> dict[str, str]:
    return await bearer(client, (await make_user(session)).email)


async def _count(session, table) -> int:
    return int((await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


def _row(ref: str, email: str, **extra: object) -> dict[str, object]:
    return {
        "external_ref": ref,
        "name": f"Shop {ref}",
        "email": email,
        "joined_at": "2020-01-01T00:00:00Z",
        "status": "full",
        "share_paid_cents": 0,
    } | extra


async def test_a_second_member_with_the_same_email_in_any_case_is_a_409_naming_the_field(client, session):
    staff = await _staff(client, session)
    first = await client.post("/v1/members", json={"name": "Bakery", "email": "Same@Shop.test"}, headers=staff)
    assert first.status_code == 201, first.text
    before = await _count(session, Member)
    second = await client.post("/v1/members", json={"name": "Other", "email": " same@SHOP.test"}, headers=staff)
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "member_email_taken"
    assert [e["field"] for e in second.json()["errors"]] == ["email"]
    assert await _count(session, Member) == before


async def test_imports_refuse_an_email_twice_in_the_file_or_already_registered_with_its_row(client, session):
    staff = await _staff(client, session)
    before = await _count(session, Member)
    twice = await client.post(
        "/v1/members/imports",
        json={"members": [_row("a", "dup@old.test"), _row("b", "other@old.test"), _row("c", "DUP@old.test")]},
        headers=staff,
    )
    assert twice.status_code == 400, twice.text
    assert [e["field"] for e in twice.json()["errors"]] == ["members[2].email"]
    assert await _count(session, Member) == before

    registered = await client.post("/v1/members", json={"name": "Here", "email": "here@shop.test"}, headers=staff)
    assert registered.status_code == 201
    across = await client.post(
        "/v1/members/imports",
        json={"members": [_row("d", "new@old.test"), _row("e", "Here@Shop.test")]},
        headers=staff,
    )
    assert across.status_code == 409, across.text
    assert [e["field"] for e in across.json()["errors"]] == ["members[1].email"]
    assert await _count(session, Member) == before + 1

    # A row imported before keeps its own address: re-importing it is a duplicate, not a conflict.
    landed = await client.post("/v1/members/imports", json={"members": [_row("f", "f@old.test")]}, headers=staff)
    assert landed.status_code == 200, landed.text
    again = await client.post("/v1/members/imports", json={"members": [_row("f", "f@old.test")]}, headers=staff)
    assert again.status_code == 200, again.text
    assert again.json()["duplicates"] == 1


async def test_an_import_with_joined_at_in_the_future_is_refused_naming_row_and_field(client, session):
    staff = await _staff(client, session)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    before = await _count(session, Member)
    answer = await client.post(
        "/v1/members/imports",
        json={"members": [_row("g", "g@old.test"), _row("h", "h@old.test", joined_at=tomorrow)]},
        headers=staff,
    )
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["members[1].joined_at"]
    assert await _count(session, Member) == before


async def test_the_same_consent_twice_answers_the_one_on_file_and_another_date_is_a_409(client, session):
    staff = await _staff(client, session)
    mid = (await client.post("/v1/members", json={"name": "C", "email": "c@shop.test"}, headers=staff)).json()["id"]
    body = {"kind": "written", "received_on": "2026-01-05"}
    first = await client.post(f"/v1/members/{mid}/consents", json=body, headers=staff)
    assert first.status_code == 201, first.text
    again = await client.post(f"/v1/members/{mid}/consents", json=body, headers=staff)
    assert again.status_code == 201
    assert again.json() == first.json()
    other_day = await client.post(
        f"/v1/members/{mid}/consents", json={"kind": "written", "received_on": "2026-02-01"}, headers=staff
    )
    assert other_day.status_code == 409, other_day.text
    assert [e["field"] for e in other_day.json()["errors"]] == ["received_on"]
    count = sa.select(sa.func.count()).where(col(MemberConsent.member_id) == int(mid))
    assert (await session.execute(count)).scalar_one() == 1


async def test_reinstatement_keeps_the_first_bylaw_consent(client, session):
    from domain.departures import service as departures
    from domain.membership import service
    from domain.membership.rules import Status

    staff = await _staff(client, session)
    mid = (await client.post("/v1/members", json={"name": "R", "email": "r@shop.test"}, headers=staff)).json()["id"]
    await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": "cash"}, headers=staff
    )
    await client.post(f"/v1/members/{mid}/admit", json={}, headers=staff)
    await departures.change_standing(session, int(mid), Status.SUSPENDED, reason="r", now=datetime.now(UTC), actor=1)
    later = datetime.now(UTC) + timedelta(days=3)
    await departures.change_standing(session, int(mid), Status.FULL, reason="r", now=later, actor=1)
    consents = await service.consents(session, int(mid))
    assert [(c.kind, c.received_on) for c in consents] == [("bylaw", datetime.now(UTC).date())]
