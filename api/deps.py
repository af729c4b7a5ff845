"""Request-scoped dependencies: the database session and the caller."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlmodel.ext.asyncio.session import AsyncSession

from api.auth import Principal, principal_of
from domain.jobs.service import relay, take_pending_keys

log = logging.getLogger(__name__)


async def provide_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request: committed when the handler succeeds, else rolled back.

    Jobs the request recorded in the outbox are handed to the queue only after the
    commit; if that hand-off fails the sweeper picks them up.
    """
    async with state.session_maker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
        if keys := take_pending_keys(session):
            try:
                await relay(state.session_maker, state.job_queue, keys)
            except Exception:  # the outbox keeps them; the sweeper retries
                log.warning("job relay failed; the sweeper will retry", exc_info=True)


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller."""
    return principal_of(request)


# What route handlers declare to receive the request's session and caller.
DbSession = NamedDependency[AsyncSession]
Caller = NamedDependency[Principal]
