"""Prometheus metrics at GET /metrics, for the operator's scraper only.

The route answers only a bearer token equal to COOP_METRICS_TOKEN (unset: it answers
401 to everyone), so it can sit on the public port without telling strangers how busy
the co-op is. HTTP figures are counted per route template in this process (or across
processes when PROMETHEUS_MULTIPROC_DIR is set, as `coop serve --workers` does); the
states of group buys, jobs and allocation runs are read from the database at scrape
time, so every replica reports the same books.
"""

from __future__ import annotations

import hmac
import os
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get
from litestar.exceptions import NotAuthorizedException
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from api.deps import DbSession
from domain.monitoring import service as monitoring

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar.datastructures import State
    from litestar.types import Scope
    from prometheus_client.metrics_core import Metric


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class HttpMetrics:
    """Request counts and latency per method, route template and status."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "coop_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "coop_http_request_duration_seconds",
            "Time from request to the end of the answer, by route template",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self._children: dict[tuple[object, str, int], tuple[Any, Any]] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count an answered request that took `seconds`; api/request_log.py calls it where it logs the request."""
        key = (scope.get("method", "GET"), scope.get("path_template") or "unmatched", status)
        children = self._children.get(key)
        if children is None:
            # `labels` checks and looks its arguments up each time: the pair is kept per key.
            method, route, _ = key
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)


def _authorized(request: Request[Any, Any, Any]) -> None:
    expected = request.app.state.settings.metrics_token
    given = request.headers.get("authorization", "")
    if not expected or not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise NotAuthorizedException("a metrics token is required")


class _Snapshot:
    """The database's figures as Prometheus families, for one scrape."""

    def __init__(self, snap: monitoring.Snapshot, state: State) -> None:
        self.snap, self.state = snap, state

    def collect(self) -> Iterator[Metric]:
        buys = GaugeMetricFamily("coop_group_buys", "Group buys by state", labels=["status"])
        for status, n in sorted(self.snap.group_buys.items()):
            buys.add_metric([status], n)
        runs = GaugeMetricFamily("coop_allocation_runs", "Allocation runs by state", labels=["status"])
        for status, n in sorted(self.snap.allocation_runs.items()):
            runs.add_metric([status], n)
        jobs = GaugeMetricFamily("coop_jobs", "Outbox jobs by state", labels=["job", "state"])
        attempts = CounterMetricFamily("coop_job_attempts", "Attempts to run jobs, retries included", labels=["job"])
        lag = GaugeMetricFamily(
            "coop_outbox_oldest_pending_seconds", "Age of the oldest job not yet done", labels=["job"]
        )
        done = SummaryMetricFamily(
            "coop_job_completion_seconds", "Seconds from a job's record to its completion", labels=["job"]
        )
        for job in self.snap.jobs:
            jobs.add_metric([job.job_name, "pending"], job.pending)
            jobs.add_metric([job.job_name, "done"], job.done)
            jobs.add_metric([job.job_name, "failed"], job.failed)
            attempts.add_metric([job.job_name], job.attempts)
            lag.add_metric([job.job_name], job.oldest_pending_seconds)
            done.add_metric([job.job_name], count_value=job.done, sum_value=job.done_seconds_sum)
        computed = self.snap.allocation_run_durations
        run_seconds = SummaryMetricFamily(
            "coop_allocation_run_compute_seconds",
            "Seconds from an allocation run's request to its computed result",
            count_value=computed.computed,
            sum_value=computed.seconds_sum,
        )
        pool = GaugeMetricFamily("coop_db_pool_connections", "This process's database connections", labels=["state"])
        engine_pool = _engine_pool(self.state)
        if engine_pool is not None:
            pool.add_metric(["in_use"], engine_pool.checkedout())
            pool.add_metric(["idle"], engine_pool.checkedin())
            pool.add_metric(["size"], engine_pool.size())
        yield from (buys, runs, jobs, attempts, lag, done, run_seconds, pool)


def _engine_pool(state: State) -> Any:  # noqa: ANN401 - SQLAlchemy's pool classes share no public base here
    bind = getattr(state.session_maker, "kw", {}).get("bind")
    return getattr(bind, "pool", None) if hasattr(getattr(bind, "pool", None), "checkedout") else None


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], db: DbSession) -> Response[bytes]:
    """Prometheus text exposition: this process's HTTP figures and the database's states."""
    _authorized(request)
    http: HttpMetrics = request.app.state.http_metrics
    snap = await monitoring.snapshot(db)
    from_db = CollectorRegistry()
    from_db.register(_Snapshot(snap, request.app.state))
    if os.environ.get(MULTIPROCESS_ENV):
        processes = CollectorRegistry()
        MultiProcessCollector(processes)  # type: ignore[no-untyped-call]
        http_text = generate_latest(processes)
    else:
        http_text = generate_latest(http.registry)
    return Response(http_text + generate_latest(from_db), media_type=CONTENT_TYPE)
