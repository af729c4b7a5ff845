"""The token cache: no database round trip per request, and revocation still takes effect in time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from sqlmodel import col

from api.auth import AUTH_CHANGES, Principal, TokenCache
from api.revocations import listening_for_revocations
from domain.identity.rules import MemberRole, Role, token_digest
from domain.membership.tables import Member
from tests.support.users import bearer, make_member, make_member_user, make_user

TTL = 5.0


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app):
    ticking = Clock()
    app.state.token_cache = TokenCache(TTL, clock=ticking)
    return ticking


async def _revoke_elsewhere(session, headers: dict[str, str]) -> None:
    """Delete the token the way another API process would: on a connection this process's sessions do not see."""
    token = headers["Authorization"].removeprefix("Bearer ")
    connection = await session.connection()
    await connection.exec_driver_sql("DELETE FROM auth_token WHERE token_digest = $1", (token_digest(token),))


async def test_a_token_revoked_by_another_process_is_refused_once_the_cache_time_is_up(client, session, clock):
    user = await make_member_user(session, MemberRole.BUYER, (await make_member(session)).id)
    headers = await bearer(client, user.email)
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    await _revoke_elsewhere(session, headers)

    clock.now += TTL - 0.5  # trusted from the cache a little longer, as documented
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    clock.now += 0.5
    assert (await client.get("/v1/me", headers=headers)).status_code == 401


async def test_a_cached_token_is_answered_without_the_database(client, session, clock):
    user = await make_user(session, role=Role.STAFF)
    headers = await bearer(client, user.email)
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    await _revoke_elsewhere(session, headers)
    # Still known: the second request did not look the token up.
    assert (await client.get("/v1/me", headers=headers)).status_code == 200


async def test_sign_out_through_this_process_is_refused_at_once(client, session, clock):
    user = await make_member_user(session, MemberRole.BUYER, (await make_member(session)).id)
    headers = await bearer(client, user.email)
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert (await client.post("/v1/auth/sign-out", headers=headers)).status_code == 204
    assert (await client.get("/v1/me", headers=headers)).status_code == 401


async def test_a_member_departing_in_this_process_is_refused_at_once(client, session, clock):
    member = await make_member(session)
    user = await make_member_user(session, MemberRole.BUYER, member.id)
    headers = await bearer(client, user.email)
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    await session.execute(sa.update(Member).where(col(Member.id) == member.id).values(status="expelled"))
    await session.flush()
    assert (await client.get("/v1/me", headers=headers)).status_code == 401


def _principal() -> Principal:
    return Principal(1, "a@example.test", Role.STAFF, None, None, None)


def test_a_cached_principal_never_outlives_its_token():
    clock = Clock()
    cache = TokenCache(TTL, clock=clock)
    now = datetime.now(UTC)
    cache.put("d", _principal(), now + timedelta(seconds=1), AUTH_CHANGES.count)
    assert cache.get("d", now) == _principal()
    assert cache.get("d", now + timedelta(seconds=1)) is None


def test_a_lookup_that_raced_a_revocation_is_not_cached():
    cache = TokenCache(TTL, clock=Clock())
    seen = AUTH_CHANGES.count
    AUTH_CHANGES.bump()  # a sign-out committed while the token was being looked up
    cache.put("d", _principal(), datetime.now(UTC) + timedelta(hours=1), seen)
    assert cache.get("d", datetime.now(UTC)) is None


def test_no_cache_time_means_no_cache():
    cache = TokenCache(0, clock=Clock())
    cache.put("d", _principal(), datetime.now(UTC) + timedelta(hours=1), AUTH_CHANGES.count)
    assert cache.get("d", datetime.now(UTC)) is None


async def _committed_elsewhere(dsn: str, sql: str) -> None:
    """A statement committed on a connection of its own, as another API process commits its work."""
    other = await asyncpg.connect(dsn.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await other.execute(sql)
    finally:
        await other.close()


async def _until(seen: int) -> None:
    async with asyncio.timeout(10):
        # The notification arrives on this loop's listener connection, which nothing else signals.
        while AUTH_CHANGES.count == seen:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "revocation",
    [
        "DELETE FROM auth_token WHERE false",  # sign-out, password change
        "UPDATE app_user SET disabled_at = now() WHERE false",  # a suspended (disabled) user
        "UPDATE member SET status = 'expelled' WHERE false",  # a departed member
    ],
)
async def test_a_revocation_committed_by_another_process_is_refused_at_once(
    client, session, clock, app, stack, revocation
):
    user = await make_member_user(session, MemberRole.BUYER, (await make_member(session)).id)
    headers = await bearer(client, user.email)
    async with listening_for_revocations(stack.database_url, app.state.token_cache):
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
        await _revoke_elsewhere(session, headers)
        assert (await client.get("/v1/me", headers=headers)).status_code == 200  # cached, as it should be
        seen = AUTH_CHANGES.count
        # The other process's statement commits (it changes no row of this test's, which is not
        # committed; the trigger notifies per statement all the same).
        await _committed_elsewhere(stack.database_url, revocation)
        await _until(seen)
        assert (await client.get("/v1/me", headers=headers)).status_code == 401  # the clock did not move


async def test_without_its_listener_connection_the_cache_trusts_nothing(client, session, clock, app):
    user = await make_member_user(session, MemberRole.BUYER, (await make_member(session)).id)
    headers = await bearer(client, user.email)
    app.state.token_cache.live = False  # the listener lost its connection: notifications may be lost
    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    await _revoke_elsewhere(session, headers)
    assert (await client.get("/v1/me", headers=headers)).status_code == 401
