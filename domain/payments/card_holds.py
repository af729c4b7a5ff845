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
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
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
    ACTION_GRACE,
    CANCELLABLE_INTENT,
    DRIFT_SETTLE_TIME,
    REAUTH_MARGIN,
    CardStatus,
    HoldKind,
    HoldState,
    SettleAction,
    cancel_key,
    capture_before,
    capture_key,
    charge_key,
    drifted,
    hold_key,
    off_session_status,
    reauth_key,
    refund_key,
    refund_status,
    release_key,
    settle_hold,
    settle_step,
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
REFUND_JOB = "card_refund"
FEE_JOB = "card_fee"

# Holds that may still take or keep money; a newer version or a cancelled order voids them.
LIVE = (
    CardStatus.PENDING_AUTH.value,
    CardStatus.AUTHORIZED.value,
    CardStatus.AUTH_FAILED.value,
    CardStatus.ACTION_REQUIRED.value,
)


def _audience(member_id: int) -> str:
    return f"member:{member_id}"


async def void_holds(
    session: AsyncSession, order_id: int, now: datetime, *, below_version: int | None = None, keep: int | None = None
) -> list[int]:
    """Void the order's live holds and ask a job to cancel each on Stripe (the caller holds the order's lock).

    ``below_version`` voids only the versions a newer authorization replaced; ``keep`` spares the one captured.
    """
    query = sa.update(CardHold).where(col(CardHold.order_id) == order_id, col(CardHold.status).in_(LIVE))
    if below_version is not None:
        query = query.where(col(CardHold.version) < below_version)
    if keep is not None:
        query = query.where(col(CardHold.id) != keep)
    voided = (
        await session.execute(
            query.values(status=CardStatus.VOIDED.value, updated_at=now).returning(
                col(CardHold.id), col(CardHold.version)
            )
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
    return await _new_version(
        session, order_id=order_id, group_buy_id=group_buy_id, member_id=member_id, amount_cents=amount_cents, now=now
    )


async def _new_version(
    session: AsyncSession,
    *,
    order_id: int,
    group_buy_id: int,
    member_id: int,
    amount_cents: int,
    now: datetime,
    kind: HoldKind = HoldKind.HOLD,
) -> CardHold:
    """The order's next hold version (pending) and the job that asks the card for it."""
    last = (
        await session.exec(select(sa.func.max(col(CardHold.version))).where(col(CardHold.order_id) == order_id))
    ).one()
    hold = CardHold(
        order_id=order_id,
        group_buy_id=group_buy_id,
        member_id=member_id,
        version=(last or 0) + 1,
        kind=kind.value,
        status=CardStatus.PENDING_AUTH.value,
        amount_cents=amount_cents,
        created_at=now,
        updated_at=now,
    )
    session.add(hold)
    await session.flush()
    await jobs.add(session, HOLD_JOB, f"card:{_key(hold)}", {"hold_id": hold.id})
    return hold


def _key(hold: CardHold) -> str:
    """The idempotency key of asking the card for this version."""
    match HoldKind(hold.kind):
        case HoldKind.REAUTH:
            return reauth_key(hold.order_id, hold.version)
        case HoldKind.CHARGE:
            return charge_key(hold.order_id)
        case _:
            return hold_key(hold.order_id, hold.version)


async def renew(session: AsyncSession, hold: CardHold, now: datetime) -> CardHold:
    """Ask off-session for a new hold of the same amount before ``hold`` lapses; it is voided once the new one holds.

    The caller holds the order's lock and has checked the hold is the order's newest, authorized one.
    """
    return await _new_version(
        session,
        order_id=hold.order_id,
        group_buy_id=hold.group_buy_id,
        member_id=hold.member_id,
        amount_cents=hold.amount_cents,
        now=now,
        kind=HoldKind.REAUTH,
    )


async def due_for_renewal(session: AsyncSession, now: datetime, order_ids: sa.Select[Any]) -> list[CardHold]:
    """Authorized holds, each its order's newest version, lapsing within the margin, among ``order_ids``."""
    later = aliased(CardHold)
    query = (
        select(CardHold)
        .where(
            col(CardHold.status) == CardStatus.AUTHORIZED.value,
            col(CardHold.capture_before) <= now + REAUTH_MARGIN,
            col(CardHold.order_id).in_(order_ids),
            ~sa.exists().where(
                col(later.order_id) == col(CardHold.order_id), col(later.version) > col(CardHold.version)
            ),
        )
        .order_by(col(CardHold.order_id))
    )
    return list((await session.exec(query)).all())


async def overdue_actions(session: AsyncSession, now: datetime) -> list[CardHold]:
    """Off-session payments the member did not finish before the grace deadline."""
    query = (
        select(CardHold)
        .where(col(CardHold.status) == CardStatus.ACTION_REQUIRED.value, col(CardHold.action_deadline) <= now)
        .order_by(col(CardHold.order_id))
    )
    return list((await session.exec(query)).all())


async def give_up_action(session: AsyncSession, hold_id: int, now: datetime) -> CardHold | None:
    """Void an overdue action-required hold (the caller holds the order's lock); None when it moved meanwhile."""
    voided = (
        await session.execute(
            sa.update(CardHold)
            .where(col(CardHold.id) == hold_id, col(CardHold.status) == CardStatus.ACTION_REQUIRED.value)
            .values(status=CardStatus.VOIDED.value, updated_at=now)
            .returning(col(CardHold.id))
        )
    ).scalar_one_or_none()
    if voided is None:
        return None
    hold = await _hold_row(session, hold_id)
    await jobs.add(session, CANCEL_JOB, f"card:{cancel_key(hold.order_id, hold.version)}", {"hold_id": hold_id})
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
    """At settlement: capture each order's charge from a hold still holding, else charge or release (rules).

    Nothing owed, or a hold never authorized (3-D Secure unfinished, declined, its job not
    yet run): every hold is released and the trade account keeps the charge. Every hold
    lapsed: the saved card is charged off-session (a new version, key ``charge:<order>``).
    """
    for order_id, charge in sorted(charges.items()):
        query = (
            select(CardHold)
            .where(col(CardHold.order_id) == order_id, col(CardHold.status).in_(LIVE))
            .order_by(col(CardHold.version).desc())
        )
        holds = list((await session.exec(query)).all())
        if not holds:
            continue
        states = [HoldState(h.id or 0, CardStatus(h.status), h.capture_before) for h in holds]
        step = settle_step(charge_cents=charge, holds=states, now=now)
        await void_holds(session, order_id, now, keep=step.capture_hold_id)
        if step.action is SettleAction.CAPTURE:
            held = next(h for h in holds if h.id == step.capture_hold_id)
            settle_hold(held_cents=held.amount_cents, charge_cents=charge)
            await jobs.add(
                session, CAPTURE_JOB, f"card:{capture_key(order_id)}", {"hold_id": held.id, "amount_cents": charge}
            )
        elif step.action is SettleAction.CHARGE:
            await _new_version(
                session,
                order_id=order_id,
                group_buy_id=holds[0].group_buy_id,
                member_id=holds[0].member_id,
                amount_cents=charge,
                now=now,
                kind=HoldKind.CHARGE,
            )


async def hold_by_id(session: AsyncSession, hold_id: int) -> CardHold:
    """One hold as stored now (404 when there is none)."""
    return await _hold_row(session, hold_id)


async def _hold_row(session: AsyncSession, hold_id: int) -> CardHold:
    hold = await session.get(CardHold, hold_id, populate_existing=True)
    if hold is None:
        raise NotFoundError(f"card hold {hold_id} not found")
    return hold


async def run_hold(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int], currency: str) -> None:
    """Ask the card for the hold (the job); a declined card marks the order failed and tells the member.

    A renewal or a charge at settlement is asked off-session: a card that wants the member
    then makes it ``action_required`` until a grace deadline, and the member is told.
    """
    hold = await _hold_row(session, payload["hold_id"])
    if hold.status != CardStatus.PENDING_AUTH:
        return  # voided before it was asked for, or already answered
    assert hold.id is not None  # noqa: S101 - loaded
    kind = HoldKind(hold.kind)
    off_session = kind is not HoldKind.HOLD
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
            idempotency_key=_key(hold),
            transfer_group=transfer_group(hold.group_buy_id),
            metadata={"order_id": str(hold.order_id), "group_buy_id": str(hold.group_buy_id)},
            off_session=off_session,
            capture=kind is HoldKind.CHARGE,
        )
        try:
            answer = await gateway.hold(request)
            intent_id, status, failure = answer.id, answer.status, ""
            secret, reported = answer.client_secret, answer.capture_before
        except PaymentDeclinedError as exc:
            failure = exc.detail
            intent_id, secret = exc.intent_id, exc.client_secret
    if off_session:
        status = off_session_status(_intent_of(status))
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
                capture_before=capture_before(now, reported=reported, off_session=off_session)
                if status is CardStatus.AUTHORIZED
                else col(CardHold.capture_before),
                captured_cents=hold.amount_cents if status is CardStatus.CAPTURED else col(CardHold.captured_cents),
                action_deadline=now + ACTION_GRACE
                if status is CardStatus.ACTION_REQUIRED
                else col(CardHold.action_deadline),
                updated_at=now,
            )
            .returning(col(CardHold.status))
        )
    ).scalar_one()
    data = {"order_id": str(hold.order_id), "group_buy_id": str(hold.group_buy_id)}
    if stored == CardStatus.VOIDED and intent_id is not None:
        # The order changed or went while Stripe was answering: release what was just held.
        await gateway.cancel(intent_id, idempotency_key=cancel_key(hold.order_id, hold.version))
    elif stored == CardStatus.AUTH_FAILED:
        await notifications.record(
            session,
            event="order.card_declined",
            audience=_audience(hold.member_id),
            data={**data, "reason": failure},
            business_key=f"card:{hold_key(hold.order_id, hold.version)}:declined",
        )
    elif stored == CardStatus.AUTHORIZED:
        await void_holds(session, hold.order_id, now, below_version=hold.version)  # a renewal replaced them
    elif stored == CardStatus.CAPTURED:
        await _book_capture(session, hold, hold.amount_cents, intent_id or "", now)
    elif stored == CardStatus.ACTION_REQUIRED:
        await notifications.record(
            session,
            event="order.card_action_required",
            audience=_audience(hold.member_id),
            data={**data, "deadline": (now + ACTION_GRACE).isoformat(), "reason": failure or "authentication"},
            business_key=f"card:{_key(hold)}:action_required",
        )


