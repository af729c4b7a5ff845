"""The daily sign-in housekeeping: throttling rows of quiet keys are forgotten."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.identity import service as identity
from domain.unit_of_work import UnitOfWork


async def forget_quiet_sign_in_failures(ctx: dict[str, Any]) -> int:
    """Idempotent: deleting what is already quiet twice deletes nothing the second time."""
    async with UnitOfWork(ctx["session_maker"]) as uow:
        forgotten = await identity.forget_quiet_throttles(uow.session, datetime.now(UTC))
        await uow.commit()
    return forgotten
