"""Group buys, orders, close, purchase orders and deliveries (API.md "Group buys and orders").

Close runs synchronously: it answers 200 with the group buy in its new state (`ordered`,
`cancelled`, `open` again when extended, `on_hold` when held for staff). A delivery answers
202 with the buy `delivered`; a worker job settles it (`settled`). Both are safe to repeat:
closing a closed buy returns it unchanged, and a second delivery is a 409 that charges nobody
again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import Principal, check_member_access, members_only, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import Cents, Id, Moment, PositiveCents, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import anyone_signed_in, own_supplier, query_id, staff_or_suppliers, utc
from domain.buying import closing, orders, purchase_orders, service, settlement
from domain.buying.rules import AllocationPolicy, GroupBuyStatus, LineRequest, MinimumOutcome, OrderStatus, PaymentMode
from domain.catalog.rules import rate_text
from domain.errors import ForbiddenError, NotFoundError
from domain.identity.rules import MemberRole, Role
from domain.ledger.chart import PaymentMethod
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


# --- schemas ----------------------------------------------------------------------------


class NewGroupBuyIn(msgspec.Struct, forbid_unknown_fields=True):
    """A group buy: one supplier, its products, a deadline and the rules at close."""

    supplier_id: Id
    title: Text
    closes_at: UtcTime
    product_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=500)]
    opens_at: UtcTime | None = None
    min_value_cents: Cents | None = None
    on_minimum_missed: MinimumOutcome = MinimumOutcome.CANCEL
    extend_hours: Annotated[int, msgspec.Meta(ge=1, le=8760)] = 24
    allocation_policy: AllocationPolicy = AllocationPolicy.PRO_RATA
    payment_mode: PaymentMode = PaymentMode.ACCOUNT


class NextTierOut(msgspec.Struct):
    """The next cheaper tier and the firm units the group still needs to reach it."""

    min_quantity: int
    unit_price_cents: int
    units_needed: int


class ItemOut(msgspec.Struct):
    """A product of the buy: while open what closing now would give, after close the final figures."""

    product_id: str
    sku: str
    name: str
    unit: str
    case_size: int
    quantity: int
    flex_quantity: int
    cases: int
    missing_units: int
    unit_price_cents: int
    next_tier: NextTierOut | None
    delivered_quantity: int | None


class GroupBuyOut(msgspec.Struct):
    """A group buy with live progress (or final figures once closed)."""

    id: str
    title: str
    supplier_id: str
    status: GroupBuyStatus
    opens_at: datetime
    closes_at: datetime
    min_value_cents: int | None
    allocation_policy: AllocationPolicy
    payment_mode: PaymentMode
    items: list[ItemOut]
    on_minimum_missed: MinimumOutcome
    extend_hours: int
    extended: bool
    held: bool
    minimum_met: bool | None
    supplier_value_cents: int
    status_reason: str
    closed_at: datetime | None
    delivered_at: datetime | None
    settled_at: datetime | None
    cancelled_at: datetime | None


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


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    """Why staff call the buy off (members are told)."""

    reason: Text


class PurchaseOrderLineOut(msgspec.Struct):
    """Whole cases of one product at the tier price fixed at close."""

    product_id: str
    sku: str
    name: str
    case_size: int
    cases: int
    quantity: int
    unit_price_cents: int
    total_cents: int


class PurchaseOrderOut(msgspec.Struct):
    """The supplier's purchase order: totals per product, never a member's identity."""

    group_buy_id: str
    supplier_id: str
    status: GroupBuyStatus
    lines: list[PurchaseOrderLineOut]
    total_cents: int


class SupplierPurchaseOrderLineOut(msgspec.Struct):
    """A product ordered from the supplier: units ordered and delivered (null before delivery), money owed."""

    product_id: str
    sku: str
    name: str
    case_size: int
    cases: int
    ordered_quantity: int
    delivered_quantity: int | None
    unit_price_cents: int
    total_cents: int
    payable_cents: int


class SupplierPurchaseOrderOut(msgspec.Struct):
    """A purchase order: its number and date, per line ordered and delivered units, and the supplier payable.

    `payable_cents` is what the co-op owes for the delivered units (0 before delivery),
    `paid_cents` what staff paid so far, `outstanding_cents` the rest.
    """

    id: str
    number: str
    group_buy_id: str
    supplier_id: str
    status: GroupBuyStatus
    issued_at: datetime | None
    delivered_at: datetime | None
    lines: list[SupplierPurchaseOrderLineOut]
    total_cents: int
    payable_cents: int
    paid_cents: int
    outstanding_cents: int


class SupplierPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A payment to the supplier: at most what is outstanding (409 above), by cash, check or bank transfer."""

    amount_cents: PositiveCents
    method: PaymentMethod


