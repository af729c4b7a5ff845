"""Offers among members (issue 16): full members publish and claim, codes redeemed once, the cap held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.identity.rules import MemberRole, Role
from domain.membership.rules import Status
from tests.api.test_network_directory import _headers, _member
from tests.support.buying import make_supplier, staff_headers
from tests.support.users import bearer, make_user


def _moment(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def _offer(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "15% off catering for members",
        "description": "Any order over 20 people",
        "discount_rate": "0.15",
        "valid_from": _moment(-timedelta(hours=1)),
        "valid_until": _moment(timedelta(days=30)),
        "max_redemptions": 2,
        "terms": "One per member",
    }
    return {**body, **changes}


async def _offering(client, session, name: str = "Offering Bakery", **changes: Any) -> tuple[int, str, dict[str, str]]:
    member_id = await _member(session, name)
    admin = await _headers(client, session, member_id)
    made = await client.post("/v1/offers", json=_offer(**changes), headers=admin)
    assert made.status_code == 201, made.text
    return member_id, made.json()["id"], admin


async def _claimer(client, session, name: str, status: Status = Status.FULL) -> tuple[int, dict[str, str]]:
    member_id = await _member(session, name, status)
    return member_id, await _headers(client, session, member_id, MemberRole.BUYER)


async def test_an_offer_is_claimed_redeemed_and_counted_up_to_its_cap(client, session):
    offering_id, offer_id, admin = await _offering(client, session)
    seller = await _headers(client, session, offering_id, MemberRole.FINANCE)
    listed = (await client.get("/v1/offers", headers=admin)).json()["items"]
    assert [(o["id"], o["member_name"], o["claimed"], o["max_redemptions"]) for o in listed] == [
        (offer_id, "Offering Bakery", 0, 2)
    ]

    codes = []
    for name in ("First Deli", "Second Deli"):
        _, buyer = await _claimer(client, session, name)
        claim = await client.post(f"/v1/offers/{offer_id}/claims", headers=buyer)
        assert claim.status_code == 201, claim.text
        assert len(claim.json()["code"]) == 16
        codes.append(claim.json()["code"])
        again = await client.post(f"/v1/offers/{offer_id}/claims", headers=buyer)
        assert (again.status_code, again.json().get("code")) == (409, "offer_already_claimed"), again.text
    assert len(set(codes)) == 2

    _, late = await _claimer(client, session, "Late Deli")
    refused = await client.post(f"/v1/offers/{offer_id}/claims", headers=late)
    assert (refused.status_code, refused.json().get("code")) == (409, "offer_cap_reached"), refused.text

    redeemed = await client.post(f"/v1/offers/{offer_id}/claims/{codes[0]}/redeem", headers=seller)
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["redeemed_at"] is not None
    assert (redeemed.json()["offer_claimed"], redeemed.json()["offer_redeemed"]) == (2, 1)
    twice = await client.post(f"/v1/offers/{offer_id}/claims/{codes[0]}/redeem", headers=seller)
    assert (twice.status_code, twice.json().get("code")) == (409, "claim_already_redeemed")
    unknown = await client.post(f"/v1/offers/{offer_id}/claims/{'A' * 16}/redeem", headers=seller)
    assert unknown.status_code == 404
    [counted] = (await client.get("/v1/offers", headers=admin)).json()["items"]
    assert (counted["claimed"], counted["redeemed"]) == (2, 1)


async def test_only_the_offering_members_users_redeem(client, session):
    _, offer_id, _ = await _offering(client, session)
    _, buyer = await _claimer(client, session, "Claiming Deli")
    code = (await client.post(f"/v1/offers/{offer_id}/claims", headers=buyer)).json()["code"]
    assert (await client.post(f"/v1/offers/{offer_id}/claims/{code}/redeem", headers=buyer)).status_code == 404
    staff = await staff_headers(client, session)
    assert (await client.post(f"/v1/offers/{offer_id}/claims/{code}/redeem", headers=staff)).status_code == 403


async def test_a_suspended_member_cannot_claim_and_a_suspended_offerer_offers_nothing(client, session):
    offering_id, offer_id, admin = await _offering(client, session)
    staff = await staff_headers(client, session)
    suspended_id, suspended = await _claimer(client, session, "Suspended Deli")
    answer = await client.post(f"/v1/members/{suspended_id}/suspend", json={"reason": "dues"}, headers=staff)
    assert answer.status_code == 200, answer.text
    refused = await client.post(f"/v1/offers/{offer_id}/claims", headers=suspended)
    assert (refused.status_code, refused.json().get("code")) == (409, "member_not_full"), refused.text

    _, probationary = await _claimer(client, session, "New Deli", Status.PROBATIONARY)
    refused = await client.post(f"/v1/offers/{offer_id}/claims", headers=probationary)
    assert (refused.status_code, refused.json().get("code")) == (409, "member_not_full"), refused.text

    answer = await client.post(f"/v1/members/{offering_id}/suspend", json={"reason": "dues"}, headers=staff)
    assert answer.status_code == 200, answer.text
    _, buyer = await _claimer(client, session, "Hopeful Deli")
    assert (await client.get("/v1/offers", headers=buyer)).json()["items"] == []
    refused = await client.post(f"/v1/offers/{offer_id}/claims", headers=buyer)
    assert (refused.status_code, refused.json().get("code")) == (409, "offer_unavailable"), refused.text
    made = await client.post("/v1/offers", json=_offer(), headers=admin)
    assert (made.status_code, made.json().get("code")) == (409, "member_not_full"), made.text


async def test_offers_expire_and_start_by_their_dates(client, session):
    _, future_id, _ = await _offering(
        client, session, "Future Bakery", valid_from=_moment(timedelta(days=1)), valid_until=_moment(timedelta(days=2))
    )
    _, buyer = await _claimer(client, session, "Eager Deli")
    assert (await client.get("/v1/offers", headers=buyer)).json()["items"] == []
    early = await client.post(f"/v1/offers/{future_id}/claims", headers=buyer)
    assert (early.status_code, early.json().get("code")) == (409, "offer_not_yet_valid"), early.text

    _, short_id, _ = await _offering(client, session, "Brief Bakery")
    # The offer ran its course: its dates moved into the past (publishing refuses a past offer).
    past = "valid_from = now() - interval '2 days', valid_until = now() - interval '1 second'"
    await session.execute(sa.text(f"UPDATE member_offer SET {past} WHERE id = :id"), {"id": int(short_id)})  # noqa: S608
    late = await client.post(f"/v1/offers/{short_id}/claims", headers=buyer)
    assert (late.status_code, late.json().get("code")) == (409, "offer_expired"), late.text
    assert (await client.get("/v1/offers", headers=buyer)).json()["items"] == []


async def test_who_may_publish_and_claim(client, session):
    member_id = await _member(session, "Rule Bakery")
    buyer = await _headers(client, session, member_id, MemberRole.BUYER)
    assert (await client.post("/v1/offers", json=_offer(), headers=buyer)).status_code == 403
    staff = await staff_headers(client, session)
    assert (await client.post("/v1/offers", json=_offer(), headers=staff)).status_code == 403
    supplier = await make_user(session, Role.SUPPLIER, supplier_id=(await make_supplier(session)).id)
    supplier_headers = await bearer(client, supplier.email)
    assert (await client.post("/v1/offers", json=_offer(), headers=supplier_headers)).status_code == 403
    assert (await client.get("/v1/offers", headers=supplier_headers)).status_code == 403
    assert (await client.get("/v1/offers", headers=staff)).status_code == 200

    probationary = await _headers(client, session, await _member(session, "Young Bakery", Status.PROBATIONARY))
    refused = await client.post("/v1/offers", json=_offer(), headers=probationary)
    assert (refused.status_code, refused.json().get("code")) == (409, "member_not_full"), refused.text

    offering_id, offer_id, admin = await _offering(client, session, "Self Bakery")
    own = await client.post(f"/v1/offers/{offer_id}/claims", headers=admin)
    assert own.status_code == 403, own.text
    assert (await client.post("/v1/offers/999999999/claims", headers=admin)).status_code == 404
    assert offering_id


async def test_a_bad_offer_is_refused_naming_the_field(client, session):
    admin = await _headers(client, session, await _member(session, "Sloppy Bakery"))
    cases = [
        (_offer(price_cents=500), "discount_rate"),
        (_offer(discount_rate=None), "discount_rate"),
        (_offer(discount_rate="1.5"), "discount_rate"),
        (_offer(valid_until=_moment(-timedelta(days=2))), "valid_until"),
        (_offer(valid_from=_moment(-timedelta(days=3)), valid_until=_moment(-timedelta(days=2))), "valid_until"),
        (_offer(max_redemptions=0), "max_redemptions"),
        (_offer(title=""), "title"),
    ]
    for body, field in cases:
        answer = await client.post("/v1/offers", json=body, headers=admin)
        assert answer.status_code == 400, answer.text
        assert field in [e["field"] for e in answer.json()["errors"]], (field, answer.text)
    assert (await client.get("/v1/offers", headers=admin)).json()["items"] == []
