"""The unit of work: the one place in the code base where a transaction commits.

Requests, jobs, the clock and the command line all do their work in a unit of
work and call `commit()`; nothing else commits. After the commit, jobs the work
recorded in the outbox are handed to the queue; if that hand-off fails the rows
stay pending and the sweeper relays them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self

from domain.db import untouched
from domain.jobs import service as outbox

if TYPE_CHECKING:
    from types import TracebackType

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.jobs.queue import JobQueue

log = logging.getLogger(__name__)


class UnitOfWork:
    """One transaction: `commit()` makes it durable; leaving without it rolls it back."""

    def __init__(self, session_maker: SessionMaker, queue: JobQueue | None = None) -> None:
        self._session_maker = session_maker
        self._queue = queue
        self.session: AsyncSession = session_maker()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not untouched(self.session):
            await self.session.close()  # closing rolls back whatever was not committed

    async def commit(self) -> None:
        """Commit, then relay the jobs this work recorded."""
        await self.session.commit()
        keys = outbox.take_pending_keys(self.session)
        if keys and self._queue is not None:
            await relay(self._session_maker, self._queue, keys)

    async def rollback(self) -> None:
        """Undo the work; the jobs it recorded went with it."""
        await self.session.rollback()
        outbox.take_pending_keys(self.session)


async def relay(session_maker: SessionMaker, queue: JobQueue, keys: list[str] | None = None) -> int:
    """Hand committed outbox jobs to the queue (these keys, or all that are due); never raises.

    A failure loses nothing: the rows stay pending and the sweeper finds them again.
    """
    try:
        async with UnitOfWork(session_maker) as uow:
            handed = await outbox.relay(uow.session, queue, keys)
            await uow.commit()
    except Exception:
        log.warning("job relay failed; the sweeper will retry", exc_info=True)
        return 0
    return handed
