"""Issue 9, money and records: 1099-PATR counts only money paid, preferred shares after a posted run,
the written notice, and the reconciliation that explains every difference."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from pypdf import PdfReader
from sqlmodel import col, select

from domain.ledger import chart
from domain.ledger import service as ledger
from domain.payments.tables import Payout
from domain.settings import CoopIdentity
from tests.support.apps import shared
from tests.support.users import bearer, make_user
from tests.support.worker import run_worker

# Last calendar year's allocation, paid (and so reported on Form 1099-PATR) this year, when staff act.
PAID_IN = datetime.now(UTC).year
YEAR = PAID_IN - 1
RUN: dict[str, Any] = {
    "fiscal_year": YEAR,
    "pools": [{"pool": "purchases", "net_margin_cents": 100_000}],
    "payment_date": f"{PAID_IN}-03-15",
    "policy": {"cash_rate": "0.50", "min_allocation_cents": 0},
}


async def _posted_run(
    client, session, session_maker, settings, **extra: Any
) -> tuple[dict[str, str], dict[str, Any], str]:
    """Two members with equal patronage last fiscal year: "owes" still owes 75.00 on its share, "paid" owes nothing."""
    from domain.patronage.tables import PatronageRecord

    staff = await bearer(client, (await make_user(session)).email)
    register = [
        {
            "external_ref": f"rec-{name}",
            "name": f"Shop {name}",
            "email": f"{name}@records.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": paid,
        }
        for name, paid in (("owes", 2_500), ("paid", 10_000))
    ]
    landed = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()["members"]
    members = dict(zip(("owes", "paid"), landed, strict=True))
    for name, m in members.items():
        session.add(
            PatronageRecord(
                member_id=int(m["id"]),
                member_business=True,
                fiscal_year=YEAR,
                pool="purchases",
                amount_cents=1_000_000,
                occurred_at=datetime(YEAR, 5, 1, tzinfo=UTC),
                source="import",
                external_ref=f"rec-p-{name}",
            )
        )
    await session.commit()
    run = (await client.post("/v1/allocation-runs", json=RUN | extra, headers=staff)).json()
    await run_worker(settings, session_maker)
    approved = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert approved.json()["status"] == "posted", approved.text
    return staff, members, run["id"]


def _csv(text: str) -> dict[str, dict[str, str]]:
    header, *rows = (line.split(",") for line in text.strip().splitlines())
    return {row[1]: dict(zip(header, row, strict=True)) for row in rows}


async def test_1099_patr_box_1_counts_only_cash_actually_paid(client, session, session_maker, named_settings):
    staff, members, _ = await _posted_run(client, session, session_maker, named_settings)
    # Each allocation is 50,000: cash 25,000, retained 25,000 (qualified). "owes" has 7,500 of its cash
    # applied to its membership share, so its payout is 17,500; "paid" gets a 25,000 payout.
    payouts = {
        p.member_id: p for p in (await session.exec(select(Payout).where(col(Payout.kind) == "patronage_cash"))).all()
    }
    owes, paid = int(members["owes"]["id"]), int(members["paid"]["id"])
    assert (payouts[owes].amount_cents, payouts[paid].amount_cents) == (17_500, 25_000)
    voided = await client.post(f"/v1/payouts/{payouts[owes].id}/void", json={"reason": "closed"}, headers=staff)
    assert voided.json()["status"] == "void", voided.text
    # The other payout: unclaimed, reissued, then paid: it counts once.
    for action, body in (("mark-unclaimed", {}), ("reissue", {"reference": "CHK-2"}), ("mark-paid", {})):
        moved = await client.post(f"/v1/payouts/{payouts[paid].id}/{action}", json=body, headers=staff)
        assert moved.status_code == 200, moved.text

    answer = await client.get("/v1/reports/1099-patr", params={"calendar_year": PAID_IN}, headers=staff)
    rows = _csv(answer.text)
    # box 1 = cash paid + cash applied to the share + qualified notice; the void payout is not there.
    assert rows[str(owes)]["box1_patronage_dividends_cents"] == str(7_500 + 25_000)
    assert rows[str(owes)]["box1_applied_to_membership_share_cents"] == "7500"
    assert rows[str(paid)]["box1_patronage_dividends_cents"] == str(25_000 + 25_000)
    assert rows[str(paid)]["box1_applied_to_membership_share_cents"] == "0"


async def test_1099_patr_leaves_out_cash_not_yet_paid(client, session, session_maker, named_settings):
    staff, members, _ = await _posted_run(client, session, session_maker, named_settings)
    rows = _csv((await client.get("/v1/reports/1099-patr", params={"calendar_year": PAID_IN}, headers=staff)).text)
    assert rows[members["paid"]["id"]]["box1_patronage_dividends_cents"] == "25000"  # the notice only


async def test_preferred_shares_can_be_issued_after_a_posted_run(client, session, session_maker, named_settings):
    staff, members, _ = await _posted_run(client, session, session_maker, named_settings)
    # Equity now: shares 2,500 + 7,500 (applied) + 10,000, retained 50,000: 70,000. A 25% cap on
    # preferred / (equity + preferred) allows up to 23,333.
    issued = await client.post(
        f"/v1/members/{members['paid']['id']}/preferred-shares",
        json={"amount_cents": 20_000, "method": "bank_transfer"},
        headers=staff,
    )
    assert issued.status_code in {200, 201}, issued.text


async def test_reconciliation_explains_every_cent_of_cash_and_says_when_there_is_no_run(
    client, session, session_maker, named_settings
):
    staff, members, run_id = await _posted_run(
        client, session, session_maker, named_settings, nonpatronage_income_cents=3_000
    )
    payouts = {
        p.member_id: p for p in (await session.exec(select(Payout).where(col(Payout.kind) == "patronage_cash"))).all()
    }
    owes, paid = int(members["owes"]["id"]), int(members["paid"]["id"])
    await client.post(f"/v1/payouts/{payouts[owes].id}/void", json={"reason": "closed"}, headers=staff)
    # "paid" owes 40.00 on its trade account: that much of its payout is set off, the rest paid.
    await ledger.transfer(
        session,
        debit=chart.member_trade(paid),
        credit=chart.SALES,
        amount_cents=4_000,
        kind="charge",
        idempotency_key="rec-charge",
        occurred_at=datetime.now(UTC),
    )
    await session.commit()
    set_off = await client.post(f"/v1/payouts/{payouts[paid].id}/set-off", json={}, headers=staff)
    assert set_off.json()["amount_cents"] == 21_000, set_off.text
    await client.post(f"/v1/payouts/{payouts[paid].id}/mark-paid", json={}, headers=staff)

    recon = (await client.get(f"/v1/fiscal-years/{YEAR}/reconciliation", headers=staff)).json()
    assert (recon["status"], recon["balanced"], recon["allocation_run"]) == ("balanced", True, run_id)
    assert recon["cash_cents"] == 50_000
    assert recon["cash"] == {
        "allocated_cents": 50_000,
        "applied_to_shares_cents": 7_500,
        "set_off_cents": 4_000,
        "paid_cents": 21_000,
        "pending_cents": 0,
        "unclaimed_cents": 0,
        "failed_cents": 0,
        "void_cents": 17_500,
        "unexplained_cents": 0,
    }
    assert recon["nonpatronage_income_cents"] == 3_000  # never allocated: kept as unallocated equity

    none = (await client.get(f"/v1/fiscal-years/{YEAR - 1}/reconciliation", headers=staff)).json()
    assert (none["status"], none["allocation_run"], none["balanced"]) == ("no_run", None, False)


@pytest.fixture(scope="module")
def named_settings(settings):
    """The co-op as its letters name it."""
    identity = CoopIdentity(
        "Valley Growers Co-operative", ("12 Mill Road", "Springfield, IL 62701"), "12-3456789", "members@valley.test"
    )
    return dataclasses.replace(settings, coop=identity)


@pytest.fixture(scope="module")
async def named_app(named_settings, engine, redis):
    async with shared(named_settings, engine, redis) as one:
        yield one


@pytest.fixture
def app(named_app, session_maker, queue):
    return named_app.for_test(session_maker, queue)


async def test_the_notice_adds_up_and_the_pdf_is_a_letter_that_says_so(client, session, session_maker, named_settings):
    staff, members, run_id = await _posted_run(client, session, session_maker, named_settings)
    url = f"/v1/allocation-runs/{run_id}/notices/{members['owes']['id']}"
    body = (await client.get(url, headers=staff)).json()
    # allocation = cash + retained; of the cash, 75.00 went to the membership share and the rest is paid.
    assert body["stated_allocation_cents"] == body["cash_cents"] + body["retained_cents"] == 50_000
    assert body["cash"] == {"total_cents": 25_000, "applied_to_membership_share_cents": 7_500, "paid_cents": 17_500}
    assert body["coop"] == {
        "name": "Valley Growers Co-operative",
        "address_lines": ["12 Mill Road", "Springfield, IL 62701"],
        "tax_id": "12-3456789",
        "contact": "members@valley.test",
    }
    assert body["notice_date"] == f"{PAID_IN}-03-15"
    assert "qualified written notice" in body["qualified_meaning"]

    preferring_json = await client.get(url, headers=staff | {"Accept": "application/json, application/pdf;q=0.5"})
    assert preferring_json.headers["content-type"].startswith("application/json")
    pdf = await client.get(url, headers=staff | {"Accept": "application/pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 1
    text = " ".join(reader.pages[0].extract_text().split())
    for expected in (
        "Valley Growers Co-operative",
        "12 Mill Road",
        "Tax id (EIN): 12-3456789",
        f"March 15, {PAID_IN}",
        "Shop owes",
        f"Qualified written notice of allocation - fiscal year {YEAR}",
        "Patronage dividend allocated to you $500.00",
        "Paid in cash $250.00",
        "Applied to your membership share $75.00",
        "Paid to you $175.00",
        "Retained in your capital account $250.00",
        "not taxed again",
        "members@valley.test",
    ):
        assert expected in text, (expected, text)


async def test_a_fiscal_year_that_is_not_a_year_is_400_naming_it(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    for bad in ("soon", "12", "%F4%81%8A%A3"):
        answer = await client.get(f"/v1/fiscal-years/{bad}/reconciliation", headers=staff)
        assert answer.status_code == 400, (bad, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == ["fiscal_year"]
