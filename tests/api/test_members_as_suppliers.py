"""Members as suppliers (issue 16): one business, two roles; its sales are its patronage in the marketing pool.

A member-supplier's group buy is settled by the worker: the buyer is charged its member price
(markup included) and has it as patronage in the product's pool; the co-op owes the seller the
supplier payable, which is the seller's patronage in the marketing pool. A correction lowers
both. Then a year-end run allocates both pools.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from api.routes import allocation as allocation_routes
from domain.identity.rules import MemberRole, Role
from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers
from tests.support.users import bearer, make_user
from tests.support.worker import run_worker


async def _full_member(client, staff, name: str) -> int:
    """A member admitted full at once: share paid, no probation."""
    made = await client.post(
        "/v1/members", json={"name": name, "email": f"{name[:4].lower()}@sellers.test"}, headers=staff
    )
    mid = made.json()["id"]
    paid = {"amount_cents": 10_000, "method": "cash"}
    assert (await client.post(f"/v1/members/{mid}/share-payments", json=paid, headers=staff)).status_code == 201
    admitted = await client.post(f"/v1/members/{mid}/admit", json={"probation_days": 0}, headers=staff)
    assert admitted.json()["status"] == "full", admitted.text
    return int(mid)


async def _records(client, staff, member_id) -> list[tuple[str, str, int]]:
    page = await client.get("/v1/patronage", params={"member_id": str(member_id)}, headers=staff)
    return [(r["source"], r["pool"], r["amount_cents"]) for r in page.json()["items"]]


async def test_a_member_supplier_is_linked_reached_by_its_own_users_only_and_paid_in_patronage(
    client, session, session_maker, settings, monkeypatch
):
    staff = await staff_headers(client, session)
    seller = await _full_member(client, staff, "Hill Farm")
    mill = await make_supplier(session, "Hill Farm Produce")
    link = f"/v1/suppliers/{mill.id}/member"

    # Linking: 400 naming the field, 409 for a member not full now, then linked once.
    unknown = await client.put(link, json={"member_id": "999999999"}, headers=staff)
    assert unknown.status_code == 400, unknown.text
    assert [e["field"] for e in unknown.json()["errors"]] == ["member_id"]
    suspended = await _full_member(client, staff, "Dormant Dairy")
    assert (await client.post(f"/v1/members/{suspended}/suspend", json={"reason": "dues"}, headers=staff)).is_success
    refused = await client.put(link, json={"member_id": str(suspended)}, headers=staff)
    assert (refused.status_code, refused.json()["code"]) == (409, "member_not_full")
    linked = await client.put(link, json={"member_id": str(seller)}, headers=staff)
    assert linked.status_code == 200, linked.text
    assert linked.json()["member_id"] == str(seller)
    other_mill = await make_supplier(session, "Second Label")
    twice = await client.put(f"/v1/suppliers/{other_mill.id}/member", json={"member_id": str(seller)}, headers=staff)
    assert (twice.status_code, twice.json()["code"]) == (409, "member_already_supplier")

    # One business, two roles: the seller's buyer acts for the supplier, its finance user does not.
    seller_buyer = await make_user(session, Role.MEMBER, member_id=seller, member_role=MemberRole.BUYER)
    seller_h = await bearer(client, seller_buyer.email)
    me = (await client.get("/v1/me", headers=seller_h)).json()
    assert (me["role"], me["member_id"], me["supplier_id"]) == ("member", str(seller), str(mill.id))
    finance = await make_user(session, Role.MEMBER, member_id=seller, member_role=MemberRole.FINANCE)
    finance_h = await bearer(client, finance.email)
    assert (await client.get("/v1/me", headers=finance_h)).json()["supplier_id"] is None

    product = await make_product(session, mill.id, tiers=[(1, 333)], markup="0.075")
    gid = (await client.post("/v1/group-buys", json=group_buy_body(mill.id, [product]), headers=staff)).json()["id"]
    buyer, buyer_h = await ordering_member(client, session, "Corner Deli", role=MemberRole.ADMIN)
    ordered = await client.post(
        f"/v1/group-buys/{gid}/orders", json={"lines": [{"product_id": str(product), "quantity": 8}]}, headers=buyer_h
    )
    assert ordered.status_code == 201, ordered.text
    assert (await client.post(f"/v1/group-buys/{gid}/close", headers=staff)).json()["status"] == "ordered"

    # The supplier's walls: its products and purchase order reach the seller's users; a user of
    # another member (even an admin) and the seller's finance user are refused.
    renamed = await client.patch(f"/v1/products/{product}", json={"name": "Hill oats"}, headers=seller_h)
    assert renamed.status_code == 200, renamed.text
    assert (await client.get(f"/v1/group-buys/{gid}/purchase-order", headers=seller_h)).status_code == 200
    for outsider in (buyer_h, finance_h):
        assert (await client.get(f"/v1/group-buys/{gid}/purchase-order", headers=outsider)).status_code == 403
        assert (await client.patch(f"/v1/products/{product}", json={"name": "x"}, headers=outsider)).status_code == 403
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 8}]}
    assert (await client.post(f"/v1/group-buys/{gid}/delivery", json=delivery, headers=buyer_h)).status_code == 403
    # The seller's user is still a member on its member side: its own account, not another's.
    assert (await client.get(f"/v1/members/{seller}/account", headers=seller_h)).status_code == 200
    assert (await client.get(f"/v1/members/{buyer.id}/account", headers=seller_h)).status_code == 404

    delivered = await client.post(f"/v1/group-buys/{gid}/delivery", json=delivery, headers=seller_h)
    assert delivered.json()["status"] == "delivered", delivered.text
    await run_worker(settings, session_maker)  # the settlement job
    assert (await client.get(f"/v1/group-buys/{gid}", headers=staff)).json()["status"] == "settled"

    # 8 x 3.33 = 26.64 owed to the seller; the buyer pays HALF_UP(26.64 x 1.075) = 28.64.
    order = (await client.get(f"/v1/purchase-orders/{gid}", headers=seller_h)).json()
    assert order["payable_cents"] == 2_664
    assert (await client.get(f"/v1/members/{buyer.id}/account", headers=staff)).json()["balance_cents"] == 2_864
    assert await _records(client, staff, buyer.id) == [("group_buy", "purchases", 2_864)]
    assert await _records(client, staff, seller) == [("sale", "marketing", 2_664)]
    await run_worker(settings, session_maker)  # nothing more: the sale is written once, with the settlement
    assert await _records(client, staff, seller) == [("sale", "marketing", 2_664)]

    # Three units short after all: 5 x 3.33 = 16.65 owed, the buyer pays HALF_UP(16.65 x 1.075) = 17.90.
    correction = {"lines": [{"product_id": str(product), "delivered_quantity": 5}], "reason": "3 bags spoiled"}
    corrected = await client.post(f"/v1/group-buys/{gid}/corrections", json=correction, headers=staff)
    assert corrected.status_code == 201, corrected.text
    assert (await client.get(f"/v1/purchase-orders/{gid}", headers=staff)).json()["payable_cents"] == 1_665
    assert (await client.get(f"/v1/members/{buyer.id}/account", headers=staff)).json()["balance_cents"] == 1_790
    assert await _records(client, staff, buyer.id) == [
        ("group_buy", "purchases", 2_864),
        ("correction", "purchases", -1_074),
    ]
    assert await _records(client, staff, seller) == [("sale", "marketing", 2_664), ("sale", "marketing", -999)]

    # The member directory names the seller's supplier to members (not to the public).
    profile = {"listed": True, "description": "Oats and barley", "visibility": {"description": "public"}}
    assert (await client.put(f"/v1/members/{seller}/profile", json=profile, headers=staff)).status_code == 200
    entry = (await client.get(f"/v1/members/{seller}/profile", headers=buyer_h)).json()
    assert entry["supplier_id"] == str(mill.id)
    public = (await client.get("/v1/public/directory")).json()["items"]
    assert [p.get("supplier_id") for p in public if p["member_id"] == str(seller)] == [None]

    # Year end 2026: the seller also bought 50.00 outside the platform (purchases pool).
    number = (await client.get(f"/v1/members/{seller}", headers=staff)).json()["member_number"]
    imported = await client.post(
        "/v1/patronage/imports",
        json={
            "records": [
                {
                    "external_ref": "mas-1",
                    "member_number": number,
                    "pool": "purchases",
                    "amount_cents": 5_000,
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
            ]
        },
        headers=staff,
    )
    assert imported.status_code in {200, 201}, imported.text
    monkeypatch.setattr(allocation_routes, "today", lambda: date(2027, 1, 15))
    base = {"fiscal_year": 2026, "payment_date": "2027-03-15", "policy": {"cash_rate": "0.20"}}
    # No margin row for marketing: its records are left out, the run still computes.
    only_purchases = await client.post(
        "/v1/allocation-runs",
        json={**base, "pools": [{"pool": "purchases", "net_margin_cents": 10_000}]},
        headers=staff,
    )
    both = await client.post(
        "/v1/allocation-runs",
        json={
            **base,
            "pools": [
                {"pool": "purchases", "net_margin_cents": 10_000},
                {"pool": "marketing", "net_margin_cents": 5_000},
            ],
        },
        headers=staff,
    )
    assert (only_purchases.status_code, both.status_code) == (202, 202), (only_purchases.text, both.text)
    await run_worker(settings, session_maker)

    async def allocations(run_id: str) -> dict[str, int]:
        run = (await client.get(f"/v1/allocation-runs/{run_id}", headers=staff)).json()
        assert run["status"] == "computed", run
        lines = (await client.get(f"/v1/allocation-runs/{run_id}/lines", headers=staff)).json()["items"]
        return {ln["member_id"]: ln["allocation_cents"] for ln in lines}

    # purchases: LRM(10000, [1790 buyer, 5000 seller]) = 2,636 / 7,364; marketing: all 5,000 to the seller.
    assert await allocations(only_purchases.json()["id"]) == {str(buyer.id): 2_636, str(seller): 7_364}
    assert await allocations(both.json()["id"]) == {str(buyer.id): 2_636, str(seller): 12_364}
