"""Health: is the database and the queue answering."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
import sqlalchemy as sa
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from api.problems import database_unreachable

CHECK_TIMEOUT_SECONDS = 2.0


class Health(msgspec.Struct):
    """`ok` everywhere; `degraded` when only the queue is down; `unavailable` when the database is."""

    status: Literal["ok", "degraded", "unavailable"]
    database: str
    queue: str


async def _check_database(state: State) -> str:
    async with state.session_maker() as session:
        await session.execute(sa.text("SELECT 1"))
    return "ok"


async def _check_queue(state: State) -> str:
    await state.redis.ping()
    return "ok"


async def _probe(check: object, state: State) -> str:
    try:
        return await asyncio.wait_for(check(state), CHECK_TIMEOUT_SECONDS)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and says why
        if check is _check_database and database_unreachable(exc):
            return "unavailable"  # what the API answers meanwhile: 503 with Retry-After
        return f"error: {type(exc).__name__}"


@get(
    "/health",
    summary="Is the service up",
    description=(
        "Checks the database and the job queue. With the queue down the API still takes writes (their jobs"
        " wait in the outbox and run once it is back): 200 with status `degraded`. With the database down: 503."
    ),
    responses={503: ResponseSpec(data_container=Health, description="The database is down")},
    tags=["system"],
)
async def health(state: State) -> Response[Health]:
    """200 while the database answers (`degraded` if the queue does not), 503 when it does not."""
    database, queue = await asyncio.gather(_probe(_check_database, state), _probe(_check_queue, state))
    if database != "ok":
        return Response(Health(status="unavailable", database=database, queue=queue), status_code=503)
    return Response(Health(status="ok" if queue == "ok" else "degraded", database=database, queue=queue))
