"""Close and settlement are set-based (statements do not grow with the orders); a crashed settlement leaves nothing.

Real connections and real COMMITs for the crash: the job's connection is terminated by
PostgreSQL while it waits between two of its statements (a row lock the test holds), as
when a worker dies mid-job; its transaction is rolled back, and the job run again settles
the buy exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlmodel import col

from domain.buying import closing, orders, settlement
from domain.buying import service as buying
from domain.buying.rules import LineRequest
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_session_maker
from domain.jobs.tables import OutboxJob
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership import service as membership
from tests.integration.test_order_write_statements import statements

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlmodel.ext.asyncio.session import AsyncSession


async def _delivered_buy(
    session: AsyncSession,
    members: int,
    tag: str,
    close_statements: list[int] | None = None,
    delivery_statements: list[int] | None = None,
) -> tuple[int, list[int]]:
    """A buy of two products, `members` orders of 3 + 2 units, closed and delivered one unit short."""
    now = datetime.now(UTC)
    supplier = await catalog.create_supplier(session, name=f"Settle Mill {tag}", email=f"{tag}@mill.test")
    products = []
    for n, pool in enumerate(("purchases", "fuel")):
        new = catalog.NewProduct(
            supplier.id or 0, f"S-{tag}-{n}", "Grain", "sack", 1, pool, Decimal("0.05"), (Tier(1, 333),)
        )
        products.append((await catalog.create_product(session, new, actor=0)).product.id or 0)
    buy = await buying.create_group_buy(
        session,
        buying.NewGroupBuy(supplier.id or 0, f"Settle {tag}", now + timedelta(days=1), tuple(products)),
        now=now,
        actor=0,
    )
    gid = buy.id or 0
    member_ids = []
    for i in range(members):
        member = await membership.apply(
            session, name=f"Settler {tag} {i}", email=f"{tag}-{i}@shop.test", contact_name=None, par_cents=10_000
        )
        member.status, member.joined_at = "full", now - timedelta(days=1)
        session.add(member)
        await session.flush()
        member_ids.append(member.id or 0)
        lines = [LineRequest(products[0], 3), LineRequest(products[1], 2)]
        await orders.place_order(session, gid, member_id=member.id or 0, lines=lines, now=now, actor=0)
    async with statements(session) as seen:
        await closing.close_group_buy(session, gid, now=now)
    if close_statements is not None:
        close_statements.append(len(seen))
    delivered = [
        settlement.DeliveryLine(products[0], 3 * members - 1),
        settlement.DeliveryLine(products[1], 2 * members),
    ]
    async with statements(session) as seen:
        view = await settlement.record_delivery(session, gid, delivered, now=now)
    if delivery_statements is not None:
        delivery_statements.append(len(seen))
    assert view.group_buy.status == "delivered"
    return gid, member_ids


async def _settle(session: AsyncSession, gid: int) -> None:
    await settlement.settle(session, gid, now=datetime.now(UTC), fiscal_year_start_month=1)


async def test_settlement_statements_do_not_grow_with_the_orders(session):
    counts = []
    for members in (2, 6):
        gid, _ = await _delivered_buy(session, members, uuid.uuid4().hex[:8])
        async with statements(session) as seen:
            await _settle(session, gid)
            await session.flush()
        counts.append(len(seen))
        assert (await buying.get_group_buy(session, gid)).group_buy.status == "settled"
    print(f"settlement: {counts} statements for 2 and 6 orders")  # noqa: T201 - reported in bench/results.md
    assert counts[0] == counts[1], counts


async def test_settlement_reads_no_line_and_joins_no_entry_back_by_its_key(session):
    gid, _ = await _delivered_buy(session, 2, uuid.uuid4().hex[:8])
    async with statements(session) as seen:
        await _settle(session, gid)
        await session.flush()
    # The charges, shortages and purchases are the orders' totals the delivery stored (read
    # with the members' dates); the postings are written with their entry's id.
    assert len([sql for sql in seen if "order_line" in sql]) == 0, seen
    assert len([sql for sql in seen if "FROM member" in sql]) == 0, seen
    assert not [sql for sql in seen if "= e.idempotency_key" in sql], seen


async def test_a_settlement_charges_every_member_in_one_entry_and_each_statement_reads_as_before(session):
    tag = uuid.uuid4().hex[:8]
    gid, members = await _delivered_buy(session, 3, tag)
    await _settle(session, gid)
    await session.flush()
    # One movement, one entry: a debit on each member's trade account, the sales credited once with the sum.
    entries = (
        await session.execute(
            sa.text("SELECT id, kind, memo FROM journal_entry WHERE idempotency_key = :k OR idempotency_key LIKE :m"),
            {"k": f"settle:{gid}", "m": f"settle:{gid}:%"},
        )
    ).all()
    assert [(kind, memo) for _, kind, memo in entries] == [("group_buy_charge", f"group buy {gid}: Settle {tag}")]
    entry_id = entries[0][0]
    postings = (
        await session.execute(
            sa.text(
                "SELECT a.code, p.side, p.amount_cents FROM posting p JOIN ledger_account a ON a.id = p.account_id "
                "WHERE p.entry_id = :e ORDER BY a.code, p.side"
            ),
            {"e": entry_id},
        )
    ).all()
    charges = {m: (await ledger.balance_of(session, chart.member_trade(m))) for m in members}
    assert sorted(charges.values()) == [699 + 699, 1049 + 699, 1049 + 699]
    assert sorted(postings) == sorted(
        [(chart.member_trade(m).code, "debit", c) for m, c in charges.items()]
        + [(chart.SALES.code, "credit", sum(charges.values()))]
    )
    for m, charge in charges.items():  # each member's statement: one line of its own charge, as before
        lines = await ledger.statement(session, chart.member_trade(m))
        assert [(ln.entry_id, ln.kind, ln.amount_cents, ln.balance_cents) for ln in lines] == [
            (entry_id, "group_buy_charge", charge, charge)
        ]
    # One notice a member: the settled order, its shortage in the same notice.
    notices = (
        await session.execute(
            sa.select(col(OutboxJob.payload)).where(
                col(OutboxJob.job_name) == "deliver_notification",
                col(OutboxJob.business_key).like(f"notify:group_buy:{gid}:%"),
            )
        )
    ).scalars()
    sent = sorted(
        (n["event"], n["data"]["short_units"], n["data"]["charged_cents"])
        for n in notices
        if n["event"] in {"order.settled", "order.shortage"}
    )
    # The member who got 2 of its 3 units of the first product was charged 699 + 699.
    assert sent == sorted(("order.settled", 1 if c == 699 + 699 else 0, c) for c in charges.values())
    # A correction after it gives each member back its difference on its own statement; the books still balance.
    first = (
        await session.execute(
            sa.text("SELECT product_id FROM group_buy_item WHERE group_buy_id = :g ORDER BY position LIMIT 1"),
            {"g": gid},
        )
    ).scalar_one()
    corrected = await settlement.correct_delivery(
        session,
        gid,
        [settlement.CorrectionLine(first, 3 * 3 - 2)],
        reason="one sack torn",
        actor=None,
        now=datetime.now(UTC),
        fiscal_year_start_month=1,
    )
    assert sum(corrected.refunds.values()) > 0
    await session.flush()
    orders_of_buy = sa.text("SELECT member_id, id FROM buy_order WHERE group_buy_id = :g")
    order_of = dict((await session.execute(orders_of_buy, {"g": gid})).all())
    for m, charge in charges.items():
        refund = corrected.refunds.get(order_of[m], 0)
        lines = await ledger.statement(session, chart.member_trade(m))
        assert [(ln.kind, ln.amount_cents) for ln in lines] == [("group_buy_charge", charge)] + (
            [("group_buy_correction", -refund)] if refund else []
        )
        assert lines[-1].balance_cents == charge - refund
    trial = await ledger.trial_balance(session)
    assert sum(t.debits_cents for t in trial) == sum(t.credits_cents for t in trial)


async def test_close_statements_do_not_grow_with_the_orders(session):
    counts: list[int] = []
    for members in (2, 6):
        await _delivered_buy(session, members, uuid.uuid4().hex[:8], counts)
    print(f"close: {counts} statements for 2 and 6 orders")  # noqa: T201 - reported in bench/results.md
    assert counts[0] == counts[1], counts


async def test_delivery_statements_do_not_grow_with_the_orders(session):
    counts: list[int] = []
    for members in (2, 6):
        await _delivered_buy(session, members, uuid.uuid4().hex[:8], delivery_statements=counts)
    print(f"delivery: {counts} statements for 2 and 6 orders")  # noqa: T201 - reported in bench/results.md
    assert counts[0] == counts[1], counts


async def _settled_figures(
    session: AsyncSession, gid: int, members: list[int]
) -> tuple[str, tuple[int, int], tuple[int, int], list[int]]:
    entries = (
        await session.execute(
            sa.text(
                "SELECT count(DISTINCT e.id), count(p.id) FROM journal_entry e JOIN posting p ON p.entry_id = e.id "
                "WHERE e.idempotency_key = :k OR e.idempotency_key LIKE :m"
            ),
            {"k": f"settle:{gid}", "m": f"settle:{gid}:%"},
        )
    ).one()
    patronage = (
        await session.execute(
            sa.text("SELECT count(*), coalesce(sum(amount_cents), 0) FROM patronage_record WHERE group_buy_id = :g"),
            {"g": gid},
        )
    ).one()
    trade = [await ledger.balance_of(session, chart.member_trade(m)) for m in members]
    status = (await buying.get_group_buy(session, gid)).group_buy.status
    return status, (int(entries[0]), int(entries[1])), (int(patronage[0]), int(patronage[1])), trade


async def _waiting_on_lock(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database() AND query LIKE '%outbox_job%'"
                )
            )
        ).first()
    return None if row is None else int(row[0])


async def test_a_settlement_killed_mid_job_leaves_nothing_and_the_rerun_settles_once(committing_engine):
    maker = make_session_maker(committing_engine)
    tag = uuid.uuid4().hex[:8]
    async with maker() as s:
        gid, members = await _delivered_buy(s, 3, tag)
        first_order = (
            await s.execute(sa.text("SELECT min(id) FROM buy_order WHERE group_buy_id = :g"), {"g": gid})
        ).scalar_one()
        await s.commit()
    # The test holds the key of one of the job's last writes (a member's "settled" notice), uncommitted:
    # the job waits there, after its ledger and patronage statements, until its connection dies.
    async with committing_engine.connect() as blocker:
        await blocker.execute(
            sa.insert(OutboxJob).values(
                job_name="deliver_notification",
                business_key=f"notify:group_buy:{gid}:settled:{first_order}",
                payload={},
            )
        )

        async def job() -> None:
            async with maker() as s:
                await _settle(s, gid)
                await s.commit()

        task = asyncio.create_task(job())
        deadline = time.monotonic() + 20
        while (pid := await _waiting_on_lock(committing_engine)) is None:
            assert time.monotonic() < deadline, "the job never reached its notifications"
            assert not task.done(), task
            await asyncio.sleep(0.05)
        async with committing_engine.connect() as killer:
            await killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises for a dead connection
            await task
        await blocker.rollback()

    async with maker() as s:
        status, entries, patronage, trade = await _settled_figures(s, gid, members)
        assert (status, entries, patronage, trade) == ("delivered", (0, 0), (0, 0), [0, 0, 0])

    for _ in range(2):  # the rerun settles; a second rerun changes nothing
        async with maker() as s:
            await _settle(s, gid)
            await s.commit()
        async with maker() as s:
            status, entries, patronage, trade = await _settled_figures(s, gid, members)
            # 3 units at 3.33 + 5% = 1049 (one member got 2: 699), 2 at 3.33 + 5% = 699 each
            assert status == "settled"
            assert entries == (1, 3 + 1)  # one entry: a debit a member, the sales credited once
            assert patronage == (6, 3 * 1049 + 3 * 699 - 350)
            assert sorted(trade) == [699 + 699, 1049 + 699, 1049 + 699]
