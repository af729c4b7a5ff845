"""Payouts of the Stripe balance to the co-op's bank, booked from their events: card clearing to bank.

The reconciliation's "paid out" figure is what these entries moved. The event only says
which payout; the amount, status and arrival day are read back from Stripe, so a forged
amount cannot be booked (the signature already keeps forged events out) and a late or
replayed event books only what Stripe says now. Each payout is booked once by its key, and
returned at most once if the bank sends it back after it was booked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.rules import PAYOUT_FAILED, PAYOUT_PAID, BankPayoutBooking, bank_payout_booking
from domain.payments.tables import StripeEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.payments.gateway import PaymentGateway

ENTRY_KIND = "card_payout"  # the kind the card clearing report counts as paid out


def paid_key(payout_id: str) -> str:
    """The one entry of a payout reaching the bank."""
    return f"card_payout:{payout_id}"


async def apply_event(session: AsyncSession, gateway: PaymentGateway, payload: Mapping[str, str]) -> None:
    """The webhook job's payout part: book a payout paid, or return one the bank sent back."""
    event = await session.get(StripeEvent, payload["event_id"])
    if event is None or event.handled_at is not None or event.object_id is None:
        return
    if event.type not in {PAYOUT_PAID, PAYOUT_FAILED}:
        return
    payout = await gateway.bank_payout(event.object_id)
    booking = bank_payout_booking(event.type, payout.status)
    if booking is BankPayoutBooking.PAID:
        await ledger.transfer(
            session,
            debit=chart.BANK,
            credit=chart.CARD_CLEARING,
            amount_cents=payout.amount_cents,
            kind=ENTRY_KIND,
            idempotency_key=paid_key(payout.id),
            occurred_at=payout.arrival,
            memo=f"Stripe payout {payout.id} to the bank",
        )
    elif (
        booking is BankPayoutBooking.RETURNED and (await ledger.entry_by_key(session, paid_key(payout.id))) is not None
    ):
        # Only a payout booked as paid comes back: one never booked left nothing to return.
        await ledger.transfer(
            session,
            debit=chart.CARD_CLEARING,
            credit=chart.BANK,
            amount_cents=payout.amount_cents,
            kind=ENTRY_KIND,
            idempotency_key=f"card_payout_returned:{payout.id}",
            occurred_at=event.received_at,
            memo=f"Stripe payout {payout.id} returned by the bank",
        )
