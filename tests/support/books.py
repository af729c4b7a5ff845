"""Books of a past fiscal year for margin and statement tests: a settled group buy, programme income."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.buying.tables import GroupBuy
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side
from domain.patronage.tables import PatronageRecord
from tests.support.buying import group_buy_body, make_product
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


async def settled_group_buy(
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    staff: dict[str, str],
    supplier_id: int,
    buyers: list[tuple[dict[str, str], int]],
    settled_at: datetime,
    settings: Settings,
    session_maker: SessionMaker,
    pool: str = "purchases",
) -> str:
    """A buy of one product (first tier 10.00, 8.00 from 10 units, markup 10%) settled at ``settled_at``.

    Each buyer orders its units; everything ordered is delivered and the worker settles the buy
    (dating its entries and patronage now); the buy's settlement moment is then moved into the
    past year, as if it had been settled then.
    """
    product = await make_product(session, supplier_id, tiers=[(1, 1_000), (10, 800)], markup="0.10", pool=pool)
    created = await client.post("/v1/group-buys", json=group_buy_body(supplier_id, [product]), headers=staff)
    assert created.status_code == 201, created.text
    gid = created.json()["id"]
    total = 0
    for headers, units in buyers:
        lines = [{"product_id": str(product), "quantity": units, "flex_quantity": 0}]
        placed = await client.post(f"/v1/group-buys/{gid}/orders", json={"lines": lines}, headers=headers)
        assert placed.status_code == 201, placed.text
        total += units
    closed = await client.post(f"/v1/group-buys/{gid}/close", headers=staff)
    assert closed.status_code == 200, closed.text
    delivery = {"lines": [{"product_id": str(product), "delivered_quantity": total}]}
    delivered = await client.post(f"/v1/group-buys/{gid}/delivery", json=delivery, headers=staff)
    assert delivered.status_code == 202, delivered.text
    await run_worker(settings, session_maker)
    assert (await client.get(f"/v1/group-buys/{gid}", headers=staff)).json()["status"] == "settled"
    await session.execute(sa.update(GroupBuy).where(col(GroupBuy.id) == int(gid)).values(settled_at=settled_at))
    await session.commit()
    return str(gid)


async def patronage_in(session: AsyncSession, member_id: int, fiscal_year: int, pool: str, cents: int) -> None:
    """A member's imported patronage in a past fiscal year (what a run allocates over)."""
    session.add(
        PatronageRecord(
            member_id=member_id,
            member_business=True,
            fiscal_year=fiscal_year,
            pool=pool,
            amount_cents=cents,
            occurred_at=datetime(fiscal_year, 6, 30, tzinfo=UTC),
            source="import",
            external_ref=f"books-{fiscal_year}-{member_id}-{pool}",
        )
    )
    await session.commit()


async def programme_income(
    session: AsyncSession, *, supplier_id: int, pool: str, at: datetime, rebate: int, fee: int, passed: int
) -> None:
    """A claim's entry, as domain.programmes.claims posts it: rebate and fee income, the pass-through set aside."""
    receivable = await ledger.account_id(session, chart.supplier_programme_receivable(supplier_id))
    await ledger.post_entry(
        session,
        kind="programme_claim",
        idempotency_key=f"test_programme_claim:{pool}:{at.isoformat()}",
        occurred_at=at,
        lines=[
            PostingLine(receivable, Side.DEBIT, rebate + fee),
            PostingLine(await ledger.account_id(session, chart.programme_rebate_income(pool)), Side.CREDIT, rebate),
            PostingLine(await ledger.account_id(session, chart.programme_fee_income(pool)), Side.CREDIT, fee),
            PostingLine(await ledger.account_id(session, chart.programme_pass_through(pool)), Side.DEBIT, passed),
            PostingLine(await ledger.account_id(session, chart.PASS_THROUGH_PAYABLE), Side.CREDIT, passed),
        ],
    )
    await session.commit()
