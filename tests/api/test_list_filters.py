"""The filters a user needs on each list, validated: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.membership import service as membership
from tests.support.buying import (
    group_buy_body,
    make_product,
    make_supplier,
    ordering_member,
    staff_headers,
    supplier_headers,
)
from tests.support.users import make_member


def _field(answer) -> list[str]:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in answer.json()["errors"]]


async def test_members_by_status_and_name(client, session):
    staff = await staff_headers(client, session)
    alpha = await make_member(session, "Alpha Deli")
    await make_member(session, "Beta Bakery")
    soup = await make_member(session, "The ALPHABET Soup Co")
    await make_member(session, "100% Organic")
    assert soup.id is not None
    await membership.admit(session, soup.id, probation_days=0, now=datetime.now(UTC), actor=0)
    await session.commit()

    async def names(**params) -> list[str]:
        answer = await client.get("/v1/members", params=params, headers=staff)
        assert answer.status_code == 200, answer.text
        return [m["name"] for m in answer.json()["items"]]

    assert await names(name="alpha") == ["Alpha Deli", "The ALPHABET Soup Co"]
    assert await names(name="alpha", status="applicant") == ["Alpha Deli"]
    assert await names(status="applicant", name="e") == ["Alpha Deli", "Beta Bakery"]
    assert await names(name="%") == ["100% Organic"]  # a literal, not a wildcard
    assert await names(name="_") == []
    assert _field(await client.get("/v1/members", params={"status": "gold"}, headers=staff)) == ["status"]
    assert _field(await client.get("/v1/members", params={"name": ""}, headers=staff)) == ["name"]
    assert alpha.id is not None


async def test_orders_by_member_group_buy_and_status(client, session):
    staff = await staff_headers(client, session)
    supplier = await make_supplier(session)
    product = await make_product(session, supplier.id)
    buys = []
    for _ in range(2):
        created = await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [product]), headers=staff)
        assert created.status_code == 201, created.text
        buys.append(created.json()["id"])
    a, a_headers = await ordering_member(client, session, "Alpha Deli")
    b, b_headers = await ordering_member(client, session, "Beta Bakery")
    placed = {}
    for who, headers in (("a", a_headers), ("b", b_headers)):
        for buy in buys:
            answer = await client.post(
                f"/v1/group-buys/{buy}/orders",
                json={"lines": [{"product_id": str(product), "quantity": 5}]},
                headers=headers,
            )
            assert answer.status_code == 201, answer.text
            placed[who, buy] = answer.json()["id"]
    cancelled = await client.delete(f"/v1/orders/{placed['a', buys[1]]}", headers=a_headers)
    assert cancelled.status_code == 200, cancelled.text

    async def ids(headers, **params) -> set[str]:
        answer = await client.get("/v1/orders", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return {o["id"] for o in answer.json()["items"]}

    assert await ids(staff, member_id=str(a.id)) == {placed["a", buys[0]], placed["a", buys[1]]}
    assert await ids(staff, member_id=str(b.id), group_buy_id=buys[1]) == {placed["b", buys[1]]}
    assert await ids(staff, status="cancelled") == {placed["a", buys[1]]}
    assert await ids(staff, status="open", group_buy_id=buys[1]) == {placed["b", buys[1]]}
    # A member's users: their own orders across buys, filtered the same way.
    assert await ids(a_headers) == {placed["a", buys[0]], placed["a", buys[1]]}
    assert await ids(a_headers, status="open") == {placed["a", buys[0]]}
    assert await ids(a_headers, member_id=str(a.id), group_buy_id=buys[1]) == {placed["a", buys[1]]}
    # Another member's id is not theirs to name.
    other = await client.get("/v1/orders", params={"member_id": str(b.id)}, headers=a_headers)
    assert other.status_code == 404, other.text
    assert _field(await client.get("/v1/orders", params={"status": "shipped"}, headers=staff)) == ["status"]
    assert _field(await client.get("/v1/orders", params={"member_id": "x1"}, headers=staff)) == ["member_id"]


async def test_group_buys_by_status_and_supplier(client, session):
    staff = await staff_headers(client, session)
    mill = await make_supplier(session, "Valley Mill")
    dairy = await make_supplier(session, "Hill Dairy")
    flour = await make_product(session, mill.id)
    milk = await make_product(session, dairy.id)
    mine = await client.post("/v1/group-buys", json=group_buy_body(mill.id, [flour]), headers=staff)
    theirs = await client.post("/v1/group-buys", json=group_buy_body(dairy.id, [milk]), headers=staff)
    assert mine.status_code == theirs.status_code == 201, (mine.text, theirs.text)

    async def ids(headers, **params) -> set[str]:
        answer = await client.get("/v1/group-buys", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return {g["id"] for g in answer.json()["items"]}

    assert await ids(staff, supplier_id=str(mill.id)) == {mine.json()["id"]}
    assert await ids(staff, supplier_id=str(dairy.id), status="open") == {theirs.json()["id"]}
    assert await ids(staff, supplier_id=str(dairy.id), status="settled") == set()
    mill_user = await supplier_headers(client, session, mill.id)
    assert await ids(mill_user, supplier_id=str(mill.id)) == {mine.json()["id"]}
    other = await client.get("/v1/group-buys", params={"supplier_id": str(dairy.id)}, headers=mill_user)
    assert other.status_code == 404, other.text
    assert _field(await client.get("/v1/group-buys", params={"status": "done"}, headers=staff)) == ["status"]
    assert _field(await client.get("/v1/group-buys", params={"supplier_id": "-1"}, headers=staff)) == ["supplier_id"]


def _record(ref: str, number: int | None, pool: str, when: str) -> dict[str, object]:
    return {"external_ref": ref, "member_number": number, "pool": pool, "amount_cents": 100, "occurred_at": when}


async def test_patronage_by_pool_and_date_range(client, session):
    staff = await staff_headers(client, session)
    member, member_headers = await ordering_member(client, session)
    body = {
        "records": [
            _record("p-1", member.member_number, "purchases", "2024-02-29T23:59:59Z"),
            _record("p-2", member.member_number, "fuel", "2024-03-01T00:00:00Z"),
            _record("p-3", member.member_number, "purchases", "2024-03-31T23:59:59Z"),
            _record("p-4", None, "purchases", "2024-04-01T00:00:00Z"),
        ]
    }
    imported = await client.post("/v1/patronage/imports", json=body, headers=staff)
    assert imported.status_code == 200, imported.text

    async def refs(headers, **params) -> list[str]:
        answer = await client.get("/v1/patronage", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [r["external_ref"] for r in answer.json()["items"]]

    assert await refs(staff, pool="purchases") == ["p-1", "p-3", "p-4"]
    assert await refs(staff, occurred_from="2024-03-01", occurred_to="2024-03-31") == ["p-2", "p-3"]
    assert await refs(staff, pool="purchases", occurred_from="2024-03-01") == ["p-3", "p-4"]
    assert await refs(staff, occurred_to="2024-03-01") == ["p-1", "p-2"]
    assert await refs(member_headers, pool="purchases") == ["p-1", "p-3"]
    backwards = {"occurred_from": "2024-04-01", "occurred_to": "2024-03-01"}
    assert _field(await client.get("/v1/patronage", params=backwards, headers=staff)) == ["occurred_to"]
    assert _field(await client.get("/v1/patronage", params={"occurred_from": "March"}, headers=staff)) == [
        "occurred_from"
    ]
