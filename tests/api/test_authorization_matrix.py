"""Every route x every non-staff role x another tenant's ids, generated from the app's own route table.

A new route is covered the day it is added: if it writes and takes a body, it needs a
valid example body below, or this test fails and says so. For each principal:
- a staff-only route (its guards say so) answers 403;
- a route naming a resource of another tenant (member B's id, its order, supplier S2's
  buy or product) answers 403 or 404, never 2xx;
- a read naming nothing of another tenant answers without B's data in it;
and after the whole matrix not one business row has changed.

Both members are also suppliers (members as suppliers: A is "Own Mill", B "Other Mill"), so
A's admins and buyers pass the supplier-side guards as Own Mill's users: every supplier-side
route naming Other Mill's resources must refuse them as it refuses Own Mill's supplier user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from api.auth import ACCESS, PUBLIC_PATHS, staff_only
from api.route_helpers import staff_or_suppliers
from domain.identity.rules import MemberRole, Role
from tests.support.buying import group_buy_body, make_product, make_supplier, ordering_member, staff_headers
from tests.support.users import PASSWORD, bearer, make_user

if TYPE_CHECKING:
    import httpx
    from litestar import Litestar

B_NAME = "Tenant B Marker Bakery"
# In B's directory profile, in a field only staff may see.
B_STAFF_ONLY = "+1 555 0199 tenant-b-staff-only"

# A valid body for every write that names a resource: the refusal must come from
# authorization, not from a body that fails to parse.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/members/{member_id}/users"): {
        "email": "probe@tenant.test",
        "password": PASSWORD,
        "member_role": "admin",
    },
    ("POST", "/v1/members/{member_id}/admit"): {"probation_days": 0},
    ("POST", "/v1/members/{member_id}/share-payments"): {"amount_cents": 100, "method": "cash"},
    ("POST", "/v1/members/{member_id}/payments"): {"amount_cents": 100, "method": "cash"},
    ("POST", "/v1/members/{member_id}/preferred-shares"): {"amount_cents": 100, "method": "cash"},
    ("PUT", "/v1/suppliers/{supplier_id}/payment-settings"): {"stripe_account_id": "acct_1Probe"},
    ("POST", "/v1/members/{member_id}/share-card-payments"): {"amount_cents": 100},
    ("POST", "/v1/members/{member_id}/card-setups"): {},  # no body: the member in the path is the whole request
    ("POST", "/v1/members/{member_id}/credits"): {"amount_cents": 100, "reason": "goodwill"},
    ("POST", "/v1/members/{member_id}/withdraw"): {},
    ("POST", "/v1/members/{member_id}/withdraw/cancel"): {},
    ("POST", "/v1/members/{member_id}/suspend"): {"reason": "probe"},
    ("POST", "/v1/members/{member_id}/reinstate"): {"reason": "probe"},
    ("POST", "/v1/members/{member_id}/expel"): {"reason": "probe"},
    ("POST", "/v1/members/{member_id}/share-redemption/decline"): {"reason": "probe"},
    ("POST", "/v1/members/{member_id}/consents"): {"kind": "patronage_consent", "received_on": "2026-01-05"},
    ("POST", "/v1/members/{member_id}/special-redemptions"): {
        "reason": "death",
        "discount_rate": "0.05",
        "as_of": "2026-01-05",
    },
    ("POST", "/v1/suppliers/{supplier_id}/users"): {"email": "probe-s@tenant.test", "password": PASSWORD},
    ("PUT", "/v1/suppliers/{supplier_id}/member"): {"member_id": "{member_id}"},
    ("PUT", "/v1/products/{product_id}/prices"): {"tiers": [{"min_quantity": 1, "unit_price_cents": 999_999}]},
    ("PATCH", "/v1/products/{product_id}"): {"name": "probe"},
    ("POST", "/v1/products/{product_id}/retire"): {},
    ("POST", "/v1/group-buys/{group_buy_id}/cancel"): {"reason": "probe"},
    ("POST", "/v1/group-buys/{group_buy_id}/close"): {},
    ("POST", "/v1/group-buys/{group_buy_id}/proceed"): {},
    ("POST", "/v1/group-buys/{group_buy_id}/delivery"): {
        "lines": [{"product_id": "{product_id}", "delivered_quantity": 0}]
    },
    ("POST", "/v1/group-buys/{group_buy_id}/corrections"): {
        "lines": [{"product_id": "{product_id}", "delivered_quantity": 0}],
        "reason": "probe",
    },
    ("POST", "/v1/group-buys/{group_buy_id}/orders"): {"lines": [{"product_id": "{product_id}", "quantity": 50}]},
    ("PUT", "/v1/orders/{order_id}"): {"lines": [{"product_id": "{product_id}", "quantity": 50}]},
    ("PATCH", "/v1/users/{user_id}"): {"disabled": True},
    ("POST", "/v1/ballots/{ballot_id}/votes"): {"choice": "yes"},
    ("POST", "/v1/ballots/{ballot_id}/proxies"): {"holder_member_id": "{member_id}"},
    ("POST", "/v1/petitions/{petition_id}/signatures"): {},  # no body: the petition in the path is the request
    ("POST", "/v1/contracts/{contract_id}/purchase-reports/csv"): {},  # CSV: the wall comes before the body
    ("POST", "/v1/contracts/{contract_id}/purchase-reports"): {
        "lines": [
            {"external_ref": "probe", "member_number": 1, "occurred_at": "2025-01-05T00:00:00", "amount_cents": 1}
        ]
    },
    ("PUT", "/v1/members/{member_id}/profile"): {"listed": True, "description": "probe"},
    ("POST", "/v1/offers/{offer_id}/claims"): {},  # no body: the offer in the path is the whole request
    ("POST", "/v1/offers/{offer_id}/claims/{code}/redeem"): {},
    ("POST", "/v1/events/{event_id}/registrations"): {"attendees": [{"name": "Probe", "email": "probe@tenant.test"}]},
    ("POST", "/v1/events/{event_id}/registrations/{registration_id}/cancel"): {},
    ("POST", "/v1/events/{event_id}/approve"): {},
    ("POST", "/v1/events/{event_id}/guest-registrations"): {
        "name": "Probe",
        "email": "probe@outside.test",
        "organisation": "Probe Ltd",
    },
    ("POST", "/v1/events/{event_id}/decline"): {},
    ("PUT", "/v1/events/{event_id}/registrations/{registration_id}/attendance"): {"attendance": "attended"},
}

# Reads that show other members' data to members by design (the member directory): there,
# B's name may show, but never a field B keeps for staff.
SHARED_WITH_MEMBERS = {("GET", "/v1/members/{member_id}/profile"), ("GET", "/v1/directory"), ("GET", "/v1/offers")}


def _filled(body: Any, ids: dict[str, str]) -> Any:
    if isinstance(body, dict):
        return {k: _filled(v, ids) for k, v in body.items()}
    if isinstance(body, list):
        return [_filled(v, ids) for v in body]
    return body.format(**ids) if isinstance(body, str) else body


# Which path parameters name a resource of another tenant, per kind of principal.
MEMBER_HIDDEN = {"member_id", "order_id", "user_id", "purchase_order_id", "registration_id"}
SUPPLIER_HIDDEN = {
    "member_id",
    "order_id",
    "user_id",
    "supplier_id",
    "group_buy_id",
    "payout_id",
    "run_id",
    "purchase_order_id",
    "contract_id",
    "claim_id",
    "line_id",
    "offer_id",
    "event_id",
    "registration_id",
}
SUPPLIER_HIDDEN_WRITES = {"product_id"}
# Tables that record sign-ins and request keys, which a refused call may write.
BOOKKEEPING = re.compile(r"^(auth_|login_|idempotency_)")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    params: tuple[str, ...]
    staff_only: bool
    supplier_side: bool = False  # guarded by staff_or_suppliers: a member-supplier's users pass as its supplier


def _routes(app: Litestar) -> list[Route]:
    found = []
    for route in app.routes:
        template = re.sub(r"\{([^}:]+)(:[a-z]+)?\}", r"{\1}", route.path)
        # Public by design: health, docs, sign-in, and the Stripe webhook, whose signature is its
        # authentication (test_every_route_is_guarded checks an unsigned call is refused).
        if any(re.search(p, template) for p in PUBLIC_PATHS):
            continue
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                guards = [handler.opt.get(ACCESS)]  # the route's one guard (check_access runs it)
                params = tuple(re.findall(r"\{([^}]+)\}", template))
                found.append(Route(method, template, params, staff_only in guards, staff_or_suppliers in guards))
    return found


async def _other_mills_programme(
    client: httpx.AsyncClient, staff: dict[str, str], supplier_id: int | None, member_number: int | None
) -> tuple[str, str, str]:
    """Another supplier's contract, a held line reported under it and a claim (ids to probe with)."""
    terms = {
        "starts_on": "2025-01-01",
        "ends_on": "2025-12-31",
        "pool": "direct",
        "period": "month",
        "rebate": {"mode": "retroactive", "tiers": [{"min_spend_cents": 0, "rate": "0.01"}]},
    }
    made = await client.post(f"/v1/suppliers/{supplier_id}/contracts", json=terms, headers=staff)
    assert made.status_code == 201, made.text
    contract = made.json()["id"]
    lines = [
        {
            "external_ref": "b-1",
            "member_number": member_number,
            "occurred_at": "2025-01-05T00:00:00",
            "amount_cents": 500,
        },
        {"external_ref": "b-2", "member_number": 2**31 - 1, "occurred_at": "2025-01-05T00:00:00", "amount_cents": 5},
    ]
    reported = await client.post(f"/v1/contracts/{contract}/purchase-reports", json={"lines": lines}, headers=staff)
    assert reported.json()["accepted"] == 1, reported.text
    held = await client.get(f"/v1/contracts/{contract}/purchase-lines?status=unmatched", headers=staff)
    claim = await client.post(f"/v1/contracts/{contract}/claims", json={"period_start": "2025-01-01"}, headers=staff)
    assert claim.status_code == 201, claim.text
    return contract, claim.json()["id"], held.json()["items"][0]["id"]


