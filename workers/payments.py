"""Card jobs: ask Stripe for a hold, release one, capture one (thin: the domain does the work)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.buying import card_payments, supplier_transfers
from domain.membership import share_cards
from domain.payments import bank_payouts, card_holds, webhooks
from domain.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.jobs.queue import JobQueue
    from domain.payments.gateway import PaymentGateway

log = logging.getLogger(__name__)


async def card_hold(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Authorize an order's most on the member's saved card."""
    await card_holds.run_hold(session, ctx["payment_gateway"], payload, ctx["settings"].currency)


async def card_cancel(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Release a voided hold."""
    await card_holds.run_cancel(session, ctx["payment_gateway"], payload)


async def card_release(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Release a voided hold Stripe reported authorized after all."""
    await card_holds.run_release(session, ctx["payment_gateway"], payload)


async def card_refund(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Refund a correction's difference on the card."""
    await card_holds.run_refund(session, ctx["payment_gateway"], payload)


async def card_fee(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Book Stripe's fee on a captured payment."""
    await card_holds.run_fee(session, ctx["payment_gateway"], payload)


async def card_capture(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Capture the settled charge."""
    await card_holds.run_capture(session, ctx["payment_gateway"], payload)


async def supplier_transfer(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Pay the supplier of a settled card-mode buy by Connect transfer (when Connect is configured)."""
    settings = ctx["settings"]
    await supplier_transfers.run_transfer(
        session,
        ctx["payment_gateway"],
        payload,
        currency=settings.currency,
        connect=settings.stripe_connect,
        now=datetime.now(UTC),
    )


async def supplier_transfer_reversal(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Take back what a corrected card-mode buy's Connect transfer now overpays."""
    connect = ctx["settings"].stripe_connect
    await supplier_transfers.run_reversal(
        session, ctx["payment_gateway"], payload, connect=connect, now=datetime.now(UTC)
    )


async def stripe_event(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Apply a stored Stripe event (forward moves only): to a share payment by card, a bank payout or a card hold."""
    await share_cards.apply_event(session, payload)
    await bank_payouts.apply_event(session, ctx["payment_gateway"], payload)
    await webhooks.apply_event(session, payload)


async def share_card_charge(ctx: dict[str, Any], session: AsyncSession, payload: Mapping[str, Any]) -> None:
    """Ask Stripe for a membership share payment on the member's saved card."""
    await share_cards.run_charge(session, ctx["payment_gateway"], payload, ctx["settings"].currency)


async def run_share_card_poll(
    session_maker: SessionMaker, gateway: PaymentGateway, queue: JobQueue | None, *, now: datetime | None = None
) -> int:
    """Read back pending share payments a webhook has not settled; each in its own unit of work. How many moved."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker) as uow:
        due = await share_cards.due_polls(uow.session, now)
    moved = 0
    for payment_id in due:
        try:
            async with UnitOfWork(session_maker, queue) as uow:
                moved += int(await share_cards.poll(uow.session, gateway, payment_id, now=now))
                await uow.commit()
        except Exception:
            log.exception("share card poll failed", extra={"payment_id": payment_id})
    return moved


async def share_card_poll(ctx: dict[str, Any]) -> int:
    """Idempotent: a payment moves out of pending once, under its row lock."""
    return await run_share_card_poll(ctx["session_maker"], ctx["payment_gateway"], ctx.get("job_queue"))


async def run_card_clock(
    session_maker: SessionMaker, queue: JobQueue | None, *, now: datetime | None = None
) -> dict[str, int]:
    """Renew holds about to lapse and drop orders past their grace deadline, each in its own unit of work."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker) as uow:
        renewals = await card_payments.due_renewals(uow.session, now)
        overdue = await card_payments.overdue_actions(uow.session, now)
    counts = {"renewed": 0, "dropped": 0, "failed": 0}
    steps = [("renewed", card_payments.renew_if_due, h) for h in renewals]
    steps += [("dropped", card_payments.drop_if_overdue, h) for h in overdue]
    for name, step, hold_id in steps:
        try:
            async with UnitOfWork(session_maker, queue) as uow:
                done = await step(uow.session, hold_id, now=now)
                await uow.commit()
        except Exception:
            log.exception("card clock step failed", extra={"step": name, "hold_id": hold_id})
            counts["failed"] += 1
            continue
        counts[name] += int(done)
    return counts


async def card_clock(ctx: dict[str, Any]) -> dict[str, int]:
    """Idempotent: every step re-checks the hold under the buy's and the order's locks."""
    return await run_card_clock(ctx["session_maker"], ctx.get("job_queue"))


DRIFT_LOOKBACK = timedelta(days=35)  # a hold lives at most a buy's window plus its renewals


async def run_payments_drift(
    session_maker: SessionMaker, gateway: PaymentGateway, queue: JobQueue | None, *, now: datetime | None = None
) -> int:
    """Compare recent holds with Stripe and tell staff of any drift; the number of drifted holds."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker, queue) as uow:
        drift = await card_holds.check_drift(uow.session, gateway, now=now, since=now - DRIFT_LOOKBACK)
        await uow.commit()
    return len(drift)


async def payments_drift(ctx: dict[str, Any]) -> int:
    """Daily: local card payment states against Stripe's (a rerun only notifies again)."""
    return await run_payments_drift(ctx["session_maker"], ctx["payment_gateway"], ctx.get("job_queue"))


async def run_replay_missed_events(
    session_maker: SessionMaker, gateway: PaymentGateway, queue: JobQueue | None, *, now: datetime | None = None
) -> int:
    """Store the events Stripe failed to deliver and hand them to the webhook's job; how many were new."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(session_maker, queue) as uow:
        received = await webhooks.replay_missed(uow.session, gateway, now=now)
        await uow.commit()
    return sum(not r.duplicate for r in received)


async def replay_missed_events(ctx: dict[str, Any]) -> int:
    """Hourly: a rerun lists from the last mark, and events already stored change nothing."""
    return await run_replay_missed_events(ctx["session_maker"], ctx["payment_gateway"], ctx.get("job_queue"))
