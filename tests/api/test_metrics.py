"""GET /metrics: Prometheus text for the operator's scraper, refused to everyone else."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from domain.jobs import service as jobs
from tests.support.apps import running
from tests.support.buying import group_buy_body, make_product, make_supplier, staff_headers

if TYPE_CHECKING:
    from arq.connections import ArqRedis
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings

TOKEN = "scrape-me-0123456789"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_need_the_scrape_token_and_report_routes_jobs_and_buys(
    settings: Settings, session_maker: SessionMaker, queue: ArqRedis, session: AsyncSession
) -> None:
    app = create_app(dataclasses.replace(settings, metrics_token=TOKEN), session_maker=session_maker, redis=queue)
    async with running(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
            staff = await staff_headers(client, session)
            assert (await client.get("/metrics")).status_code == 401
            assert (await client.get("/metrics", headers=staff)).status_code == 401  # a user is not the scraper
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert wrong.status_code == 401
            assert wrong.headers["content-type"].startswith("application/problem+json")

            supplier = await make_supplier(session)
            product = await make_product(session, supplier.id)
            opened = await client.post("/v1/group-buys", json=group_buy_body(supplier.id, [product]), headers=staff)
            assert opened.status_code == 201, opened.text
            member = await client.get("/v1/members/999999", headers=staff)
            assert member.status_code == 404
            await jobs.add(session, "deliver_notification", "metrics-test:1", {})
            await session.commit()
            await session.execute(
                sa.text("UPDATE outbox_job SET created_at = now() - interval '90 seconds' WHERE business_key = :k"),
                {"k": "metrics-test:1"},
            )
            await session.commit()

            scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(scraped.text)
    created = ("coop_http_requests_total", (("method", "POST"), ("route", "/v1/group-buys"), ("status", "201")))
    assert samples[created] == 1
    not_found = (
        "coop_http_requests_total",
        (("method", "GET"), ("route", "/v1/members/{member_id}"), ("status", "404")),
    )
    assert samples[not_found] == 1
    refused = ("coop_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "401")))
    assert samples[refused] == 3
    assert not [k for k in samples if k[0] == "coop_http_requests_total" and ("status", "500") in k[1]]
    latency = ("coop_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/group-buys")))
    assert samples[latency] == 1
    assert samples[("coop_group_buys", (("status", "open"),))] == 1
    assert samples[("coop_jobs", (("job", "deliver_notification"), ("state", "pending")))] >= 1
    lag = samples[("coop_outbox_oldest_pending_seconds", (("job", "deliver_notification"),))]
    assert lag >= 90
    assert ("coop_allocation_run_compute_seconds_count", ()) in samples
