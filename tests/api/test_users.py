"""Accounts: departed members' users, sign-out, revocation and the user routes (issue 8 item 14, issue 9)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from domain.catalog import service as catalog
from domain.db import make_engine, make_session_maker
from domain.identity import service as identity
from domain.identity.rules import MemberRole, Role
from domain.membership import service as membership
from domain.settings import Settings
from tests.support.apps import running
from tests.support.scratch_db import migrated_database
from tests.support.users import PASSWORD, bearer, make_member, make_member_user, make_user

if TYPE_CHECKING:
    from collections.abc import Iterator

PROBLEM = "application/problem+json"
NEW_PASSWORD = "another-long-password"


async def _set_status(session, member_id: int | None, status: str) -> None:
    await session.execute(sa.text("UPDATE member SET status = :s WHERE id = :id"), {"s": status, "id": member_id})
    await session.commit()


async def test_users_of_expelled_and_former_members_lose_their_tokens_and_cannot_sign_in(client, session):
    for status in ("expelled", "former"):
        member = await make_member(session)
        user = await make_member_user(session, MemberRole.ADMIN, member.id)
        headers = await bearer(client, user.email)
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
        await _set_status(session, member.id, status)
        assert (await client.get("/v1/me", headers=headers)).status_code == 401, status
        refused = await client.post("/v1/auth/token", json={"email": user.email, "password": PASSWORD})
        wrong = await client.post("/v1/auth/token", json={"email": user.email, "password": "not-the-password"})
        assert refused.status_code == wrong.status_code == 401
        assert refused.json()["detail"] == wrong.json()["detail"]  # says nothing about the password


async def test_users_of_a_suspended_member_may_sign_in_and_read(client, session):
    member = await make_member(session)
    user = await make_member_user(session, MemberRole.ADMIN, member.id)
    await _set_status(session, member.id, "suspended")
    headers = await bearer(client, user.email)
    assert (await client.get(f"/v1/members/{member.id}", headers=headers)).status_code == 200
    # ... but may not widen their member's access.
    added = await client.post(
        f"/v1/members/{member.id}/users",
        json={"email": "late@shop.test", "password": PASSWORD, "member_role": "buyer"},
        headers=headers,
    )
    assert added.status_code == 409
    staff = await bearer(client, (await make_user(session)).email)
    added = await client.post(
        f"/v1/members/{member.id}/users",
        json={"email": "late@shop.test", "password": PASSWORD, "member_role": "buyer"},
        headers=staff,
    )
    assert added.status_code == 409
    buyer = await make_member_user(session, MemberRole.BUYER, member.id)
    changed = await client.patch(f"/v1/users/{buyer.id}", json={"member_role": "admin"}, headers=headers)
    assert changed.status_code == 409
    assert (await client.patch(f"/v1/users/{buyer.id}", json={"disabled": True}, headers=staff)).status_code == 200


async def test_sign_out_revokes_only_the_callers_token(client, session):
    user = await make_user(session)
    first = await bearer(client, user.email)
    second = await bearer(client, user.email)
    out = await client.post("/v1/auth/sign-out", headers=first)
    assert out.status_code == 204
    assert (await client.get("/v1/me", headers=first)).status_code == 401
    assert (await client.get("/v1/me", headers=second)).status_code == 200
    assert (await client.post("/v1/auth/sign-out")).status_code == 401


async def test_adding_an_existing_email_does_not_say_whose_it_is(client, session):
    mill = await catalog.create_supplier(session, name="Mill", email="mill@supplier.test")
    taken = [
        (await make_user(session)).email,
        (await make_member_user(session, MemberRole.BUYER)).email,
        (await make_user(session, Role.SUPPLIER, supplier_id=mill.id)).email,
    ]
    admin = await make_member_user(session, MemberRole.ADMIN)
    headers = await bearer(client, admin.email)
    answers = []
    for email in taken:
        answer = await client.post(
            f"/v1/members/{admin.member_id}/users",
            json={"email": email.upper(), "password": PASSWORD, "member_role": "buyer"},
            headers=headers,
        )
        assert answer.status_code == 409
        body = answer.json()
        assert email not in answer.text.lower()
        answers.append((body["title"], body["detail"], body.get("errors")))
    assert len(set(map(str, answers))) == 1  # staff, another member's, a supplier's: the same answer


async def test_listing_users_by_member(client, session):
    member = await make_member(session)
    admin = await make_member_user(session, MemberRole.ADMIN, member.id)
    buyer = await make_member_user(session, MemberRole.BUYER, member.id)
    other = await make_member_user(session, MemberRole.ADMIN)
    admin_h = await bearer(client, admin.email)
    listed = await client.get("/v1/users", headers=admin_h)
    assert listed.status_code == 200
    assert [u["id"] for u in listed.json()["items"]] == [str(admin.id), str(buyer.id)]
    assert listed.json()["items"][1] == {
        "id": str(buyer.id),
        "email": buyer.email,
        "role": "member",
        "member_id": str(member.id),
        "supplier_id": None,
        "member_role": "buyer",
        "disabled": False,
    }
    assert (await client.get(f"/v1/users?member_id={other.member_id}", headers=admin_h)).status_code == 404
    buyer_h = await bearer(client, buyer.email)
    assert (await client.get("/v1/users", headers=buyer_h)).status_code == 403
    staff_h = await bearer(client, (await make_user(session)).email)
    by_staff = await client.get(f"/v1/users?member_id={member.id}&limit=1", headers=staff_h)
    assert [u["id"] for u in by_staff.json()["items"]] == [str(admin.id)]
    rest = await client.get(
        f"/v1/users?member_id={member.id}&limit=1&cursor={by_staff.json()['next_cursor']}", headers=staff_h
    )
    assert [u["id"] for u in rest.json()["items"]] == [str(buyer.id)]


async def test_member_admins_change_roles_and_disable_their_own_users_only(client, session):
    member = await make_member(session)
    admin = await make_member_user(session, MemberRole.ADMIN, member.id)
    buyer = await make_member_user(session, MemberRole.BUYER, member.id)
    stranger = await make_member_user(session, MemberRole.BUYER)
    admin_h = await bearer(client, admin.email)
    buyer_h = await bearer(client, buyer.email)

    promoted = await client.patch(f"/v1/users/{buyer.id}", json={"member_role": "finance"}, headers=admin_h)
    assert promoted.status_code == 200
    assert promoted.json()["member_role"] == "finance"
    hidden = await client.patch(f"/v1/users/{stranger.id}", json={"disabled": True}, headers=admin_h)
    assert hidden.status_code == 404
    assert (await client.patch(f"/v1/users/{admin.id}", json={"disabled": True}, headers=buyer_h)).status_code == 403

    disabled = await client.patch(f"/v1/users/{buyer.id}", json={"disabled": True}, headers=admin_h)
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert (await client.get("/v1/me", headers=buyer_h)).status_code == 401  # tokens revoked
    refused = await client.post("/v1/auth/token", json={"email": buyer.email, "password": PASSWORD})
    assert refused.status_code == 401

    enabled = await client.patch(f"/v1/users/{buyer.id}", json={"disabled": False}, headers=admin_h)
    assert enabled.json()["disabled"] is False
    assert (await client.post("/v1/auth/token", json={"email": buyer.email, "password": PASSWORD})).status_code == 200


async def test_a_member_never_loses_its_last_admin(client, session):
    member = await make_member(session)
    admin = await make_member_user(session, MemberRole.ADMIN, member.id)
    staff_h = await bearer(client, (await make_user(session)).email)
    for change in ({"member_role": "buyer"}, {"disabled": True}):
        refused = await client.patch(f"/v1/users/{admin.id}", json=change, headers=staff_h)
        assert refused.status_code == 409, change
        assert refused.headers["content-type"] == PROBLEM
    second = await make_member_user(session, MemberRole.ADMIN, member.id)
    assert (await client.patch(f"/v1/users/{admin.id}", json={"disabled": True}, headers=staff_h)).status_code == 200
    assert (
        await client.patch(f"/v1/users/{second.id}", json={"member_role": "buyer"}, headers=staff_h)
    ).status_code == 409


async def test_user_changes_that_make_no_sense_are_refused(client, session):
    staff = await make_user(session)
    colleague = await make_user(session)
    staff_h = await bearer(client, staff.email)
    role = await client.patch(f"/v1/users/{colleague.id}", json={"member_role": "buyer"}, headers=staff_h)
    assert role.status_code == 400
    assert role.json()["errors"][0]["field"] == "member_role"
    assert (await client.patch(f"/v1/users/{staff.id}", json={"disabled": True}, headers=staff_h)).status_code == 409
    unknown = await client.patch(f"/v1/users/{colleague.id}", json={"disabled": True, "x": 1}, headers=staff_h)
    assert unknown.status_code == 400
    assert (await client.patch("/v1/users/99999999", json={"disabled": True}, headers=staff_h)).status_code == 404
    # Staff disable anyone, colleagues included.
    assert (
        await client.patch(f"/v1/users/{colleague.id}", json={"disabled": True}, headers=staff_h)
    ).status_code == 200


async def test_changing_my_password_needs_the_current_one_and_signs_out_elsewhere(client, session):
    user = await make_user(session)
    here = await bearer(client, user.email)
    elsewhere = await bearer(client, user.email)
    wrong = await client.post(
        "/v1/me/password", json={"current_password": "not-it-at-all", "new_password": NEW_PASSWORD}, headers=here
    )
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["field"] == "current_password"
    weak = await client.post("/v1/me/password", json={"current_password": PASSWORD, "new_password": "x"}, headers=here)
    assert weak.status_code == 400
    assert weak.json()["errors"][0]["field"] == "new_password"
    changed = await client.post(
        "/v1/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=here
    )
    assert changed.status_code == 204
    assert (await client.get("/v1/me", headers=here)).status_code == 200
    assert (await client.get("/v1/me", headers=elsewhere)).status_code == 401
    assert (await client.post("/v1/auth/token", json={"email": user.email, "password": PASSWORD})).status_code == 401
    await bearer(client, user.email, NEW_PASSWORD)


async def test_only_staff_unlock_and_suppliers_manage_no_users(client, session):
    mill = await catalog.create_supplier(session, name="Mill", email="mill2@supplier.test")
    supplier = await make_user(session, Role.SUPPLIER, supplier_id=mill.id)
    admin = await make_member_user(session, MemberRole.ADMIN)
    for user in (supplier, admin):
        headers = await bearer(client, user.email)
        assert (await client.post(f"/v1/users/{admin.id}/unlock", headers=headers)).status_code == 403
    supplier_h = await bearer(client, supplier.email)
    assert (await client.get("/v1/users", headers=supplier_h)).status_code == 403
    assert (await client.patch(f"/v1/users/{admin.id}", json={"disabled": True}, headers=supplier_h)).status_code == 403


async def test_guessing_the_current_password_with_a_stolen_token_is_throttled(client, session):
    user = await make_user(session)
    stolen = await bearer(client, user.email)
    for i in range(5):
        guess = {"current_password": f"guess-number-{i}", "new_password": NEW_PASSWORD}
        assert (await client.post("/v1/me/password", json=guess, headers=stolen)).status_code == 400
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    refused = await client.post("/v1/me/password", json=right, headers=stolen)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    await bearer(client, user.email)  # the password did not change


# --- two admins disabling each other at once, on real connections and real COMMITs ----

SCRATCH = "coop_users_concurrency"
RING = 6


@pytest.fixture(scope="module")
def scratch_url(stack) -> Iterator[str]:
    with migrated_database(stack.database_url, SCRATCH) as url:
        yield url


async def test_admins_disabling_each_other_at_once_leave_one_admin(scratch_url, stack, queue):
    engine = make_engine(scratch_url, pool_size=2)
    try:
        async with make_session_maker(engine)() as s:
            member = await membership.apply(s, name="Ring", email="ring@x.test", contact_name=None, par_cents=10_000)
            admins = [
                await identity.create_user(
                    s,
                    email=f"ring{i}@x.test",
                    password=PASSWORD,
                    role=Role.MEMBER,
                    member_id=member.id,
                    member_role=MemberRole.ADMIN,
                )
                for i in range(RING)
            ]
            await s.commit()
        settings = Settings.from_env({"DATABASE_URL": scratch_url, "REDIS_URL": stack.redis_url})
        async with running(create_app(settings, redis=queue)) as app:
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as c:
                headers = [await bearer(c, a.email) for a in admins]
                # Each admin disables the next one, all at once.
                answers = await asyncio.gather(
                    *(
                        c.patch(f"/v1/users/{admins[(i + 1) % RING].id}", json={"disabled": True}, headers=headers[i])
                        for i in range(RING)
                    )
                )
        assert {a.status_code for a in answers} <= {200, 401, 403, 409}
        async with engine.connect() as conn:
            enabled = await conn.execute(
                sa.text("SELECT count(*) FROM app_user WHERE member_id = :m AND disabled_at IS NULL"), {"m": member.id}
            )
            assert enabled.scalar_one() >= 1
    finally:
        await engine.dispose()
