"""The daily membership job: promotions after probation, withdrawals on their date."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.membership import service as membership


async def membership_daily(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: each member changes at most once, under its row lock; a rerun finds nothing due."""
    today = datetime.now(UTC).date()
    async with ctx["session_maker"]() as session:
        promoted = await membership.promote_due_members(session, today)
        left = await membership.complete_due_resignations(session, today)
        await session.commit()
    return {"promoted": promoted, "left": left}
