"""Every route but the public ones refuses a caller without a token (roles and tenants: test_authorization_matrix)."""

from __future__ import annotations

import re

from api.auth import PUBLIC_PATHS


def _routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", set()) - {"OPTIONS", "HEAD"}):
            path = re.sub(r"\{[^}:]+(:[a-z]+)?\}", "1", route.path)
            found.append((method, path))
    return found


def _public(path: str) -> bool:
    return any(re.search(pattern, path) for pattern in PUBLIC_PATHS)


async def test_no_token_means_401_on_every_non_public_route(app, client):
    routes = [(m, p) for m, p in _routes(app) if not _public(p)]
    assert len(routes) > 60  # the whole API, not a sample
    for method, path in routes:
        answer = await client.request(method, path, json={} if method in {"POST", "PUT"} else None)
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert answer.headers["content-type"] == "application/problem+json", (method, path)


async def test_the_stripe_webhook_is_public_but_its_signature_is_its_authentication(app, client):
    """No bearer token is asked of Stripe; an unsigned call, with or without a token, is refused (400)."""
    assert ("POST", "/v1/stripe/webhook") in _routes(app)
    assert _public("/v1/stripe/webhook")
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await client.post("/v1/stripe/webhook", json={"id": "evt_1", "type": "x"}, headers=headers)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"][0]["field"] == "Stripe-Signature"
