"""Staff paying a supplier twice at once never pay more than the co-op owes (real connections, real COMMITs)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from domain.buying import closing, orders, purchase_orders, settlement
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_session_maker
from domain.errors import ConflictError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import service as membership

PAYMENTS = 6


async def test_concurrent_payments_stop_at_what_is_owed(committing_engine):
    maker = make_session_maker(committing_engine)
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    async with maker() as s:
        supplier = await catalog.create_supplier(s, name=f"Paid Mill {tag}", email=f"{tag}@mill.test")
        new = catalog.NewProduct(
            supplier.id or 0, f"P-{tag}", "Grain", "sack", 4, "purchases", Decimal(0), (Tier(1, 250),)
        )
        product = (await catalog.create_product(s, new, actor=0)).product.id or 0
        group_buy = await buying.create_group_buy(
            s,
            buying.NewGroupBuy(supplier.id or 0, f"Paid {tag}", now + timedelta(days=1), (product,)),
            now=now,
            actor=0,
        )
        member = await membership.apply(
            s, name=f"Paid {tag}", email=f"{tag}@shop.test", contact_name=None, par_cents=10_000
        )
        member.status, member.joined_at = "full", now
        s.add(member)
        await s.flush()
        await orders.place_order(
            s, group_buy.id or 0, member_id=member.id or 0, lines=[LineRequest(product, 4)], now=now, actor=0
        )
        await closing.close_group_buy(s, group_buy.id or 0, now=now)
        await settlement.record_delivery(s, group_buy.id or 0, [settlement.DeliveryLine(product, 4)], now=now)
        await settlement.settle(s, group_buy.id or 0, now=now, fiscal_year_start_month=1)
        await s.commit()
    gid = group_buy.id or 0

    async def pay() -> bool:
        async with maker() as s:
            try:
                await purchase_orders.pay_supplier(
                    s, gid, amount_cents=400, method=chart.PaymentMethod.BANK_TRANSFER, now=now, actor=0
                )
            except ConflictError:
                await s.rollback()
                return False
            await s.commit()
            return True

    results = await asyncio.gather(*(pay() for _ in range(PAYMENTS)))
    assert sum(results) == 2  # 1000 owed: two payments of 400 fit, a third would pass it
    async with maker() as s:
        view = await purchase_orders.get_purchase_order(s, gid)
        assert (view.payable_cents, view.paid_cents, view.outstanding_cents) == (1_000, 800, 200)
        assert await ledger.balance_of(s, chart.supplier_payable(supplier.id or 0)) == 200