async def _world(client: httpx.AsyncClient, session: Any) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Tenant B's resources (the ids to probe with) and tenant A's principals."""
    staff = await staff_headers(client, session)
    own_mill, other_mill = await make_supplier(session, "Own Mill"), await make_supplier(session, "Other Mill")
    product = await make_product(session, other_mill.id, tiers=[(1, 500)])
    made = await client.post("/v1/group-buys", json=group_buy_body(other_mill.id, [product]), headers=staff)
    assert made.status_code == 201, made.text
    group_buy = made.json()["id"]
    member_b, b_headers = await ordering_member(client, session, B_NAME)
    order = await client.post(
        f"/v1/group-buys/{group_buy}/orders",
        json={"lines": [{"product_id": str(product), "quantity": 2}]},
        headers=b_headers,
    )
    assert order.status_code == 201, order.text
    b_admin = await make_user(session, Role.MEMBER, member_id=member_b.id, member_role=MemberRole.ADMIN)
    profile = {"listed": True, "phone": B_STAFF_ONLY, "visibility": {"phone": "staff"}}
    listed = await client.put(f"/v1/members/{member_b.id}/profile", json=profile, headers=staff)
    assert listed.status_code == 200, listed.text
    soon = datetime.now(UTC) + timedelta(days=7)
    event = await client.post(
        "/v1/events",
        json={
            "title": "Probe talk",
            "starts_at": soon.isoformat(),
            "ends_at": (soon + timedelta(hours=1)).isoformat(),
            "place": "Hall",
            "capacity": 10,
            "member_price_cents": 0,
            "nonmember_price_cents": 0,
        },
        headers=staff,
    )
    assert event.status_code == 201, event.text
    attendees = {"attendees": [{"name": "B person", "email": "b@tenant.test"}]}
    registration = await client.post(
        f"/v1/events/{event.json()['id']}/registrations", json=attendees, headers=b_headers
    )
    assert registration.status_code == 201, registration.text
    member_a, _ = await ordering_member(client, session, "Tenant A Deli")
    # Each member is also a supplier (set directly: the route wants full members, these are probationary).
    for mill, member in ((own_mill, member_a), (other_mill, member_b)):
        await session.execute(
            sa.text("UPDATE supplier SET member_id = :m WHERE id = :s"), {"m": member.id, "s": mill.id}
        )
    await session.commit()
    contract, claim, line = await _other_mills_programme(client, staff, other_mill.id, member_b.member_number)
    principals = {}
    for role in MemberRole:
        user = await make_user(session, Role.MEMBER, member_id=member_a.id, member_role=role)
        principals[f"member {role.value}"] = await bearer(client, user.email)
    supplier_user = await make_user(session, Role.SUPPLIER, supplier_id=own_mill.id)
    principals["supplier"] = await bearer(client, supplier_user.email)
    ids = {
        "member_id": str(member_b.id),
        "order_id": order.json()["id"],
        "supplier_id": str(other_mill.id),
        "product_id": str(product),
        "group_buy_id": group_buy,
        "purchase_order_id": group_buy,
        "user_id": str(b_admin.id),
        "payout_id": "1",
        "payment_id": "1",
        "run_id": "1",
        "fiscal_year": "2026",
        "ballot_id": "1",
        "meeting_id": "1",
        "petition_id": "1",
        "contract_id": contract,
        "claim_id": claim,
        "line_id": line,
        "offer_id": "1",
        "code": "AAAAAAAAAAAAAAAA",
        "event_id": event.json()["id"],
        "registration_id": registration.json()["id"],
    }
    return ids, principals


def _hidden(route: Route, principal: str) -> bool:
    if principal.startswith("member"):
        # On the supplier side, a member-supplier's users are walled as its supplier's users are.
        as_supplier = route.supplier_side and bool((SUPPLIER_HIDDEN | SUPPLIER_HIDDEN_WRITES) & set(route.params))
        return bool(MEMBER_HIDDEN & set(route.params)) or as_supplier
    writes = route.method != "GET"
    return bool(SUPPLIER_HIDDEN & set(route.params)) or (writes and bool(SUPPLIER_HIDDEN_WRITES & set(route.params)))


async def _fingerprint(session: Any) -> dict[str, str]:
    tables = (
        await session.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
    ).scalars()
    prints = {}
    for table in tables:
        if BOOKKEEPING.match(table) or table == "alembic_version":
            continue
        digest = f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"  # noqa: S608
        prints[table] = (await session.execute(sa.text(digest))).scalar_one()
    return prints


async def test_no_principal_reaches_another_tenant(app, client, session):
    routes = _routes(app)
    assert len(routes) > 60  # the whole API, not a sample
    ids, principals = await _world(client, session)
    before = await _fingerprint(session)
    missing = [
        (r.method, r.template)
        for r in routes
        if r.method in {"POST", "PUT", "PATCH"}
        and r.params
        and (r.method, r.template) not in BODIES
        and not r.staff_only
    ]
    assert not missing, f"add a valid example body for these routes: {missing}"
    leaks = []
    for principal, headers in principals.items():
        for route in routes:
            hidden = route.staff_only or _hidden(route, principal)
            if not hidden and route.method != "GET":
                continue  # a write this principal may make; its own tests cover it
            path = route.template.format(**ids)
            body = (
                _filled(BODIES.get((route.method, route.template), {}), ids)
                if route.method in {"POST", "PUT", "PATCH"}
                else None
            )
            answer = await client.request(route.method, path, json=body, headers=headers)
            status = answer.status_code
            if route.staff_only:
                ok = status == 403
            elif principal.startswith("member") and (route.method, route.template) in SHARED_WITH_MEMBERS:
                ok = status < 500 and B_STAFF_ONLY not in answer.text
            elif _hidden(route, principal):
                ok = status in {403, 404}
            else:
                ok = status < 500 and B_NAME not in answer.text
            if not ok:
                leaks.append((principal, route.method, path, status, answer.text[:120]))
    assert not leaks, "\n".join(map(str, leaks))
    assert await _fingerprint(session) == before
