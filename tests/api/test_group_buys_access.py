"""Who may do what with group buys and orders, and what bad input gets: 400 / 401 / 403 / 404 / 409."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.identity.rules import MemberRole
from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
    supplier_headers,
)
from tests.support.users import bearer, make_member, make_member_user

PROBLEM = "application/problem+json"


def line(product_id: int, quantity: int, flex: int = 0) -> dict[str, Any]:
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": flex}


async def open_buy(client, session, **extra: Any) -> tuple[dict[str, Any], int, int, dict[str, str]]:
    """An open buy of one supplier's two products (cases of 2); returns it, the products and staff headers."""
    supplier = await make_supplier(session)
    p1 = await make_product(session, supplier.id, case_size=2, tiers=[(1, 100), (4, 90)])
    p2 = await make_product(session, supplier.id, case_size=2)
    staff = await staff_headers(client, session)
    created = await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [p1, p2], **extra), headers=staff)
    assert created.status_code == 201, created.text
    return created.json(), p1, p2, staff


async def test_unauthenticated_calls_are_401(client):
    for method, path in (
        ("GET", "/v1/group-buys"),
        ("POST", "/v1/group-buys"),
        ("GET", "/v1/group-buys/1"),
        ("POST", "/v1/group-buys/1/orders"),
        ("POST", "/v1/group-buys/1/close"),
        ("GET", "/v1/group-buys/1/purchase-order"),
        ("POST", "/v1/group-buys/1/delivery"),
        ("GET", "/v1/orders/1"),
        ("PUT", "/v1/orders/1"),
        ("DELETE", "/v1/orders/1"),
        ("GET", "/v1/patronage"),
        ("POST", "/v1/patronage/imports"),
        ("GET", "/v1/products"),
        ("POST", "/v1/suppliers"),
    ):
        answer = await client.request(method, path, json={})
        assert answer.status_code == 401, (method, path)
        assert answer.headers["content-type"] == PROBLEM


async def test_bad_group_buys_are_400_with_every_field(client, session):
    supplier, other = await make_supplier(session), await make_supplier(session, "Other")
    mine = await make_product(session, supplier.id)
    theirs = await make_product(session, other.id)
    staff = await staff_headers(client, session)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = group_buy_body(
        supplier.id, [mine, theirs, mine, 99_999_999], closes_at=past, payment_mode="card", opens_at=past
    )
    answer = await client.post("/v1/group-buys", json=body, headers=staff)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
    assert errors == {
        "closes_at": "must be in the future",
        "opens_at": "must be before closes_at",
        "payment_mode": "card payments are not configured",
        "product_ids[1]": "the product belongs to another supplier",
        "product_ids[2]": "the product appears more than once",
        "product_ids[3]": "no product 99999999",
    }
    bad: dict[str, Any]
    for bad in (
        group_buy_body(supplier.id, []),
        group_buy_body(supplier.id, [mine], allocation_policy="lottery"),
        group_buy_body(supplier.id, [mine], on_minimum_missed="shrug"),
        group_buy_body(supplier.id, [mine], min_value_cents=-1),
        group_buy_body(supplier.id, [mine], extend_hours=0),
        group_buy_body(supplier.id, [mine], colour="blue"),
        group_buy_body(supplier.id, [mine], closes_at="tomorrow"),
        {"title": "no supplier"},
    ):
        answer = await client.post("/v1/group-buys", json=bad, headers=staff)
        assert answer.status_code == 400, bad
        assert answer.headers["content-type"] == PROBLEM
    unknown = await client.post("/v1/group-buys", json=group_buy_body(123_456_789, [mine]), headers=staff)
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0] == {"field": "supplier_id", "message": "no supplier 123456789"}
    _, member = await ordering_member(client, session)
    assert (
        await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [mine]), headers=member)
    ).status_code == 403


