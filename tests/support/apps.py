"""One started app per settings for the whole run, handed to each test with its state reset."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from api.app import create_app
from api.auth import TokenCache
from domain.db import SessionMaker, make_session_maker
from domain.jobs.queue import ArqJobQueue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from arq.connections import ArqRedis
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine

    from domain.settings import Settings


@contextlib.asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[Litestar]:
    """Run the app's lifespan in one dedicated task (it must start and end in the same task)."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await task


@dataclasses.dataclass(frozen=True, slots=True)
class SharedApp:
    """One started app for the whole run, and its state just after start-up.

    Building an app registers some 280 route handlers (0.6 s measured on a loaded two-core
    machine), which every API test used to pay. Each test gets the same app back with its state
    reset: its own session maker (the test's transaction), queue and token cache.
    """

    app: Litestar
    baseline: dict[str, Any]
    settings: Settings

    def for_test(self, session_maker: SessionMaker, queue: ArqRedis) -> Litestar:
        state = self.app.state
        for key in [k for k in state if k not in self.baseline]:
            del state[key]
        state.update(self.baseline)
        state.update(
            session_maker=session_maker,
            redis=queue,
            job_queue=ArqJobQueue(queue),
            token_cache=TokenCache(self.settings.token_cache_seconds),
        )
        return self.app


@contextlib.asynccontextmanager
async def shared(settings: Settings, engine: AsyncEngine, redis: ArqRedis) -> AsyncIterator[SharedApp]:
    app = create_app(settings, session_maker=make_session_maker(engine), redis=redis)
    async with running(app) as started:
        yield SharedApp(started, dict(started.state), settings)
