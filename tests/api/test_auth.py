"""Signing in, tokens, roles, and the shape of errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col

from domain.catalog import service as catalog
from domain.identity.rules import MemberRole, Role
from domain.identity.tables import AuthToken
from tests.support.users import PASSWORD, bearer, make_member, make_member_user, make_user

PROBLEM = "application/problem+json"


async def test_sign_in_returns_a_token_that_identifies_the_user(client, session):
    member = await make_member(session)
    user = await make_member_user(session, MemberRole.BUYER, member.id)
    answer = await client.post("/v1/auth/token", json={"email": user.email.upper(), "password": PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["user"] == {
        "id": str(user.id),
        "email": user.email,
        "role": "member",
        "member_id": str(member.id),
        "supplier_id": None,
        "member_role": "buyer",
    }
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == body["user"]


async def test_tokens_are_stored_only_as_digests(client, session):
    user = await make_user(session)
    headers = await bearer(client, user.email)
    token = headers["Authorization"].removeprefix("Bearer ")
    stored = (await session.execute(sa.select(col(AuthToken.token_digest)))).scalars().all()
    assert token not in stored
    assert len(stored) == 1


async def test_no_token_is_401_problem(client):
    answer = await client.get("/v1/me")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["www-authenticate"] == "Bearer"
    body = answer.json()
    assert body["status"] == 401
    assert body["title"] == "Unauthorized"
    assert "bearer token" in body["detail"]


async def test_unknown_token_and_other_schemes_are_401(client):
    for header in ("Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer ", "bearer"):
        answer = await client.get("/v1/me", headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.headers["content-type"] == PROBLEM


async def test_expired_token_is_401(client, session):
    user = await make_user(session)
    headers = await bearer(client, user.email)
    await session.execute(
        sa.text("UPDATE auth_token SET expires_at = :t"), {"t": datetime.now(UTC) - timedelta(seconds=1)}
    )
    await session.commit()
    answer = await client.get("/v1/me", headers=headers)
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


async def test_wrong_password_and_unknown_email_look_the_same(client, session):
    user = await make_user(session)
    wrong = await client.post("/v1/auth/token", json={"email": user.email, "password": "not-the-password"})
    unknown = await client.post("/v1/auth/token", json={"email": "nobody@coop.test", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_repeated_failures_are_throttled_even_for_the_right_password(client, session):
    user = await make_user(session)
    for _ in range(5):
        answer = await client.post("/v1/auth/token", json={"email": user.email, "password": "guess-guess-guess"})
        assert answer.status_code == 401
    locked = await client.post("/v1/auth/token", json={"email": user.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["content-type"] == PROBLEM
    assert int(locked.headers["retry-after"]) > 0


async def test_bad_sign_in_body_is_400_with_field_errors(client):
    answer = await client.post("/v1/auth/token", json={"email": "x@y.z"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    assert any("password" in e["message"] or e["field"] == "password" for e in answer.json()["errors"])
    garbage = await client.post("/v1/auth/token", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 400
    assert garbage.headers["content-type"] == PROBLEM


async def test_roles_are_enforced_with_403(client, session):
    member = await make_member_user(session, MemberRole.ADMIN)
    mill = await catalog.create_supplier(session, name="Mill", email="mill@supplier.test")
    supplier = await make_user(session, Role.SUPPLIER, supplier_id=mill.id)
    staff = await make_user(session)
    for user in (member, supplier):
        headers = await bearer(client, user.email)
        answer = await client.get("/v1/ledger/trial-balance", headers=headers)
        assert answer.status_code == 403
        assert answer.headers["content-type"] == PROBLEM
        created = await client.post(
            "/v1/staff-users", json={"email": "sneaky@coop.test", "password": PASSWORD}, headers=headers
        )
        assert created.status_code == 403
    staff_headers = await bearer(client, staff.email)
    assert (await client.get("/v1/ledger/trial-balance", headers=staff_headers)).status_code == 200


async def test_staff_add_colleagues_once_per_email(client, session):
    staff = await make_user(session)
    headers = await bearer(client, staff.email)
    body = {"email": "New.Colleague@coop.test", "password": PASSWORD}
    created = await client.post("/v1/staff-users", json=body, headers=headers)
    assert created.status_code == 201
    assert created.json()["email"] == "new.colleague@coop.test"
    assert created.json()["role"] == "staff"
    again = await client.post("/v1/staff-users", json=body, headers=headers)
    assert again.status_code == 409
    weak = await client.post("/v1/staff-users", json={"email": "not-an-email", "password": "short"}, headers=headers)
    assert weak.status_code == 400
    assert {e["field"] for e in weak.json()["errors"]} == {"email", "password"}


async def test_unknown_route_is_404_problem(client):
    answer = await client.get("/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 404


async def test_every_answer_carries_a_request_id(client):
    answer = await client.get("/v1/me", headers={"X-Request-ID": "trace-123"})
    assert answer.headers["x-request-id"] == "trace-123"
    assert answer.json()["request_id"] == "trace-123"
    fresh = await client.get("/v1/me", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["x-request-id"] != "bad id with spaces"