async def test_bad_orders_are_400_with_every_field(client, session):
    gb, p1, p2, _ = await open_buy(client, session)
    _, member = await ordering_member(client, session)
    url = f"/v1/group-buys/{gb['id']}/orders"
    answer = await client.post(url, json={"lines": [line(p1, 1), line(p1, 2), line(424_242, 1)]}, headers=member)
    assert answer.status_code == 400
    assert answer.json()["errors"] == [
        {"field": "lines[1].product_id", "message": "the product appears more than once"},
        {"field": "lines[2].product_id", "message": "the product is not offered in this group buy"},
    ]
    zero = await client.post(url, json={"lines": [line(p1, 0), line(p2, 0)]}, headers=member)
    assert zero.status_code == 400
    assert zero.json()["errors"][0]["field"] == "lines"
    bad: dict[str, Any]
    for bad in (
        {"lines": []},
        {"lines": [line(p1, -1)]},
        {"lines": [{"product_id": str(p1)}]},
        {"lines": [{**line(p1, 1), "note": "x"}]},
        {"lines": [line(p1, 1)], "extra": True},
        {"lines": [{"product_id": p1, "quantity": 1}]},
    ):
        answer = await client.post(url, json=bad, headers=member)
        assert answer.status_code == 400, bad
        assert answer.headers["content-type"] == PROBLEM
    assert (
        await client.post("/v1/group-buys/999999999/orders", json={"lines": [line(p1, 1)]}, headers=member)
    ).status_code == 404
    assert (
        await client.post("/v1/group-buys/not-an-id/orders", json={"lines": [line(p1, 1)]}, headers=member)
    ).status_code == 404


async def test_one_order_per_member_and_only_ordering_members(client, session):
    gb, p1, _, staff = await open_buy(client, session)
    url = f"/v1/group-buys/{gb['id']}/orders"
    member, buyer = await ordering_member(client, session)
    first = await client.post(url, json={"lines": [line(p1, 1)]}, headers=buyer)
    assert first.status_code == 201
    colleague = await make_member_user(session, MemberRole.ADMIN, member.id)
    second = await client.post(url, json={"lines": [line(p1, 3)]}, headers=await bearer(client, colleague.email))
    assert second.status_code == 409
    assert first.json()["id"] in second.json()["detail"]
    _, finance = await ordering_member(client, session, role=MemberRole.FINANCE)
    assert (await client.post(url, json={"lines": [line(p1, 1)]}, headers=finance)).status_code == 403
    applicant = await make_member(session, "Applicant Co")
    applicant_user = await make_member_user(session, MemberRole.ADMIN, applicant.id)
    refused = await client.post(url, json={"lines": [line(p1, 1)]}, headers=await bearer(client, applicant_user.email))
    assert refused.status_code == 409
    assert "applicant" in refused.json()["detail"]
    assert (await client.post(url, json={"lines": [line(p1, 1)]}, headers=staff)).status_code == 403


async def test_orders_are_private_to_their_member(client, session):
    gb, p1, _, staff = await open_buy(client, session)
    _, alice = await ordering_member(client, session, "Alice Bakes")
    _, bob = await ordering_member(client, session, "Bob Brews")
    order = (
        await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(p1, 2)]}, headers=alice)
    ).json()
    url = f"/v1/orders/{order['id']}"
    assert (await client.get(url, headers=alice)).status_code == 200
    assert (await client.get(url, headers=staff)).status_code == 200
    for attempt in (
        client.get(url, headers=bob),
        client.put(url, json={"lines": [line(p1, 9)]}, headers=bob),
        client.delete(url, headers=bob),
    ):
        answer = await attempt
        assert answer.status_code == 404
        assert answer.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/orders", headers=bob)).json()["items"] == []
    assert [o["id"] for o in (await client.get("/v1/orders", headers=alice)).json()["items"]] == [order["id"]]
    supplier = await supplier_headers(client, session, int(gb["supplier_id"]))
    assert (await client.get(url, headers=supplier)).status_code == 403
    assert (await client.get(f"/v1/group-buys/{gb['id']}/orders", headers=supplier)).status_code == 403
    assert (await client.get(f"/v1/group-buys/{gb['id']}/orders", headers=alice)).status_code == 403
    listed = await client.get(f"/v1/group-buys/{gb['id']}/orders", headers=staff)
    assert [o["member_id"] for o in listed.json()["items"]] == [order["member_id"]]


async def test_cancel_and_come_back_while_open(client, session):
    gb, p1, p2, _ = await open_buy(client, session)
    _, member = await ordering_member(client, session)
    order = (
        await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(p1, 3, 1)]}, headers=member)
    ).json()
    cancelled = await client.delete(f"/v1/orders/{order['id']}", headers=member)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["lines"] == []
    assert cancelled.json()["max_total_cents"] == 0
    progress = (await client.get(f"/v1/group-buys/{gb['id']}", headers=member)).json()
    assert all(i["quantity"] == i["flex_quantity"] == 0 for i in progress["items"])
    back = await client.put(f"/v1/orders/{order['id']}", json={"lines": [line(p2, 2)]}, headers=member)
    assert back.status_code == 200
    assert back.json()["status"] == "open"
    assert [(ln["product_id"], ln["quantity"]) for ln in back.json()["lines"]] == [(str(p2), 2)]