class DeliveryLineIn(msgspec.Struct, forbid_unknown_fields=True):
    """Units of a product that arrived (at most the units ordered)."""

    product_id: Id
    delivered_quantity: Annotated[int, msgspec.Meta(ge=0, le=10**9)]


class DeliveryIn(msgspec.Struct, forbid_unknown_fields=True):
    """Every ordered product with the units delivered (0 if none came)."""

    lines: Annotated[list[DeliveryLineIn], msgspec.Meta(min_length=1, max_length=500)]


class CorrectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Products of a settled buy that came short after all, each at its corrected count (only lower), and why."""

    lines: Annotated[list[DeliveryLineIn], msgspec.Meta(min_length=1, max_length=500)]
    reason: Text


class CorrectionRefundOut(msgspec.Struct):
    """What one order is given back (refunded on the card in card mode, else credited to the trade account)."""

    order_id: str
    amount_cents: int


class CorrectionOut(msgspec.Struct):
    """A correction of a settled buy's delivered units."""

    id: str
    group_buy_id: str
    reason: str
    refunds: list[CorrectionRefundOut]
    created_at: datetime


# --- shaping ------------------------------------------------------------------------------


def group_buy_out(view: service.GroupBuyView) -> GroupBuyOut:
    """The public view of a group buy."""
    g = view.group_buy
    return GroupBuyOut(
        id=str(g.id),
        title=g.title,
        supplier_id=str(g.supplier_id),
        status=GroupBuyStatus(g.status),
        opens_at=g.opens_at,
        closes_at=g.closes_at,
        min_value_cents=g.min_value_cents,
        allocation_policy=AllocationPolicy(g.allocation_policy),
        payment_mode=PaymentMode(g.payment_mode),
        items=[
            ItemOut(
                product_id=str(i.product_id),
                sku=i.sku,
                name=i.name,
                unit=i.unit,
                case_size=i.case_size,
                quantity=i.quantity,
                flex_quantity=i.flex_quantity,
                cases=i.cases,
                missing_units=i.missing_units,
                unit_price_cents=i.unit_price_cents,
                next_tier=None
                if i.next_tier is None
                else NextTierOut(i.next_tier.min_quantity, i.next_tier.unit_price_cents, i.next_tier.units_needed),
                delivered_quantity=i.delivered_quantity,
            )
            for i in view.items
        ],
        on_minimum_missed=MinimumOutcome(g.on_minimum_missed),
        extend_hours=g.extend_hours,
        extended=g.extended,
        held=g.held,
        minimum_met=g.minimum_met,
        supplier_value_cents=view.supplier_value_cents,
        status_reason=g.status_reason,
        closed_at=g.closed_at,
        delivered_at=g.delivered_at,
        settled_at=g.settled_at,
        cancelled_at=g.cancelled_at,
    )


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


def supplier_purchase_order_out(po: purchase_orders.PurchaseOrderView) -> SupplierPurchaseOrderOut:
    """The public view of a purchase order."""
    g = po.group_buy
    return SupplierPurchaseOrderOut(
        id=str(g.id),
        number=po.number,
        group_buy_id=str(g.id),
        supplier_id=str(g.supplier_id),
        status=GroupBuyStatus(g.status),
        issued_at=g.closed_at,
        delivered_at=g.delivered_at,
        lines=[
            SupplierPurchaseOrderLineOut(
                product_id=str(ln.product_id),
                sku=ln.sku,
                name=ln.name,
                case_size=ln.case_size,
                cases=ln.cases,
                ordered_quantity=ln.ordered_quantity,
                delivered_quantity=ln.delivered_quantity,
                unit_price_cents=ln.unit_price_cents,
                total_cents=ln.total_cents,
                payable_cents=ln.payable_cents,
            )
            for ln in po.lines
        ],
        total_cents=po.total_cents,
        payable_cents=po.payable_cents,
        paid_cents=po.paid_cents,
        outstanding_cents=po.outstanding_cents,
    )


def _lines(data: OrderIn) -> list[LineRequest]:
    return [LineRequest(int(ln.product_id), ln.quantity, ln.flex_quantity) for ln in data.lines]


