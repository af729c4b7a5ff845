"""Members' saved cards: start saving one (a Stripe SetupIntent), list those on file.

Staff, and a member's admin or finance users for their own member; buyers order with
the cards their admins saved but do not manage them (403); other members' users see 404.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from api.auth import check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.paging import Page, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from domain.errors import ForbiddenError
from domain.identity.rules import MemberRole, Role
from domain.membership import cards
from domain.payments import reconciliation
from domain.payments.rules import report_period

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


class CardReconciliationOut(msgspec.Struct):
    """The card clearing account over whole UTC days: what moved, by kind, and what nothing explains.

    `closing_cents` = `opening_cents` + `captured_cents` - `refunded_cents` - `fees_cents` -
    `transferred_cents` - `paid_out_cents` + `difference_cents`; the books reconcile when
    `difference_cents` is 0.
    """

    period_from: date
    period_to: date
    opening_cents: int
    captured_cents: int
    refunded_cents: int
    fees_cents: int
    transferred_cents: int
    paid_out_cents: int
    closing_cents: int
    difference_cents: int


@get(
    "/v1/payments/card-reconciliation",
    guards=[staff_only],
    tags=["payments"],
    summary="Reconcile the card clearing account for a period",
    responses=problems(400, *AUTHENTICATED),
)
async def card_reconciliation(
    db: DbSession,
    period_from: Annotated[date, Parameter(description="the first UTC day of the period")],
    period_to: Annotated[date, Parameter(description="the last UTC day of the period (at most 366 days)")],
) -> CardReconciliationOut:
    """Captured, refunded, fees, transferred to suppliers, paid out to the bank, and the difference (must be 0)."""
    start, end = report_period(period_from, period_to)
    r = await reconciliation.card_clearing_report(db, start=start, end=end)
    return CardReconciliationOut(
        period_from=period_from,
        period_to=period_to,
        opening_cents=r.opening_cents,
        captured_cents=r.captured_cents,
        refunded_cents=r.refunded_cents,
        fees_cents=r.fees_cents,
        transferred_cents=r.transferred_cents,
        paid_out_cents=r.paid_out_cents,
        closing_cents=r.closing_cents,
        difference_cents=r.difference_cents,
    )
