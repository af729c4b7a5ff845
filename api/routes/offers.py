"""Offers among members: published by a full member's users, claimed by other members, redeemed with a code."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.params import FromPath, JSONBody

from api.auth import Principal, members_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Cents, Moment, Rate, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import utc
from api.routes.directory import Description
from domain.errors import ForbiddenError, NotFoundError
from domain.identity.rules import MemberRole
from domain.network import offers
from domain.network.rules import (
    NewOffer,
)
from domain.network.views import ClaimView, OfferView

_CODE = re.compile(r"[A-Z2-7]{16}")


def acting_member(caller: Principal, *, admin: bool = False) -> int:
    """The member a member user acts for; 403 when an admin is needed and the user is not one."""
    if caller.member_id is None:
        raise ForbiddenError("only a member's users may do this")
    if admin and caller.member_role is not MemberRole.ADMIN:
        raise ForbiddenError("only the member's admins may do this")
    return caller.member_id


def new_claim_code() -> str:
    """A claim code: 80 random bits in base32 (16 letters and digits, easy to read out at a counter)."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")


class OfferIn(msgspec.Struct, forbid_unknown_fields=True):
    """A discount rate (a share of the price, e.g. "0.15") or a price in cents, not both; valid_until is excluded."""

    title: Text
    valid_from: Moment
    valid_until: Moment
    description: Description = ""
    discount_rate: Rate | None = None
    price_cents: Cents | None = None
    max_redemptions: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    terms: Description | None = None


class OfferOut(msgspec.Struct):
    """An offer with its counts: `claimed` never passes `max_redemptions`."""

    id: str
    member_id: str
    member_name: str
    title: str
    description: str
    discount_rate: Decimal | None
    price_cents: int | None
    valid_from: datetime
    valid_until: datetime
    max_redemptions: int | None
    terms: str | None
    claimed: int
    redeemed: int


class OfferClaimOut(msgspec.Struct):
    """A claim: the code to show the offering member; `redeemed_at` once it confirmed the redemption."""

    offer_id: str
    member_id: str
    code: str
    claimed_at: datetime
    redeemed_at: datetime | None
    offer_claimed: int
    offer_redeemed: int


def _offer_out(view: OfferView) -> OfferOut:
    return OfferOut(
        id=str(view.id),
        member_id=str(view.member_id),
        member_name=view.member_name,
        title=view.title,
        description=view.description,
        discount_rate=view.discount_rate,
        price_cents=view.price_cents,
        valid_from=view.valid_from,
        valid_until=view.valid_until,
        max_redemptions=view.max_redemptions,
        terms=view.terms,
        claimed=view.claimed,
        redeemed=view.redeemed,
    )


def _claim_out(view: ClaimView) -> OfferClaimOut:
    return OfferClaimOut(
        offer_id=str(view.offer_id),
        member_id=str(view.member_id),
        code=view.code,
        claimed_at=view.claimed_at,
        redeemed_at=view.redeemed_at,
        offer_claimed=view.offer_claimed,
        offer_redeemed=view.offer_redeemed,
    )


@post(
    "/v1/offers",
    access=members_only,
    tags=["network"],
    summary="Publish an offer to the other members",
    description="A full member's admin. 400 naming the field; 409 `member_not_full` unless the member is full now.",
    responses=problems(*POSTED),
)
async def publish_offer(data: JSONBody[OfferIn], db: DbSession, caller: Caller) -> OfferOut:
    """Create the offer."""
    member_id = acting_member(caller, admin=True)
    offer = NewOffer(
        title=data.title,
        description=data.description,
        discount_rate=data.discount_rate,
        price_cents=data.price_cents,
        valid_from=utc(data.valid_from),
        valid_until=utc(data.valid_until),
        max_redemptions=data.max_redemptions,
        terms=data.terms,
    )
    view = await offers.publish_offer(db, member_id, offer, now=datetime.now(UTC), actor=caller.user_id)
    return _offer_out(view)


@get(
    "/v1/offers",
    access=staff_or_members,
    tags=["network"],
    summary="Current offers among members",
    description="Offers running now (valid_from <= now < valid_until) of members who are full now, by id.",
    responses=problems(400, *AUTHENTICATED),
)
async def list_offers(db: DbSession, limit: Limit = 50, cursor: Cursor = None) -> Page[OfferOut]:
    """Expired offers drop out by their dates; no job is needed."""
    found = await offers.current_offers(db, datetime.now(UTC), after_id=after_id(cursor), limit=limit)
    return Page([_offer_out(v) for v in found], next_cursor([v.id for v in found], limit))


@post(
    "/v1/offers/{offer_id:str}/claims",
    access=members_only,
    tags=["network"],
    summary="Claim an offer",
    description=(
        "A user of another full member, once per member. 201 with the code; 409 with a code: `offer_cap_reached`,"
        " `offer_expired`, `offer_not_yet_valid`, `offer_already_claimed`, `member_not_full`, `offer_unavailable`."
    ),
    responses=problems(404, *POSTED),
)
async def claim_offer(offer_id: FromPath[str], db: DbSession, caller: Caller) -> OfferClaimOut:
    """Take one of the offer's redemptions."""
    view = await offers.claim_offer(
        db,
        path_id(offer_id, "offer"),
        acting_member(caller),
        code=new_claim_code(),
        now=datetime.now(UTC),
        actor=caller.user_id,
    )
    return _claim_out(view)


@post(
    "/v1/offers/{offer_id:str}/claims/{code:str}/redeem",
    status_code=200,
    access=members_only,
    tags=["network"],
    summary="Confirm a claim was redeemed",
    description="The offering member's users; once per claim (409 `claim_already_redeemed`).",
    responses=problems(404, *POSTED),
)
async def redeem_claim(offer_id: FromPath[str], code: FromPath[str], db: DbSession, caller: Caller) -> OfferClaimOut:
    """Mark the claim redeemed and count it."""
    oid = path_id(offer_id, "offer")
    if not _CODE.fullmatch(code):
        raise NotFoundError(f"offer {oid} has no claim with this code")
    view = await offers.redeem_claim(db, oid, code, acting_member(caller), now=datetime.now(UTC), actor=caller.user_id)
    return _claim_out(view)


# Events, workshops, webinars.
