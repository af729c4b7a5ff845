"""Members' saved cards: one Stripe customer per member, card set-ups, the cards on file.

The Stripe call is made between the database reads and the write that records it; a
crash in between leaves nothing recorded, and the retry sends the same idempotency key,
so Stripe answers the first call's customer or set-up instead of making a second one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from domain.errors import ConflictError, NotFoundError
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.payments.customers import stored_customer
from domain.payments.gateway import CardSetup, Customer, PaymentGateway, SavedCard
from domain.payments.rules import customer_key, setup_key
from domain.payments.tables import StripeCustomer

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

# Members who have left (or are leaving, or barred) save no new cards: they may not order.
SAVES_CARDS = frozenset({Status.APPLICANT, Status.PROBATIONARY, Status.FULL})


async def _member(session: AsyncSession, member_id: int) -> Member:
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFoundError(f"member {member_id} not found")
    return member


async def customer_for(session: AsyncSession, gateway: PaymentGateway, member: Member) -> str:
    """The member's one Stripe customer, created on first use under the key ``customer:<member>``.

    Two first uses at once both ask Stripe with the same key and get the same customer;
    ON CONFLICT keeps the one row.
    """
    assert member.id is not None  # noqa: S101 - loaded
    if (known := await stored_customer(session, member.id)) is not None:
        return known
    created = await gateway.create_customer(
        Customer(member.id, member.name, member.email), idempotency_key=customer_key(member.id)
    )
    await session.execute(
        insert(StripeCustomer)
        .values(member_id=member.id, customer_id=created, setups=0)
        .on_conflict_do_nothing(index_elements=["member_id"])
    )
    stored = await stored_customer(session, member.id)
    assert stored is not None  # noqa: S101 - inserted or already there
    return stored


async def start_card_setup(session: AsyncSession, gateway: PaymentGateway, member_id: int) -> CardSetup:
    """Start saving a card for the member: its customer (made once), then a SetupIntent.

    Each set-up takes the next number under the customer row's lock, so its key
    (``setup:<member>:<n>``) is new for a new request and the same for a retried one
    (the number is committed only with the answer). The lock is the member's own row,
    held for the one Stripe call.
    """
    member = await _member(session, member_id)
    if Status(member.status) not in SAVES_CARDS:
        msg = f"member {member_id} is {member.status}; only members who may order save cards"
        raise ConflictError(msg, code="member_not_in_good_standing")
    customer_id = await customer_for(session, gateway, member)
    number = (
        await session.execute(
            sa.update(StripeCustomer)
            .where(col(StripeCustomer.member_id) == member_id)
            .values(setups=col(StripeCustomer.setups) + 1)
            .returning(col(StripeCustomer.setups))
        )
    ).scalar_one()
    return await gateway.start_card_setup(customer_id, idempotency_key=setup_key(member_id, number))


async def saved_cards(session: AsyncSession, gateway: PaymentGateway, member_id: int) -> list[SavedCard]:
    """The member's saved cards (none before its first set-up: nothing is asked of Stripe)."""
    await _member(session, member_id)
    customer_id = await stored_customer(session, member_id)
    if customer_id is None:
        return []
    return await gateway.saved_cards(customer_id)
