"""The port to the job queue, and its arq adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from arq.connections import ArqRedis


class JobQueue(Protocol):
    """Something that can run the outbox job with this key, by name."""

    async def enqueue(self, job_name: str, business_key: str) -> None:
        """Ask for the job to run; asking twice is harmless."""


class ArqJobQueue:
    """arq with the business key as job id: arq refuses a duplicate while one is queued."""

    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def enqueue(self, job_name: str, business_key: str) -> None:
        """Enqueue `job_name(business_key)`."""
        await self._redis.enqueue_job(job_name, business_key, _job_id=f"outbox:{business_key}")
