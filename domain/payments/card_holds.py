"""Card holds of group-buy orders: asked for, replaced, cancelled and captured by jobs.

An order write in a card-mode buy only records what the card must do (a ``card_hold``
row and an outbox job) in the order's own transaction; the job calls Stripe after that
commits, so no request holds the order's locks while Stripe answers. Each job sends the
key of its domain operation (``hold:<order>:<version>``, ``cancel:<order>:<version>``,
``capture:<order>``): if the process dies between Stripe's answer and the commit, the
retried job gets Stripe's first answer back instead of a second hold or capture.

Rows are updated with conditional statements after each call, never locked across it:
a hold whose order changed while its job was asking Stripe is found voided, and the
job cancels what it just got.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.db import utc_now
from domain.errors import ConflictError, NotFoundError
from domain.jobs import service as jobs
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.notifications import service as notifications
from domain.payments.customers import stored_customer
from domain.payments.gateway import HoldRequest, PaymentDeclinedError, PaymentGateway
from domain.payments.rules import (
    CANCELLABLE_INTENT,
    CardStatus,
    cancel_key,
    capture_before,
    capture_key,
    hold_key,
    release_key,
    settle_hold,
    transfer_group,
)
from domain.payments.tables import CardHold

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sqlalchemy.orm import Mapped
    from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)

HOLD_JOB = "card_hold"
CANCEL_JOB = "card_cancel"
CAPTURE_JOB = "card_capture"
RELEASE_JOB = "card_release"

# Holds that may still take or keep money; a newer version or a cancelled order voids them.
LIVE = (CardStatus.PENDING_AUTH.value, CardStatus.AUTHORIZED.value, CardStatus.AUTH_FAILED.value)


def _audience(member_id: int) -> str:
    return f"member:{member_id}"


async def void_holds(session: AsyncSession, order_id: int, now: datetime) -> list[int]:
    """Void the order's live holds and ask a job to cancel each on Stripe (the caller holds the order's lock)."""
    voided = (
        await session.execute(
            sa.update(CardHold)
            .where(col(CardHold.order_id) == order_id, col(CardHold.status).in_(LIVE))
            .values(status=CardStatus.VOIDED.value, updated_at=now)
            .returning(col(CardHold.id), col(CardHold.version))
        )
    ).all()
    for hold_id, version in sorted(voided):
        await jobs.add(session, CANCEL_JOB, f"card:{cancel_key(order_id, version)}", {"hold_id": hold_id})
    return [hold_id for hold_id, _ in voided]


async def request_hold(
    session: AsyncSession, *, order_id: int, group_buy_id: int, member_id: int, amount_cents: int, now: datetime
) -> CardHold:
    """A new version of the order's hold for ``amount_cents``; the previous one is cancelled.

    The caller holds the order's row lock, so versions are taken one at a time. A change
    never captures: the old authorization is released and a new one asked for.
    """
    await void_holds(session, order_id, now)
    last = (
        await session.exec(select(sa.func.max(col(CardHold.version))).where(col(CardHold.order_id) == order_id))
    ).one()
    hold = CardHold(
        order_id=order_id,
        group_buy_id=group_buy_id,
        member_id=member_id,
        version=(last or 0) + 1,
        status=CardStatus.PENDING_AUTH.value,
        amount_cents=amount_cents,
        created_at=now,
        updated_at=now,
    )
    session.add(hold)
    await session.flush()
    await jobs.add(session, HOLD_JOB, f"card:{hold_key(order_id, hold.version)}", {"hold_id": hold.id})
    return hold


async def require_card_customer(session: AsyncSession, member_id: int) -> None:
    """A card-mode order needs the member's saved card: refuse (409) before anything is written."""
    if await stored_customer(session, member_id) is None:
        msg = f"member {member_id} has no saved card; save one (POST /v1/members/{member_id}/card-setups) first"
        raise ConflictError(msg, code="card_required")


