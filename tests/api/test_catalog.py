"""Suppliers, supplier users, products and versioned prices."""

from __future__ import annotations

from typing import Any

from tests.support.buying import make_product, make_supplier, ordering_member, staff_headers, supplier_headers
from tests.support.users import PASSWORD, bearer

PROBLEM = "application/problem+json"


def product_body(supplier_id: object, **extra: Any) -> dict[str, Any]:
    return {
        "supplier_id": str(supplier_id),
        "sku": "FL-1",
        "name": "Flour 1 kg",
        "unit": "bag",
        "case_size": 10,
        "tiers": [{"min_quantity": 1, "unit_price_cents": 250}, {"min_quantity": 50, "unit_price_cents": 220}],
        **extra,
    }


async def test_staff_add_a_supplier_and_its_users(client, session):
    staff = await staff_headers(client, session)
    created = await client.post(
        "/v1/suppliers", json={"name": "Valley Mill", "email": "Orders@Mill.test"}, headers=staff
    )
    assert created.status_code == 201, created.text
    supplier = created.json()
    assert supplier["name"] == "Valley Mill"
    assert supplier["email"] == "orders@mill.test"
    assert isinstance(supplier["id"], str)
    user = await client.post(
        f"/v1/suppliers/{supplier['id']}/users", json={"email": "clerk@mill.test", "password": PASSWORD}, headers=staff
    )
    assert user.status_code == 201, user.text
    assert user.json()["role"] == "supplier"
    assert user.json()["supplier_id"] == supplier["id"]
    clerk = await bearer(client, "clerk@mill.test")
    assert (await client.get("/v1/me", headers=clerk)).json()["supplier_id"] == supplier["id"]
    unknown = await client.post(
        "/v1/suppliers/999999999/users", json={"email": "x@mill.test", "password": PASSWORD}, headers=staff
    )
    assert unknown.status_code == 404


async def test_only_staff_add_suppliers(client, session):
    _, member = await ordering_member(client, session)
    answer = await client.post("/v1/suppliers", json={"name": "X", "email": "x@x.test"}, headers=member)
    assert answer.status_code == 403
    assert (await client.post("/v1/suppliers", json={"name": "X", "email": "x@x.test"})).status_code == 401


async def test_products_have_defaults_and_validated_tiers(client, session):
    supplier = await make_supplier(session)
    staff = await staff_headers(client, session)
    created = await client.post("/v1/products", json=product_body(supplier.id), headers=staff)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["pool"] == "purchases"
    assert product["markup_rate"] == "0"
    assert product["case_size"] == 10
    assert product["price_version"] == 1
    assert product["tiers"] == [
        {"min_quantity": 1, "unit_price_cents": 250},
        {"min_quantity": 50, "unit_price_cents": 220},
    ]
    again = await client.post("/v1/products", json=product_body(supplier.id), headers=staff)
    assert again.status_code == 409
    shown = await client.get(f"/v1/products/{product['id']}", headers=staff)
    assert shown.json() == product


