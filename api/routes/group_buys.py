"""Group buys, orders, close, purchase orders and deliveries (API.md "Group buys and orders").

Close runs synchronously: it answers 200 with the group buy in its new state (`ordered`,
`cancelled`, `open` again when extended, `on_hold` when held for staff). A delivery answers
202 with the buy `delivered`; a worker job settles it (`settled`). Both are safe to repeat:
closing a closed buy returns it unchanged, and a second delivery is a 409 that charges nobody
again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import members_only, staff_only
from api.deps import Caller, DbSession
from api.fields import Cents, Id, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import anyone_signed_in, own_supplier, query_id, staff_or_suppliers, utc
from api.routes.orders import OrderIn, OrderOut, UtcTime, line_requests, order_out, order_page, ordering_member
from domain.buying import closing, orders, purchase_orders, service, settlement
from domain.buying.rules import AllocationPolicy, GroupBuyStatus, MinimumOutcome, PaymentMode
from domain.errors import NotFoundError


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


class GroupBuyController(Controller):
    """Routes under /v1/group-buys."""

    path = "/v1/group-buys"
    tags = ["group buys"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=staff_only, summary="Create a group buy", responses=problems(*POSTED))
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

    @get("/", access=anyone_signed_in, summary="List group buys", responses=problems(400, 404, *AUTHENTICATED))
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
        access=anyone_signed_in,
        summary="One group buy",
        responses=problems(400, 404, 401, 403),
    )
    async def show(self, group_buy_id: FromPath[str], db: DbSession, caller: Caller, state: State) -> GroupBuyOut:
        """With live progress per product while open; final figures once closed."""
        view = await service.get_group_buy(
            db,
            path_id(group_buy_id, "group buy"),
            only_supplier_id=own_supplier(caller),
            autocommit=state.autocommit_pool,
        )
        return group_buy_out(view)

    @post(
        "/{group_buy_id:str}/orders",
        access=members_only,
        summary="Place the member's order",
        responses=problems(404, *POSTED),
    )
    async def place_order(
        self, group_buy_id: FromPath[str], data: JSONBody[OrderIn], db: DbSession, caller: Caller, state: State
    ) -> OrderOut:
        """One order per member and buy (a second is a 409); only while the buy is open.

        A member's admins and buyers may order (finance users: 403); the member must be full,
        probationary or resigning (else 409).
        """
        view = await orders.place_order(
            db,
            path_id(group_buy_id, "group buy"),
            member_id=ordering_member(caller),
            lines=line_requests(data),
            now=datetime.now(UTC),
            actor=caller.user_id,
            autocommit=state.autocommit_pool,
        )
        return order_out(view)

    @get(
        "/{group_buy_id:str}/orders",
        access=staff_only,
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
        return order_page(views, limit)

    @post(
        "/{group_buy_id:str}/close",
        status_code=200,
        access=staff_only,
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
        access=staff_only,
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
        access=staff_only,
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
        access=staff_or_suppliers,
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
        access=staff_or_suppliers,
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
        access=staff_only,
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
