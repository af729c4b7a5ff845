"""Purchase orders as the supplier and staff see them, and what the co-op pays the supplier (API.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import staff_only
from api.deps import Caller, DbSession
from api.fields import PositiveCents
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import own_supplier, staff_or_suppliers
from domain.buying import purchase_orders
from domain.buying.rules import GroupBuyStatus
from domain.ledger.chart import PaymentMethod


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


class PurchaseOrderController(Controller):
    """Routes under /v1/purchase-orders: a purchase order's id is its group buy's."""

    path = "/v1/purchase-orders"
    tags = ["group buys"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", access=staff_or_suppliers, summary="List purchase orders", responses=problems(400, *AUTHENTICATED))
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
        access=staff_or_suppliers,
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
        access=staff_only,
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
