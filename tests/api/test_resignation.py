"""Leaving the co-op: notice by the member, share redemption decided by the board (issue 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.test_members import _charge, _payouts, staff_headers
from tests.support.users import bearer, make_member_user


async def _full_member(client, session, staff) -> tuple[str, dict[str, str]]:
    """A full member with its share paid and an admin user signed in."""
    admin = await make_member_user(session)
    mid = str(admin.member_id)
    paid = await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": "cash"}, headers=staff
    )
    assert paid.status_code == 201, paid.text
    assert (await client.post(f"/v1/members/{mid}/admit", json={}, headers=staff)).json()["status"] == "full"
    return mid, await bearer(client, admin.email)


async def test_a_withdrawal_leaves_the_share_for_the_board_and_approval_pays_it_once(client, session):
    staff = await staff_headers(client, session)
    mid, own = await _full_member(client, session, staff)
    await _charge(session, int(mid), 2_550)

    left = await client.post(f"/v1/members/{mid}/withdraw", json={}, headers=own)
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "former"
    assert left.json()["share"]["paid_cents"] == 10_000  # not redeemed until the board approves
    assert await _payouts(session, int(mid)) == []
    assert (await client.get(f"/v1/members/{mid}/account", headers=staff)).json()["balance_cents"] == 2_550

    approved = await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["member_id"], body["decision"], body["payout_cents"], body["set_off_cents"]) == (
        mid,
        "approved",
        7_450,
        2_550,
    )
    again = await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=staff)
    assert again.status_code == 200
    assert again.json() == body
    assert [(p.kind, p.amount_cents) for p in await _payouts(session, int(mid))] == [("share_redemption", 7_450)]
    assert (await client.get(f"/v1/members/{mid}/account", headers=staff)).json()["balance_cents"] == 0
    assert (await client.get(f"/v1/members/{mid}", headers=staff)).json()["share"]["paid_cents"] == 0

    declined = await client.post(
        f"/v1/members/{mid}/share-redemption/decline", json={"reason": "too late"}, headers=staff
    )
    assert declined.status_code == 409


async def test_a_declined_share_stays_owed_and_can_be_approved_later(client, session):
    staff = await staff_headers(client, session)
    mid, own = await _full_member(client, session, staff)
    await client.post(f"/v1/members/{mid}/withdraw", json={}, headers=own)

    no_reason = await client.post(f"/v1/members/{mid}/share-redemption/decline", json={}, headers=staff)
    assert no_reason.status_code == 400
    declined = await client.post(
        f"/v1/members/{mid}/share-redemption/decline", json={"reason": "equity ratio too low this year"}, headers=staff
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["decision"] == "declined"
    assert declined.json()["reason"] == "equity ratio too low this year"
    assert declined.json()["payout_cents"] == 0
    equity = (await client.get(f"/v1/members/{mid}/equity", headers=staff)).json()
    assert equity["membership_share_cents"] == 10_000
    assert await _payouts(session, int(mid)) == []

    approved = await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=staff)
    assert approved.json()["decision"] == "approved"
    assert approved.json()["payout_cents"] == 10_000


async def test_only_staff_decide_and_only_once_the_member_has_left(client, session):
    staff = await staff_headers(client, session)
    mid, own = await _full_member(client, session, staff)
    early = await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=staff)
    assert early.status_code == 409
    assert "has not left" in early.json()["detail"]
    assert (await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=own)).status_code == 403
    refused = await client.post(f"/v1/members/{mid}/share-redemption/decline", json={"reason": "x"}, headers=own)
    assert refused.status_code == 403


async def test_a_member_admin_takes_back_a_pending_notice(client, session):
    from domain.departures import service as departures

    staff = await staff_headers(client, session)
    mid, own = await _full_member(client, session, staff)
    nothing = await client.post(f"/v1/members/{mid}/withdraw/cancel", headers=own)
    assert nothing.status_code == 409
    later = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    notice = await client.post(f"/v1/members/{mid}/withdraw", json={"effective_date": later}, headers=own)
    assert notice.json()["status"] == "resigning"
    twice = await client.post(f"/v1/members/{mid}/withdraw", json={}, headers=own)
    assert twice.status_code == 409

    back = await client.post(f"/v1/members/{mid}/withdraw/cancel", headers=own)
    assert back.status_code == 200, back.text
    assert (back.json()["status"], back.json()["resigns_on"], back.json()["votes"]) == ("full", None, 1)
    assert await departures.complete_due_resignations(session, datetime.fromisoformat(later).date()) == 0
    history = (await client.get(f"/v1/members/{mid}/history", headers=staff)).json()["items"]
    assert [(h["from_status"], h["to_status"]) for h in history][-2:] == [("full", "resigning"), ("resigning", "full")]
