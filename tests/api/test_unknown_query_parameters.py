"""An unknown query parameter is a 400 naming it on every route, never an unfiltered answer."""

from __future__ import annotations

import re

from api.auth import PUBLIC_PATHS
from tests.support.buying import ordering_member, staff_headers
from tests.support.users import make_member


def _routes(app) -> list[tuple[str, str]]:
    return [
        (method, re.sub(r"\{[^}:]+(:[a-z]+)?\}", "1", route.path))
        for route in app.routes
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"})
    ]


def _names_bogus(answer) -> bool:
    if answer.status_code != 400 or answer.headers["content-type"] != "application/problem+json":
        return False
    return [e["field"] for e in answer.json()["errors"]] == ["bogus_filter"]


async def test_every_route_refuses_an_unknown_query_parameter(app, client, session):
    staff = await staff_headers(client, session)
    _, member = await ordering_member(client, session)
    routes = _routes(app)
    assert len(routes) > 60  # the whole API, not a sample
    for method, path in routes:
        body: dict[str, object] | None = {} if method in {"POST", "PUT"} else None
        answer = await client.request(method, path, params={"bogus_filter": "x"}, json=body, headers=staff)
        if answer.status_code == 403:  # a route for members' users: ask as one
            answer = await client.request(method, path, params={"bogus_filter": "x"}, json=body, headers=member)
        public = any(re.search(p, path) for p in PUBLIC_PATHS)
        assert _names_bogus(answer), (method, path, public, answer.status_code, answer.text[:300])


async def test_a_misspelt_filter_is_refused_not_ignored(client, session):
    staff = await staff_headers(client, session)
    await make_member(session, "Alpha Deli")
    answer = await client.get("/v1/members", params={"stauts": "full", "limit": 5}, headers=staff)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "stauts"
    declared = await client.get("/v1/members", params={"limit": 5}, headers=staff)
    assert declared.status_code == 200, declared.text
