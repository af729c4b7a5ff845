"""PostgreSQL stopped under a running API: 503 problem+json with Retry-After, nothing else; back to 200 when it returns.

The test stops a real server, so it runs its own embedded PostgreSQL in a temp dir, never the
suite's shared one.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from api.app import create_app
from deploy.stack import embedded_postgres
from domain import migrate
from domain.db import make_engine, make_session_maker
from domain.settings import Settings
from tests.support.apps import running
from tests.support.users import bearer, make_user

if TYPE_CHECKING:
    from collections.abc import Iterator

    from arq.connections import ArqRedis

    from deploy.stack import StackUrls

PROBLEM = "application/problem+json"


class Server:
    """The separate server's URL and a way to stop and start it."""

    def __init__(self, pgdata: Path, url: str) -> None:
        self.pgdata = pgdata
        self.url = url

    def _server(self) -> Any:
        from embedded_postgres.postgres_server import get_server

        return get_server(self.pgdata)

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # untyped re-export

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server().system_user)

    def start(self) -> None:
        self._server().ensure_postgres_running()


@pytest.fixture
def separate_server() -> Iterator[Server]:
    # Not under pytest's tmp dir: every pytest run on the machine resets that tree to 0700,
    # which the server's own (non-root) system user then cannot enter.
    base = Path(tempfile.mkdtemp(prefix="coop-outage-"))
    base.chmod(0o755)
    try:
        with embedded_postgres(base / "postgres", keep=False) as url:
            migrate.upgrade(url)
            yield Server((base / "postgres").resolve(), url)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_a_database_outage_is_503_with_retry_after_and_the_api_recovers(
    separate_server: Server, stack: StackUrls, queue: ArqRedis
) -> None:
    settings = Settings.from_env({"DATABASE_URL": separate_server.url, "REDIS_URL": stack.redis_url})
    engine = make_engine(separate_server.url, pool_size=2)
    async with make_session_maker(engine)() as session:
        staff = await make_user(session)
    await engine.dispose()
    app = create_app(settings, redis=queue)
    async with running(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # litestar's ASGI types are narrower
        async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
            headers = await bearer(client, staff.email)
            assert (await client.get("/v1/members", headers=headers)).status_code == 200

            await asyncio.to_thread(separate_server.stop)
            new_member = {"name": "Corner Bakery", "email": "outage@shop.test"}
            down = [
                await client.get("/v1/members", headers=headers),
                await client.post("/v1/members", json=new_member, headers=headers),
                await client.post("/v1/members", json=new_member, headers={**headers, "Idempotency-Key": "k-down"}),
                await client.post("/v1/auth/token", json={"email": staff.email, "password": "whatever-it-is"}),
            ]
            for answer in down:
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith(PROBLEM)
                assert int(answer.headers["retry-after"]) > 0
            health = await client.get("/health")
            assert health.status_code == 503
            assert health.json()["database"] == "unavailable"

            await asyncio.to_thread(separate_server.start)
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/v1/members", headers=headers)).status_code == 200
            created = await client.post("/v1/members", json=new_member, headers=headers)
            assert created.status_code == 201, created.text