def _intent_of(status: CardStatus) -> str:
    """The PaymentIntent status our on-session reading came from (for the off-session reading)."""
    return {
        CardStatus.AUTHORIZED: "requires_capture",
        CardStatus.CAPTURED: "succeeded",
        CardStatus.VOIDED: "canceled",
        CardStatus.AUTH_FAILED: "requires_payment_method",
    }.get(status, "requires_action")


async def record_charge(session: AsyncSession, hold: CardHold, now: datetime) -> None:
    """An off-session charge the member confirmed went through: captured, and booked once (the caller locked it)."""
    moved = (
        await session.execute(
            sa.update(CardHold)
            .where(col(CardHold.id) == hold.id, col(CardHold.status).in_(LIVE))
            .values(status=CardStatus.CAPTURED.value, captured_cents=col(CardHold.amount_cents), updated_at=now)
            .returning(col(CardHold.id))
        )
    ).scalar_one_or_none()
    if moved is not None:
        await _book_capture(session, hold, hold.amount_cents, hold.intent_id or "", now)


async def _book_capture(session: AsyncSession, hold: CardHold, amount: int, intent_id: str, now: datetime) -> None:
    """Card clearing in, the member's trade account paid; once per order, whichever way the card paid.

    A job then reads Stripe's fee from the charge's balance transaction and books it.
    """
    await jobs.add(session, FEE_JOB, f"card:fee:{hold.order_id}", {"hold_id": hold.id})
    await ledger.transfer(
        session,
        debit=chart.CARD_CLEARING,
        credit=chart.member_trade(hold.member_id),
        amount_cents=amount,
        kind="card_capture",
        idempotency_key=f"card_capture:{hold.order_id}",
        occurred_at=now,
        memo=f"card {intent_id} for order {hold.order_id}",
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
    await _book_capture(session, hold, amount, hold.intent_id, now)


REFUNDABLE = (CardStatus.CAPTURED.value, CardStatus.PARTIALLY_REFUNDED.value)


async def request_refund(session: AsyncSession, order_id: int, amount_cents: int, correction_id: int) -> bool:
    """A job gives back ``amount_cents`` of the order's card capture; False when the card paid nothing."""
    query = select(CardHold).where(col(CardHold.order_id) == order_id, col(CardHold.status).in_(REFUNDABLE))
    hold = (await session.exec(query)).first()
    if hold is None:
        return False  # paid on the trade account: the correction's credit stays there
    payload = {"hold_id": hold.id, "amount_cents": amount_cents, "correction_id": correction_id}
    await jobs.add(session, REFUND_JOB, f"card:{refund_key(order_id, correction_id)}", payload)
    return True


async def run_refund(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int]) -> None:
    """Refund on the card and book it once: card clearing credited, the trade account debited back."""
    hold = (await session.exec(select(CardHold).where(col(CardHold.id) == payload["hold_id"]).with_for_update())).one()
    amount = min(payload["amount_cents"], hold.captured_cents - hold.refunded_cents)
    if amount <= 0 or hold.intent_id is None:
        return
    status = refund_status(captured_cents=hold.captured_cents, refunded_cents=hold.refunded_cents + amount)
    key = refund_key(hold.order_id, payload["correction_id"])
    await gateway.refund(hold.intent_id, amount, idempotency_key=key)
    now = utc_now()
    hold.refunded_cents += amount
    hold.status = status.value
    hold.updated_at = now
    session.add(hold)
    await ledger.transfer(
        session,
        debit=chart.member_trade(hold.member_id),
        credit=chart.CARD_CLEARING,
        amount_cents=amount,
        kind="card_refund",
        idempotency_key=f"card_{key}",
        occurred_at=now,
        memo=f"refund on card {hold.intent_id} for order {hold.order_id}",
    )


