"""Products: edited by staff (and their supplier, within limits), retired but kept in history."""

from __future__ import annotations

from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
    supplier_headers,
)


async def test_staff_edit_name_unit_sku_and_pool(client, session):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, sku="OLD")
    staff = await staff_headers(client, session)
    patch = {"name": "Rye flour 1 kg", "unit": "sack", "sku": "RYE-1", "pool": "bakery"}
    edited = await client.patch(f"/v1/products/{product}", json=patch, headers=staff)
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["name"], body["unit"], body["sku"], body["pool"], body["retired_at"]) == (
        "Rye flour 1 kg",
        "sack",
        "RYE-1",
        "bakery",
        None,
    )
    assert (await client.get(f"/v1/products/{product}", headers=staff)).json() == body


async def test_a_supplier_edits_its_own_products_but_not_the_pool_nor_anothers(client, session):
    supplier = await make_supplier(session)
    other = await make_supplier(session, "Hill Farm")
    product = await make_product(session, supplier.id)
    foreign = await make_product(session, other.id)
    clerk = await supplier_headers(client, session, supplier.id)
    renamed = await client.patch(f"/v1/products/{product}", json={"name": "Spelt"}, headers=clerk)
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Spelt")
    pool = await client.patch(f"/v1/products/{product}", json={"pool": "bakery"}, headers=clerk)
    assert pool.status_code == 403
    markup = await client.patch(f"/v1/products/{product}", json={"markup_rate": "0.5"}, headers=clerk)
    assert markup.status_code == 400
    assert (await client.patch(f"/v1/products/{foreign}", json={"name": "X"}, headers=clerk)).status_code == 404
    _, member = await ordering_member(client, session)
    assert (await client.patch(f"/v1/products/{product}", json={"name": "X"}, headers=member)).status_code == 403
    staff = await staff_headers(client, session)
    assert (await client.get(f"/v1/products/{product}", headers=staff)).json()["pool"] == "purchases"


async def test_a_sku_taken_by_another_product_of_the_supplier_is_a_409(client, session):
    supplier = await make_supplier(session)
    await make_product(session, supplier.id, sku="TAKEN")
    product = await make_product(session, supplier.id, sku="FREE")
    staff = await staff_headers(client, session)
    clash = await client.patch(f"/v1/products/{product}", json={"sku": "TAKEN"}, headers=staff)
    assert clash.status_code == 409
    assert (await client.get(f"/v1/products/{product}", headers=staff)).json()["sku"] == "FREE"


async def test_a_bad_patch_is_a_400_naming_the_field(client, session):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id)
    staff = await staff_headers(client, session)
    empty = await client.patch(f"/v1/products/{product}", json={"name": ""}, headers=staff)
    assert empty.status_code == 400
    assert "name" in empty.text
    bad_pool = await client.patch(f"/v1/products/{product}", json={"pool": "no such pool!"}, headers=staff)
    assert bad_pool.status_code == 400
    assert "pool" in bad_pool.text


async def test_a_retired_product_cannot_join_new_buys_but_stays_in_history(client, session):
    supplier = await make_supplier(session)
    kept = await make_product(session, supplier.id)
    retired = await make_product(session, supplier.id)
    staff = await staff_headers(client, session)
    before = (
        await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [kept, retired]), headers=staff)
    ).json()
    answer = await client.post(f"/v1/products/{retired}/retire", headers=staff)
    assert answer.status_code == 200, answer.text
    retired_at = answer.json()["retired_at"]
    assert retired_at is not None
    again = await client.post(f"/v1/products/{retired}/retire", headers=staff)
    assert (again.status_code, again.json()["retired_at"]) == (200, retired_at)
    refused = await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [kept, retired]), headers=staff)
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["product_ids[1]"]
    # The buy that already had it keeps it, and members still order it there.
    _, member = await ordering_member(client, session)
    line = {"product_id": str(retired), "quantity": 1, "flex_quantity": 0}
    order = await client.post(f"/v1/group-buys/{before['id']}/orders", json={"lines": [line]}, headers=member)
    assert order.status_code == 201, order.text
    shown = (await client.get(f"/v1/group-buys/{before['id']}", headers=member)).json()
    assert [i["product_id"] for i in shown["items"]] == [str(kept), str(retired)]
    assert (await client.get(f"/v1/products/{retired}", headers=member)).json()["retired_at"] == retired_at
    listed = (await client.get(f"/v1/products?supplier_id={supplier.id}", headers=member)).json()["items"]
    assert [p["id"] for p in listed] == [str(kept)]
    every = (await client.get(f"/v1/products?supplier_id={supplier.id}&include_retired=true", headers=member)).json()
    assert [p["id"] for p in every["items"]] == [str(kept), str(retired)]


async def test_a_supplier_retires_its_own_products_only_and_members_never(client, session):
    supplier = await make_supplier(session)
    other = await make_supplier(session, "Hill Farm")
    product = await make_product(session, supplier.id)
    foreign = await make_product(session, other.id)
    clerk = await supplier_headers(client, session, supplier.id)
    _, member = await ordering_member(client, session)
    assert (await client.post(f"/v1/products/{product}/retire", headers=member)).status_code == 403
    assert (await client.post(f"/v1/products/{foreign}/retire", headers=clerk)).status_code == 404
    assert (await client.post(f"/v1/products/{product}/retire", headers=clerk)).status_code == 200


async def test_a_retired_product_s_prices_no_longer_change(client, session):
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id, tiers=[(1, 300)])
    staff = await staff_headers(client, session)
    clerk = await supplier_headers(client, session, supplier.id)
    assert (await client.post(f"/v1/products/{product}/retire", headers=clerk)).status_code == 200
    before = (await client.get(f"/v1/products/{product}", headers=staff)).json()
    cheaper = {"tiers": [{"min_quantity": 1, "unit_price_cents": 280}]}
    for body, headers in ((cheaper, clerk), ({**cheaper, "markup_rate": "0.1"}, staff)):
        refused = await client.put(f"/v1/products/{product}/prices", json=body, headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "product_retired"
    assert (await client.get(f"/v1/products/{product}", headers=staff)).json() == before
    # The same prices again change nothing, retired or not: still a 200 (a retried PUT).
    same = await client.put(f"/v1/products/{product}/prices", json={"tiers": before["tiers"]}, headers=clerk)
    assert (same.status_code, same.json()) == (200, before)
