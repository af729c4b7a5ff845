"""One log line per request, with the status the client got."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tests.support.users import bearer, make_user

if TYPE_CHECKING:
    import pytest


def _statuses(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    return [(r.path, r.status) for r in caplog.records if r.name == "coop.request"]  # type: ignore[attr-defined]


async def test_a_refused_token_is_logged_as_the_401_it_was(client, caplog):
    with caplog.at_level(logging.INFO, logger="coop.request"):
        no_token = await client.get("/v1/me")
        bad_token = await client.get("/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert (no_token.status_code, bad_token.status_code) == (401, 401)
    assert _statuses(caplog) == [("/v1/me", 401), ("/v1/me", 401)]


async def test_answers_from_routes_are_logged_with_their_status(client, session, caplog):
    staff = await bearer(client, (await make_user(session)).email)
    with caplog.at_level(logging.INFO, logger="coop.request"):
        missing = await client.get("/v1/members/987654", headers=staff)
        health = await client.get("/health")
    assert (missing.status_code, health.status_code) == (404, 200)
    assert _statuses(caplog) == [("/v1/members/987654", 404), ("/health", 200)]
