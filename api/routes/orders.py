"""Members' orders in group buys: read, changed and withdrawn while the buy is open (API.md "Group buys and orders")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import msgspec
from litestar import Controller, delete, get, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Principal, check_member_access, members_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Id, Moment
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, problems
from api.route_helpers import query_id
from domain.buying import orders
from domain.buying.rules import LineRequest, OrderStatus
from domain.catalog.rules import rate_text
from domain.errors import ForbiddenError
from domain.identity.rules import MemberRole, Role
from domain.payments.rules import CardStatus, shows_client_secret

if TYPE_CHECKING:
    from domain.payments.views import CardPaymentView


Units = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
UtcTime = Moment

ORDERING_ROLES = frozenset({MemberRole.ADMIN, MemberRole.BUYER})


def ordering_member(caller: Principal) -> int:
    """The member a user orders for: admins and buyers may order, finance users may only look (403)."""
    if caller.member_id is None or caller.member_role not in ORDERING_ROLES:
        raise ForbiddenError("only a member's admins and buyers may place or change orders")
    return caller.member_id


def own_member(caller: Principal) -> int | None:
    """A member's users are limited to their own member; staff are not."""
    return caller.member_id if caller.role is Role.MEMBER else None


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    """A product with firm `quantity` and `flex_quantity` (extra units accepted if they complete a case)."""

    product_id: Id
    quantity: Units
    flex_quantity: Units = 0


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """The order's lines; on PUT they replace all lines (products left out go to zero)."""

    lines: Annotated[list[LineIn], msgspec.Meta(min_length=1, max_length=500)]


class OrderLineOut(msgspec.Struct):
    """An order line; allocated and delivered units and money are null until known.

    `unit_price_cents` is the supplier's tier price fixed at close; `member_unit_price_cents`
    is what one unit costs the member (that price with `markup_rate`, HALF_UP; before close
    the first, dearest tier's). The line total is rounded once over all its units.
    """

    product_id: str
    quantity: int
    flex_quantity: int
    allocated_quantity: int | None
    delivered_quantity: int | None
    unit_price_cents: int | None
    total_cents: int | None
    markup_rate: str
    member_unit_price_cents: int


class OrderPaymentOut(msgspec.Struct):
    """An order's card payment (its newest hold); null in a trade-account buy.

    `client_secret` is set while the hold waits for the member's 3-D Secure: the browser
    finishes it with Stripe.js (`handleNextAction`). `capture_before` is when the card's
    authorization lapses (null until authorized). `action_deadline` is set while an
    off-session renewal or charge waits for the member (`action_required`): past it the
    order drops out.
    """

    status: CardStatus
    amount_cents: int
    captured_cents: int
    refunded_cents: int
    client_secret: str | None
    capture_before: datetime | None
    action_deadline: datetime | None


class OrderOut(msgspec.Struct):
    """A member's order; `max_total_cents` is the most it can cost (quantity + flex at the first tier)."""

    id: str
    group_buy_id: str
    member_id: str
    status: OrderStatus
    lines: list[OrderLineOut]
    max_total_cents: int
    total_cents: int | None
    created_at: datetime
    updated_at: datetime
    payment: OrderPaymentOut | None = None


def order_out(view: orders.OrderView) -> OrderOut:
    """The public view of an order."""
    o = view.order
    return OrderOut(
        id=str(o.id),
        group_buy_id=str(o.group_buy_id),
        member_id=str(o.member_id),
        status=OrderStatus(o.status),
        lines=[
            OrderLineOut(
                str(ln.product_id),
                ln.quantity,
                ln.flex_quantity,
                ln.allocated_quantity,
                ln.delivered_quantity,
                ln.unit_price_cents,
                ln.total_cents,
                rate_text(ln.markup_rate),
                ln.member_unit_price_cents,
            )
            for ln in view.lines
        ],
        max_total_cents=view.max_total_cents,
        total_cents=view.total_cents,
        created_at=o.created_at,
        updated_at=o.updated_at,
        payment=_payment_out(view.payment),
    )


def _payment_out(payment: CardPaymentView | None) -> OrderPaymentOut | None:
    if payment is None:
        return None
    status = CardStatus(payment.status)
    return OrderPaymentOut(
        status=status,
        amount_cents=payment.amount_cents,
        captured_cents=payment.captured_cents,
        refunded_cents=payment.refunded_cents,
        client_secret=payment.client_secret if shows_client_secret(status) else None,
        capture_before=payment.capture_before,
        action_deadline=payment.action_deadline if status is CardStatus.ACTION_REQUIRED else None,
    )


def line_requests(data: OrderIn) -> list[LineRequest]:
    """The order body's lines as the domain takes them."""
    return [LineRequest(int(ln.product_id), ln.quantity, ln.flex_quantity) for ln in data.lines]


def order_page(views: list[orders.OrderView], limit: int) -> Page[OrderOut]:
    """A page of orders, the cursor after the last."""
    ids = [v.order.id for v in views if v.order.id is not None]
    return Page([order_out(v) for v in views], next_cursor(ids, limit))


class OrderController(Controller):
    """Routes under /v1/orders."""

    path = "/v1/orders"
    tags = ["group buys"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", access=staff_or_members, summary="List orders", responses=problems(400, 404, *AUTHENTICATED))
    async def list_orders(
        self,
        db: DbSession,
        caller: Caller,
        *,
        limit: Limit = 50,
        cursor: Cursor = None,
        group_buy_id: Annotated[str | None, Parameter(description="only orders in this group buy")] = None,
        member_id: Annotated[str | None, Parameter(description="only this member's orders")] = None,
        status: Annotated[OrderStatus | None, Parameter(description="only orders in this status")] = None,
    ) -> Page[OrderOut]:
        """A member's users see their member's orders across group buys (another member's id: 404); staff see all."""
        member = query_id(member_id, "member_id")
        if member is not None:
            check_member_access(caller, member)
        views = await orders.order_page(
            db,
            after_id=after_id(cursor),
            limit=limit,
            group_buy_id=query_id(group_buy_id, "group_buy_id"),
            only_member_id=own_member(caller) or member,
            status=status,
        )
        return order_page(views, limit)

    @get("/{order_id:str}", access=staff_or_members, summary="One order", responses=problems(400, 404, 401, 403))
    async def show(self, order_id: FromPath[str], db: DbSession, caller: Caller) -> OrderOut:
        """The member's users and staff; another member's order is a 404."""
        return order_out(await orders.get_order(db, path_id(order_id, "order"), only_member_id=own_member(caller)))

    @put(
        "/{order_id:str}",
        access=members_only,
        summary="Change the order",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def change(
        self, order_id: FromPath[str], data: JSONBody[OrderIn], db: DbSession, caller: Caller, state: State
    ) -> OrderOut:
        """Replace the lines while the buy is open (409 after); a decrease takes the newest units first."""
        view = await orders.change_order(
            db,
            path_id(order_id, "order"),
            lines=line_requests(data),
            now=datetime.now(UTC),
            only_member_id=ordering_member(caller),
            autocommit=state.autocommit_pool,
        )
        return order_out(view)

    @delete(
        "/{order_id:str}",
        status_code=200,
        access=members_only,
        summary="Cancel the order",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def cancel(self, order_id: FromPath[str], db: DbSession, caller: Caller) -> OrderOut:
        """While the buy is open (409 after); the answer is the order with status `cancelled`."""
        view = await orders.cancel_order(
            db, path_id(order_id, "order"), now=datetime.now(UTC), only_member_id=ordering_member(caller)
        )
        return order_out(view)
