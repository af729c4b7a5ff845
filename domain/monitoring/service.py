"""What operators watch, read from the database at scrape time.

Counts of group buys and jobs are states of the books, not of one process, so they are
summed in PostgreSQL rather than counted in memory (several API replicas and workers would
each see only their share). Plain SQL over the tables' names keeps this reader from
depending on the contexts it watches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class JobState:
    """The outbox for one kind of job: how many wait, ran or gave up, and how long they took."""

    job_name: str
    pending: int
    done: int
    failed: int
    attempts: int
    oldest_pending_seconds: float
    done_seconds_sum: float


@dataclass(frozen=True, slots=True)
class RunDurations:
    """Allocation runs: how many computed, and the seconds from request to computed result."""

    computed: int
    seconds_sum: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything /metrics reports from the database."""

    group_buys: dict[str, int]
    allocation_runs: dict[str, int]
    jobs: list[JobState]
    allocation_run_durations: RunDurations


async def snapshot(session: AsyncSession) -> Snapshot:
    """Read every figure in one round trip per table."""
    buys = await session.execute(sa.text("SELECT status, count(*) FROM group_buy GROUP BY status"))
    runs = await session.execute(sa.text("SELECT status, count(*) FROM allocation_run GROUP BY status"))
    jobs = await session.execute(
        sa.text(
            """
            SELECT job_name,
                   count(*) FILTER (WHERE done_at IS NULL AND failed_at IS NULL),
                   count(*) FILTER (WHERE done_at IS NOT NULL),
                   count(*) FILTER (WHERE failed_at IS NOT NULL),
                   coalesce(sum(attempts), 0),
                   coalesce(extract(epoch FROM now() - min(created_at)
                       FILTER (WHERE done_at IS NULL AND failed_at IS NULL)), 0),
                   coalesce(sum(extract(epoch FROM done_at - created_at)), 0)
            FROM outbox_job GROUP BY job_name ORDER BY job_name
            """
        )
    )
    durations = (
        await session.execute(
            sa.text(
                "SELECT count(*), coalesce(sum(extract(epoch FROM computed_at - created_at)), 0) "
                "FROM allocation_run WHERE computed_at IS NOT NULL"
            )
        )
    ).one()
    return Snapshot(
        group_buys={str(s): int(n) for s, n in buys},
        allocation_runs={str(s): int(n) for s, n in runs},
        jobs=[JobState(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), float(r[5]), float(r[6])) for r in jobs],
        allocation_run_durations=RunDurations(int(durations[0]), float(durations[1])),
    )
