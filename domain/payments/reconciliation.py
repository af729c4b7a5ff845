"""The card clearing account per period, for staff: captured, refunded, fees, transferred, paid out, difference."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.tables import JournalEntry, Posting
from domain.payments.rules import CardReconciliation, reconcile

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession


async def card_clearing_report(session: AsyncSession, *, start: datetime, end: datetime) -> CardReconciliation:
    """Entries on the card clearing account that occurred in ``[start, end)``, by kind, against its balances."""
    account = await ledger.account_id(session, chart.CARD_CLEARING)
    signed = sa.case((col(Posting.side) == "debit", col(Posting.amount_cents)), else_=-col(Posting.amount_cents))
    base = (
        sa.select(col(JournalEntry.kind), sa.func.coalesce(sa.func.sum(signed), 0))
        .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
        .where(col(Posting.account_id) == account)
    )
    opening = (
        await session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(signed), 0))
            .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
            .where(col(Posting.account_id) == account, col(JournalEntry.occurred_at) < start)
        )
    ).scalar_one()
    rows = (
        await session.execute(
            base.where(col(JournalEntry.occurred_at) >= start, col(JournalEntry.occurred_at) < end).group_by(
                col(JournalEntry.kind)
            )
        )
    ).all()
    return reconcile(opening_cents=int(opening), moved={str(kind): int(cents) for kind, cents in rows})