def _order_page(views: list[orders.OrderView], limit: int) -> Page[OrderOut]:
    ids = [v.order.id for v in views if v.order.id is not None]
    return Page([order_out(v) for v in views], next_cursor(ids, limit))


# --- routes ---------------------------------------------------------------------------------


class GroupBuyController(Controller):
    """Routes under /v1/group-buys."""

    path = "/v1/group-buys"
    tags = ["group buys"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", guards=[staff_only], summary="Create a group buy", responses=problems(*POSTED))
    async def create(self, data: JSONBody[NewGroupBuyIn], db: DbSession, caller: Caller, state: State) -> GroupBuyOut:
        """Open now, or `scheduled` until `opens_at`; the clock opens and closes it on time."""
        new = service.NewGroupBuy(
            supplier_id=int(data.supplier_id),
            title=data.title,
            closes_at=utc(data.closes_at),
            product_ids=tuple(int(p) for p in data.product_ids),
            opens_at=None if data.opens_at is None else utc(data.opens_at),
            min_value_cents=data.min_value_cents,
            on_minimum_missed=data.on_minimum_missed,
            extend_hours=data.extend_hours,
            allocation_policy=data.allocation_policy,
            payment_mode=data.payment_mode,
        )
        group_buy = await service.create_group_buy(
            db,
            new,
            now=datetime.now(UTC),
            actor=caller.user_id,
            card_payments=state.settings.stripe_api_key is not None,
        )
        return group_buy_out(await service.get_group_buy(db, group_buy.id or 0))

    @get("/", guards=[anyone_signed_in], summary="List group buys", responses=problems(400, 404, *AUTHENTICATED))
    async def list_group_buys(
        self,
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[GroupBuyStatus | None, Parameter(description="only buys in this status")] = None,
        supplier_id: Annotated[str | None, Parameter(description="only this supplier's buys")] = None,
    ) -> Page[GroupBuyOut]:
        """Staff and members see every buy; a supplier's users see their own (another supplier's id: 404)."""
        supplier = query_id(supplier_id, "supplier_id")
        own = own_supplier(caller)
        if own is not None and supplier not in {None, own}:
            raise NotFoundError(f"supplier {supplier_id} not found")
        views = await service.group_buy_page(
            db, after_id=after_id(cursor), limit=limit, status=status, only_supplier_id=own or supplier
        )
        ids = [v.group_buy.id for v in views if v.group_buy.id is not None]
        return Page([group_buy_out(v) for v in views], next_cursor(ids, limit))

    @get(
        "/{group_buy_id:str}",
        guards=[anyone_signed_in],
        summary="One group buy",
        responses=problems(400, 404, 401, 403),
    )
    async def show(self, group_buy_id: FromPath[str], db: DbSession, caller: Caller) -> GroupBuyOut:
        """With live progress per product while open; final figures once closed."""
        view = await service.get_group_buy(
            db, path_id(group_buy_id, "group buy"), only_supplier_id=own_supplier(caller)
        )
        return group_buy_out(view)

    @post(
        "/{group_buy_id:str}/orders",
        guards=[members_only],
        summary="Place the member's order",
        responses=problems(404, *POSTED),
    )
    async def place_order(
        self, group_buy_id: FromPath[str], data: JSONBody[OrderIn], db: DbSession, caller: Caller
    ) -> OrderOut:
        """One order per member and buy (a second is a 409); only while the buy is open.

        A member's admins and buyers may order (finance users: 403); the member must be full,
        probationary or resigning (else 409).
        """
        view = await orders.place_order(
            db,
            path_id(group_buy_id, "group buy"),
            member_id=ordering_member(caller),
            lines=_lines(data),
            now=datetime.now(UTC),
            actor=caller.user_id,
        )
        return order_out(view)

    @get(
        "/{group_buy_id:str}/orders",
        guards=[staff_only],
        summary="The buy's orders",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def orders(
        self, group_buy_id: FromPath[str], db: DbSession, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[OrderOut]:
        """Every member's order in this buy (staff)."""
        views = await orders.group_buy_orders(
            db, path_id(group_buy_id, "group buy"), after_id=after_id(cursor), limit=limit
        )
        return _order_page(views, limit)

    @post(
        "/{group_buy_id:str}/close",
        status_code=200,
        guards=[staff_only],
        summary="Close the buy now",
        responses=problems(400, 404, 401, 403, 409, 422),
    )
    async def close(self, group_buy_id: FromPath[str], db: DbSession) -> GroupBuyOut:
        """Synchronous (200): the answer is the buy after close.

        `ordered`, `cancelled`, `open` (extended once) or `on_hold` (held for staff: proceed or cancel). Closing a
        closed buy returns it unchanged.
        """
        view = await closing.close_group_buy(db, path_id(group_buy_id, "group buy"), now=datetime.now(UTC))
        return group_buy_out(view)

    @post(
        "/{group_buy_id:str}/proceed",
        status_code=200,
        guards=[staff_only],
        summary="Order a held buy anyway",
        responses=problems(400, 404, 401, 403, 409, 422),
    )
    async def proceed(self, group_buy_id: FromPath[str], db: DbSession) -> GroupBuyOut:
        """Staff decide a buy held for its missed minimum goes ahead at the prices frozen at close."""
        view = await closing.proceed_group_buy(db, path_id(group_buy_id, "group buy"), now=datetime.now(UTC))
        return group_buy_out(view)

    @post(
        "/{group_buy_id:str}/cancel",
        status_code=200,
        guards=[staff_only],
        summary="Cancel the buy",
        responses=problems(404, *POSTED),
    )
    async def cancel(self, group_buy_id: FromPath[str], data: JSONBody[CancelIn], db: DbSession) -> GroupBuyOut:
        """Before it is ordered (scheduled, open or held); every order is cancelled and members are told."""
        view = await closing.cancel_group_buy(
            db, path_id(group_buy_id, "group buy"), now=datetime.now(UTC), reason=data.reason
        )
        return group_buy_out(view)

    @get(
        "/{group_buy_id:str}/purchase-order",
        guards=[staff_or_suppliers],
        summary="The supplier's purchase order",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def purchase_order(self, group_buy_id: FromPath[str], db: DbSession, caller: Caller) -> PurchaseOrderOut:
        """Staff and that supplier's users, once the buy is ordered (409 before); no member identities."""
        po = await purchase_orders.purchase_order_of_group_buy(
            db, path_id(group_buy_id, "group buy"), only_supplier_id=own_supplier(caller)
        )
        return PurchaseOrderOut(
            group_buy_id=str(po.group_buy.id),
            supplier_id=str(po.group_buy.supplier_id),
            status=GroupBuyStatus(po.group_buy.status),
            lines=[
                PurchaseOrderLineOut(
                    str(ln.product_id),
                    ln.sku,
                    ln.name,
                    ln.case_size,
                    ln.cases,
                    ln.ordered_quantity,
                    ln.unit_price_cents,
                    ln.total_cents,
                )
                for ln in po.lines
            ],
            total_cents=po.total_cents,
        )

    @post(
        "/{group_buy_id:str}/delivery",
        status_code=202,
        guards=[staff_or_suppliers],
        summary="Report the delivery; settlement follows as a job",
        responses=problems(404, *POSTED),
    )
    async def delivery(
        self, group_buy_id: FromPath[str], data: JSONBody[DeliveryIn], db: DbSession, caller: Caller
    ) -> GroupBuyOut:
        """202 with the buy `delivered`: shortages re-allocated and lines priced; poll until `settled`.

        A worker then settles the buy: each member's trade account is charged, the supplier is
        owed, patronage recorded and members told, all in one transaction (safe to run twice).
        A second report is a 409.
        """
        view = await settlement.record_delivery(
            db,
            path_id(group_buy_id, "group buy"),
            [settlement.DeliveryLine(int(ln.product_id), ln.delivered_quantity) for ln in data.lines],
            now=datetime.now(UTC),
            only_supplier_id=own_supplier(caller),
        )
        return group_buy_out(view)

    @post(
        "/{group_buy_id:str}/corrections",
        status_code=201,
        guards=[staff_only],
        summary="Correct the delivered units of a settled buy",
        responses=problems(404, *POSTED),
    )
    async def correct(
        self, group_buy_id: FromPath[str], data: JSONBody[CorrectionIn], db: DbSession, caller: Caller, state: State
    ) -> CorrectionOut:
        """Fewer units came than were reported: lines shrink and each member is given back the difference.

        Card orders are refunded on the card (once, key `refund:<order>:<correction>`), others
        credited on the trade account; the supplier is owed less and patronage is reduced.
        409 unless the buy is settled; 400 for a line that does not lower a delivered product.
        """
        done = await settlement.correct_delivery(
            db,
            path_id(group_buy_id, "group buy"),
            [settlement.CorrectionLine(int(ln.product_id), ln.delivered_quantity) for ln in data.lines],
            reason=data.reason,
            actor=caller.user_id,
            now=datetime.now(UTC),
            fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
        )
        return CorrectionOut(
            id=str(done.id),
            group_buy_id=str(done.group_buy_id),
            reason=done.reason,
            refunds=[CorrectionRefundOut(str(o), cents) for o, cents in sorted(done.refunds.items())],
            created_at=done.created_at,
        )


class OrderController(Controller):
    """Routes under /v1/orders."""

    path = "/v1/orders"
    tags = ["group buys"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", guards=[staff_or_members], summary="List orders", responses=problems(400, 404, *AUTHENTICATED))
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
        return _order_page(views, limit)

    @get("/{order_id:str}", guards=[staff_or_members], summary="One order", responses=problems(400, 404, 401, 403))
    async def show(self, order_id: FromPath[str], db: DbSession, caller: Caller) -> OrderOut:
        """The member's users and staff; another member's order is a 404."""
        return order_out(await orders.get_order(db, path_id(order_id, "order"), only_member_id=own_member(caller)))

    @put(
        "/{order_id:str}",
        guards=[members_only],
        summary="Change the order",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def change(self, order_id: FromPath[str], data: JSONBody[OrderIn], db: DbSession, caller: Caller) -> OrderOut:
        """Replace the lines while the buy is open (409 after); a decrease takes the newest units first."""
        view = await orders.change_order(
            db,
            path_id(order_id, "order"),
            lines=_lines(data),
            now=datetime.now(UTC),
            only_member_id=ordering_member(caller),
        )
        return order_out(view)

    @delete(
        "/{order_id:str}",
        status_code=200,
        guards=[members_only],
        summary="Cancel the order",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def cancel(self, order_id: FromPath[str], db: DbSession, caller: Caller) -> OrderOut:
        """While the buy is open (409 after); the answer is the order with status `cancelled`."""
        view = await orders.cancel_order(
            db, path_id(order_id, "order"), now=datetime.now(UTC), only_member_id=ordering_member(caller)
        )
        return order_out(view)


class PurchaseOrderController(Controller):
    """Routes under /v1/purchase-orders: a purchase order's id is its group buy's."""

    path = "/v1/purchase-orders"
    tags = ["group buys"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", guards=[staff_or_suppliers], summary="List purchase orders", responses=problems(400, *AUTHENTICATED))
    async def list_purchase_orders(
        self,
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        include_paid: Annotated[bool, Parameter(description="also those delivered and fully paid")] = False,  # noqa: FBT002
    ) -> Page[SupplierPurchaseOrderOut]:
        """Open ones (awaiting delivery, or not fully paid); a supplier's users see their own, staff all."""
        views = await purchase_orders.purchase_order_page(
            db, after_id=after_id(cursor), limit=limit, only_supplier_id=own_supplier(caller), include_paid=include_paid
        )
        ids = [v.group_buy.id for v in views if v.group_buy.id is not None]
        return Page([supplier_purchase_order_out(v) for v in views], next_cursor(ids, limit))

    @get(
        "/{purchase_order_id:str}",
        guards=[staff_or_suppliers],
        summary="One purchase order",
        responses=problems(400, 404, 401, 403),
    )
    async def show(self, purchase_order_id: FromPath[str], db: DbSession, caller: Caller) -> SupplierPurchaseOrderOut:
        """Staff and that supplier's users, once the buy is ordered (404 before)."""
        view = await purchase_orders.get_purchase_order(
            db, path_id(purchase_order_id, "purchase order"), only_supplier_id=own_supplier(caller)
        )
        return supplier_purchase_order_out(view)

    @post(
        "/{purchase_order_id:str}/payments",
        guards=[staff_only],
        summary="Pay the supplier",
        responses=problems(404, *POSTED),
    )
    async def pay(
        self, purchase_order_id: FromPath[str], data: JSONBody[SupplierPaymentIn], db: DbSession, caller: Caller
    ) -> SupplierPurchaseOrderOut:
        """Staff record a payment of what the co-op owes for delivered goods; above what is outstanding: 409.

        Repeat safely with an `Idempotency-Key`.
        """
        view = await purchase_orders.pay_supplier(
            db,
            path_id(purchase_order_id, "purchase order"),
            amount_cents=data.amount_cents,
            method=data.method,
            now=datetime.now(UTC),
            actor=caller.user_id,
        )
        return supplier_purchase_order_out(view)
