"""The daily membership job: promotions after probation, withdrawals on their date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.departures import service as departures
from domain.membership import service as membership
from domain.unit_of_work import UnitOfWork


async def membership_daily(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: each member changes at most once, under its row lock; a rerun finds nothing due."""
    today = datetime.now(UTC).date()
    async with UnitOfWork(ctx["session_maker"], ctx.get("job_queue")) as uow:
        promoted = await membership.promote_due_members(uow.session, today)
        left = await departures.complete_due_resignations(uow.session, today)
        await uow.commit()
    return {"promoted": promoted, "left": left}
