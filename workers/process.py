"""The worker process: arq's worker, started again with backoff whenever it stops on a fault.

arq's `Worker.main` ends on the first queue error (a Valkey restart, a dropped
connection), and `Worker.run` then returns, so the process would exit and jobs
would wait until someone restarted it. Here the process outlives the queue: each
fault closes that worker, waits (1, 2, 4 ... 30 s) and starts a fresh one, whose
outbox sweeper runs at startup and re-enqueues whatever was recorded meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from arq.worker import Worker

from domain.db import make_engine, make_session_maker
from workers.main import worker_settings

if TYPE_CHECKING:
    from domain.settings import Settings

log = logging.getLogger(__name__)

MAX_RESTART_DELAY_SECONDS = 30.0


def restart_delay(failures: int) -> float:
    """Seconds to wait before the next start after `failures` faults in a row."""
    return float(min(2 ** max(failures - 1, 0), MAX_RESTART_DELAY_SECONDS))


async def run_worker(settings: Settings, stop: asyncio.Event, options: dict[str, Any] | None = None) -> int:
    """Run arq workers until `stop` is set; returns how many times a worker was restarted.

    The database engine outlives the restarts; `options` override arq's Worker arguments.
    """
    engine = make_engine(settings.database_url or "")
    session_maker = make_session_maker(engine)
    failures = restarts = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            worker = Worker(**worker_settings(settings, session_maker) | {"handle_signals": False} | (options or {}))
            fault = await _run_once(worker, stop)
            if stop.is_set():
                break
            # A worker that ran for a while before failing starts the backoff over.
            failures = 1 if time.monotonic() - started > MAX_RESTART_DELAY_SECONDS else failures + 1
            delay = restart_delay(failures)
            log.warning("worker stopped; starting it again", extra={"fault": fault, "delay_seconds": delay})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            restarts += 1
    finally:
        await engine.dispose()
    return restarts


async def _run_once(worker: Worker, stop: asyncio.Event) -> str:
    """Run one worker until it fails or `stop` is set; close it either way. Returns the fault, if any."""
    main = asyncio.create_task(worker.main())
    worker.main_task = main  # close() cancels it
    stopping = asyncio.create_task(stop.wait())
    fault = "ended"
    try:
        await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if main.done() and not main.cancelled() and (exc := main.exception()) is not None:
            fault = f"{type(exc).__name__}: {exc}"
            log.warning("worker failed", exc_info=exc)
    finally:
        stopping.cancel()
        await _close(worker)
    return fault


async def _close(worker: Worker) -> None:
    """Close the worker; with the queue gone its goodbye fails, and the connections are dropped anyway."""
    try:
        await worker.close()
    except Exception:  # a queue that is down cannot be told goodbye
        log.info("worker closed without reaching the queue", exc_info=True)
        if worker._pool is not None:  # noqa: SLF001 - arq keeps the pool private; drop it so nothing leaks
            with contextlib.suppress(Exception):
                await worker._pool.aclose(close_connection_pool=True)  # noqa: SLF001
            worker._pool = None  # noqa: SLF001
    main = worker.main_task
    if main is not None and not main.done():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await main