async def live_hold(session: AsyncSession, order_id: int) -> CardHold | None:
    """The order's newest hold that is not voided, if any."""
    query = (
        select(CardHold)
        .where(col(CardHold.order_id) == order_id, col(CardHold.status) != CardStatus.VOIDED.value)
        .order_by(col(CardHold.version).desc())
        .limit(1)
    )
    return (await session.exec(query)).first()


async def payments_of(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, CardHold]:
    """Each order's newest hold (its card payment), for the order answers."""
    if not order_ids:
        return {}
    newest = (
        sa.select(col(CardHold.order_id), sa.func.max(col(CardHold.version)).label("version"))
        .where(col(CardHold.order_id).in_(order_ids))
        .group_by(col(CardHold.order_id))
        .subquery()
    )
    query = select(CardHold).join(
        newest, sa.and_(newest.c.order_id == col(CardHold.order_id), newest.c.version == col(CardHold.version))
    )
    return {hold.order_id: hold for hold in (await session.exec(query)).all()}


async def failed_orders(session: AsyncSession, group_buy_id: int) -> list[int]:
    """Orders of the buy whose card said no: they do not count toward the group's volume."""
    query = select(CardHold.order_id).where(
        col(CardHold.group_buy_id) == group_buy_id, col(CardHold.status) == CardStatus.AUTH_FAILED.value
    )
    return sorted(set((await session.exec(query)).all()))


def not_failed(order_id_column: Mapped[int]) -> sa.ColumnElement[bool]:
    """A condition for order queries: the order's card has not said no."""
    failed = sa.select(col(CardHold.id)).where(
        col(CardHold.order_id) == order_id_column, col(CardHold.status) == CardStatus.AUTH_FAILED.value
    )
    return ~sa.exists(failed)


async def settle_holds(session: AsyncSession, charges: Mapping[int, int], now: datetime) -> None:
    """At settlement: capture each order's charge from its hold, or cancel the hold when nothing is owed."""
    for order_id, charge in sorted(charges.items()):
        hold = await live_hold(session, order_id)
        if hold is None:
            continue
        if (
            settle_hold(held_cents=hold.amount_cents, charge_cents=charge).cancels
            or hold.status != CardStatus.AUTHORIZED
        ):
            # Nothing owed, or a hold never authorized (3-D Secure unfinished, declined, its job not yet run):
            # the trade account keeps the charge, and whatever the card might still authorize is released.
            await void_holds(session, order_id, now)
            continue
        await jobs.add(
            session, CAPTURE_JOB, f"card:{capture_key(order_id)}", {"hold_id": hold.id, "amount_cents": charge}
        )


async def _hold_row(session: AsyncSession, hold_id: int) -> CardHold:
    hold = await session.get(CardHold, hold_id, populate_existing=True)
    if hold is None:
        raise NotFoundError(f"card hold {hold_id} not found")
    return hold