async def test_suppliers_see_only_their_own_buys_and_purchase_orders(client, session):
    gb, p1, _, staff = await open_buy(client, session)
    _, member = await ordering_member(client, session)
    await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(p1, 4)]}, headers=member)
    owner = await supplier_headers(client, session, int(gb["supplier_id"]))
    stranger = await supplier_headers(client, session, (await make_supplier(session, "Stranger")).id)
    po_url = f"/v1/group-buys/{gb['id']}/purchase-order"
    assert (await client.get(po_url, headers=owner)).status_code == 409  # not ordered yet
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "ordered"
    assert (await client.get(po_url, headers=owner)).status_code == 200
    assert (await client.get(po_url, headers=staff)).status_code == 200
    assert (await client.get(po_url, headers=stranger)).status_code == 404
    assert (await client.get(po_url, headers=member)).status_code == 403
    assert (await client.get(f"/v1/group-buys/{gb['id']}", headers=stranger)).status_code == 404
    assert (await client.get("/v1/group-buys", headers=stranger)).json()["items"] == []
    delivery = {"lines": [{"product_id": str(p1), "delivered_quantity": 4}]}
    assert (
        await client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=stranger)
    ).status_code == 404
    assert (await client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=member)).status_code == 403
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=owner)).status_code == 403


async def test_bad_deliveries_are_400_and_change_nothing(client, session):
    gb, p1, p2, staff = await open_buy(client, session)
    _, member = await ordering_member(client, session)
    await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(p1, 4), line(p2, 2)]}, headers=member)
    await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)
    url = f"/v1/group-buys/{gb['id']}/delivery"
    too_many = {
        "lines": [{"product_id": str(p1), "delivered_quantity": 5}, {"product_id": str(p1), "delivered_quantity": 1}]
    }
    answer = await client.post(url, json=too_many, headers=staff)
    assert answer.status_code == 400
    assert {e["field"]: e["message"] for e in answer.json()["errors"]} == {
        "lines[0].delivered_quantity": "must be between 0 and the 4 units ordered",
        "lines[1].product_id": "the product appears more than once",
        "lines": f"every ordered product must be reported (0 if none came); missing: {p2}",
    }
    negative = {"lines": [{"product_id": str(p1), "delivered_quantity": -1}]}
    assert (await client.post(url, json=negative, headers=staff)).status_code == 400
    assert (await client.get(f"/v1/group-buys/{gb['id']}", headers=staff)).json()["status"] == "ordered"


async def test_changes_before_opening_and_delivery_before_close_are_409(client, session):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id)
    staff = await staff_headers(client, session)
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    created = await client.post(
        "/v1/group-buys", json=group_buy_body(supplier.id, [product], opens_at=later), headers=staff
    )
    gb = created.json()
    assert gb["status"] == "scheduled"
    _, member = await ordering_member(client, session)
    early = await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 1)]}, headers=member)
    assert early.status_code == 409
    assert "scheduled" in early.json()["detail"]
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).status_code == 409
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 0}]}
    assert (await client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).status_code == 409
    cancelled = await client.post(
        f"/v1/group-buys/{gb['id']}/cancel", json={"reason": "supplier closed"}, headers=staff
    )
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["status_reason"] == "supplier closed"


async def test_bad_filters_are_400_and_placing_honours_idempotency_keys(client, session):
    gb, p1, _, staff = await open_buy(client, session)
    assert (await client.get("/v1/group-buys", params={"status": "bogus"}, headers=staff)).status_code == 400
    assert (await client.get("/v1/group-buys", params={"status": "open"}, headers=staff)).status_code == 200
    assert (await client.get("/v1/orders", params={"group_buy_id": "x"}, headers=staff)).status_code == 400
    assert (await client.get("/v1/group-buys", params={"cursor": "!!"}, headers=staff)).status_code == 400
    _, member = await ordering_member(client, session)
    keyed = {**member, "Idempotency-Key": "order-once"}
    url = f"/v1/group-buys/{gb['id']}/orders"
    first = await client.post(url, json={"lines": [line(p1, 2)]}, headers=keyed)
    again = await client.post(url, json={"lines": [line(p1, 2)]}, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await client.post(url, json={"lines": [line(p1, 3)]}, headers=keyed)
    assert other.status_code == 422
