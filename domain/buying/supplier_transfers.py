"""Paying suppliers by Stripe Connect after a card-mode buy settles (separate charges and transfers).

Settlement enqueues one job per buy through the outbox, so nothing is asked of Stripe
before settlement commits. The job takes the same exclusive lock on the buy that a staff
payment by hand takes (``purchase_orders.pay_supplier``) and keeps it while Stripe
answers, so of a hand payment and a transfer only the first counts: a transfer records a
``stripe_transfer`` supplier payment for the whole payable (a later hand payment finds
nothing outstanding, 409), and a hand payment already made blocks the transfer (staff are
told). The transfer, its ledger entry and its payment row share one key
(``transfer:<buy>:<supplier>``): a retried job gets Stripe's first transfer back and
books nothing twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from domain.buying.purchase_orders import TRANSFER_METHOD, purchase_order_views
from domain.buying.rules import GroupBuyStatus, PaymentMode
from domain.buying.service import STAFF, locked_group_buy
from domain.buying.tables import GroupBuy, SupplierPayment, SupplierTransferReversal
from domain.jobs import service as jobs
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.notifications import service as notifications
from domain.payments import supplier_accounts
from domain.payments.gateway import TransferRequest
from domain.payments.rules import (
    TransferRefusal,
    transfer_group,
    transfer_key,
    transfer_plan,
    transfer_reversal_cents,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.payments.gateway import PaymentGateway

log = logging.getLogger(__name__)

TRANSFER_JOB = "supplier_transfer"
TRANSFER_ENTRY = "card_transfer"  # the kind the card clearing report counts as transferred


async def request_transfer(session: AsyncSession, group_buy: GroupBuy) -> None:
    """After a card-mode buy settles: a job pays the supplier by Connect (or finds it must not)."""
    key = transfer_key(group_buy.id or 0, group_buy.supplier_id)
    await jobs.add(session, TRANSFER_JOB, f"supplier:{key}", {"group_buy_id": group_buy.id})


async def run_transfer(
    session: AsyncSession,
    gateway: PaymentGateway,
    payload: Mapping[str, Any],
    *,
    currency: str,
    connect: bool,
    now: datetime,
) -> str | None:
    """The job: one transfer of the payable to the supplier's connected account, booked once; its id, or None.

    Without Connect, or for a supplier without a connected account, nothing happens: staff
    mark the payable paid by hand, as before.
    """
    if not connect:
        return None
    group_buy = await locked_group_buy(session, int(payload["group_buy_id"]))
    gb_id = group_buy.id or 0
    if group_buy.payment_mode != PaymentMode.CARD or GroupBuyStatus(group_buy.status) is not GroupBuyStatus.SETTLED:
        return None
    account = await supplier_accounts.connected_account(session, group_buy.supplier_id)
    if account is None:
        return None
    view = (await purchase_order_views(session, [group_buy]))[0]
    by_hand = view.paid.by_hand_cents
    plan = transfer_plan(
        payable_cents=view.payable_cents, paid_by_hand_cents=by_hand, transferred_cents=view.paid.transferred_cents
    )
    if plan.refusal is TransferRefusal.PAID_BY_HAND:
        await notifications.record(
            session,
            event="supplier.transfer_blocked",
            audience=STAFF,
            data={"group_buy_id": str(gb_id), "supplier_id": str(group_buy.supplier_id), "paid_by_hand_cents": by_hand},
            business_key=f"supplier:{transfer_key(gb_id, group_buy.supplier_id)}:blocked",
        )
    if plan.refusal is not None:
        log.info("no supplier transfer", extra={"group_buy_id": gb_id, "reason": plan.refusal.value})
        return None
    key = transfer_key(gb_id, group_buy.supplier_id)
    transfer_id = await gateway.transfer(
        TransferRequest(
            amount_cents=plan.amount_cents,
            currency=currency,
            destination=account,
            transfer_group=transfer_group(gb_id),
            idempotency_key=key,
            metadata={"group_buy_id": str(gb_id), "purchase_order": view.number},
        )
    )
    entry = await ledger.transfer(
        session,
        debit=chart.supplier_payable(group_buy.supplier_id),
        credit=chart.CARD_CLEARING,
        amount_cents=plan.amount_cents,
        kind=TRANSFER_ENTRY,
        idempotency_key=f"card_{key}",
        occurred_at=now,
        memo=f"Stripe transfer {transfer_id} for {view.number}"[:500],
    )
    session.add(
        SupplierPayment(
            group_buy_id=gb_id,
            supplier_id=group_buy.supplier_id,
            amount_cents=plan.amount_cents,
            method=TRANSFER_METHOD,
            entry_id=entry.id or 0,
            paid_by=None,
            paid_at=now,
            reference=transfer_id,
        )
    )
    await session.flush()
    return transfer_id


REVERSAL_JOB = "supplier_transfer_reversal"


def reversal_key(group_buy_id: int, correction_id: int) -> str:
    """The one reversal a correction of a buy may take back, at Stripe and in the ledger."""
    return f"transfer_reversal:{group_buy_id}:{correction_id}"


async def request_reversal(session: AsyncSession, group_buy: GroupBuy, correction_id: int) -> None:
    """After a card-mode buy is corrected down: a job takes back what its transfer now overpays, if any."""
    key = reversal_key(group_buy.id or 0, correction_id)
    await jobs.add(
        session, REVERSAL_JOB, f"supplier:{key}", {"group_buy_id": group_buy.id, "correction_id": correction_id}
    )


async def run_reversal(
    session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, Any], *, connect: bool, now: datetime
) -> str | None:
    """The job: reverse the part of the buy's transfer beyond what the supplier is now owed, booked once; its id.

    Under the buy's exclusive lock, like the transfer and a hand payment, so the figures it
    reads cannot move meanwhile. Without a transfer there is nothing to take back: the
    payable simply shows less owed (or, paid by hand, what the supplier owes back).
    """
    if not connect:
        return None
    group_buy = await locked_group_buy(session, int(payload["group_buy_id"]))
    gb_id, correction_id = group_buy.id or 0, int(payload["correction_id"])
    transfer = (
        await session.exec(
            select(SupplierPayment).where(
                col(SupplierPayment.group_buy_id) == gb_id, col(SupplierPayment.method) == TRANSFER_METHOD
            )
        )
    ).one_or_none()
    if transfer is None or transfer.reference is None:
        return None
    view = (await purchase_order_views(session, [group_buy]))[0]
    amount = transfer_reversal_cents(
        payable_cents=view.payable_cents,
        paid_by_hand_cents=view.paid.by_hand_cents,
        transferred_cents=view.paid.transferred_cents,
        reversed_cents=view.paid.reversed_cents,
    )
    if amount <= 0:
        return None
    key = reversal_key(gb_id, correction_id)
    reversal_id = await gateway.reverse_transfer(transfer.reference, amount, idempotency_key=key)
    entry = await ledger.transfer(
        session,
        debit=chart.CARD_CLEARING,
        credit=chart.supplier_payable(group_buy.supplier_id),
        amount_cents=amount,
        kind=TRANSFER_ENTRY,  # a transfer taken back lowers what the report counts as transferred
        idempotency_key=f"card_{key}",
        occurred_at=now,
        memo=f"Stripe transfer reversal {reversal_id} for {view.number}"[:500],
    )
    session.add(
        SupplierTransferReversal(
            group_buy_id=gb_id,
            correction_id=correction_id,
            transfer_id=transfer.reference,
            reversal_id=reversal_id,
            amount_cents=amount,
            entry_id=entry.id or 0,
            reversed_at=now,
        )
    )
    await session.flush()
    return reversal_id