async def run_fee(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, int]) -> None:
    """Book the fee Stripe kept on the order's payment: card fees expense, card clearing credited (once)."""
    hold = await _hold_row(session, payload["hold_id"])
    if hold.intent_id is None:
        return
    fee = await gateway.fee_cents(hold.intent_id)
    if fee <= 0:
        return
    await ledger.transfer(
        session,
        debit=chart.CARD_FEES,
        credit=chart.CARD_CLEARING,
        amount_cents=fee,
        kind="card_fee",
        idempotency_key=f"card_fee:{hold.order_id}",
        occurred_at=utc_now(),
        memo=f"Stripe fee on card {hold.intent_id} for order {hold.order_id}",
    )


DRIFT_BATCH = 500


async def check_drift(
    session: AsyncSession, gateway: PaymentGateway, *, now: datetime, since: datetime
) -> list[dict[str, str]]:
    """Compare holds that changed since ``since`` (and not in the last minutes) with Stripe; tell staff of any drift.

    Each drifted hold is listed with our status and Stripe's; staff get one notice per run
    (outbox). Nothing is moved: which side is right is for staff (or a replayed event) to say.
    """
    query = (
        select(CardHold)
        .where(
            col(CardHold.intent_id).is_not(None),
            col(CardHold.updated_at) >= since,
            col(CardHold.updated_at) < now - DRIFT_SETTLE_TIME,
        )
        .order_by(col(CardHold.id))
        .limit(DRIFT_BATCH)
    )
    drift = []
    for hold in (await session.exec(query)).all():
        assert hold.intent_id is not None  # noqa: S101 - filtered
        stripe_status = await gateway.intent_status(hold.intent_id)
        if drifted(CardStatus(hold.status), stripe_status):
            drift.append(
                {
                    "hold_id": str(hold.id),
                    "order_id": str(hold.order_id),
                    "intent_id": hold.intent_id,
                    "ours": hold.status,
                    "stripe": stripe_status,
                }
            )
    if drift:
        await notifications.record(
            session,
            event="payments.drift",
            audience="staff",
            data={"holds": drift},
            business_key=f"payments:drift:{now.isoformat()}",
        )
    return drift
