"""The member directory (issue 16): per-field visibility, search, good standing read at query time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.identity.rules import MemberRole, Role
from domain.membership import service as membership
from domain.membership.rules import Status
from domain.network.rules import RateLimit, haversine_km
from tests.support.buying import make_supplier, staff_headers
from tests.support.users import bearer, make_member, make_user

PORTLAND = (45.5152, -122.6784)
BEAVERTON = (45.4871, -122.8037)
SEATTLE = (47.6062, -122.3321)


async def _member(session, name: str, status: Status = Status.FULL) -> int:
    member = await make_member(session, name)
    assert member.id is not None
    if status is not Status.APPLICANT:
        await membership.admit(session, member.id, probation_days=30, now=datetime.now(UTC), actor=0)
        member.status = status.value  # the share and probation are not what these tests are about
        session.add(member)
        await session.commit()
    return member.id


async def _headers(client, session, member_id: int, role: MemberRole = MemberRole.ADMIN) -> dict[str, str]:
    user = await make_user(session, Role.MEMBER, member_id=member_id, member_role=role)
    return await bearer(client, user.email)


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "listed": True,
        "description": "Sourdough and rye, baked at dawn",
        "categories": ["Bakery"],
        "services": ["wholesale bread", "catering"],
        "city": "Portland",
        "postcode": "97201",
        "country": "US",
        "website": "https://bakery.test",
        "phone": "+1 503 555 0100",
        "visibility": {"description": "public", "website": "public", "phone": "staff"},
    }
    return {**body, **changes}


async def _listed(client, session, name: str, **changes: Any) -> int:
    member_id = await _member(session, name)
    answer = await client.put(
        f"/v1/members/{member_id}/profile", json=_body(**changes), headers=await _headers(client, session, member_id)
    )
    assert answer.status_code == 200, answer.text
    return member_id


async def _names(client, url: str, headers: dict[str, str] | None = None) -> list[str]:
    answer = await client.get(url, headers=headers or {})
    assert answer.status_code == 200, answer.text
    return [p["name"] for p in answer.json()["items"]]


async def test_each_field_shows_to_staff_members_and_the_public_by_its_visibility(client, session):
    member_id = await _listed(client, session, "Dawn Bakery")
    staff = await staff_headers(client, session)
    owner = await _headers(client, session, member_id, MemberRole.BUYER)
    other = await _headers(client, session, await _member(session, "Other Deli"))

    seen_by_staff = (await client.get(f"/v1/members/{member_id}/profile", headers=staff)).json()
    assert seen_by_staff["phone"] == "+1 503 555 0100"
    assert seen_by_staff["visibility"]["phone"] == "staff"
    assert seen_by_staff["visibility"]["city"] == "members"  # not given: members
    assert seen_by_staff["categories"] == ["bakery"]
    seen_by_owner = (await client.get(f"/v1/members/{member_id}/profile", headers=owner)).json()
    assert seen_by_owner == seen_by_staff

    seen_by_member = (await client.get(f"/v1/members/{member_id}/profile", headers=other)).json()
    assert seen_by_member["city"] == "Portland"
    assert seen_by_member["website"] == "https://bakery.test"
    assert "phone" not in seen_by_member
    assert "visibility" not in seen_by_member
    assert "listed" not in seen_by_member

    [in_directory] = (await client.get("/v1/directory", headers=other)).json()["items"]
    assert in_directory == seen_by_member

    public = await client.get("/v1/public/directory")
    assert public.status_code == 200, public.text
    [seen_by_public] = public.json()["items"]
    assert set(seen_by_public) == {"member_id", "name", "updated_at", "description", "website"}
    assert "555" not in public.text
    assert "Portland" not in public.text


async def test_a_bad_profile_is_refused_naming_the_field_and_nothing_is_written(client, session):
    member_id = await _member(session, "Careful Cafe")
    admin = await _headers(client, session, member_id)
    url = f"/v1/members/{member_id}/profile"
    cases = [
        (_body(visibility={"shoe_size": "public"}), "visibility"),
        (_body(visibility={"phone": "everyone"}), "visibility.phone"),
        (_body(latitude=45.0), "longitude"),
        (_body(latitude=95.0, longitude=0.0), "latitude"),
        (_body(categories=[""]), "categories[0]"),
    ]
    for body, field in cases:
        answer = await client.put(url, json=body, headers=admin)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in answer.json()["errors"]], answer.text
    assert (await client.get(url, headers=admin)).status_code == 404


async def test_only_staff_and_the_members_admins_set_its_profile(client, session):
    member_id = await _member(session, "Guarded Grocer")
    url = f"/v1/members/{member_id}/profile"
    buyer = await _headers(client, session, member_id, MemberRole.BUYER)
    assert (await client.put(url, json=_body(), headers=buyer)).status_code == 403
    stranger = await _headers(client, session, await _member(session, "Stranger Shop"))
    assert (await client.put(url, json=_body(), headers=stranger)).status_code == 404
    supplier = await make_user(session, Role.SUPPLIER, supplier_id=(await make_supplier(session)).id)
    assert (await client.put(url, json=_body(), headers=await bearer(client, supplier.email))).status_code == 403
    staff = await staff_headers(client, session)
    assert (await client.put(url, json=_body(listed=False), headers=staff)).status_code == 200
    assert (await client.put(url, json=_body(), headers=await _headers(client, session, member_id))).status_code == 200


async def test_search_by_category_and_distance_sees_only_coordinates_the_caller_may_see(client, session):
    everyone = {"latitude": "public", "longitude": "public", "categories": "public"}
    await _listed(client, session, "Portland Bakery", latitude=PORTLAND[0], longitude=PORTLAND[1], visibility=everyone)
    await _listed(
        client,
        session,
        "Beaverton Roastery",
        categories=["Coffee"],
        latitude=BEAVERTON[0],
        longitude=BEAVERTON[1],
        visibility=everyone,
    )
    await _listed(client, session, "Seattle Bakery", latitude=SEATTLE[0], longitude=SEATTLE[1], visibility=everyone)
    await _listed(
        client,
        session,
        "Hidden Place Bakery",
        latitude=PORTLAND[0],
        longitude=PORTLAND[1],
        visibility={"latitude": "staff", "longitude": "staff"},
    )
    await _listed(client, session, "No Coordinates Bakery")
    member = await _headers(client, session, await _member(session, "Searcher"))
    staff = await staff_headers(client, session)

    assert await _names(client, "/v1/directory?category=bakery", member) == [
        "Portland Bakery",
        "Seattle Bakery",
        "Hidden Place Bakery",
        "No Coordinates Bakery",
    ]
    assert await _names(client, "/v1/directory?category=COFFEE", member) == ["Beaverton Roastery"]
    near = "near=45.52,-122.68&radius_km=20"
    assert await _names(client, f"/v1/directory?{near}", member) == ["Portland Bakery", "Beaverton Roastery"]
    assert await _names(client, f"/v1/directory?{near}&category=bakery", member) == ["Portland Bakery"]
    assert await _names(client, f"/v1/directory?{near}", staff) == [
        "Portland Bakery",
        "Beaverton Roastery",
        "Hidden Place Bakery",
    ]
    assert await _names(client, "/v1/directory?near=45.52,-122.68&radius_km=300", member) == [
        "Portland Bakery",
        "Beaverton Roastery",
        "Seattle Bakery",
    ]
    assert await _names(client, f"/v1/public/directory?{near}") == ["Portland Bakery", "Beaverton Roastery"]

    answer = await client.get(f"/v1/directory?{near}&category=coffee", headers=member)
    [roastery] = answer.json()["items"]
    assert roastery["distance_km"] == pytest.approx(haversine_km(45.52, -122.68, *BEAVERTON), abs=0.001)


async def test_a_search_never_matches_a_field_the_caller_may_not_see(client, session):
    await _listed(
        client,
        session,
        "Quiet Bakery",
        description="supplies the mayor's office",
        categories=["secretive"],
        visibility={"description": "staff", "categories": "staff", "services": "public"},
    )
    member = await _headers(client, session, await _member(session, "Curious Deli"))
    staff = await staff_headers(client, session)
    assert await _names(client, "/v1/directory?q=MAYOR", staff) == ["Quiet Bakery"]
    assert await _names(client, "/v1/directory?q=mayor", member) == []
    assert await _names(client, "/v1/directory?category=secretive", member) == []
    assert await _names(client, "/v1/directory?q=catering", member) == ["Quiet Bakery"]
    assert await _names(client, "/v1/public/directory?q=catering") == ["Quiet Bakery"]
    assert await _names(client, "/v1/directory?q=quiet", member) == ["Quiet Bakery"]  # the name always
    assert await _names(client, "/v1/directory?q=%25", member) == []  # a % is a percent sign, not a wildcard


async def test_a_suspended_member_vanishes_from_the_directory_and_returns_when_reinstated(client, session):
    member_id = await _listed(client, session, "Wobbly Bakery")
    await _listed(client, session, "Steady Bakery")
    staff = await staff_headers(client, session)
    member = await _headers(client, session, await _member(session, "Onlooker"))
    assert await _names(client, "/v1/directory", member) == ["Wobbly Bakery", "Steady Bakery"]

    suspended = await client.post(f"/v1/members/{member_id}/suspend", json={"reason": "dues"}, headers=staff)
    assert suspended.status_code == 200, suspended.text
    assert await _names(client, "/v1/directory", member) == ["Steady Bakery"]
    assert await _names(client, "/v1/directory", staff) == ["Steady Bakery"]
    assert await _names(client, "/v1/public/directory") == ["Steady Bakery"]
    assert (await client.get(f"/v1/members/{member_id}/profile", headers=member)).status_code == 404
    assert (await client.get(f"/v1/members/{member_id}/profile", headers=staff)).status_code == 200

    reinstated = await client.post(f"/v1/members/{member_id}/reinstate", json={"reason": "paid"}, headers=staff)
    assert reinstated.status_code == 200, reinstated.text
    assert await _names(client, "/v1/directory", member) == ["Wobbly Bakery", "Steady Bakery"]


async def test_applicants_and_unlisted_profiles_are_not_in_the_directory(client, session):
    applicant = await _member(session, "Hopeful Bakery", Status.APPLICANT)
    staff = await staff_headers(client, session)
    put = await client.put(f"/v1/members/{applicant}/profile", json=_body(), headers=staff)
    assert put.status_code == 200, put.text
    await _listed(client, session, "Shy Bakery", listed=False)
    await _listed(client, session, "New Bakery")  # probationary members are listed too
    member = await _headers(client, session, await _member(session, "Reader", Status.PROBATIONARY))
    assert await _names(client, "/v1/directory", member) == ["New Bakery"]
    assert await _names(client, "/v1/directory", staff) == ["New Bakery"]


async def test_the_directory_pages_by_member_id(client, session):
    for n in range(3):
        await _listed(client, session, f"Paged Bakery {n}")
    member = await _headers(client, session, await _member(session, "Pager"))
    first = (await client.get("/v1/directory?limit=2", headers=member)).json()
    second = (await client.get(f"/v1/directory?limit=2&cursor={first['next_cursor']}", headers=member)).json()
    assert [p["name"] for p in first["items"] + second["items"]] == [f"Paged Bakery {n}" for n in range(3)]
    assert second["next_cursor"] is None


async def test_bad_search_parameters_are_a_400_naming_them(client, session):
    member = await _headers(client, session, await _member(session, "Typo Shop"))
    for query, field in (("near=45.5", "near"), ("near=a,b", "near"), ("radius_km=5", "radius_km")):
        answer = await client.get(f"/v1/directory?{query}", headers=member)
        assert answer.status_code == 400, (query, answer.text)
        assert field in answer.text


async def test_the_public_directory_is_rate_limited_per_client_address(app, client, session):
    await _listed(client, session, "Popular Bakery")
    app.state.public_directory_limit = RateLimit(requests=2, window_seconds=60)
    try:
        for _ in range(2):
            assert (await client.get("/v1/public/directory")).status_code == 200
        refused = await client.get("/v1/public/directory")
    finally:
        del app.state.public_directory_limit
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
