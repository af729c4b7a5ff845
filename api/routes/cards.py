"""Members' saved cards: start saving one (a Stripe SetupIntent), list those on file.

Staff, and a member's admin or finance users for their own member; buyers order with
the cards their admins saved but do not manage them (403); other members' users see 404.
"""

from __future__ import annotations

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath

from api.auth import check_member_access, staff_or_members
from api.deps import Caller, DbSession
from api.paging import Page, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from domain.errors import ForbiddenError
from domain.identity.rules import MemberRole, Role
from domain.membership import cards

CARD_ROLES = frozenset({MemberRole.ADMIN, MemberRole.FINANCE})


class CardSetupOut(msgspec.Struct):
    """A started card set-up: the client confirms it with Stripe.js using `client_secret`."""

    setup_intent_id: str
    client_secret: str
    status: str


class SavedCardOut(msgspec.Struct):
    """A saved card, as far as it may be shown."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


def _card_member(caller: Caller, member_id: str) -> int:
    mid = path_id(member_id, "member")
    check_member_access(caller, mid)
    if caller.role is Role.MEMBER and caller.member_role not in CARD_ROLES:
        raise ForbiddenError("only the member's admin or finance users manage its cards")
    return mid


@post(
    "/v1/members/{member_id:str}/card-setups",
    guards=[staff_or_members],
    tags=["payments"],
    summary="Start saving a card",
    responses=problems(404, 502, *POSTED),
)
async def start_card_setup(member_id: FromPath[str], db: DbSession, caller: Caller, state: State) -> CardSetupOut:
    """The member's Stripe customer (made once) and a SetupIntent for off-session use (409 without Stripe)."""
    setup = await cards.start_card_setup(db, state.payment_gateway, _card_member(caller, member_id))
    return CardSetupOut(setup.id, setup.client_secret, setup.status)


@get(
    "/v1/members/{member_id:str}/cards",
    guards=[staff_or_members],
    tags=["payments"],
    summary="The member's saved cards",
    responses=problems(400, 404, 502, *AUTHENTICATED),
)
async def list_cards(member_id: FromPath[str], db: DbSession, caller: Caller, state: State) -> Page[SavedCardOut]:
    """Every saved card in one page (`next_cursor` null)."""
    saved = await cards.saved_cards(db, state.payment_gateway, _card_member(caller, member_id))
    return Page([SavedCardOut(c.id, c.brand, c.last4, c.exp_month, c.exp_year) for c in saved], None)
