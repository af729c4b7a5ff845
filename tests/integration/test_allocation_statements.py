"""The year-end computation reads the year's kept patronage totals in one pass, and never the records."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain.allocation import service as allocation
from domain.patronage.tables import PatronageRecord
from tests.integration.test_order_write_statements import statements
from tests.support.users import make_member


async def test_compute_aggregates_the_year_once(session):
    members = [await make_member(session, f"Year End {i}") for i in range(3)]
    for n, member in enumerate(members):
        member.status, member.joined_at = "full", datetime(2020, 1, 1, tzinfo=UTC)
        session.add(member)
        for pool, business in (("purchases", True), ("purchases", False)):
            session.add(
                PatronageRecord(
                    member_id=member.id,
                    member_business=business,
                    fiscal_year=2025,
                    pool=pool,
                    amount_cents=10_000 * (n + 1),
                    occurred_at=datetime(2025, 6, 30, tzinfo=UTC),
                    source="import",
                    external_ref=f"stmt-{member.id}-{business}",
                )
            )
    await session.flush()
    run = await allocation.start(
        session,
        fiscal_year=2025,
        request={
            "fiscal_year": 2025,
            "pools": [{"pool": "purchases", "net_margin_cents": 6_000}],
            "payment_date": "2026-03-15",
            "policy": {"profile": "us", "cash_rate": "0.20"},
        },
        payment_date=date(2026, 3, 15),
        actor=0,
        fiscal_year_start_month=1,
        today=date(2026, 3, 1),
    )
    async with statements(session) as seen:
        computed = await allocation.compute(session, run.id or 0, fiscal_year_start_month=1)
    assert computed.status == "computed", computed.failure_reason
    assert computed.totals is not None
    # Member volume 60,000 of 120,000: half the margin is the members' share.
    assert computed.totals["member_share_cents"] == 3_000
    # Wave 6: one aggregation of the records (3 before: member volumes by pool, non-member volumes,
    # each member's); now the records are not read at all, the totals kept as they were written once.
    assert [s for s in seen if "patronage_record" in s] == []
    # Issue 12's thirty-fifth part: the kept totals are read twice, each pool's volumes and then the
    # lines, and never copied into a temporary table (its creation, ANALYZE and drop cost more at
    # 10,000 members than the second read).
    passes = [s for s in seen if "FROM patronage_total" in s]
    assert len(passes) == 2, passes
    assert "GROUP BY v.pool" in passes[0]
    assert "INSERT INTO allocation_line" in passes[1]
    assert [s for s in seen if "TEMP" in s.upper().split()] == []
