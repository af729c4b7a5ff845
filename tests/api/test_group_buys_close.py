"""Closing: the minimum outcomes (cancel, extend once, hold then proceed), first_come, frozen prices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select

from domain.jobs.tables import OutboxJob
from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers
from tests.support.worker import run_worker


def line(product_id: int, quantity: int, flex: int = 0) -> dict[str, Any]:
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": flex}


async def events(session, group_buy_id: str) -> list[str]:
    jobs = (await session.exec(select(OutboxJob).order_by(col(OutboxJob.id)))).all()
    return [j.payload["event"] for j in jobs if j.payload.get("data", {}).get("group_buy_id") == group_buy_id]


async def buy_with_one_order(client, session, *, units: int = 2, **extra: Any):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, case_size=2, tiers=[(1, 1_000)])
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


async def test_a_missed_minimum_cancels_by_default(client, session):
    gb, _, staff, member, order = await buy_with_one_order(client, session, min_value_cents=5_000)
    closed = await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)
    body = closed.json()
    assert (body["status"], body["minimum_met"], body["supplier_value_cents"]) == ("cancelled", False, 2_000)
    assert "minimum of 5000 cents was missed" in body["status_reason"]
    assert (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()["status"] == "cancelled"
    assert "group_buy.cancelled" in await events(session, gb["id"])
    assert (await client.get(f"/v1/group-buys/{gb['id']}/purchase-order", headers=staff)).status_code == 409


async def test_extend_once_then_cancel(client, session):
    gb, _, staff, _, _ = await buy_with_one_order(
        client, session, min_value_cents=5_000, on_minimum_missed="extend", extend_hours=48
    )
    first = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert (first["status"], first["extended"]) == ("open", True)
    hours = (
        datetime.fromisoformat(first["closes_at"]) - datetime.fromisoformat(gb["closes_at"])
    ).total_seconds() / 3600
    assert hours == 48
    assert "group_buy.extended" in await events(session, gb["id"])
    second = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert second["status"] == "cancelled"


async def test_hold_waits_for_staff_who_may_proceed(client, session):
    gb, product, staff, member, order = await buy_with_one_order(
        client, session, min_value_cents=5_000, on_minimum_missed="hold"
    )
    held = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert (held["status"], held["held"]) == ("on_hold", True)
    assert held["items"][0]["cases"] == 1
    change = await client.put(f"/v1/orders/{order['id']}", json={"lines": [line(product, 4)]}, headers=member)
    assert change.status_code == 409
    assert (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()["status"] == "on_hold"
    proceeded = (await client.post(f"/v1/group-buys/{gb['id']}/proceed", headers=staff)).json()
    assert (proceeded["status"], proceeded["held"], proceeded["minimum_met"]) == ("ordered", False, False)
    allocated = (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()
    assert (allocated["status"], allocated["total_cents"]) == ("allocated", 2_000)
    assert (await client.post(f"/v1/group-buys/{gb['id']}/proceed", headers=staff)).status_code == 200
    cancel = await client.post(f"/v1/group-buys/{gb['id']}/cancel", json={"reason": "late"}, headers=staff)
    assert cancel.status_code == 409


async def test_proceed_ignores_the_minimum_and_a_buy_with_no_full_case_is_cancelled(client, session):
    gb, _, staff, _, _ = await buy_with_one_order(client, session, units=1, on_minimum_missed="proceed")
    closed = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert closed["status"] == "cancelled"
    assert closed["status_reason"] == "no case was filled"
    other, _, staff2, _, _ = await buy_with_one_order(
        client, session, min_value_cents=10**6, on_minimum_missed="proceed"
    )
    assert (await client.post(f"/v1/group-buys/{other['id']}/close", headers=staff2)).json()["status"] == "ordered"


async def test_open_buys_show_new_prices_and_closed_ones_keep_theirs(client, session):
    gb, product, staff, member, order = await buy_with_one_order(client, session, units=4)
    cheaper = {"tiers": [{"min_quantity": 1, "unit_price_cents": 800}], "markup_rate": "0.125"}
    assert (await client.put(f"/v1/products/{product}/prices", json=cheaper, headers=staff)).status_code == 200
    live = (await client.get(f"/v1/group-buys/{gb['id']}", headers=member)).json()
    assert live["items"][0]["unit_price_cents"] == 800
    assert (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()["max_total_cents"] == 3_600
    await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)
    dearer = {"tiers": [{"min_quantity": 1, "unit_price_cents": 5_000}], "markup_rate": "1"}
    assert (await client.put(f"/v1/products/{product}/prices", json=dearer, headers=staff)).status_code == 200
    closed = (await client.get(f"/v1/group-buys/{gb['id']}", headers=member)).json()
    assert closed["items"][0]["unit_price_cents"] == 800
    allocated = (await client.get(f"/v1/orders/{order['id']}", headers=member)).json()
    assert (allocated["total_cents"], allocated["max_total_cents"]) == (3_600, 3_600)  # 4 * 800 * 1.125


async def test_first_come_allocation_and_shortage(client, session, settings, session_maker):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, case_size=4, tiers=[(1, 100)])
    staff = await staff_headers(client, session)
    gb = (
        await client.post(
            "/v1/group-buys",
            json=group_buy_body(supplier.id, [product], allocation_policy="first_come"),
            headers=staff,
        )
    ).json()
    members = [await ordering_member(client, session, name) for name in ("First", "Second", "Third")]
    orders = []
    for (_, headers), units in zip(members, (3, 3, 3), strict=True):
        placed = await client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, units)]}, headers=headers
        )
        orders.append(placed.json())
    # Q = 9, S = 4: two cases, A = 8 <= Q: first come takes what is left: 3, 3, 2.
    closed = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert closed["items"][0]["cases"] == 2
    got = [
        (await client.get(f"/v1/orders/{o['id']}", headers=staff)).json()["lines"][0]["allocated_quantity"]
        for o in orders
    ]
    assert got == [3, 3, 2]
    # 5 of 8 delivered: the shortage falls on the newest units: 3, 2, 0.
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 5}]}
    assert (await client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=staff)).status_code == 202
    await run_worker(settings, session_maker)
    final = [(await client.get(f"/v1/orders/{o['id']}", headers=staff)).json() for o in orders]
    assert [o["lines"][0]["delivered_quantity"] for o in final] == [3, 2, 0]
    assert [o["total_cents"] for o in final] == [300, 200, 0]
    for (member, headers), charge in zip(members, (300, 200, 0), strict=True):
        account = (await client.get(f"/v1/members/{member.id}/account", headers=headers)).json()
        assert account["balance_cents"] == charge
