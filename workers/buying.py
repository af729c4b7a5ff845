"""The group buy clock: an arq cron every minute that opens, reminds and closes buys on time."""

from __future__ import annotations

import dataclasses
from typing import Any

from domain.buying import clock


async def group_buy_clock(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: every step re-checks the buy under its row lock, so a rerun (or a second worker) does nothing."""
    result = await clock.run_clock(ctx["session_maker"], ctx.get("job_queue"))
    return dataclasses.asdict(result)
