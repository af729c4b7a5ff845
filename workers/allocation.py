"""The allocation run computation, as an outbox job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.allocation import service as allocation

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession


async def compute_allocation_run(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Compute the run once; a second delivery finds it no longer `computing`."""
    await allocation.compute(
        session, int(payload["run_id"]), fiscal_year_start_month=ctx["settings"].policy.fiscal_year_start_month
    )


async def give_up_allocation_run(
    _ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any], reason: str
) -> None:
    """The computation will not be tried again: fail the run so staff see why and may start another."""
    await allocation.give_up(session, int(payload["run_id"]), reason)
