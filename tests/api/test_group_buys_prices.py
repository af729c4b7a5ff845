"""A group buy's prices are fixed when it opens (issue 8, item 2).

A supplier's new price applies to later buys; a lower one is offered to the open buy, never
a higher one; nobody is charged more than its order's `max_total_cents`; the co-op's markup
is staff's alone.
"""

from __future__ import annotations

from typing import Any

from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
    supplier_headers,
)
from tests.support.worker import run_worker


def prices(*tiers: tuple[int, int], **extra: Any) -> dict[str, Any]:
    return {"tiers": [{"min_quantity": q, "unit_price_cents": p} for q, p in tiers], **extra}


async def _open_buy_with_an_order(client, session, units: int = 10):
    mill = await make_supplier(session)
    product = await make_product(session, mill.id, tiers=[(1, 1_000)])
    staff = await staff_headers(client, session)
    mill_user = await supplier_headers(client, session, mill.id)
    gb = (await client.post("/v1/group-buys", json=group_buy_body(mill.id, [product]), headers=staff)).json()
    member, headers = await ordering_member(client, session)
    body = {"lines": [{"product_id": str(product), "quantity": units}]}
    order = (await client.post(f"/v1/group-buys/{gb['id']}/orders", json=body, headers=headers)).json()
    assert order["max_total_cents"] == units * 1_000
    return mill, product, staff, mill_user, gb, member, headers, order


async def _deliver_everything(client, gb_id: str, product: int, units: int, staff, worker) -> None:
    closed = await client.post(f"/v1/group-buys/{gb_id}/close", headers=staff)
    assert closed.json()["status"] == "ordered", closed.text
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": units}]}
    delivered = await client.post(f"/v1/group-buys/{gb_id}/delivery", json=delivery, headers=staff)
    assert delivered.status_code == 202, delivered.text
    await run_worker(*worker)  # the settlement job


async def test_a_supplier_cannot_raise_the_price_of_an_open_buy(client, session, settings, session_maker):
    mill, product, staff, mill_user, gb, member, headers, order = await _open_buy_with_an_order(client, session)
    raised = await client.put(f"/v1/products/{product}/prices", json=prices((1, 500_000)), headers=mill_user)
    assert raised.status_code == 200, raised.text  # the catalog has the new price, for later buys

    live = (await client.get(f"/v1/group-buys/{gb['id']}", headers=headers)).json()
    assert live["items"][0]["unit_price_cents"] == 1_000
    shown = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    assert shown["max_total_cents"] == 10_000

    await _deliver_everything(client, gb["id"], product, 10, staff, (settings, session_maker))
    settled = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    assert settled["total_cents"] == 10_000
    account = (await client.get(f"/v1/members/{member.id}/account", headers=headers)).json()
    assert account["balance_cents"] == 10_000

    later = (await client.post("/v1/group-buys", json=group_buy_body(mill.id, [product]), headers=staff)).json()
    assert later["items"][0]["unit_price_cents"] == 500_000


async def test_a_lower_price_is_offered_to_the_open_buy_but_not_a_later_rise(client, session, settings, session_maker):
    _, product, staff, mill_user, gb, member, headers, order = await _open_buy_with_an_order(client, session)
    lower = await client.put(f"/v1/products/{product}/prices", json=prices((1, 800)), headers=mill_user)
    assert lower.status_code == 200
    shown = (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()
    assert shown["max_total_cents"] == 8_000
    back_up = await client.put(f"/v1/products/{product}/prices", json=prices((1, 900)), headers=mill_user)
    assert back_up.status_code == 200
    live = (await client.get(f"/v1/group-buys/{gb['id']}", headers=headers)).json()
    assert live["items"][0]["unit_price_cents"] == 800

    # Staff raising the markup is a higher price for members: not for the open buy either.
    markup = await client.put(f"/v1/products/{product}/prices", json=prices((1, 800), markup_rate="0.5"), headers=staff)
    assert markup.status_code == 200
    assert (await client.get(f"/v1/orders/{order['id']}", headers=headers)).json()["max_total_cents"] == 8_000

    await _deliver_everything(client, gb["id"], product, 10, staff, (settings, session_maker))
    account = (await client.get(f"/v1/members/{member.id}/account", headers=headers)).json()
    assert account["balance_cents"] == 8_000


async def test_the_markup_is_staff_s_alone(client, session):
    mill = await make_supplier(session)
    mill_user = await supplier_headers(client, session, mill.id)
    staff = await staff_headers(client, session)
    body = {
        "supplier_id": str(mill.id),
        "sku": "OATS",
        "name": "Oats",
        "unit": "bag",
        "case_size": 1,
        "tiers": [{"min_quantity": 1, "unit_price_cents": 300}],
    }
    refused = await client.post("/v1/products", json={**body, "markup_rate": "0"}, headers=mill_user)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    created = await client.post("/v1/products", json=body, headers=mill_user)
    assert created.status_code == 201, created.text
    assert created.json()["markup_rate"] == "0"
    product = created.json()["id"]

    by_supplier = await client.put(
        f"/v1/products/{product}/prices", json=prices((1, 300), markup_rate="0.2"), headers=mill_user
    )
    assert by_supplier.status_code == 403
    shown = (await client.get(f"/v1/products/{product}", headers=staff)).json()
    assert (shown["markup_rate"], shown["price_version"]) == ("0", 1)

    by_staff = await client.put(
        f"/v1/products/{product}/prices", json=prices((1, 300), markup_rate="0.2"), headers=staff
    )
    assert by_staff.status_code == 200
    assert by_staff.json()["markup_rate"] == "0.2"
    # A supplier's later price change keeps the markup staff set.
    kept = await client.put(f"/v1/products/{product}/prices", json=prices((1, 280)), headers=mill_user)
    assert kept.json()["markup_rate"] == "0.2"
