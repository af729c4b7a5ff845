"""Offers among members: published by a full member, claimed up to a cap, redeemed by the offering member."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, ForbiddenError, NotFoundError
from domain.membership.tables import Member
from domain.network.rules import (
    CLAIM_ALREADY_REDEEMED,
    OFFER_ALREADY_CLAIMED,
    OFFER_CAP_REACHED,
    OFFER_UNAVAILABLE,
    OFFERS_BY,
    NewOffer,
    OfferWindow,
    check_offer_standing,
    checked_offer,
    claim_refusal,
)
from domain.network.standing import locked_status, locked_statuses
from domain.network.tables import (
    MemberOffer,
    OfferClaim,
)
from domain.network.views import ClaimView, OfferView

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession


def _offer_view(offer: MemberOffer, member_name: str) -> OfferView:
    assert offer.id is not None  # noqa: S101 - stored
    return OfferView(
        id=offer.id,
        member_id=offer.member_id,
        member_name=member_name,
        title=offer.title,
        description=offer.description,
        discount_rate=offer.discount_rate,
        price_cents=offer.price_cents,
        valid_from=offer.valid_from,
        valid_until=offer.valid_until,
        max_redemptions=offer.max_redemptions,
        terms=offer.terms,
        claimed=offer.claimed,
        redeemed=offer.redeemed,
    )


async def publish_offer(
    session: AsyncSession, member_id: int, offer: NewOffer, *, now: datetime, actor: int
) -> OfferView:
    """A full member's offer to the other members (400 naming the field; 409 unless the member is full now)."""
    checked = checked_offer(offer, now)
    check_offer_standing(member_id, await locked_status(session, member_id), "the offering")
    row = MemberOffer(
        member_id=member_id,
        title=checked.title,
        description=checked.description,
        discount_rate=checked.discount_rate,
        price_cents=checked.price_cents,
        valid_from=checked.valid_from,
        valid_until=checked.valid_until,
        max_redemptions=checked.max_redemptions,
        terms=checked.terms,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    name = (await session.exec(select(Member.name).where(col(Member.id) == member_id))).one()
    return _offer_view(row, name)


async def current_offers(session: AsyncSession, now: datetime, *, after_id: int, limit: int) -> list[OfferView]:
    """Offers running now of members who are full now, by id (expiry needs no job: it is read here)."""
    rows = await session.exec(
        select(MemberOffer, Member.name)
        .join(Member, col(Member.id) == col(MemberOffer.member_id))
        .where(
            col(MemberOffer.valid_from) <= now,
            col(MemberOffer.valid_until) > now,
            col(Member.status).in_(sorted(s.value for s in OFFERS_BY)),
            col(MemberOffer.id) > after_id,
        )
        .order_by(col(MemberOffer.id))
        .limit(limit)
    )
    return [_offer_view(offer, name) for offer, name in rows.all()]


async def _offer(session: AsyncSession, offer_id: int) -> MemberOffer:
    offer = await session.get(MemberOffer, offer_id)
    if offer is None:
        raise NotFoundError(f"offer {offer_id} not found")
    return offer


async def claim_offer(
    session: AsyncSession, offer_id: int, member_id: int, *, code: str, now: datetime, actor: int
) -> ClaimView:
    """A user of another full member claims the offer once; the cap holds under concurrent claims.

    The count is taken by one conditional UPDATE (claimed < cap, within the dates): concurrent
    claims queue on the offer's row and each re-checks the condition on the row the one before
    it committed, so no more than the cap ever succeed. The claim row goes in first: its unique
    (offer, member) refuses a second claim by the same member whatever the count; a refused
    count then undoes the claim row with the rest of the request's work.
    """
    offer = await _offer(session, offer_id)
    if offer.member_id == member_id:
        raise ForbiddenError("a member does not claim its own offer", code="own_offer")
    statuses = await locked_statuses(session, {member_id, offer.member_id})  # both at once, in id order
    claiming = statuses.get(member_id)
    if claiming is None:
        raise NotFoundError(f"member {member_id} not found")
    check_offer_standing(member_id, claiming, "the claiming")
    if statuses.get(offer.member_id) not in OFFERS_BY:
        raise ConflictError(f"offer {offer_id}: its member is not in good standing", code=OFFER_UNAVAILABLE)
    claim_table = OfferClaim.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    claimed_at = (
        await session.execute(
            insert(OfferClaim)
            .values(offer_id=offer_id, member_id=member_id, code=code, claimed_by=actor, claimed_at=now)
            .on_conflict_do_nothing(index_elements=["offer_id", "member_id"])
            .returning(claim_table.claimed_at)
        )
    ).scalar_one_or_none()
    if claimed_at is None:
        raise ConflictError(f"member {member_id} already claimed offer {offer_id}", code=OFFER_ALREADY_CLAIMED)
    table = MemberOffer.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    counted = (
        await session.execute(
            sa.update(MemberOffer)
            .where(
                table.id == offer_id,
                table.valid_from <= now,
                table.valid_until > now,
                sa.or_(table.max_redemptions.is_(None), table.claimed < table.max_redemptions),
            )
            .values(claimed=table.claimed + 1)
            .returning(table.claimed, table.redeemed)
        )
    ).one_or_none()
    if counted is None:
        await session.refresh(offer)
        window = OfferWindow(offer.valid_from, offer.valid_until, offer.max_redemptions, offer.claimed)
        raise claim_refusal(window, now) or ConflictError("the offer cannot be claimed", code=OFFER_CAP_REACHED)
    return ClaimView(offer_id, member_id, code, claimed_at, None, int(counted[0]), int(counted[1]))


async def redeem_claim(
    session: AsyncSession, offer_id: int, code: str, member_id: int, *, now: datetime, actor: int
) -> ClaimView:
    """The offering member's users confirm a claim was used, once (another member's offer is not found)."""
    offer = await _offer(session, offer_id)
    if offer.member_id != member_id:
        raise NotFoundError(f"offer {offer_id} not found")
    check_offer_standing(member_id, await locked_status(session, member_id), "the offering")
    claim_table = OfferClaim.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    redeemed = (
        await session.execute(
            sa.update(OfferClaim)
            .where(claim_table.offer_id == offer_id, claim_table.code == code, claim_table.redeemed_at.is_(None))
            .values(redeemed_at=now, redeemed_by=actor)
            .returning(claim_table.member_id, claim_table.claimed_at)
        )
    ).one_or_none()
    if redeemed is None:
        exists = (
            await session.exec(
                select(OfferClaim.id).where(col(OfferClaim.offer_id) == offer_id, col(OfferClaim.code) == code)
            )
        ).one_or_none()
        if exists is None:
            raise NotFoundError(f"offer {offer_id} has no claim with this code")
        raise ConflictError("the claim was already redeemed", code=CLAIM_ALREADY_REDEEMED)
    table = MemberOffer.__table__.c  # type: ignore[attr-defined]  # SQLModel sets it on table models
    counts = (
        await session.execute(
            sa.update(MemberOffer)
            .where(table.id == offer_id)
            .values(redeemed=table.redeemed + 1)
            .returning(table.claimed, table.redeemed)
        )
    ).one()
    return ClaimView(offer_id, int(redeemed[0]), code, redeemed[1], now, int(counts[0]), int(counts[1]))
