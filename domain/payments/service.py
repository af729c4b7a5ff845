"""Creating payout instructions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.payments.tables import Payout

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def create_payout(
    session: AsyncSession, *, member_id: int, kind: str, amount_cents: int, business_key: str
) -> Payout:
    """A pending payout for staff to approve and pay; one per business key."""
    await session.execute(
        insert(Payout)
        .values(member_id=member_id, kind=kind, amount_cents=amount_cents, status="pending", business_key=business_key)
        .on_conflict_do_nothing(index_elements=["business_key"])
    )
    payout: Payout = (await session.exec(select(Payout).where(col(Payout.business_key) == business_key))).one()
    return payout


async def payouts_of(session: AsyncSession, member_id: int) -> list[Payout]:
    """A member's payouts, oldest first."""
    result = await session.exec(select(Payout).where(col(Payout.member_id) == member_id).order_by(col(Payout.id)))
    return list(result.all())
