"""Members from application to full membership to withdrawal, through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.identity.rules import MemberRole
from tests.support.users import PASSWORD, bearer, make_member_user, make_user

PROBLEM = "application/problem+json"


async def staff_headers(client, session) -> dict[str, str]:
    return await bearer(client, (await make_user(session)).email)


async def test_a_member_from_application_to_withdrawal(client, session):
    staff = await staff_headers(client, session)
    applied = await client.post(
        "/v1/members",
        json={"name": "Corner Bakery", "email": "Owner@Bakery.test", "contact_name": "Ana"},
        headers=staff,
    )
    assert applied.status_code == 201, applied.text
    member = applied.json()
    mid = member["id"]
    assert member["status"] == "applicant"
    assert member["votes"] == 0
    assert member["email"] == "owner@bakery.test"
    assert member["share"] == {"par_cents": 10_000, "paid_cents": 0, "issued": False}
    assert isinstance(member["member_number"], int)

    # The member's admin gets a user and can see (only) its own member.
    admin = await client.post(
        f"/v1/members/{mid}/users",
        json={"email": "ana@bakery.test", "password": PASSWORD, "member_role": "admin"},
        headers=staff,
    )
    assert admin.status_code == 201, admin.text
    own = await bearer(client, "ana@bakery.test")
    listed = await client.get("/v1/members", headers=own)
    assert [m["id"] for m in listed.json()["items"]] == [mid]

    admitted = await client.post(f"/v1/members/{mid}/admit", json={"probation_days": 0}, headers=staff)
    assert admitted.status_code == 200
    assert admitted.json()["status"] == "probationary"  # the share is not paid yet
    assert admitted.json()["votes"] == 0

    first = await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 4_000, "method": "cash"}, headers=staff
    )
    assert first.status_code == 201, first.text
    assert first.json()["member"]["share"] == {"par_cents": 10_000, "paid_cents": 4_000, "issued": False}
    assert first.json()["member"]["status"] == "probationary"

    too_much = await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 6_001, "method": "check"}, headers=staff
    )
    assert too_much.status_code == 400
    assert too_much.json()["errors"][0]["field"] == "amount_cents"
    assert "6000" in too_much.json()["errors"][0]["message"]

    rest = await client.post(
        f"/v1/members/{mid}/share-payments",
        json={"amount_cents": 6_000, "method": "bank_transfer", "reference": "TRX-9"},
        headers=staff,
    )
    assert rest.status_code == 201
    full = rest.json()["member"]
    assert full["status"] == "full"
    assert full["votes"] == 1
    assert full["share"] == {"par_cents": 10_000, "paid_cents": 10_000, "issued": True}

    # The member owes 25.50 after a credit and a payment on 60.00 of charges: set off at exit.
    await _charge(session, int(mid), 6_000)
    paid = await client.post(
        f"/v1/members/{mid}/payments", json={"amount_cents": 2_000, "method": "card"}, headers=staff
    )
    assert paid.status_code == 201
    credit = await client.post(
        f"/v1/members/{mid}/credits", json={"amount_cents": 1_450, "reason": "dented cans"}, headers=staff
    )
    assert credit.status_code == 201
    account = (await client.get(f"/v1/members/{mid}/account", headers=own)).json()
    assert account["balance_cents"] == 2_550
    assert [(e["kind"], e["amount_cents"], e["balance_cents"]) for e in account["entries"]] == [
        ("sale", 6_000, 6_000),
        ("trade_payment", -2_000, 4_000),
        ("trade_credit", -1_450, 2_550),
    ]

    equity = (await client.get(f"/v1/members/{mid}/equity", headers=own)).json()
    assert equity["membership_share_cents"] == 10_000
    assert equity["total_equity_cents"] == 10_000

    left = await client.post(f"/v1/members/{mid}/withdraw", json={}, headers=own)
    assert left.status_code == 200, left.text
    gone = left.json()
    assert gone["status"] == "former"
    assert gone["votes"] == 0
    assert gone["left_at"] is not None
    assert gone["share"]["paid_cents"] == 10_000  # owed until the board approves its redemption
    approved = await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=staff)
    assert approved.status_code == 200, approved.text

    after = (await client.get(f"/v1/members/{mid}/account", headers=staff)).json()
    assert after["balance_cents"] == 0  # the 25.50 was set off against the share
    assert after["entries"][-1]["kind"] == "set_off"
    equity = (await client.get(f"/v1/members/{mid}/equity", headers=staff)).json()
    assert equity["membership_share_cents"] == 0

    payouts = await _payouts(session, int(mid))
    assert [(p.kind, p.amount_cents, p.status) for p in payouts] == [("share_redemption", 7_450, "pending")]

    # A former member's users are signed out for good (issue 8, item 14).
    assert (await client.get(f"/v1/members/{mid}", headers=own)).status_code == 401
    consents = (await client.get(f"/v1/members/{mid}/consents", headers=staff)).json()
    assert consents["next_cursor"] is None  # the list envelope, like every list
    today = datetime.now(UTC).date().isoformat()
    assert [(c["kind"], c["received_on"]) for c in consents["items"]] == [("bylaw", today)]
    written = await client.post(
        f"/v1/members/{mid}/consents", json={"kind": "written", "received_on": "2026-01-05"}, headers=staff
    )
    assert written.status_code == 201
    history = (await client.get(f"/v1/members/{mid}/history", headers=staff)).json()
    assert history["next_cursor"] is None
    assert [(h["from_status"], h["to_status"]) for h in history["items"]] == [
        (None, "applicant"),
        ("applicant", "probationary"),
        ("probationary", "full"),
        ("full", "former"),
    ]
    again = await client.post(f"/v1/members/{mid}/admit", json={"probation_days": 0}, headers=staff)
    assert again.status_code == 409
    assert "former" in again.json()["detail"]


async def _charge(session, member_id: int, cents: int) -> None:
    from domain.ledger import chart
    from domain.ledger import service as ledger

    await ledger.transfer(
        session,
        debit=chart.member_trade(member_id),
        credit=chart.SALES,
        amount_cents=cents,
        kind="sale",
        idempotency_key=f"test-sale:{member_id}:{cents}",
        occurred_at=datetime.now(UTC),
    )
    await session.commit()


async def _payouts(session, member_id: int):
    from domain.payments.service import payouts_of

    return await payouts_of(session, member_id)


async def test_probation_then_the_daily_job_makes_the_member_full(client, session):
    from domain.membership import service

    staff = await staff_headers(client, session)
    mid = (await client.post("/v1/members", json={"name": "Tiny Cafe", "email": "a@cafe.test"}, headers=staff)).json()[
        "id"
    ]
    await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": "cash"}, headers=staff
    )
    admitted = (await client.post(f"/v1/members/{mid}/admit", json={"probation_days": 30}, headers=staff)).json()
    assert admitted["status"] == "probationary"
    assert admitted["votes"] == 0
    today = datetime.now(UTC).date()
    assert await service.promote_due_members(session, today + timedelta(days=29)) == 0
    assert await service.promote_due_members(session, today + timedelta(days=30)) == 1
    await session.commit()
    assert (await client.get(f"/v1/members/{mid}", headers=staff)).json()["votes"] == 1
    assert await service.promote_due_members(session, today + timedelta(days=31)) == 0  # runs twice harmlessly


async def test_a_dated_notice_takes_effect_on_its_date(client, session):
    from domain.departures import service as departures

    staff = await staff_headers(client, session)
    mid = (await client.post("/v1/members", json={"name": "Fix-It", "email": "f@fix.test"}, headers=staff)).json()["id"]
    await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": "cash"}, headers=staff
    )
    await client.post(f"/v1/members/{mid}/admit", json={}, headers=staff)
    later = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    notice = await client.post(f"/v1/members/{mid}/withdraw", json={"effective_date": later}, headers=staff)
    assert notice.json()["status"] == "resigning"
    assert notice.json()["votes"] == 0
    assert notice.json()["resigns_on"] == later
    assert await departures.complete_due_resignations(session, datetime.now(UTC).date()) == 0
    assert await departures.complete_due_resignations(session, datetime.fromisoformat(later).date()) == 1
    await session.commit()
    member = (await client.get(f"/v1/members/{mid}", headers=staff)).json()
    assert member["status"] == "former"
    assert member["left_at"].startswith(later)
    assert await _payouts(session, int(mid)) == []  # the board decides the share (test_resignation.py)


async def test_suspension_and_expulsion(client, session):
    staff = await staff_headers(client, session)
    mid = (await client.post("/v1/members", json={"name": "Bike Shop", "email": "b@bike.test"}, headers=staff)).json()[
        "id"
    ]
    await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": "cash"}, headers=staff
    )
    await client.post(f"/v1/members/{mid}/admit", json={}, headers=staff)
    suspended = await client.post(f"/v1/members/{mid}/suspend", json={"reason": "unpaid invoices"}, headers=staff)
    assert (suspended.json()["status"], suspended.json()["votes"]) == ("suspended", 0)
    back = await client.post(f"/v1/members/{mid}/reinstate", json={"reason": "paid"}, headers=staff)
    assert (back.json()["status"], back.json()["votes"]) == ("full", 1)
    out = await client.post(f"/v1/members/{mid}/expel", json={"reason": "fraud"}, headers=staff)
    assert out.json()["status"] == "expelled"
    assert (await client.post(f"/v1/members/{mid}/reinstate", json={"reason": "x"}, headers=staff)).status_code == 409


async def test_other_members_users_get_404_on_every_member_route(client, session):
    mine = await make_member_user(session, MemberRole.ADMIN)
    theirs = await make_member_user(session, MemberRole.ADMIN)
    headers = await bearer(client, mine.email)
    other = theirs.member_id
    for method, path, body in [
        ("GET", f"/v1/members/{other}", None),
        ("GET", f"/v1/members/{other}/equity", None),
        ("GET", f"/v1/members/{other}/account", None),
        ("GET", f"/v1/members/{other}/history", None),
        ("POST", f"/v1/members/{other}/users", {"email": "x@y.test", "password": PASSWORD, "member_role": "buyer"}),
        ("POST", f"/v1/members/{other}/withdraw", {}),
    ]:
        answer = await client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/members/not-a-number", headers=headers)).status_code == 404
    assert (await client.get("/v1/members/999999999", headers=headers)).status_code == 404


async def test_staff_only_routes_refuse_member_users(client, session):
    admin = await make_member_user(session, MemberRole.ADMIN)
    member_headers = await bearer(client, admin.email)
    own = admin.member_id
    for path, body in [
        ("/v1/members", {"name": "X", "email": "x@x.test"}),
        (f"/v1/members/{own}/admit", {}),
        (f"/v1/members/{own}/share-payments", {"amount_cents": 1, "method": "cash"}),
        (f"/v1/members/{own}/payments", {"amount_cents": 1, "method": "cash"}),
        (f"/v1/members/{own}/credits", {"amount_cents": 1, "reason": "x"}),
        (f"/v1/members/{own}/suspend", {"reason": "x"}),
        ("/v1/members/imports", {"members": []}),
        ("/v1/equity/imports", {"lots": []}),
    ]:
        answer = await client.post(path, json=body, headers=member_headers)
        assert answer.status_code == 403, (path, answer.status_code)
        assert answer.headers["content-type"] == PROBLEM


async def test_buyers_cannot_add_users_or_withdraw(client, session):
    buyer = await make_member_user(session, MemberRole.BUYER)
    headers = await bearer(client, buyer.email)
    add = await client.post(
        f"/v1/members/{buyer.member_id}/users",
        json={"email": "new@shop.test", "password": PASSWORD, "member_role": "buyer"},
        headers=headers,
    )
    assert add.status_code == 403
    assert (await client.post(f"/v1/members/{buyer.member_id}/withdraw", json={}, headers=headers)).status_code == 403
    assert (await client.get(f"/v1/members/{buyer.member_id}", headers=headers)).status_code == 200


async def test_member_admins_add_their_own_users(client, session):
    admin = await make_member_user(session, MemberRole.ADMIN)
    headers = await bearer(client, admin.email)
    added = await client.post(
        f"/v1/members/{admin.member_id}/users",
        json={"email": "clerk@shop.test", "password": PASSWORD, "member_role": "finance"},
        headers=headers,
    )
    assert added.status_code == 201
    assert added.json()["member_id"] == str(admin.member_id)
    assert added.json()["member_role"] == "finance"
    clerk = await bearer(client, "clerk@shop.test")
    assert (await client.get("/v1/me", headers=clerk)).json()["role"] == "member"


async def test_bad_bodies_get_400_with_field_errors(client, session):
    staff = await staff_headers(client, session)
    for body in [{}, {"name": "", "email": "x@y.test"}, {"name": "X", "email": "x@y.test", "extra": 1}]:
        answer = await client.post("/v1/members", json=body, headers=staff)
        assert answer.status_code == 400, body
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["errors"], body
    mid = (await client.post("/v1/members", json={"name": "X", "email": "x@y.test"}, headers=staff)).json()["id"]
    for body in [
        {"amount_cents": 0, "method": "cash"},
        {"amount_cents": 5, "method": "bitcoin"},
        {"amount_cents": "5"},
    ]:
        answer = await client.post(f"/v1/members/{mid}/share-payments", json=body, headers=staff)
        assert answer.status_code == 400, body
        assert answer.json()["errors"], body
    negative = await client.post(f"/v1/members/{mid}/admit", json={"probation_days": -1}, headers=staff)
    assert negative.status_code == 400


async def test_member_list_pages_with_a_cursor(client, session):
    staff = await staff_headers(client, session)
    for i in range(5):
        await client.post("/v1/members", json={"name": f"Shop {i}", "email": f"s{i}@shop.test"}, headers=staff)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/members", params=params, headers=staff)).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 5
    assert (await client.get("/v1/members", params={"cursor": "!!"}, headers=staff)).status_code == 400
    assert (await client.get("/v1/members", params={"limit": 0}, headers=staff)).status_code == 400
