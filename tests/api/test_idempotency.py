"""Idempotency-Key on POST: same key and body, same answer, work done once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col

from domain.identity.tables import User
from tests.support.users import PASSWORD, bearer, make_user


async def _users(session) -> int:
    return int((await session.execute(sa.select(sa.func.count()).select_from(User))).scalar_one())


async def test_same_key_same_body_replays_the_first_answer(client, session):
    staff = await make_user(session)
    headers = {**await bearer(client, staff.email), "Idempotency-Key": "k-1"}
    body = {"email": "once@coop.test", "password": PASSWORD}
    before = await _users(session)
    first = await client.post("/v1/staff-users", json=body, headers=headers)
    second = await client.post("/v1/staff-users", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await _users(session) == before + 1


async def test_same_key_other_body_is_422(client, session):
    staff = await make_user(session)
    headers = {**await bearer(client, staff.email), "Idempotency-Key": "k-2"}
    await client.post("/v1/staff-users", json={"email": "a@coop.test", "password": PASSWORD}, headers=headers)
    other = await client.post("/v1/staff-users", json={"email": "b@coop.test", "password": PASSWORD}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert (await session.execute(sa.select(User).where(col(User.email) == "b@coop.test"))).first() is None


async def test_keys_belong_to_the_caller(client, session):
    alice, bob = await make_user(session), await make_user(session)
    body = {"email": "shared-key@coop.test", "password": PASSWORD}
    a = await client.post(
        "/v1/staff-users", json=body, headers={**await bearer(client, alice.email), "Idempotency-Key": "same"}
    )
    b = await client.post(
        "/v1/staff-users", json=body, headers={**await bearer(client, bob.email), "Idempotency-Key": "same"}
    )
    assert a.status_code == 201
    assert b.status_code == 409  # Bob's request really ran: the e-mail was taken


async def test_errors_are_replayed_too_and_a_blank_key_is_refused(client, session):
    staff = await make_user(session)
    auth = await bearer(client, staff.email)
    bad = {"email": "nope", "password": "short"}
    first = await client.post("/v1/staff-users", json=bad, headers={**auth, "Idempotency-Key": "k-3"})
    again = await client.post("/v1/staff-users", json=bad, headers={**auth, "Idempotency-Key": "k-3"})
    assert first.status_code == again.status_code == 400
    assert first.json()["errors"] == again.json()["errors"]
    blank = await client.post("/v1/staff-users", json=bad, headers={**auth, "Idempotency-Key": " "})
    assert blank.status_code == 400
    assert "Idempotency-Key" in blank.json()["detail"]
