"""Running the real arq worker against the real Valkey, inside a test's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from workers.main import worker_settings

if TYPE_CHECKING:
    from domain.db import SessionMaker
    from domain.notifications.service import NotificationSender
    from domain.settings import Settings


async def make_worker(
    settings: Settings, session_maker: SessionMaker, sender: NotificationSender | None = None
) -> Worker:
    """A burst worker: it runs what is queued, then stops.

    One job at a time, as every session shares the test's single connection; a
    failing job is tried twice at most, so a broken job fails the test instead of
    keeping a burst worker waiting on its retries.
    """
    options: dict[str, Any] = worker_settings(settings, session_maker, sender) | {"max_tries": 2}
    pool = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
    return Worker(**options, redis_pool=pool, burst=True, max_jobs=1, handle_signals=False, poll_delay=0.01)


async def run_worker(
    settings: Settings, session_maker: SessionMaker, sender: NotificationSender | None = None
) -> Worker:
    """Run everything queued with a fresh burst worker and return it (for its counters)."""
    worker = await make_worker(settings, session_maker, sender)
    await worker.main()
    await worker.close()
    return worker
