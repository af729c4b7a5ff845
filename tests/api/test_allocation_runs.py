"""Year-end allocation runs end to end: EX1 of DOMAIN.md through the API and the real worker."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import col, select

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.patronage.tables import PatronageRecord
from domain.payments.tables import Payout
from tests.support.users import bearer, make_user
from tests.support.worker import run_worker

# DOMAIN.md EX1: member volumes A..E and the non-member volume, in cents.
VOLUMES = {"A": 10_123_456, "B": 7_777_777, "C": 5_000_000, "D": 1_108_766, "E": 8_734}
NONMEMBER = 5_981_267


async def _import_members(client, staff) -> dict[str, dict[str, Any]]:
    register = [
        {
            "external_ref": f"ex1-{name}",
            "name": f"Member {name}",
            "email": f"{name.lower()}@ex1.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        }
        for name in VOLUMES
    ]
    landed = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()["members"]
    return dict(zip(VOLUMES, landed, strict=True))


async def _patronage(session, members: dict[str, dict[str, Any]], fiscal_year: int = 2025) -> None:
    at = datetime(fiscal_year, 6, 30, tzinfo=UTC)
    for name, cents in VOLUMES.items():
        # two records per member, one a small correction, to show records are summed
        session.add(
            PatronageRecord(
                member_id=int(members[name]["id"]),
                member_business=True,
                fiscal_year=fiscal_year,
                pool="purchases",
                amount_cents=cents + 100,
                occurred_at=at,
                source="import",
                external_ref=f"ex1-{fiscal_year}-{name}-1",
            )
        )
        session.add(
            PatronageRecord(
                member_id=int(members[name]["id"]),
                member_business=True,
                fiscal_year=fiscal_year,
                pool="purchases",
                amount_cents=-100,
                occurred_at=at,
                source="correction",
                external_ref=f"ex1-{fiscal_year}-{name}-2",
            )
        )
    session.add(
        PatronageRecord(
            member_id=None,
            member_business=False,
            fiscal_year=fiscal_year,
            pool="purchases",
            amount_cents=NONMEMBER,
            occurred_at=at,
            source="import",
            external_ref=f"ex1-{fiscal_year}-nm",
        )
    )
    await session.commit()


RUN: dict[str, Any] = {
    "fiscal_year": 2025,
    "pools": [{"pool": "purchases", "net_margin_cents": 1_799_800}],
    "payment_date": "2026-03-15",
    "policy": {"profile": "us", "cash_rate": "0.20", "min_allocation_cents": 1_000},
}


async def test_ex1_from_patronage_to_posted_notices_and_balanced_books(client, session, session_maker, settings):
    staff = await bearer(client, (await make_user(session)).email)
    members = await _import_members(client, staff)
    await _patronage(session, members)

    started = await client.post("/v1/allocation-runs", json=RUN, headers=staff)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["status"], run["totals"]) == ("computing", None)

    await run_worker(settings, session_maker)
    computed = (await client.get(f"/v1/allocation-runs/{run['id']}", headers=staff)).json()
    assert computed["status"] == "computed", computed
    totals = computed["totals"]
    assert totals["net_margin_cents"] == 1_799_800
    assert totals["member_share_cents"] == 1_440_964
    assert totals["nonmember_share_cents"] == 358_836
    assert totals["allocated_cents"] == 607_340 + 466_615 + 299_967 + 66_518  # E's 5.24 is below the minimum
    assert totals["de_minimis_cents"] == 524
    assert totals["cash_cents"] + totals["retained_cents"] == totals["allocated_cents"]
    assert totals["cash_cents"] + totals["retained_cents"] + totals["unallocated_cents"] == 1_799_800

    lines = (await client.get(f"/v1/allocation-runs/{run['id']}/lines", headers=staff)).json()["items"]
    by_member = {ln["member_id"]: ln for ln in lines}
    expected = {"A": 607_340, "B": 466_615, "C": 299_967, "D": 66_518, "E": 0}
    for name, allocation in expected.items():
        line = by_member[members[name]["id"]]
        assert line["allocation_cents"] == allocation, name
        assert line["patronage_cents"] == VOLUMES[name]
        assert line["cash_cents"] + line["retained_cents"] == allocation
        assert line["qualified"] is (allocation > 0)
    c = by_member[members["C"]["id"]]
    assert (c["cash_cents"], c["retained_cents"]) == (59_994, 239_973)  # CEIL keeps C at 20%

    approved = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "posted"
    again = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert again.json() == approved.json()

    equity = (await client.get(f"/v1/members/{members['C']['id']}/equity", headers=staff)).json()
    assert equity["lots"] == [
        {
            "fiscal_year": 2025,
            "kind": "retained_patronage",
            "qualified": True,
            "face_cents": 239_973,
            "redeemed_cents": 0,
            "outstanding_cents": 239_973,
        }
    ]
    payouts = (await session.exec(select(Payout).where(col(Payout.kind) == "patronage_cash"))).all()
    assert sorted(p.amount_cents for p in payouts) == sorted(by_member[members[n]["id"]]["cash_cents"] for n in "ABCD")
    assert all(p.status == "pending" for p in payouts)

    recon = (await client.get("/v1/fiscal-years/2025/reconciliation", headers=staff)).json()
    assert recon["balanced"] is True
    assert recon["difference_cents"] == 0
    assert recon["cash_cents"] == totals["cash_cents"]
    assert recon["retained_cents"] == totals["retained_cents"]
    assert recon["unallocated_cents"] == totals["unallocated_cents"]
    assert (await client.get("/v1/fiscal-years/2024/reconciliation", headers=staff)).json()["balanced"] is False
    trial = await ledger.trial_balance(session)
    assert sum(t.debits_cents for t in trial) == sum(t.credits_cents for t in trial)
    assert await ledger.balance_of(session, chart.PAYOUTS_PAYABLE) == totals["cash_cents"]

    notice = await client.get(f"/v1/allocation-runs/{run['id']}/notices/{members['C']['id']}", headers=staff)
    assert notice.status_code == 200
    assert notice.json() | {"run_id": None, "coop": None, "qualified_meaning": None} == {
        "run_id": None,
        "coop": None,
        "qualified_meaning": None,
        "fiscal_year": 2025,
        "notice_date": "2026-03-15",
        "member_id": members["C"]["id"],
        "member_number": members["C"]["member_number"],
        "member_name": "Member C",
        "patronage_cents": 5_000_000,
        "stated_allocation_cents": 299_967,
        "patronage_portion_cents": 299_967,
        "cash_cents": 59_994,
        "retained_cents": 239_973,
        "cash": {"total_cents": 59_994, "applied_to_membership_share_cents": 0, "paid_cents": 59_994},
        "qualified": True,
        "payment_date": "2026-03-15",
        "payment_period_end": "2026-09-15",
    }
    pdf = await client.get(
        f"/v1/allocation-runs/{run['id']}/notices/{members['C']['id']}", headers=staff | {"Accept": "application/pdf"}
    )
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "$2,999.67" in text
    assert "Qualified written notice of allocation" in text
    # JSON preferred, PDF acceptable: the q-values decide, not the mere mention of PDF.
    either = {"Accept": "application/json, application/pdf;q=0.5"}
    preferred = await client.get(
        f"/v1/allocation-runs/{run['id']}/notices/{members['C']['id']}", headers=staff | either
    )
    assert preferred.headers["content-type"] == "application/json"
    assert preferred.json()["stated_allocation_cents"] == 299_967
    none_for_e = await client.get(f"/v1/allocation-runs/{run['id']}/notices/{members['E']['id']}", headers=staff)
    assert none_for_e.status_code == 404

    csv_answer = await client.get("/v1/reports/1099-patr", params={"calendar_year": 2026}, headers=staff)
    assert csv_answer.headers["content-type"].startswith("text/csv")
    rows = csv_answer.text.strip().splitlines()
    assert rows[0].startswith("calendar_year,member_id")
    assert len(rows) == 1 + 4  # A-D; E got nothing
    c_row = next(r for r in rows if r.split(",")[1] == members["C"]["id"])
    # box 1: the qualified retained part only; the cash payouts are still pending, not paid
    assert c_row.split(",")[3:] == ["239973", "0", "0"]

    # A second run for a posted year is refused; the job running twice changed nothing.
    assert (await client.post("/v1/allocation-runs", json=RUN, headers=staff)).status_code == 409
    count = (await session.execute(sa.text("SELECT count(*) FROM allocation_line"))).scalar_one()
    assert count == 5


async def test_a_run_the_rules_refuse_is_400_at_post_with_nothing_stored(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    members = await _import_members(client, staff)
    await _patronage(session, members)
    now = datetime.now(UTC).year
    refused = {
        "payment_date": RUN | {"payment_date": "2025-06-01"},  # before the fiscal year ends
        "payment_date ": RUN | {"payment_date": "2026-09-16"},  # a day after the payment period
        "fiscal_year": RUN | {"fiscal_year": now, "payment_date": f"{now + 1}-03-15"},  # not ended yet
        "fiscal_year  ": RUN | {"fiscal_year": now + 5, "payment_date": f"{now + 6}-03-15"},  # in the future
        "pools[1].pool": RUN | {"pools": [*RUN["pools"], {"pool": "purchase", "net_margin_cents": 5}]},
    }
    for field, body in refused.items():
        answer = await client.post("/v1/allocation-runs", json=body, headers=staff)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field.strip() in [e["field"] for e in answer.json()["errors"]], answer.json()
    count = (await session.execute(sa.text("SELECT count(*) FROM allocation_run"))).scalar_one()
    assert count == 0
    last_day = RUN | {"payment_date": "2026-09-15"}
    assert (await client.post("/v1/allocation-runs", json=last_day, headers=staff)).status_code == 202


async def test_bad_policy_is_400_and_members_cannot_start_runs(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    answer = await client.post("/v1/allocation-runs", json=RUN | {"policy": {"cash_rate": "1.5"}}, headers=staff)
    assert answer.status_code == 400
    assert any("cash_rate" in e["field"] for e in answer.json()["errors"])
    twice = RUN | {"pools": [RUN["pools"][0], RUN["pools"][0]]}
    assert (await client.post("/v1/allocation-runs", json=twice, headers=staff)).status_code == 400
    from domain.identity.rules import MemberRole
    from tests.support.users import make_member_user

    member = await bearer(client, (await make_member_user(session, MemberRole.ADMIN)).email)
    assert (await client.post("/v1/allocation-runs", json=RUN, headers=member)).status_code == 403
    assert (await client.get("/v1/fiscal-years/2025/reconciliation", headers=member)).status_code == 403


async def _run_year(
    client, staff, settings, session_maker, fiscal_year: int, pools: list[dict[str, Any]]
) -> dict[str, Any]:
    body = RUN | {"fiscal_year": fiscal_year, "pools": pools, "payment_date": f"{fiscal_year + 1}-03-15"}
    run = (await client.post("/v1/allocation-runs", json=body, headers=staff)).json()
    await run_worker(settings, session_maker)
    approved = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


async def test_a_loss_allocates_nothing_and_the_deficit_is_recovered_next_year(
    client, session, session_maker, settings
):
    staff = await bearer(client, (await make_user(session)).email)
    members = await _import_members(client, staff)
    await _patronage(session, members, 2024)
    at = datetime(2025, 5, 1, tzinfo=UTC)
    for name, cents in VOLUMES.items():
        session.add(
            PatronageRecord(
                member_id=int(members[name]["id"]),
                member_business=True,
                fiscal_year=2025,
                pool="purchases",
                amount_cents=cents,
                occurred_at=at,
                source="import",
                external_ref=f"y2-{name}",
            )
        )
    # the "fuel" pool's only business was with non-members
    session.add(
        PatronageRecord(
            member_id=None,
            member_business=False,
            fiscal_year=2024,
            pool="fuel",
            amount_cents=100_000,
            occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
            source="import",
            external_ref="y2-fuel",
        )
    )
    await session.commit()

    # 2024: "purchases" earned 17,998.00 but a second pool, "fuel", lost 500.00.
    first = await _run_year(
        client,
        staff,
        settings,
        session_maker,
        2024,
        [{"pool": "purchases", "net_margin_cents": 1_799_800}, {"pool": "fuel", "net_margin_cents": -50_000}],
    )
    assert first["totals"]["loss_cents"] == 50_000
    assert first["totals"]["deficit_carried_forward_cents"] == 50_000
    assert first["totals"]["member_share_cents"] == 1_440_964  # the loss does not reduce the other pool

    # 2025: the 500.00 deficit is recovered from the member share before anything is allocated.
    second = await _run_year(
        client, staff, settings, session_maker, 2025, [{"pool": "purchases", "net_margin_cents": 1_000_000}]
    )
    totals = second["totals"]
    assert totals["deficit_recovered_cents"] == 50_000
    assert totals["deficit_carried_forward_cents"] == 0
    assert totals["allocated_cents"] + totals["de_minimis_cents"] == totals["member_share_cents"] - 50_000
    for year in (2024, 2025):
        recon = (await client.get(f"/v1/fiscal-years/{year}/reconciliation", headers=staff)).json()
        assert recon["balanced"] is True, recon


async def test_an_unpaid_share_is_repaid_only_from_cash_above_the_minimum(client, session, session_maker, settings):
    staff = await bearer(client, (await make_user(session)).email)
    register = [
        {
            "external_ref": "loan-1",
            "name": "Owes Share",
            "email": "o@loan.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 2_500,
        },
        {
            "external_ref": "loan-2",
            "name": "Paid Up",
            "email": "p@loan.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        },
    ]
    owes, paid_up = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()[
        "members"
    ]
    at = datetime(2025, 3, 1, tzinfo=UTC)
    for ref, m in (("l1", owes), ("l2", paid_up)):
        session.add(
            PatronageRecord(
                member_id=int(m["id"]),
                member_business=True,
                fiscal_year=2025,
                pool="purchases",
                amount_cents=1_000_000,
                occurred_at=at,
                source="import",
                external_ref=ref,
            )
        )
    await session.commit()
    body = RUN | {
        "pools": [{"pool": "purchases", "net_margin_cents": 100_001}],
        "policy": {"cash_rate": "0.50", "min_allocation_cents": 0},
    }
    run = (await client.post("/v1/allocation-runs", json=body, headers=staff)).json()
    await run_worker(settings, session_maker)
    await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    lines = {
        ln["member_id"]: ln
        for ln in (await client.get(f"/v1/allocation-runs/{run['id']}/lines", headers=staff)).json()["items"]
    }
    # 100,001 split 50,001 / 50,000 (the odd cent to the earlier member number);
    # cash CEIL(50%) = 25,001; the 20% minimum CEIL(10,000.2) = 10,001 stays cash; 7,500 repays the share.
    debtor = lines[owes["id"]]
    assert (debtor["allocation_cents"], debtor["cash_cents"], debtor["loan_repayment_cents"]) == (50_001, 25_001, 7_500)
    assert lines[paid_up["id"]]["loan_repayment_cents"] == 0
    member = (await client.get(f"/v1/members/{owes['id']}", headers=staff)).json()
    assert member["share"] == {"par_cents": 10_000, "paid_cents": 10_000, "issued": True}
    payouts = {p.member_id: p.amount_cents for p in (await session.exec(select(Payout))).all()}
    assert payouts[int(owes["id"])] == 25_001 - 7_500
    recon = (await client.get("/v1/fiscal-years/2025/reconciliation", headers=staff)).json()
    assert recon["balanced"] is True
    assert recon["cash_cents"] == 25_001 + 25_000


async def test_base_capital_plan_retains_only_up_to_each_members_requirement(client, session, session_maker, settings):
    staff = await bearer(client, (await make_user(session)).email)
    register = [
        {
            "external_ref": f"bc-{n}",
            "name": f"BC {n}",
            "email": f"{n}@bc.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        }
        for n in ("under", "over")
    ]
    under, over = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()[
        "members"
    ]
    lot = {
        "external_ref": "bc-lot",
        "member_number": over["member_number"],
        "fiscal_year": 2021,
        "qualified": True,
        "face_cents": 50_000,
        "redeemed_cents": 0,
    }
    await client.post("/v1/equity/imports", json={"lots": [lot]}, headers=staff)
    for m in (under, over):
        for year in (2024, 2025):
            session.add(
                PatronageRecord(
                    member_id=int(m["id"]),
                    member_business=True,
                    fiscal_year=year,
                    pool="purchases",
                    amount_cents=100_000,
                    occurred_at=datetime(year, 5, 1, tzinfo=UTC),
                    source="import",
                    external_ref=f"bc-{m['id']}-{year}",
                )
            )
    await session.commit()
    body = RUN | {
        "pools": [{"pool": "purchases", "net_margin_cents": 20_000}],
        "policy": {"cash_rate": "0.20", "base_capital": {"k": "0.10", "years": 2}},
    }
    run = (await client.post("/v1/allocation-runs", json=body, headers=staff)).json()
    await run_worker(settings, session_maker)
    computed = (await client.get(f"/v1/allocation-runs/{run['id']}", headers=staff)).json()
    assert computed["status"] == "computed", computed
    lines = {
        ln["member_id"]: ln
        for ln in (await client.get(f"/v1/allocation-runs/{run['id']}/lines", headers=staff)).json()["items"]
    }
    # Requirement CEIL(10% x 100,000) = 10,000. The under-invested member retains up to its gap but
    # keeps the 20% cash minimum; the over-invested one (50,000 held) takes everything in cash.
    assert (lines[under["id"]]["cash_cents"], lines[under["id"]]["retained_cents"]) == (2_000, 8_000)
    assert (lines[over["id"]]["cash_cents"], lines[over["id"]]["retained_cents"]) == (10_000, 0)
    assert (computed["totals"]["cash_cents"], computed["totals"]["retained_cents"]) == (12_000, 8_000)
    await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    recon = (await client.get("/v1/fiscal-years/2025/reconciliation", headers=staff)).json()
    assert recon["balanced"] is True
    assert (recon["cash_cents"], recon["retained_cents"]) == (12_000, 8_000)


async def test_an_invalid_base_capital_rate_is_400_naming_the_field_and_nothing_is_stored(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    for k in ("NaN", "2", "-0.1", "Infinity"):
        body = RUN | {"policy": {"cash_rate": "0.20", "base_capital": {"k": k, "years": 2}}}
        answer = await client.post("/v1/allocation-runs", json=body, headers=staff)
        assert answer.status_code == 400, (k, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in answer.json()["errors"]] == ["policy.base_capital.k"], k
    assert (await session.execute(sa.text("SELECT count(*) FROM allocation_run"))).scalar_one() == 0
    assert (await session.execute(sa.text("SELECT count(*) FROM outbox_job"))).scalar_one() == 0


async def test_a_stored_run_whose_input_the_rules_refuse_fails_once_and_is_not_retried(
    client, session, session_maker, settings, queue
):
    """A run stored before the check existed (k = NaN) must fail, not stay `computing` while its job retries."""
    from domain.allocation import service as allocation
    from domain.allocation.tables import AllocationRun
    from domain.jobs import service as outbox
    from domain.jobs.queue import ArqJobQueue
    from domain.jobs.tables import OutboxJob
    from domain.unit_of_work import relay

    user = await make_user(session)
    staff = await bearer(client, user.email)
    members = await _import_members(client, staff)
    await _patronage(session, members)
    request = RUN | {"policy": {"cash_rate": "0.20", "base_capital": {"k": "NaN", "years": 2}}}
    async with session_maker() as s:
        run = AllocationRun(
            fiscal_year=2025,
            status="computing",
            payment_date=datetime(2026, 3, 15, tzinfo=UTC).date(),
            request=request,
            created_by=user.id,
        )
        s.add(run)
        await s.flush()
        run_id = run.id
        await outbox.add(s, allocation.COMPUTE_JOB, f"allocation_run:{run_id}:compute", {"run_id": run_id})
        await s.commit()
        await relay(session_maker, ArqJobQueue(queue), outbox.take_pending_keys(s))
    worker = await run_worker(settings, session_maker)
    assert worker.jobs_retried == 0
    failed = (await client.get(f"/v1/allocation-runs/{run_id}", headers=staff)).json()
    assert failed["status"] == "failed"
    assert "policy.base_capital.k" in failed["failure_reason"]
    job = (
        await session.exec(select(OutboxJob).where(col(OutboxJob.business_key) == f"allocation_run:{run_id}:compute"))
    ).one()
    assert job.attempts == 1
