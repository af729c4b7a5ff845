"""What members, staff and suppliers expect around group buys (issue 9)."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from domain.jobs.tables import OutboxJob
from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers


def line(product_id: int, quantity: int, flex: int = 0) -> dict[str, Any]:
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": flex}


async def buy_with_one_order(client, session, *, units: int = 2, markup: str = "0", **extra: Any):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, case_size=2, tiers=[(1, 333)], markup=markup)
    staff = await staff_headers(client, session)
    gb = (
        await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [product], **extra), headers=staff)
    ).json()
    _, member = await ordering_member(client, session)
    order = await client.post(
        f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, units)]}, headers=member
    )
    assert order.status_code == 201, order.text
    return gb, product, staff, member, order.json()


async def test_members_see_the_member_unit_price_with_markup_before_and_after_close(client, session):
    gb, _, staff, member, order = await buy_with_one_order(client, session, units=4, markup="0.05")
    placed = order["lines"][0]
    assert (placed["unit_price_cents"], placed["member_unit_price_cents"], placed["markup_rate"]) == (
        None,
        350,
        "0.05",
    )
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "ordered"
    allocated = (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()["lines"][0]
    # 4 * 333 * 1.05 = 1398.6: the line is rounded once, the unit price on its own
    assert (allocated["unit_price_cents"], allocated["member_unit_price_cents"], allocated["total_cents"]) == (
        333,
        350,
        1_399,
    )


async def test_a_members_users_list_their_orders_across_buys_and_only_theirs(client, session):
    first, _, _, member, order = await buy_with_one_order(client, session)
    second, _, _, _, other = await buy_with_one_order(client, session)
    supplier = await make_supplier(session, "Hill Farm")
    product = await make_product(session, supplier.id, case_size=1, tiers=[(1, 100)])
    staff = await staff_headers(client, session)
    third = (await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [product]), headers=staff)).json()
    again = await client.post(
        f"/v1/group-buys/{third['id']}/orders", json={"lines": [line(product, 1)]}, headers=member
    )
    assert again.status_code == 201, again.text
    listed = (await client.get("/v1/orders", headers=member)).json()["items"]
    assert [(o["id"], o["group_buy_id"]) for o in listed] == [
        (order["id"], first["id"]),
        (again.json()["id"], third["id"]),
    ]
    assert other["id"] not in {o["id"] for o in listed}
    assert second["id"] not in {o["group_buy_id"] for o in listed}


async def held_events(session, group_buy_id: str) -> list[tuple[str, str]]:
    jobs = (await session.exec(select(OutboxJob).order_by(col(OutboxJob.id)))).all()
    return [
        (j.payload["event"], j.payload.get("audience", ""))
        for j in jobs
        if j.payload.get("data", {}).get("group_buy_id") == group_buy_id and j.payload["event"] == "group_buy.held"
    ]


async def test_a_held_buy_is_on_hold_staff_are_told_and_may_cancel_it(client, session):
    gb, _, staff, member, order = await buy_with_one_order(
        client, session, min_value_cents=5_000, on_minimum_missed="hold"
    )
    held = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert (held["status"], held["held"]) == ("on_hold", True)
    assert await held_events(session, gb["id"]) == [("group_buy.held", "staff")]
    listed = (await client.get("/v1/group-buys?status=on_hold", headers=staff)).json()["items"]
    assert [g["id"] for g in listed] == [gb["id"]]
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "on_hold"
    assert (await client.post(f"/v1/group-buys/{gb['id']}/proceed", headers=member)).status_code == 403
    cancelled = await client.post(f"/v1/group-buys/{gb['id']}/cancel", json={"reason": "too small"}, headers=staff)
    assert (cancelled.status_code, cancelled.json()["status"], cancelled.json()["held"]) == (200, "cancelled", False)
    assert (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()["status"] == "cancelled"
    assert (await client.post(f"/v1/group-buys/{gb['id']}/proceed", headers=staff)).status_code == 409


async def test_proceed_is_refused_for_an_open_buy(client, session):
    gb, _, staff, _, _ = await buy_with_one_order(client, session)
    refused = await client.post(f"/v1/group-buys/{gb['id']}/proceed", headers=staff)
    assert refused.status_code == 409
    assert (await client.get(f"/v1/group-buys/{gb['id']}", headers=staff)).json()["status"] == "open"


async def test_a_cancelled_order_reopened_by_put_joins_the_back_of_the_queue(client, session):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, case_size=2, tiers=[(1, 100)])
    staff = await staff_headers(client, session)
    body = group_buy_body(supplier.id, [product], allocation_policy="first_come")
    gb = (await client.post("/v1/group-buys", json=body, headers=staff)).json()
    _, early = await ordering_member(client, session)
    _, later = await ordering_member(client, session)
    first = (
        await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 1)]}, headers=early)
    ).json()
    assert (await client.delete(f"/v1/orders/{first['id']}", headers=early)).json()["status"] == "cancelled"
    second = await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=later)
    assert second.status_code == 201
    # A second POST is still a 409: the member has its one order, cancelled, and PUT brings it back.
    again = await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 1)]}, headers=early)
    assert again.status_code == 409
    reopened = await client.put(f"/v1/orders/{first['id']}", json={"lines": [line(product, 1)]}, headers=early)
    assert (reopened.status_code, reopened.json()["id"], reopened.json()["status"]) == (200, first["id"], "open")
    assert [ln["quantity"] for ln in reopened.json()["lines"]] == [1]
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "ordered"
    # One case of 2: the later member's units came before the reopened ones.
    got = {
        o["id"]: o["lines"][0]["allocated_quantity"]
        for o in (await client.get(f"/v1/group-buys/{gb['id']}/orders", headers=staff)).json()["items"]
    }
    assert got == {first["id"]: 0, second.json()["id"]: 2}


async def test_a_cancelled_order_cannot_be_reopened_once_the_buy_closed(client, session):
    gb, product, staff, member, order = await buy_with_one_order(client, session)
    _, other = await ordering_member(client, session)
    kept = await client.post(f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=other)
    assert kept.status_code == 201
    assert (await client.delete(f"/v1/orders/{order['id']}", headers=member)).status_code == 200
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "ordered"
    refused = await client.put(f"/v1/orders/{order['id']}", json={"lines": [line(product, 2)]}, headers=member)
    assert (refused.status_code, refused.json().get("code")) == (409, "group_buy_not_open")
    assert (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()["status"] == "cancelled"
