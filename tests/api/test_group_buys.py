"""A whole group buy through the API: orders with flex, a tier only the group reaches, close,
purchase order, a short delivery, settlement on trade accounts and patronage, to the cent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from domain.jobs.tables import OutboxJob
from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
    supplier_headers,
)
from tests.support.worker import run_worker


def line(product_id: int, quantity: int, flex: int = 0) -> dict[str, Any]:
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": flex}


def items_by_product(group_buy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["product_id"]: i for i in group_buy["items"]}


def lines_by_product(order: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ln["product_id"]: ln for ln in order["lines"]}


async def notifications_of(session) -> list[dict[str, Any]]:
    jobs = (await session.exec(select(OutboxJob).order_by(col(OutboxJob.id)))).all()
    return [j.payload for j in jobs if j.job_name == "deliver_notification"]


async def test_a_full_group_buy_to_the_cent(client, session, session_maker, settings):
    mill = await make_supplier(session, "Valley Mill")
    # Flour: cases of 6; 12 units reach 4.50. Lamp oil: cases of 4, 8 units reach 3.00. Sugar: cases of 10.
    flour = await make_product(session, mill.id, case_size=6, tiers=[(1, 500), (12, 450)], markup="0.05")
    oil = await make_product(session, mill.id, case_size=4, tiers=[(1, 333), (8, 300)], markup="0.1", pool="fuel")
    sugar = await make_product(session, mill.id, case_size=10, tiers=[(1, 200)])
    f, o, s = str(flour), str(oil), str(sugar)
    staff = await staff_headers(client, session)
    mill_user = await supplier_headers(client, session, mill.id)
    created = await client.post(
        "/v1/group-buys", json=group_buy_body(mill.id, [flour, oil, sugar], min_value_cents=5_000), headers=staff
    )
    assert created.status_code == 201, created.text
    gb = created.json()
    gid = gb["id"]
    assert gb["status"] == "open"
    assert gb["allocation_policy"] == "pro_rata"
    assert gb["payment_mode"] == "account"
    assert gb["min_value_cents"] == 5_000
    assert items_by_product(gb)[f] == {
        "product_id": f,
        "sku": items_by_product(gb)[f]["sku"],
        "name": "Flour 1 kg",
        "unit": "bag",
        "case_size": 6,
        "quantity": 0,
        "flex_quantity": 0,
        "cases": 0,
        "missing_units": 0,
        "unit_price_cents": 500,
        "next_tier": {"min_quantity": 12, "unit_price_cents": 450, "units_needed": 12},
        "delivered_quantity": None,
    }

    a, a_h = await ordering_member(client, session, "A Bakery")
    b, b_h = await ordering_member(client, session, "B Cafe")
    c, c_h = await ordering_member(client, session, "C Deli")
    d, d_h = await ordering_member(client, session, "D Diner")
    placed = await client.post(
        f"/v1/group-buys/{gid}/orders", json={"lines": [line(flour, 6), line(oil, 3)]}, headers=a_h
    )
    assert placed.status_code == 201, placed.text
    order_a = placed.json()
    assert order_a["status"] == "open"
    assert order_a["member_id"] == str(a.id)
    assert order_a["total_cents"] is None
    assert lines_by_product(order_a)[f] == {
        "product_id": f,
        "quantity": 6,
        "flex_quantity": 0,
        "allocated_quantity": None,
        "delivered_quantity": None,
        "unit_price_cents": None,
        "total_cents": None,
        "markup_rate": "0.05",
        "member_unit_price_cents": 525,  # the first tier, 500, with 5% markup
    }
    # A thinks again: 4 firm and 2 flex (the decrease comes off the newest units).
    changed = await client.put(
        f"/v1/orders/{order_a['id']}", json={"lines": [line(flour, 4, 2), line(oil, 3)]}, headers=a_h
    )
    assert changed.status_code == 200, changed.text
    # quantity + flex at the first tier with markup: 6 * 500 * 1.05 = 3150; 3 * 333 * 1.1 = 1098.9 -> 1099
    assert changed.json()["max_total_cents"] == 3150 + 1099
    order_b = await client.post(
        f"/v1/group-buys/{gid}/orders", json={"lines": [line(flour, 5), line(oil, 2, 2)]}, headers=b_h
    )
    assert order_b.status_code == 201, order_b.text

    # Live progress: flour Q 9, F 2 -> r = 3, 3 + 2 < 6: one case at 5.00; one more unit fills the
    # second case, and that is also what reaching 12 units (4.50) needs.
    progress = items_by_product((await client.get(f"/v1/group-buys/{gid}", headers=c_h)).json())
    assert {k: progress[f][k] for k in ("quantity", "flex_quantity", "cases", "missing_units", "unit_price_cents")} == {
        "quantity": 9,
        "flex_quantity": 2,
        "cases": 1,
        "missing_units": 1,
        "unit_price_cents": 500,
    }
    assert progress[f]["next_tier"] == {"min_quantity": 12, "unit_price_cents": 450, "units_needed": 1}

    order_c = await client.post(f"/v1/group-buys/{gid}/orders", json={"lines": [line(flour, 0, 2)]}, headers=c_h)
    order_d = await client.post(
        f"/v1/group-buys/{gid}/orders", json={"lines": [line(oil, 1), line(sugar, 3)]}, headers=d_h
    )
    assert order_c.status_code == order_d.status_code == 201
    live = (await client.get(f"/v1/group-buys/{gid}", headers=mill_user)).json()
    progress = items_by_product(live)
    # C's flex completes flour's second case: 12 units, the 4.50 tier no member reaches alone.
    assert (progress[f]["quantity"], progress[f]["flex_quantity"], progress[f]["cases"]) == (9, 4, 2)
    assert (progress[f]["unit_price_cents"], progress[f]["next_tier"]) == (450, None)
    assert (progress[o]["quantity"], progress[o]["flex_quantity"], progress[o]["cases"]) == (6, 2, 2)
    assert progress[o]["unit_price_cents"] == 300
    assert (progress[s]["cases"], progress[s]["missing_units"]) == (0, 7)
    assert live["supplier_value_cents"] == 12 * 450 + 8 * 300

    closed = await client.post(f"/v1/group-buys/{gid}/close", headers=staff)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "ordered"
    assert closed.json()["minimum_met"] is True
    again = await client.post(f"/v1/group-buys/{gid}/close", headers=staff)
    assert again.status_code == 200
    assert again.json() == closed.json()

    # Prices change after close: the closed buy keeps what it froze.
    new_prices = {"tiers": [{"min_quantity": 1, "unit_price_cents": 999}]}
    assert (await client.put(f"/v1/products/{flour}/prices", json=new_prices, headers=staff)).status_code == 200

    po = await client.get(f"/v1/group-buys/{gid}/purchase-order", headers=mill_user)
    assert po.status_code == 200, po.text
    purchase = po.json()
    assert [
        (ln["product_id"], ln["case_size"], ln["cases"], ln["quantity"], ln["unit_price_cents"], ln["total_cents"])
        for ln in purchase["lines"]
    ] == [
        (f, 6, 2, 12, 450, 5400),
        (o, 4, 2, 8, 300, 2400),
    ]
    assert purchase["total_cents"] == 7800
    assert set(purchase) == {"group_buy_id", "supplier_id", "status", "lines", "total_cents"}
    assert {key for ln in purchase["lines"] for key in ln} == {
        "product_id",
        "sku",
        "name",
        "case_size",
        "cases",
        "quantity",
        "unit_price_cents",
        "total_cents",
    }
    for member in (a, b, c, d):  # no member identity anywhere in the purchase order
        assert member.name not in po.text
        assert member.email not in po.text

    allocated = {
        name: (await client.get(f"/v1/orders/{order['id']}", headers=staff)).json()
        for name, order in (("a", order_a), ("b", order_b.json()), ("c", order_c.json()), ("d", order_d.json()))
    }
    assert {n: x["status"] for n, x in allocated.items()} == dict.fromkeys("abcd", "allocated")
    # Flour: A = 12 > Q = 9, everyone gets their firm units and 3 come from flex: LRM(3, [2, 0, 2])
    # = 1.5 / 0 / 1.5, the tied unit to the earlier order (A). Oil: the 2 extra units are B's flex.
    assert lines_by_product(allocated["a"])[f]["allocated_quantity"] == 6
    assert lines_by_product(allocated["b"])[f]["allocated_quantity"] == 5
    assert lines_by_product(allocated["c"])[f]["allocated_quantity"] == 1
    assert lines_by_product(allocated["b"])[o]["allocated_quantity"] == 4
    assert lines_by_product(allocated["d"])[s] == {
        "product_id": s,
        "quantity": 3,
        "flex_quantity": 0,
        "allocated_quantity": 0,
        "delivered_quantity": None,
        "unit_price_cents": 200,
        "total_cents": 0,
        "markup_rate": "0",
        "member_unit_price_cents": 200,
    }
    # Flour's tier price at close, 450, with 5% markup: 472.5 -> 473 a unit (B's 5 units: 2363, rounded once).
    assert lines_by_product(allocated["b"])[f]["member_unit_price_cents"] == 473
    # 6 * 450 * 1.05 = 2835, 3 * 300 * 1.1 = 990; 5 * 472.5 = 2362.5 -> 2363 (HALF_UP, once per line)
    assert (allocated["a"]["total_cents"], allocated["b"]["total_cents"]) == (2835 + 990, 2363 + 1320)
    assert (allocated["c"]["total_cents"], allocated["d"]["total_cents"]) == (473, 330)

    # Nothing changes after close.
    assert (
        await client.put(f"/v1/orders/{order_a['id']}", json={"lines": [line(flour, 9)]}, headers=a_h)
    ).status_code == 409
    assert (await client.delete(f"/v1/orders/{order_a['id']}", headers=a_h)).status_code == 409
    late, late_h = await ordering_member(client, session, "Late Larder")
    assert (
        await client.post(f"/v1/group-buys/{gid}/orders", json={"lines": [line(oil, 1)]}, headers=late_h)
    ).status_code == 409

    # Short delivery: 9 of 12 flour. LRM(9, [6, 5, 1]) = 4.5 / 3.75 / 0.75 -> 4 / 3 / 0 + 2 residue
    # to the largest remainders (0.75 each; the larger allocation first): A 4, B 4, C 1.
    delivery = {
        "lines": [
            {"product_id": f, "delivered_quantity": 9},
            {"product_id": o, "delivered_quantity": 8},
            {"product_id": s, "delivered_quantity": 0},
        ]
    }
    delivered = await client.post(f"/v1/group-buys/{gid}/delivery", json=delivery, headers=mill_user)
    # Settlement is a job: the answer is the buy as delivered; a worker settles it.
    assert delivered.status_code == 202, delivered.text
    assert delivered.json()["status"] == "delivered"
    await run_worker(settings, session_maker)
    settled = (await client.get(f"/v1/group-buys/{gid}", headers=staff)).json()
    assert settled["status"] == "settled"
    assert items_by_product(settled)[f]["delivered_quantity"] == 9
    assert items_by_product(settled)[f]["unit_price_cents"] == 450  # frozen, not the new 9.99
    twice = await client.post(f"/v1/group-buys/{gid}/delivery", json=delivery, headers=staff)
    assert twice.status_code == 409

    final = {
        name: (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
        for name, order, headers in (
            ("a", order_a, a_h),
            ("b", order_b.json(), b_h),
            ("c", order_c.json(), c_h),
            ("d", order_d.json(), d_h),
        )
    }
    expected_lines = {
        # (product, quantity, flex, allocated, delivered, unit price, line total)
        "a": [(f, 4, 2, 6, 4, 450, 1890), (o, 3, 0, 3, 3, 300, 990)],
        "b": [(f, 5, 0, 5, 4, 450, 1890), (o, 2, 2, 4, 4, 300, 1320)],
        "c": [(f, 0, 2, 1, 1, 450, 473)],
        "d": [(o, 1, 0, 1, 1, 300, 330), (s, 3, 0, 0, 0, 200, 0)],
    }
    for name, rows in expected_lines.items():
        got = [
            (
                ln["product_id"],
                ln["quantity"],
                ln["flex_quantity"],
                ln["allocated_quantity"],
                ln["delivered_quantity"],
                ln["unit_price_cents"],
                ln["total_cents"],
            )
            for ln in final[name]["lines"]
        ]
        assert got == rows, name
        assert final[name]["status"] == "settled"
    charges = {"a": 2880, "b": 3210, "c": 473, "d": 330}
    assert {n: x["total_cents"] for n, x in final.items()} == charges
    assert {n: x["max_total_cents"] for n, x in final.items()} == {"a": 4249, "b": 4090, "c": 1050, "d": 966}

    members = {"a": (a, a_h), "b": (b, b_h), "c": (c, c_h), "d": (d, d_h)}
    for name, (member, headers) in members.items():
        account = await client.get(f"/v1/members/{member.id}/account", headers=headers)
        assert account.status_code == 200, account.text
        assert account.json()["balance_cents"] == charges[name], name
        assert [e["kind"] for e in account.json()["entries"]] == ["group_buy_charge"]

    year = datetime.now(UTC).year
    records = await client.get("/v1/patronage", params={"fiscal_year": year, "limit": 200}, headers=staff)
    ours = [r for r in records.json()["items"] if r["group_buy_id"] == gid]
    patronage = sorted(
        (r["member_id"], r["pool"], r["amount_cents"], r["fiscal_year"], r["source"], r["member_business"])
        for r in ours
    )
    assert patronage == sorted(
        [
            (str(a.id), "purchases", 1890, year, "group_buy", True),
            (str(a.id), "fuel", 990, year, "group_buy", True),
            (str(b.id), "purchases", 1890, year, "group_buy", True),
            (str(b.id), "fuel", 1320, year, "group_buy", True),
            (str(c.id), "purchases", 473, year, "group_buy", True),
            (str(d.id), "fuel", 330, year, "group_buy", True),
        ]
    )
    assert sum(r["amount_cents"] for r in ours) == sum(charges.values())
    own = await client.get("/v1/patronage", headers=a_h)
    assert {(r["pool"], r["amount_cents"]) for r in own.json()["items"]} == {("purchases", 1890), ("fuel", 990)}

    sent = await notifications_of(session)
    events = [(n["event"], n["audience"]) for n in sent if n["data"].get("group_buy_id") == gid]
    assert ("group_buy.opened", "members") in events
    assert ("purchase_order.issued", f"supplier:{mill.id}") in events
    for member in (a, b, c, d):
        assert ("order.allocated", f"member:{member.id}") in events
        assert ("order.settled", f"member:{member.id}") in events
    # One notice a member: the settled order carries its shortage.
    settled_notices = [n for n in sent if n["event"] in {"order.settled", "order.shortage"}]
    shortages = {n["audience"]: n["data"]["short_units"] for n in settled_notices}
    assert len(settled_notices) == len(shortages) == 4
    assert shortages == {f"member:{a.id}": 2, f"member:{b.id}": 1, f"member:{c.id}": 0, f"member:{d.id}": 0}
    assert late.id is not None
