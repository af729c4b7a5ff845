"""The Stripe customer stored for a member (one per member, made when it first saves a card)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.payments.tables import StripeCustomer

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def stored_customer(session: AsyncSession, member_id: int) -> str | None:
    """The member's Stripe customer, if it has one."""
    query = select(StripeCustomer.customer_id).where(col(StripeCustomer.member_id) == member_id)
    return (await session.exec(query)).one_or_none()
