"""The set-based SQL that posts a run pays exactly what the rule says: cash less the loan repaid."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import col, select

from domain.allocation.posting import key_prefix
from domain.allocation.rules import payout_cents
from domain.allocation.tables import AllocationLine
from domain.ledger import chart
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.patronage.tables import PatronageRecord
from domain.payments.tables import Payout
from tests.support.users import bearer, make_user
from tests.support.worker import run_worker

# Share paid and patronage per member: owing all of it, owing a little, paid up.
MEMBERS = {"owes-most": (0, 1_000_000), "owes-little": (9_000, 700_000), "paid-up": (10_000, 400_000)}


async def test_each_payout_and_payable_credit_is_the_rules_cash_less_loan(client, session, session_maker, settings):
    staff = await bearer(client, (await make_user(session)).email)
    register = [
        {
            "external_ref": f"pr-{name}",
            "name": f"Payout {name}",
            "email": f"{name}@payout-rule.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": paid,
        }
        for name, (paid, _) in MEMBERS.items()
    ]
    landed = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()["members"]
    for member, (name, (_, volume)) in zip(landed, MEMBERS.items(), strict=True):
        session.add(
            PatronageRecord(
                member_id=int(member["id"]),
                member_business=True,
                fiscal_year=2025,
                pool="purchases",
                amount_cents=volume,
                occurred_at=datetime(2025, 4, 1, tzinfo=UTC),
                source="import",
                external_ref=f"pr-{name}",
            )
        )
    await session.commit()
    body = {
        "fiscal_year": 2025,
        "pools": [{"pool": "purchases", "net_margin_cents": 210_001}],
        "payment_date": "2026-03-15",
        "policy": {"profile": "us", "cash_rate": "0.60", "min_allocation_cents": 0},
    }
    run = (await client.post("/v1/allocation-runs", json=body, headers=staff)).json()
    await run_worker(settings, session_maker)
    approved = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert approved.status_code == 200, approved.text

    run_id = int(run["id"])
    lines = (await session.exec(select(AllocationLine).where(col(AllocationLine.run_id) == run_id))).all()
    assert len(lines) == len(MEMBERS)
    assert sum(line.loan_deduction_cents > 0 for line in lines) == 2  # both debtors repay something
    payouts = {
        p.business_key: p.amount_cents
        for p in (await session.exec(select(Payout).where(col(Payout.kind) == "patronage_cash"))).all()
    }
    payable = (await session.exec(select(Account).where(col(Account.code) == chart.PAYOUTS_PAYABLE.code))).one()
    credited = (
        await session.execute(
            sa.select(col(Posting.amount_cents))
            .join(JournalEntry, col(Posting.entry_id) == col(JournalEntry.id))
            .where(
                col(Posting.account_id) == payable.id,
                col(Posting.side) == "credit",
                col(JournalEntry.idempotency_key).like(f"{key_prefix(run_id)}%"),
            )
        )
    ).all()
    expected = {
        f"{key_prefix(run_id)}{line.member_id}": payout_cents(line.cash_cents, line.loan_deduction_cents)
        for line in lines
        if payout_cents(line.cash_cents, line.loan_deduction_cents) > 0
    }
    assert payouts == expected
    # The run is one entry: payouts payable is credited once with every payout's cash together.
    assert [amount for (amount,) in credited] == [sum(expected.values())]
