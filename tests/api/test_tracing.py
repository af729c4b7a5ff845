"""OpenTelemetry: off without a collector; with one, each request is exported as a span."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING

import httpx
import pytest

from api import tracing
from api.app import create_app
from tests.support.apps import running

if TYPE_CHECKING:
    from collections.abc import Iterator

    from arq.connections import ArqRedis

    from domain.db import SessionMaker
    from domain.settings import Settings


class _Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector (none runs here): it keeps what it is sent."""

    received: list[tuple[str, bytes]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - overrides the base signature
        """Quiet."""


@pytest.fixture
def collector() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tracing_is_off_without_a_collector() -> None:
    assert tracing.tracer_provider({}) is None
    assert tracing.tracing_plugins(None) == []


async def test_a_request_is_exported_as_a_span_named_by_its_route(
    settings: Settings,
    session_maker: SessionMaker,
    queue: ArqRedis,
    collector: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "coop-api-test")
    app = create_app(settings, session_maker=session_maker, redis=queue)
    async with running(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://coop.test") as client:
            assert (await client.get("/health")).status_code == 200
    # Shutting the app down flushed the batch to the collector.
    assert [path for path, _ in _Collector.received] == ["/v1/traces"]
    body = _Collector.received[0][1]
    assert b"coop-api-test" in body
    assert b"GET /health" in body
