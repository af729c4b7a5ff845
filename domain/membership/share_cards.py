"""Membership shares paid by card: a member's admin pays the share (or an instalment) with a saved card.

The request records a pending payment under the member's lock (never more than is still
due, counting the card payments still pending) and an outbox job; the job asks Stripe for
an automatic-capture PaymentIntent on the saved card under ``share:<member>:<payment>``.
The share is credited only when Stripe says the payment succeeded, by the webhook's
``payment_intent.succeeded`` or by reading the intent back (the poll), once: the move out
of ``pending`` is one conditional statement, and the ledger entry has its own key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from domain.db import utc_now
from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.jobs import service as jobs
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import service as membership
from domain.membership.rules import Status, share_payment_errors
from domain.notifications import service as notifications
from domain.payments.customers import stored_customer
from domain.payments.gateway import HoldRequest, PaymentDeclinedError
from domain.payments.rules import ShareCardStatus, share_key, share_outcome
from domain.payments.tables import ShareCardPayment, StripeEvent

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.payments.gateway import PaymentGateway

CHARGE_JOB = "share_card_charge"
ENTRY_KIND = "card_share"  # the card clearing report counts it as captured
POLL_AFTER = timedelta(minutes=15)  # a webhook is usually there first; read back what it may have missed


def _audience(member_id: int) -> str:
    return f"member:{member_id}"


async def start(
    session: AsyncSession, member_id: int, *, amount_cents: int, actor: int, now: datetime
) -> ShareCardPayment:
    """A pending share payment by the member's saved card; a job asks Stripe after this commits.

    400 naming ``amount_cents`` above what is still due (what is paid plus card payments still
    pending); 409 ``card_required`` without a saved card's customer.
    """
    member = await membership.locked(session, member_id)
    paid = (await membership.shares_paid(session, [member_id]))[member_id]
    pending = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(col(ShareCardPayment.amount_cents)), 0)).where(
                col(ShareCardPayment.member_id) == member_id,
                col(ShareCardPayment.status) == ShareCardStatus.PENDING.value,
            )
        )
    ).scalar_one()
    errors = share_payment_errors(
        amount_cents, paid_cents=paid + int(pending), par_cents=member.share_par_cents, status=Status(member.status)
    )
    if errors:
        raise InvalidInputError("the share payment is not acceptable", errors)
    if await stored_customer(session, member_id) is None:
        raise ConflictError("the member has no saved card: save one first", code="card_required")
    payment = ShareCardPayment(
        member_id=member_id, amount_cents=amount_cents, requested_by=actor, created_at=now, updated_at=now
    )
    session.add(payment)
    await session.flush()
    assert payment.id is not None  # noqa: S101 - flushed
    await jobs.add(session, CHARGE_JOB, f"card:{share_key(member_id, payment.id)}", {"payment_id": payment.id})
    return payment


async def get(session: AsyncSession, member_id: int, payment_id: int) -> ShareCardPayment:
    """One of the member's share payments by card (404 for another member's)."""
    payment = await session.get(ShareCardPayment, payment_id, populate_existing=True)
    if payment is None or payment.member_id != member_id:
        raise NotFoundError(f"share payment {payment_id} not found")
    return payment


async def run_charge(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, Any], currency: str) -> None:
    """The job: an automatic-capture PaymentIntent on the saved card; a decline fails it, nothing credited.

    A success is not credited here: the webhook (or the poll) does, when Stripe says so.
    """
    payment = await session.get(ShareCardPayment, int(payload["payment_id"]), populate_existing=True)
    if payment is None or payment.status != ShareCardStatus.PENDING or payment.intent_id is not None:
        return
    assert payment.id is not None  # noqa: S101 - loaded
    customer = await stored_customer(session, payment.member_id)
    saved = await gateway.saved_cards(customer) if customer is not None else []
    intent_id, secret, failure = None, None, "the member has no saved card"
    if customer is not None and saved:
        request = HoldRequest(
            amount_cents=payment.amount_cents,
            currency=currency,
            customer_id=customer,
            payment_method_id=saved[0].id,
            idempotency_key=share_key(payment.member_id, payment.id),
            metadata={"kind": "membership_share", "member_id": str(payment.member_id), "payment_id": str(payment.id)},
            capture=True,
        )
        try:
            answer = await gateway.hold(request)
            intent_id, secret, failure = answer.id, answer.client_secret, ""
        except PaymentDeclinedError as exc:
            intent_id, failure = exc.intent_id, exc.detail
    now = utc_now()
    payment.intent_id = intent_id
    payment.client_secret = secret
    payment.updated_at = now
    if failure:
        payment.status = ShareCardStatus.FAILED.value
        payment.failure = failure[:500]
        await notifications.record(
            session,
            event="membership.share_card_declined",
            audience=_audience(payment.member_id),
            data={"payment_id": str(payment.id), "reason": failure},
            business_key=f"card:{share_key(payment.member_id, payment.id)}:declined",
        )
    session.add(payment)
    await session.flush()


async def settle(session: AsyncSession, payment_id: int, target: ShareCardStatus, *, now: datetime) -> bool:
    """Move a pending payment to ``target``; a success credits the share once. False when it was not pending."""
    payment = await session.get(ShareCardPayment, payment_id, populate_existing=True)
    if payment is None:
        return False
    member = await membership.locked(session, payment.member_id)  # the share's bound, one payment at a time
    row = (
        await session.exec(select(ShareCardPayment).where(col(ShareCardPayment.id) == payment_id).with_for_update())
    ).one()
    await session.refresh(row)
    if row.status != ShareCardStatus.PENDING:
        return False  # already moved: a second event or a poll after the webhook changes nothing
    if target is ShareCardStatus.SUCCEEDED:
        paid = (await membership.shares_paid(session, [row.member_id]))[row.member_id]
        status = Status(member.status)
        if share_payment_errors(row.amount_cents, paid_cents=paid, par_cents=member.share_par_cents, status=status):
            target = ShareCardStatus.UNAPPLIED  # staff recorded the share meanwhile: refund, never credit past par
        else:
            entry = await ledger.record_receipt(
                session,
                method=chart.PaymentMethod.CARD,
                credit=chart.member_share(row.member_id),
                amount_cents=row.amount_cents,
                kind=ENTRY_KIND,
                key=share_key(row.member_id, payment_id),
                reference=row.intent_id,
                occurred_at=now,
            )
            row.credited_entry_id = entry.id
            await membership.promote_if_due(session, member, now=now, paid_cents=paid + row.amount_cents, actor=None)
    row.status = target.value
    row.client_secret = None
    row.updated_at = now
    session.add(row)
    if target is ShareCardStatus.UNAPPLIED:
        await notifications.record(
            session,
            event="membership.share_card_unapplied",
            audience="staff",
            data={"payment_id": str(payment_id), "member_id": str(row.member_id), "amount_cents": row.amount_cents},
            business_key=f"card:{share_key(row.member_id, payment_id)}:unapplied",
        )
    await session.flush()
    return True


async def apply_event(session: AsyncSession, payload: Mapping[str, str]) -> None:
    """The webhook job's share part: a stored event about a share payment's PaymentIntent moves it (once)."""
    event = await session.get(StripeEvent, payload["event_id"])
    if event is None or event.handled_at is not None or event.object_id is None:
        return
    payment = (
        await session.exec(select(ShareCardPayment).where(col(ShareCardPayment.intent_id) == event.object_id))
    ).one_or_none()
    if payment is None or payment.id is None:
        return
    target = share_outcome(ShareCardStatus(payment.status), event_type=event.type)
    if target is not None:
        await settle(session, payment.id, target, now=utc_now())


async def due_polls(session: AsyncSession, now: datetime) -> list[int]:
    """Pending share payments whose intent was asked for a while ago: read them back from Stripe."""
    rows = await session.exec(
        select(ShareCardPayment.id)
        .where(
            col(ShareCardPayment.status) == ShareCardStatus.PENDING.value,
            col(ShareCardPayment.intent_id).is_not(None),
            col(ShareCardPayment.updated_at) <= now - POLL_AFTER,
        )
        .order_by(col(ShareCardPayment.id))
    )
    return [int(i) for i in rows.all() if i is not None]


async def poll(session: AsyncSession, gateway: PaymentGateway, payment_id: int, *, now: datetime) -> bool:
    """Read a pending payment's intent back from Stripe and move it as its event would; True when it moved."""
    payment = await session.get(ShareCardPayment, payment_id, populate_existing=True)
    if payment is None or payment.intent_id is None:
        return False
    status = await gateway.intent_status(payment.intent_id)
    target = share_outcome(ShareCardStatus(payment.status), intent_status=status)
    return target is not None and await settle(session, payment_id, target, now=now)
