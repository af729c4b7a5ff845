"""Suppliers' purchase orders: what was ordered and delivered, what the co-op owes, what it paid.

A group buy has one purchase order once it is ordered; its id is the buy's id and its number
``PO-<year>-<id>``. Delivery credits the supplier's payable (settlement.py); staff payments
debit it, each under the buy's exclusive lock, so two payments never both pass the check
of what is outstanding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from domain.buying.rules import (
    GroupBuyStatus,
    payable_cents,
    purchase_order_number,
    supplier_outstanding_cents,
    supplier_payment_refusal,
    supplier_value_cents,
)
from domain.buying.service import CLOSED, items_of, locked_group_buy, visible_group_buy
from domain.buying.tables import GroupBuy, GroupBuyItem, SupplierPayment, SupplierTransferReversal
from domain.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

# How the co-op pays a supplier; a card is how members pay the co-op, never the reverse.
PAYMENT_METHODS = frozenset({chart.PaymentMethod.CASH, chart.PaymentMethod.CHECK, chart.PaymentMethod.BANK_TRANSFER})
TRANSFER_METHOD = "stripe_transfer"  # a supplier payment made by the Connect transfer job (supplier_transfers.py)


@dataclass(frozen=True, slots=True)
class SupplierPaid:
    """What a buy's supplier was paid: by hand, by Connect transfer, and how much of that transfer was taken back.

    The one reading of these figures: the purchase order's ``paid_cents`` and the transfer
    and reversal jobs' plans all come from it, so they cannot disagree.
    """

    by_hand_cents: int = 0
    transferred_cents: int = 0
    reversed_cents: int = 0

    @property
    def still_transferred_cents(self) -> int:
        """The transfer less what its reversals took back."""
        return self.transferred_cents - self.reversed_cents

    @property
    def net_cents(self) -> int:
        """Paid by hand plus what is still transferred."""
        return self.by_hand_cents + self.still_transferred_cents


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine:
    """One product: units ordered (whole cases), units delivered (None before delivery), the tier price."""

    product_id: int
    sku: str
    name: str
    case_size: int
    cases: int
    ordered_quantity: int
    delivered_quantity: int | None
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        """The ordered units at the supplier's price."""
        return supplier_value_cents(self.ordered_quantity, self.unit_price_cents)

    @property
    def payable_cents(self) -> int:
        """The delivered units at the supplier's price (0 before delivery)."""
        return payable_cents(self.delivered_quantity, self.unit_price_cents)


@dataclass(frozen=True, slots=True)
class PurchaseOrderView:
    """A purchase order with its lines and the money: owed for what came, paid, outstanding."""

    group_buy: GroupBuy
    lines: list[PurchaseOrderLine]
    paid: SupplierPaid

    @property
    def paid_cents(self) -> int:
        """Paid to the supplier, net of what was taken back from its transfer."""
        return self.paid.net_cents

    @property
    def number(self) -> str:
        """``PO-<year it was issued>-<group buy id>``."""
        issued = self.group_buy.closed_at or self.group_buy.created_at
        return purchase_order_number(issued.year, self.group_buy.id or 0)

    @property
    def total_cents(self) -> int:
        """What was ordered, at supplier prices."""
        return sum(line.total_cents for line in self.lines)

    @property
    def payable_cents(self) -> int:
        """What the co-op owes for what was delivered."""
        return sum(line.payable_cents for line in self.lines)

    @property
    def outstanding_cents(self) -> int:
        """Owed and not yet paid."""
        return supplier_outstanding_cents(self.payable_cents, self.paid_cents)


async def _paid(session: AsyncSession, group_buy_ids: Sequence[int]) -> dict[int, SupplierPaid]:
    """Per buy: what the supplier was paid by hand and by transfer, and what was taken back from the transfer."""
    ids = list(group_buy_ids)
    transfer = col(SupplierPayment.method) == TRANSFER_METHOD
    amount = col(SupplierPayment.amount_cents)
    paid = (
        await session.execute(
            sa.select(
                col(SupplierPayment.group_buy_id),
                sa.func.sum(sa.case((transfer, 0), else_=amount)),
                sa.func.sum(sa.case((transfer, amount), else_=0)),
            )
            .where(col(SupplierPayment.group_buy_id).in_(ids))
            .group_by(col(SupplierPayment.group_buy_id))
        )
    ).all()
    reversed_ = (
        await session.execute(
            sa.select(
                col(SupplierTransferReversal.group_buy_id), sa.func.sum(col(SupplierTransferReversal.amount_cents))
            )
            .where(col(SupplierTransferReversal.group_buy_id).in_(ids))
            .group_by(col(SupplierTransferReversal.group_buy_id))
        )
    ).all()
    by_kind = {int(gid): (int(by_hand), int(transferred)) for gid, by_hand, transferred in paid}
    taken_back = {int(gid): int(total) for gid, total in reversed_}
    return {
        gid: SupplierPaid(*by_kind.get(gid, (0, 0)), reversed_cents=taken_back.get(gid, 0))
        for gid in by_kind.keys() | taken_back.keys()
    }


