"""OpenTelemetry tracing of HTTP requests, on when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Off by default: nothing is imported from the SDK and no middleware is added, so a co-op
that does not run a collector pays nothing. When on, each request is a span named by
its route, exported over OTLP/HTTP in batches; the exporter reads the standard OTEL_*
variables itself (endpoint, headers, timeout), and OTEL_SERVICE_NAME names the service.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from litestar.plugins import PluginProtocol
    from opentelemetry.sdk.trace import TracerProvider

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"


def tracer_provider(env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A provider exporting to the configured collector, or None when none is configured."""
    e = os.environ if env is None else env
    if not e.get(ENDPOINT_ENV):
        return None
    # Imported only when tracing is on: the SDK is not needed otherwise.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({"service.name": e.get("OTEL_SERVICE_NAME", "coop-api")}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def tracing_plugins(provider: TracerProvider | None) -> list[PluginProtocol]:
    """Litestar's OpenTelemetry plugin around every request, when there is a provider."""
    if provider is None:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin  # noqa: PLC0415

    return [OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider))]
