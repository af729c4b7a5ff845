"""Members' saved cards: start saving one (a Stripe SetupIntent), list those on file.

Staff, and a member's admin or finance users for their own member; buyers order with
the cards their admins saved but do not manage them (403); other members' users see 404.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import PositiveCents
from api.paging import Page, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from domain.errors import ForbiddenError
from domain.identity.rules import MemberRole, Role
from domain.membership import cards, share_cards
from domain.payments import reconciliation
from domain.payments.rules import report_period
from domain.payments.views import ShareCardPaymentView

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
    access=staff_or_members,
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
    access=staff_or_members,
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
    access=staff_only,
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


class ShareCardPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """The share (or an instalment of it) to pay with the member's saved card; never more than is still due."""

    amount_cents: PositiveCents


class ShareCardPaymentOut(msgspec.Struct):
    """A share payment by card: `pending` until Stripe says it succeeded (`succeeded`: the share is credited).

    `failed`: nothing was taken. `unapplied`: taken when the share was already paid; staff refund it.
    `client_secret` is set while the card asks the member to confirm (3-D Secure with Stripe.js).
    """

    id: str
    member_id: str
    amount_cents: int
    status: str
    client_secret: str | None
    failure: str
    created_at: datetime


def _share_out(payment: ShareCardPaymentView) -> ShareCardPaymentOut:
    return ShareCardPaymentOut(
        id=str(payment.id),
        member_id=str(payment.member_id),
        amount_cents=payment.amount_cents,
        status=payment.status,
        client_secret=payment.client_secret,
        failure=payment.failure,
        created_at=payment.created_at,
    )


@post(
    "/v1/members/{member_id:str}/share-card-payments",
    access=staff_or_members,
    tags=["payments"],
    summary="Pay the membership share by saved card",
    responses=problems(404, *POSTED),
)
async def pay_share_by_card(
    member_id: FromPath[str], data: JSONBody[ShareCardPaymentIn], db: DbSession, caller: Caller
) -> ShareCardPaymentOut:
    """The member's admin pays the share or an instalment; credited when Stripe says the payment succeeded."""
    mid = path_id(member_id, "member")
    check_member_access(caller, mid)
    if caller.role is not Role.MEMBER or caller.member_role is not MemberRole.ADMIN:
        raise ForbiddenError("only the member's admin pays its share by card")
    payment = await share_cards.start(
        db, mid, amount_cents=data.amount_cents, actor=caller.user_id, now=datetime.now(UTC)
    )
    return _share_out(payment)


@get(
    "/v1/members/{member_id:str}/share-card-payments/{payment_id:str}",
    access=staff_or_members,
    tags=["payments"],
    summary="A share payment by card",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def share_card_payment(
    member_id: FromPath[str], payment_id: FromPath[str], db: DbSession, caller: Caller
) -> ShareCardPaymentOut:
    """Where it stands (poll until it is no longer `pending`)."""
    payment = await share_cards.get(db, _card_member(caller, member_id), path_id(payment_id, "share payment"))
    return _share_out(payment)