async def purchase_order_views(session: AsyncSession, group_buys: Sequence[GroupBuy]) -> list[PurchaseOrderView]:
    """Views of several purchase orders in three queries."""
    ids = [g.id for g in group_buys if g.id is not None]
    items = await items_of(session, ids)
    paid = await _paid(session, ids)
    return [
        PurchaseOrderView(
            g,
            [
                PurchaseOrderLine(
                    item.product_id,
                    product.sku,
                    product.name,
                    item.case_size,
                    item.cases or 0,
                    item.bought_quantity or 0,
                    item.delivered_quantity,
                    item.unit_price_cents or 0,
                )
                for item, product in items.get(g.id or 0, [])
                if item.cases
            ],
            paid.get(g.id or 0, SupplierPaid()),
        )
        for g in group_buys
    ]


async def get_purchase_order(
    session: AsyncSession, group_buy_id: int, *, only_supplier_id: int | None = None
) -> PurchaseOrderView:
    """One purchase order (404 for another supplier's users, or while the buy is not ordered)."""
    group_buy = await visible_group_buy(session, group_buy_id, only_supplier_id)
    if GroupBuyStatus(group_buy.status) not in CLOSED:
        raise NotFoundError(f"purchase order {group_buy_id} not found")
    return (await purchase_order_views(session, [group_buy]))[0]


async def purchase_order_of_group_buy(
    session: AsyncSession, group_buy_id: int, *, only_supplier_id: int | None = None
) -> PurchaseOrderView:
    """The purchase order as its group buy shows it: the buy exists, so before it is ordered that is a 409."""
    group_buy = await visible_group_buy(session, group_buy_id, only_supplier_id)
    if GroupBuyStatus(group_buy.status) not in CLOSED:
        msg = f"group buy {group_buy_id} is {group_buy.status}; it has no purchase order yet"
        raise ConflictError(msg)
    return (await purchase_order_views(session, [group_buy]))[0]


def _payable_sql() -> sa.ScalarSelect[int]:
    return (
        sa.select(
            sa.func.coalesce(
                sa.func.sum(
                    sa.func.coalesce(col(GroupBuyItem.delivered_quantity), 0)
                    * sa.func.coalesce(col(GroupBuyItem.unit_price_cents), 0)
                ),
                0,
            )
        )
        .where(col(GroupBuyItem.group_buy_id) == col(GroupBuy.id))
        .scalar_subquery()
    )


def _paid_sql() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.coalesce(sa.func.sum(col(SupplierPayment.amount_cents)), 0))
        .where(col(SupplierPayment.group_buy_id) == col(GroupBuy.id))
        .scalar_subquery()
    )


async def purchase_order_page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    only_supplier_id: int | None = None,
    include_paid: bool = False,
) -> list[PurchaseOrderView]:
    """Purchase orders in id order after a cursor; a supplier sees only its own.

    Open ones only unless ``include_paid``: awaiting delivery, or delivered and not fully paid.
    """
    query = (
        select(GroupBuy)
        .where(col(GroupBuy.id) > after_id, col(GroupBuy.status).in_([s.value for s in CLOSED]))
        .order_by(col(GroupBuy.id))
        .limit(limit)
    )
    if only_supplier_id is not None:
        query = query.where(col(GroupBuy.supplier_id) == only_supplier_id)
    if not include_paid:
        query = query.where(sa.or_(col(GroupBuy.status) == GroupBuyStatus.ORDERED.value, _payable_sql() > _paid_sql()))
    return await purchase_order_views(session, list((await session.exec(query)).all()))


async def pay_supplier(
    session: AsyncSession,
    group_buy_id: int,
    *,
    amount_cents: int,
    method: chart.PaymentMethod,
    now: datetime,
    actor: int,
) -> PurchaseOrderView:
    """Staff pay the supplier part or all of what the co-op owes for this buy's delivered goods.

    Under the buy's exclusive lock: what is owed and paid cannot move while it is checked,
    so concurrent payments never add up past the payable (409). Nothing is owed before
    delivery. The ledger entry debits the supplier's payable and credits cash or the bank.
    """
    errors = []
    if amount_cents <= 0:
        errors.append(FieldError("amount_cents", "must be a positive number of cents"))
    if method not in PAYMENT_METHODS:
        errors.append(FieldError("method", "a supplier is paid in cash, by check or by bank transfer"))
    if errors:
        raise InvalidInputError("the payment is not valid", errors)
    group_buy = await locked_group_buy(session, group_buy_id)
    if GroupBuyStatus(group_buy.status) not in CLOSED:
        raise NotFoundError(f"purchase order {group_buy_id} not found")
    view = (await purchase_order_views(session, [group_buy]))[0]
    if refusal := supplier_payment_refusal(amount_cents, view.payable_cents, view.paid_cents):
        raise ConflictError(refusal, code="payment_above_outstanding")
    payment_id = (
        await session.execute(sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence("supplier_payment", "id"))))
    ).scalar_one()
    entry = await ledger.transfer(
        session,
        debit=chart.supplier_payable(group_buy.supplier_id),
        credit=chart.received_into(method),
        amount_cents=amount_cents,
        kind="supplier_payment",
        idempotency_key=f"supplier_payment:{payment_id}",
        occurred_at=now,
        memo=f"payment for {view.number}",
    )
    session.add(
        SupplierPayment(
            id=payment_id,
            group_buy_id=group_buy_id,
            supplier_id=group_buy.supplier_id,
            amount_cents=amount_cents,
            method=method.value,
            entry_id=entry.id or 0,
            paid_by=actor,
            paid_at=now,
        )
    )
    await session.flush()
    return (await purchase_order_views(session, [group_buy]))[0]
