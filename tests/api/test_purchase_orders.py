"""Suppliers' purchase orders: numbers, ordered and delivered units, the payable, payments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.ledger import chart
from domain.ledger import service as ledger
from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
    supplier_headers,
)
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession


def line(product_id: int, quantity: int) -> dict[str, Any]:
    return {"product_id": str(product_id), "quantity": quantity, "flex_quantity": 0}


async def ordered_buy(client: httpx.AsyncClient, session: AsyncSession) -> tuple[Any, int, Any, Any, Any]:
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, case_size=2, tiers=[(1, 333)], markup="0.05")
    staff = await staff_headers(client, session)
    gb = (await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [product]), headers=staff)).json()
    for _ in range(2):
        _, member = await ordering_member(client, session)
        placed = await client.post(
            f"/v1/group-buys/{gb['id']}/orders", json={"lines": [line(product, 2)]}, headers=member
        )
        assert placed.status_code == 201, placed.text
    closed = (await client.post(f"/v1/group-buys/{gb['id']}/close", headers=staff)).json()
    assert closed["status"] == "ordered"
    return supplier, product, staff, gb, closed


async def test_a_supplier_lists_its_open_purchase_orders_only(client, session):
    supplier, product, staff, gb, closed = await ordered_buy(client, session)
    other = await make_supplier(session, "Hill Farm")
    clerk = await supplier_headers(client, session, supplier.id)
    stranger = await supplier_headers(client, session, other.id)
    listed = await client.get("/v1/purchase-orders", headers=clerk)
    assert listed.status_code == 200, listed.text
    (po,) = listed.json()["items"]
    year = closed["closed_at"][:4]
    assert (po["id"], po["number"], po["group_buy_id"], po["supplier_id"]) == (
        gb["id"],
        f"PO-{year}-{gb['id']}",
        gb["id"],
        str(supplier.id),
    )
    assert po["issued_at"] == closed["closed_at"]
    assert [(ln["product_id"], ln["ordered_quantity"], ln["delivered_quantity"]) for ln in po["lines"]] == [
        (str(product), 4, None)
    ]
    assert (po["total_cents"], po["payable_cents"], po["paid_cents"], po["outstanding_cents"]) == (1_332, 0, 0, 0)
    assert (await client.get("/v1/purchase-orders", headers=stranger)).json()["items"] == []
    assert (await client.get(f"/v1/purchase-orders/{gb['id']}", headers=stranger)).status_code == 404
    assert [p["id"] for p in (await client.get("/v1/purchase-orders", headers=staff)).json()["items"]] == [gb["id"]]
    _, member = await ordering_member(client, session)
    assert (await client.get("/v1/purchase-orders", headers=member)).status_code == 403
    assert (await client.get(f"/v1/purchase-orders/{gb['id']}", headers=member)).status_code == 403


async def test_delivery_makes_a_supplier_payable_that_staff_pay_off(client, session, settings, session_maker):
    supplier, product, staff, gb, _ = await ordered_buy(client, session)
    clerk = await supplier_headers(client, session, supplier.id)
    early = await client.post(
        f"/v1/purchase-orders/{gb['id']}/payments", json={"amount_cents": 1, "method": "bank_transfer"}, headers=staff
    )
    assert early.status_code == 409  # nothing is owed before delivery
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": 3}]}
    assert (await client.post(f"/v1/group-buys/{gb['id']}/delivery", json=delivery, headers=clerk)).status_code == 202
    await run_worker(settings, session_maker)  # settlement owes the supplier
    po = (await client.get(f"/v1/purchase-orders/{gb['id']}", headers=clerk)).json()
    assert [(ln["ordered_quantity"], ln["delivered_quantity"], ln["payable_cents"]) for ln in po["lines"]] == [
        (4, 3, 999)
    ]
    assert (po["payable_cents"], po["paid_cents"], po["outstanding_cents"]) == (999, 0, 999)
    assert await ledger.balance_of(session, chart.supplier_payable(supplier.id)) == 999
    assert await ledger.balance_of(session, chart.COST_OF_GOODS) == 999

    pay = f"/v1/purchase-orders/{gb['id']}/payments"
    too_much = await client.post(pay, json={"amount_cents": 1_000, "method": "bank_transfer"}, headers=staff)
    assert too_much.status_code == 409
    assert (await client.post(pay, json={"amount_cents": 500, "method": "cash"}, headers=clerk)).status_code == 403
    first = await client.post(pay, json={"amount_cents": 500, "method": "bank_transfer"}, headers=staff)
    assert first.status_code == 201, first.text
    assert (first.json()["paid_cents"], first.json()["outstanding_cents"]) == (500, 499)
    keyed = {**staff, "Idempotency-Key": "pay-the-mill-once"}
    rest = await client.post(pay, json={"amount_cents": 499, "method": "check"}, headers=keyed)
    again = await client.post(pay, json={"amount_cents": 499, "method": "check"}, headers=keyed)
    assert (rest.status_code, again.status_code) == (201, 201)
    assert (again.json()["paid_cents"], again.json()["outstanding_cents"]) == (999, 0)
    assert (await client.post(pay, json={"amount_cents": 1, "method": "cash"}, headers=staff)).status_code == 409
    assert await ledger.balance_of(session, chart.supplier_payable(supplier.id)) == 0
    assert await ledger.balance_of(session, chart.BANK) == -999
    # Fully paid and delivered: no longer open, still there on request.
    assert (await client.get("/v1/purchase-orders", headers=clerk)).json()["items"] == []
    every = (await client.get("/v1/purchase-orders?include_paid=true", headers=clerk)).json()["items"]
    assert [p["outstanding_cents"] for p in every] == [0]


async def test_bad_payments_are_400_naming_the_field(client, session):
    _, _, staff, gb, _ = await ordered_buy(client, session)
    pay = f"/v1/purchase-orders/{gb['id']}/payments"
    zero = await client.post(pay, json={"amount_cents": 0, "method": "cash"}, headers=staff)
    assert zero.status_code == 400
    assert "amount_cents" in zero.text
    card = await client.post(pay, json={"amount_cents": 1, "method": "card"}, headers=staff)
    assert card.status_code == 400
    assert "method" in card.text
    assert (
        await client.post(
            "/v1/purchase-orders/999999/payments", json={"amount_cents": 1, "method": "cash"}, headers=staff
        )
    ).status_code == 404
