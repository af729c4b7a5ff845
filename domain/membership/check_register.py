"""The payment run's check register: pending payouts with each payee's member number and name.

Payouts know only a member id; the payee's number and name are membership's, so the
register is drawn up here, above payments, and payments never reads the member table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.membership.tables import Member
from domain.payments.export import PayoutInstruction, check_register_csv
from domain.payments.rules import PayoutKind, PayoutStatus
from domain.payments.tables import Payout

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def pending_instructions(session: AsyncSession, *, kind: PayoutKind | None = None) -> list[PayoutInstruction]:
    """Every pending payout as an instruction for the payment run, in member number order."""
    query = (
        sa.select(
            col(Payout.id),
            col(Payout.member_id),
            col(Member.member_number),
            col(Member.name),
            col(Payout.kind),
            col(Payout.amount_cents),
            col(Payout.method),
            col(Payout.created_at),
        )
        .join(Member, col(Member.id) == col(Payout.member_id))
        .where(col(Payout.status) == PayoutStatus.PENDING.value)
        .order_by(col(Member.member_number), col(Payout.id))
    )
    if kind is not None:
        query = query.where(col(Payout.kind) == kind.value)
    rows = (await session.execute(query)).all()
    return [PayoutInstruction(*row) for row in rows]


async def check_register(session: AsyncSession, *, kind: PayoutKind | None = None) -> str:
    """The check register (CSV) of every pending payout, in member number order."""
    return check_register_csv(await pending_instructions(session, kind=kind))
