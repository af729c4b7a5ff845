"""Card jobs: ask Stripe for a hold, release one, capture one (thin: the domain does the work)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.payments import card_holds, webhooks

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession


async def card_hold(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Authorize an order's most on the member's saved card."""
    await card_holds.run_hold(session, ctx["payment_gateway"], payload, ctx["settings"].currency)


async def card_cancel(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Release a voided hold."""
    await card_holds.run_cancel(session, ctx["payment_gateway"], payload)


async def card_release(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Release a voided hold Stripe reported authorized after all."""
    await card_holds.run_release(session, ctx["payment_gateway"], payload)


async def card_capture(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Capture the settled charge."""
    await card_holds.run_capture(session, ctx["payment_gateway"], payload)


async def stripe_event(_: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Apply a stored Stripe event (forward moves only)."""
    await webhooks.apply_event(session, payload)
