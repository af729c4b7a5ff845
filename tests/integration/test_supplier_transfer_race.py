"""A Connect transfer and a staff payment by hand racing for one supplier payable (real connections and COMMITs).

The transfer job holds the buy's exclusive lock while Stripe answers (a recording HTTP client at
the SDK's edge: localstripe has no Connect, and the gate keeps the answer back until the hand
payment is either done or waiting on that lock). Only one of the two may pay: here the transfer,
so the hand payment finds nothing outstanding (409); a hand payment made first blocks the transfer.
The tests commit ledger entries (append-only) to the co-op's card clearing account, so they run
in a database of their own (`committing_engine`): the shared one would carry that balance into every later test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import col

from domain.buying import purchase_orders, supplier_transfers
from domain.buying.tables import GroupBuy, GroupBuyItem, SupplierPayment
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_session_maker
from domain.errors import ConflictError
from domain.jobs.tables import OutboxJob
from domain.ledger import chart
from domain.notifications import service as notifications
from domain.payments import supplier_accounts
from domain.payments.stripe_gateway import StripeGateway
from tests.support.recording_stripe import Gate, RecordingHTTPClient, transfer_answer

PAYABLE = 2_000


async def _settled_card_buy(maker, tag: str, now: datetime) -> GroupBuy:
    async with maker() as s:
        supplier = await catalog.create_supplier(s, name=f"Race Mill {tag}", email=f"{tag}@mill.test")
        product = await catalog.create_product(
            s,
            catalog.NewProduct(
                supplier_id=supplier.id or 0,
                sku=f"RACE-{tag}",
                name="Flour",
                unit="bag",
                case_size=1,
                pool="purchases",
                markup_rate=Decimal("0.25"),
                tiers=(Tier(1, 1_000),),
            ),
            actor=0,
        )
        await supplier_accounts.set_connected_account(s, supplier.id or 0, f"acct_{tag}", actor=0, now=now)
        gb = GroupBuy(
            supplier_id=supplier.id or 0,
            title=f"race {tag}",
            status="settled",
            opens_at=now - timedelta(days=3),
            closes_at=now - timedelta(days=1),
            payment_mode="card",
            closed_at=now - timedelta(days=1),
            settled_at=now,
        )
        s.add(gb)
        await s.flush()
        s.add(
            GroupBuyItem(
                group_buy_id=gb.id or 0,
                product_id=product.product.id or 0,
                position=0,
                case_size=1,
                pool="purchases",
                unit_price_cents=1_000,
                cases=2,
                bought_quantity=2,
                delivered_quantity=2,
            )
        )
        await s.commit()
        return gb


async def _payments(maker, group_buy_id: int) -> list[tuple[str, int]]:
    async with maker() as s:
        rows = await s.execute(
            sa.select(col(SupplierPayment.method), col(SupplierPayment.amount_cents)).where(
                col(SupplierPayment.group_buy_id) == group_buy_id
            )
        )
        return [(str(m), int(a)) for m, a in rows.all()]


async def test_a_transfer_in_flight_makes_a_hand_payment_wait_and_then_refuses_it(committing_engine) -> None:
    maker = make_session_maker(committing_engine)
    now = datetime.now(UTC)
    gb = await _settled_card_buy(maker, uuid.uuid4().hex[:10], now)
    gate = Gate()
    http = RecordingHTTPClient({("POST", "/v1/transfers"): transfer_answer}, gate)
    gateway = StripeGateway("sk_test_x", api_base="http://127.0.0.1:9", http_client=http)

    async def transfer() -> str | None:
        async with maker() as s:
            sent = await supplier_transfers.run_transfer(
                s, gateway, {"group_buy_id": gb.id}, currency="USD", connect=True, now=now
            )
            await s.commit()
            return sent

    async def by_hand(pid: asyncio.Future[int]) -> None:
        async with maker() as s:
            pid.set_result(int((await s.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()))
            await purchase_orders.pay_supplier(
                s, gb.id or 0, amount_cents=PAYABLE, method=chart.PaymentMethod.CHECK, now=now, actor=0
            )
            await s.commit()

    sending = asyncio.create_task(transfer())
    await gate.asked.wait()  # the transfer checked the payable and is waiting for Stripe
    pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    paying = asyncio.create_task(by_hand(pid))
    backend = await pid
    async with committing_engine.connect() as watcher:
        while not paying.done():
            blocked = (
                await watcher.execute(sa.text("SELECT cardinality(pg_blocking_pids(:p))"), {"p": backend})
            ).scalar()
            if blocked:
                break
            await asyncio.sleep(0.01)
    gate.release.set()
    assert await sending is not None
    with pytest.raises(ConflictError):
        await paying
    await gateway.aclose()
    assert await _payments(maker, gb.id or 0) == [("stripe_transfer", PAYABLE)]


async def test_a_hand_payment_made_first_blocks_the_transfer(committing_engine) -> None:
    maker = make_session_maker(committing_engine)
    now = datetime.now(UTC)
    gb = await _settled_card_buy(maker, uuid.uuid4().hex[:10], now)
    async with maker() as s:
        await purchase_orders.pay_supplier(
            s, gb.id or 0, amount_cents=500, method=chart.PaymentMethod.CHECK, now=now, actor=0
        )
        await s.commit()
    http = RecordingHTTPClient({("POST", "/v1/transfers"): transfer_answer})
    gateway = StripeGateway("sk_test_x", api_base="http://127.0.0.1:9", http_client=http)
    async with maker() as s:
        sent = await supplier_transfers.run_transfer(
            s, gateway, {"group_buy_id": gb.id}, currency="USD", connect=True, now=now
        )
        await s.commit()
    await gateway.aclose()
    assert (sent, http.requests) == (None, [])
    assert await _payments(maker, gb.id or 0) == [("check", 500)]
    async with maker() as s:  # staff were told
        told = sa.delete(OutboxJob).where(col(OutboxJob.business_key).startswith(f"notify:supplier:transfer:{gb.id}:"))
        assert (await s.execute(told.returning(col(OutboxJob.job_name)))).scalars().all() == [notifications.DELIVER_JOB]
        await s.commit()