async def run_hold(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int], currency: str) -> None:
    """Ask the card for the hold (the job); a declined card marks the order failed and tells the member."""
    hold = await _hold_row(session, payload["hold_id"])
    if hold.status != CardStatus.PENDING_AUTH:
        return  # voided before it was asked for, or already answered
    assert hold.id is not None  # noqa: S101 - loaded
    intent_id, status, failure = None, CardStatus.AUTH_FAILED, "the member has no saved card"
    secret, reported = None, None
    customer = await stored_customer(session, hold.member_id)
    saved = await gateway.saved_cards(customer) if customer is not None else []
    if customer is not None and saved:
        request = HoldRequest(
            amount_cents=hold.amount_cents,
            currency=currency,
            customer_id=customer,
            payment_method_id=saved[0].id,
            idempotency_key=hold_key(hold.order_id, hold.version),
            transfer_group=transfer_group(hold.group_buy_id),
            metadata={"order_id": str(hold.order_id), "group_buy_id": str(hold.group_buy_id)},
        )
        try:
            answer = await gateway.hold(request)
            intent_id, status, failure = answer.id, answer.status, ""
            secret, reported = answer.client_secret, answer.capture_before
        except PaymentDeclinedError as exc:
            failure = exc.detail
    now = utc_now()
    stored = (
        await session.execute(
            sa.update(CardHold)
            .where(col(CardHold.id) == hold.id)
            .values(
                intent_id=sa.func.coalesce(intent_id, col(CardHold.intent_id)),
                status=sa.case(
                    (col(CardHold.status) == CardStatus.PENDING_AUTH.value, status.value), else_=col(CardHold.status)
                ),
                failure=failure[:500],
                client_secret=sa.func.coalesce(secret, col(CardHold.client_secret)),
                capture_before=capture_before(now, reported=reported, off_session=False)
                if status is CardStatus.AUTHORIZED
                else col(CardHold.capture_before),
                updated_at=now,
            )
            .returning(col(CardHold.status))
        )
    ).scalar_one()
    if stored == CardStatus.VOIDED and intent_id is not None:
        # The order changed or went while Stripe was answering: release what was just held.
        await gateway.cancel(intent_id, idempotency_key=cancel_key(hold.order_id, hold.version))
    elif stored == CardStatus.AUTH_FAILED:
        await notifications.record(
            session,
            event="order.card_declined",
            audience=_audience(hold.member_id),
            data={"order_id": str(hold.order_id), "group_buy_id": str(hold.group_buy_id), "reason": failure},
            business_key=f"card:{hold_key(hold.order_id, hold.version)}:declined",
        )


async def run_cancel(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int]) -> None:
    """Release a voided hold on Stripe; one never asked for has nothing to release (its job will see it voided)."""
    hold = await _hold_row(session, payload["hold_id"])
    if hold.intent_id is None:
        return
    await gateway.cancel(hold.intent_id, idempotency_key=cancel_key(hold.order_id, hold.version))


async def request_release(session: AsyncSession, hold: CardHold, event_id: str) -> None:
    """Stripe reports an authorization of a hold we voided: a job releases it (never a capture)."""
    await jobs.add(
        session, RELEASE_JOB, f"card:{release_key(hold.order_id, hold.version)}:{event_id}", {"hold_id": hold.id}
    )


async def run_release(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int]) -> None:
    """Cancel a voided hold's intent if Stripe still holds it; one already released is left alone."""
    hold = await _hold_row(session, payload["hold_id"])
    if hold.status != CardStatus.VOIDED or hold.intent_id is None:
        return
    if await gateway.intent_status(hold.intent_id) in CANCELLABLE_INTENT:
        await gateway.cancel(hold.intent_id, idempotency_key=release_key(hold.order_id, hold.version))


async def run_capture(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int]) -> None:
    """Capture the settled charge and book it: card clearing in, the member's trade account paid."""
    hold = await _hold_row(session, payload["hold_id"])
    amount = payload["amount_cents"]
    if hold.status == CardStatus.CAPTURED:
        return
    if hold.status != CardStatus.AUTHORIZED or hold.intent_id is None:
        # Never authorized: the charge stays on the member's trade account, as in account mode.
        log.warning("card hold not capturable", extra={"hold_id": hold.id, "status": hold.status})
        return
    settle_hold(held_cents=hold.amount_cents, charge_cents=amount)
    await gateway.capture(hold.intent_id, amount, idempotency_key=capture_key(hold.order_id))
    now = utc_now()
    await session.execute(
        sa.update(CardHold)
        .where(col(CardHold.id) == hold.id, col(CardHold.status) == CardStatus.AUTHORIZED.value)
        .values(status=CardStatus.CAPTURED.value, captured_cents=amount, updated_at=now)
    )
    await ledger.transfer(
        session,
        debit=chart.CARD_CLEARING,
        credit=chart.member_trade(hold.member_id),
        amount_cents=amount,
        kind="card_capture",
        idempotency_key=f"card_capture:{hold.order_id}",
        occurred_at=now,
        memo=f"card {hold.intent_id} for order {hold.order_id}",
    )