async def test_bad_products_are_400_listing_every_field(client, session):
    supplier = await make_supplier(session)
    staff = await staff_headers(client, session)
    bad_tiers = [
        {"min_quantity": 2, "unit_price_cents": 100},
        {"min_quantity": 2, "unit_price_cents": 120},
    ]
    answer = await client.post(
        "/v1/products",
        json=product_body(supplier.id, tiers=bad_tiers, pool="Not A Pool", markup_rate="-0.1"),
        headers=staff,
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {
        "tiers[0].min_quantity",
        "tiers[1].min_quantity",
        "tiers[1].unit_price_cents",
        "pool",
        "markup_rate",
    }
    for body in (
        product_body(supplier.id, case_size=0),
        product_body(supplier.id, tiers=[]),
        product_body(supplier.id, colour="red"),
        product_body(supplier.id, markup_rate="lots"),
        product_body("not-an-id"),
    ):
        answer = await client.post("/v1/products", json=body, headers=staff)
        assert answer.status_code == 400, body
        assert answer.headers["content-type"] == PROBLEM
    unknown = await client.post("/v1/products", json=product_body(987654321), headers=staff)
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == [{"field": "supplier_id", "message": "no supplier 987654321"}]


async def test_suppliers_manage_and_see_only_their_own_products(client, session):
    mill, dairy = await make_supplier(session, "Mill"), await make_supplier(session, "Dairy")
    mill_headers = await supplier_headers(client, session, mill.id)
    own = await client.post("/v1/products", json=product_body(mill.id), headers=mill_headers)
    assert own.status_code == 201, own.text
    assert own.json()["markup_rate"] == "0"  # the markup is staff's (tests/api/test_group_buys_prices.py)
    other = await client.post("/v1/products", json=product_body(dairy.id), headers=mill_headers)
    assert other.status_code == 403
    dairy_product = await make_product(session, dairy.id)
    assert (await client.get(f"/v1/products/{dairy_product}", headers=mill_headers)).status_code == 404
    listed = await client.get("/v1/products", headers=mill_headers)
    assert [p["id"] for p in listed.json()["items"]] == [own.json()["id"]]
    assert (await client.get(f"/v1/suppliers/{dairy.id}", headers=mill_headers)).status_code == 404
    assert [s["id"] for s in (await client.get("/v1/suppliers", headers=mill_headers)).json()["items"]] == [
        str(mill.id)
    ]
    _, member = await ordering_member(client, session)
    everything = await client.get("/v1/products", headers=member, params={"supplier_id": str(dairy.id)})
    assert [p["id"] for p in everything.json()["items"]] == [str(dairy_product)]
    assert (await client.get("/v1/products", headers=member, params={"supplier_id": "x"})).status_code == 400
    assert (await client.post("/v1/products", json=product_body(mill.id), headers=member)).status_code == 403


async def test_products_page_with_a_cursor(client, session):
    supplier = await make_supplier(session)
    ids = [str(await make_product(session, supplier.id)) for _ in range(3)]
    staff = await staff_headers(client, session)
    first = await client.get("/v1/products", params={"limit": 2, "supplier_id": str(supplier.id)}, headers=staff)
    assert [p["id"] for p in first.json()["items"]] == ids[:2]
    rest = await client.get(
        "/v1/products",
        params={"limit": 2, "supplier_id": str(supplier.id), "cursor": first.json()["next_cursor"]},
        headers=staff,
    )
    assert [p["id"] for p in rest.json()["items"]] == ids[2:]
    assert rest.json()["next_cursor"] is None


async def test_price_changes_are_new_versions(client, session):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 300)])
    headers = await supplier_headers(client, session, supplier.id)
    body = {"tiers": [{"min_quantity": 1, "unit_price_cents": 280}, {"min_quantity": 20, "unit_price_cents": 260}]}
    changed = await client.put(f"/v1/products/{product}/prices", json=body, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["price_version"] == 2
    assert changed.json()["tiers"][1] == {"min_quantity": 20, "unit_price_cents": 260}
    same = await client.put(f"/v1/products/{product}/prices", json=body, headers=headers)
    assert same.json()["price_version"] == 2
    staff = await staff_headers(client, session)
    markup = await client.put(f"/v1/products/{product}/prices", json={**body, "markup_rate": "0.1"}, headers=staff)
    assert markup.json()["price_version"] == 3
    assert markup.json()["markup_rate"] == "0.1"
    rising = {"tiers": [{"min_quantity": 1, "unit_price_cents": 100}, {"min_quantity": 5, "unit_price_cents": 200}]}
    bad = await client.put(f"/v1/products/{product}/prices", json=rising, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "tiers[1].unit_price_cents"
    stranger = await supplier_headers(client, session, (await make_supplier(session, "Other")).id)
    assert (await client.put(f"/v1/products/{product}/prices", json=body, headers=stranger)).status_code == 404
    _, member = await ordering_member(client, session)
    assert (await client.put(f"/v1/products/{product}/prices", json=body, headers=member)).status_code == 403
