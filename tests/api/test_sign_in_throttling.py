"""Sign-in throttling per client address and per account (issue 8, item 13)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from domain.db import make_engine, make_session_maker
from domain.identity import service
from domain.identity.rules import Role
from domain.settings import Settings
from tests.support.apps import running
from tests.support.scratch_db import migrated_database
from tests.support.users import PASSWORD, make_user

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from litestar import Litestar

WRONG = "not-the-password"


def _from(app: Litestar, address: str) -> httpx.AsyncClient:
    """A client whose requests come from this client address."""
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://coop.test")


async def _sign_in(app: Litestar, address: str, email: str, password: str) -> httpx.Response:
    async with _from(app, address) as c:
        return await c.post("/v1/auth/token", json={"email": email, "password": password})


async def test_the_owner_signs_in_from_their_known_address_while_a_stranger_hammers(app, session):
    user = await make_user(session)
    assert (await _sign_in(app, "10.0.0.1", user.email, PASSWORD)).status_code == 200
    for _ in range(5):
        assert (await _sign_in(app, "192.0.2.7", user.email, WRONG)).status_code == 401
    assert (await _sign_in(app, "192.0.2.7", user.email, PASSWORD)).status_code == 429
    # Another stranger address is held back by the account's throttle ...
    assert (await _sign_in(app, "198.51.100.9", user.email, PASSWORD)).status_code == 429
    # ... but the owner's usual address is not.
    assert (await _sign_in(app, "10.0.0.1", user.email, PASSWORD)).status_code == 200


async def test_one_client_trying_many_addresses_is_throttled(app, session):
    users = [await make_user(session) for _ in range(7)]
    answers = [(await _sign_in(app, "203.0.113.5", u.email, WRONG)).status_code for u in users[:5]]
    assert answers == [401] * 5
    for u in users[5:]:  # fresh accounts, even with their right passwords: the address waits
        refused = await _sign_in(app, "203.0.113.5", u.email, PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
    assert (await _sign_in(app, "10.9.9.9", users[6].email, PASSWORD)).status_code == 200


async def test_unknown_emails_are_throttled_like_accounts(app):
    for i in range(5):
        assert (await _sign_in(app, f"10.3.0.{i}", "nobody@coop.test", WRONG)).status_code == 401
    assert (await _sign_in(app, "10.3.0.99", "nobody@coop.test", WRONG)).status_code == 429


async def test_a_successful_sign_in_forgives_the_accounts_failures(app, session):
    user = await make_user(session)
    for i in range(4):
        assert (await _sign_in(app, f"10.4.0.{i}", user.email, WRONG)).status_code == 401
    assert (await _sign_in(app, "10.4.1.1", user.email, PASSWORD)).status_code == 200
    for i in range(4):
        assert (await _sign_in(app, f"10.4.2.{i}", user.email, WRONG)).status_code == 401
    assert (await _sign_in(app, "10.4.3.1", user.email, PASSWORD)).status_code == 200


async def test_staff_unlock_an_account(app, client, session):
    staff = await make_user(session)
    user = await make_user(session)
    for i in range(5):
        assert (await _sign_in(app, f"10.5.0.{i}", user.email, WRONG)).status_code == 401
    assert (await _sign_in(app, "10.5.1.1", user.email, PASSWORD)).status_code == 429
    token = (await _sign_in(app, "10.5.9.9", staff.email, PASSWORD)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    own = (await _sign_in(app, "10.5.9.9", user.email, PASSWORD)).status_code
    assert own == 429
    unlocked = await client.post(f"/v1/users/{user.id}/unlock", headers=headers)
    assert unlocked.status_code == 204
    assert (await _sign_in(app, "10.5.1.1", user.email, PASSWORD)).status_code == 200
    assert (await client.post("/v1/users/999999999/unlock", headers=headers)).status_code == 404


# --- concurrent guesses, on real connections and real COMMITs -------------------------

SCRATCH = "coop_sign_in_concurrency"


@pytest.fixture(scope="module")
def scratch_url(stack) -> Iterator[str]:
    with migrated_database(stack.database_url, SCRATCH) as url:
        yield url


@pytest.fixture
async def real_app(scratch_url, stack, queue) -> AsyncIterator[Litestar]:
    settings = Settings.from_env(
        {"DATABASE_URL": scratch_url, "REDIS_URL": stack.redis_url, "COOP_LOGIN_MAX_FAILURES": "5"}
    )
    async with running(create_app(settings, redis=queue)) as started:
        yield started


async def _failures(scratch_url: str, key: str) -> int:
    engine = make_engine(scratch_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(sa.text("SELECT failures FROM login_throttle WHERE key = :k"), {"k": key})
            return int(found.scalar_one())
    finally:
        await engine.dispose()


async def test_sixty_concurrent_guesses_check_at_most_five_passwords(real_app, scratch_url):
    engine = make_engine(scratch_url, pool_size=1)
    try:
        async with make_session_maker(engine)() as s:
            await service.create_user(s, email="target@coop.test", password=PASSWORD, role=Role.STAFF)
            await s.commit()
    finally:
        await engine.dispose()
    assert (await _sign_in(real_app, "10.7.0.1", "target@coop.test", PASSWORD)).status_code == 200

    # From many addresses at once: the account's throttle holds them all.
    spread = await asyncio.gather(
        *(_sign_in(real_app, f"10.8.{i // 250}.{i % 250}", "target@coop.test", WRONG) for i in range(60))
    )
    codes = [a.status_code for a in spread]
    assert set(codes) <= {401, 429}
    assert codes.count(401) == 5  # every 401 is one checked password
    assert await _failures(scratch_url, "account:target@coop.test") == 5

    # From one address at once, against another account: the address's throttle holds.
    same = await asyncio.gather(*(_sign_in(real_app, "10.9.0.1", f"x{i}@coop.test", WRONG) for i in range(60)))
    assert [a.status_code for a in same].count(401) == 5
    assert await _failures(scratch_url, "address:10.9.0.1") == 5

    # The owner, from where they last signed in, is not locked out.
    assert (await _sign_in(real_app, "10.7.0.1", "target@coop.test", PASSWORD)).status_code == 200


async def test_a_nul_in_the_sign_in_email_is_400_naming_the_field(client):
    answer = await client.post("/v1/auth/token", json={"email": "a\u0000b@x.test", "password": PASSWORD})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert any("email" in e["field"] for e in answer.json()["errors"])
