"""Health and the OpenAPI document."""

from __future__ import annotations

import re

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from domain.db import make_session_maker
from tests.support.apps import running


async def test_health_is_ok_when_database_and_queue_answer(client):
    answer = await client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "queue": "ok"}


async def _health(app) -> httpx.Response:
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as c:
            return await c.get("/health")


async def test_health_names_the_queue_when_it_is_down_but_stays_200_as_writes_still_work(settings, session_maker):
    dead_queue = ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    answer = await _health(create_app(settings, session_maker=session_maker, redis=dead_queue))
    await dead_queue.aclose()
    # Jobs wait in the outbox while the queue is away: a load balancer must keep sending traffic.
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert body["queue"].startswith("error")


async def test_health_names_the_database_when_it_is_down(settings, queue):
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", connect_args={"timeout": 0.5})
    answer = await _health(create_app(settings, session_maker=make_session_maker(engine), redis=queue))
    await engine.dispose()
    assert answer.status_code == 503
    assert answer.json()["database"] == "unavailable"
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["queue"] == "ok"


async def test_openapi_describes_every_route_and_its_errors(client):
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    assert {"/health", "/v1/auth/token", "/v1/me", "/v1/staff-users", "/v1/ledger/trial-balance"} <= set(paths)
    assert set(paths["/v1/staff-users"]["post"]["responses"]) == {
        "201",
        "400",
        "401",
        "403",
        "409",
        "413",
        "422",
        "503",
    }
    assert set(paths["/v1/auth/token"]["post"]["responses"]) == {"200", "400", "401", "413", "429", "503"}
    assert set(paths["/health"]["get"]["responses"]) == {"200", "503"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            # Signing in, the Stripe webhook (signature-checked, 400) and the public directory take no
            # bearer token: no 401.
            if path.startswith("/v1/") and path not in {"/v1/auth/token", "/v1/stripe/webhook", "/v1/public/directory"}:
                assert "401" in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/health":
                    assert "application/problem+json" in response["content"], (method, path, status)
    docs = await client.get("/schema/swagger")
    assert docs.status_code == 200


async def test_the_docs_pages_load_nothing_from_outside_this_server(client):
    for page in ("/schema/swagger", "/schema/redoc"):
        answer = await client.get(page)
        assert answer.status_code == 200, page
        links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", answer.text)
        assert links, page
        assert all(link.startswith("/") for link in links), (page, links)
        assert "http://" not in answer.text.replace("http://coop.test", "")
        assert "https://" not in answer.text
        for link in links:
            asset = await client.get(link)
            assert asset.status_code == 200, link
            assert len(asset.content) > 100, link
