"""An allocation run that takes each pool's net margin from the books, and closes it when posted."""

from __future__ import annotations

from datetime import UTC, date, datetime

from domain.allocation import margins
from domain.ledger import chart
from domain.ledger import service as ledger
from tests.support.books import patronage_in, programme_income, settled_group_buy
from tests.support.buying import make_supplier, ordering_member, staff_headers
from tests.support.worker import run_worker

FY = datetime.now(UTC).year - 1


def run_body(**changes: object) -> dict[str, object]:
    return {
        "fiscal_year": FY,
        "pools": [{"pool": "purchases"}],
        "payment_date": date(FY + 1, 3, 15).isoformat(),
        "policy": {"profile": "us", "cash_rate": "0.20"},
        "margin_source": "books",
        **changes,
    }


async def test_a_run_takes_its_margin_from_the_books_once(client, session, session_maker, settings):
    staff = await staff_headers(client, session)
    supplier = await make_supplier(session)
    assert supplier.id is not None
    a, a_h = await ordering_member(client, session, "Able Bakery")
    b, b_h = await ordering_member(client, session, "Baker Hardware")
    assert a.id is not None
    assert b.id is not None
    # 10 units reach the 8.00 tier: members pay 8.80 a unit (6 x 880 + 4 x 880 = 8,800), the supplier 8,000.
    await settled_group_buy(
        client,
        session,
        staff=staff,
        supplier_id=supplier.id,
        buyers=[(a_h, 6), (b_h, 4)],
        settled_at=datetime(FY, 9, 1, tzinfo=UTC),
        settings=settings,
        session_maker=session_maker,
    )
    await patronage_in(session, a.id, FY, "purchases", 5_280)
    await patronage_in(session, b.id, FY, "purchases", 3_520)
    await programme_income(
        session,
        supplier_id=supplier.id,
        pool="purchases",
        at=datetime(FY, 10, 31, tzinfo=UTC),
        rebate=10_000,
        fee=5_000,
        passed=3_000,
    )

    expense = {"pool": "purchases", "incurred_on": date(FY, 11, 15).isoformat(), "amount_cents": 2_000}
    entered = await client.post("/v1/pool-expenses", json={**expense, "description": "warehouse rent"}, headers=staff)
    assert entered.status_code == 201, entered.text
    assert (entered.json()["fiscal_year"], entered.json()["paid_from"]) == (FY, "bank")
    corrected = {**expense, "amount_cents": -500, "description": "rent refund", "paid_from": "accrued"}
    assert (await client.post("/v1/pool-expenses", json=corrected, headers=staff)).status_code == 201
    this_year = {**expense, "incurred_on": date(FY + 1, 1, 2).isoformat(), "amount_cents": 999, "description": "x"}
    assert (await client.post("/v1/pool-expenses", json=this_year, headers=staff)).status_code == 201
    bad = await client.post(
        "/v1/pool-expenses",
        json={**expense, "pool": "Not a pool!", "amount_cents": 0, "description": "x"},
        headers=staff,
    )
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"pool", "amount_cents"}
    listed = (await client.get(f"/v1/pool-expenses?fiscal_year={FY}", headers=staff)).json()
    assert [e["amount_cents"] for e in listed] == [2_000, -500]
    assert await ledger.balance_of(session, chart.pool_expenses("purchases")) == 2_000 - 500 + 999

    # Typed margins still need their figure; margins from the books must not carry one.
    typed = await client.post("/v1/allocation-runs", json=run_body(margin_source="typed"), headers=staff)
    assert typed.status_code == 400
    assert [e["field"] for e in typed.json()["errors"]] == ["pools[0].net_margin_cents"]
    both = await client.post(
        "/v1/allocation-runs", json=run_body(pools=[{"pool": "purchases", "net_margin_cents": 1}]), headers=staff
    )
    assert both.status_code == 400
    assert [e["field"] for e in both.json()["errors"]] == ["pools[0].net_margin_cents"]

    started = await client.post("/v1/allocation-runs", json=run_body(), headers=staff)
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["margin_source"] == "books"
    # 10,000 + 5,000 - 3,000 programme margin, + 800 markup, - 1,500 expenses
    assert run["margins"] == [
        {
            "pool": "purchases",
            "rebate_income_cents": 10_000,
            "fee_income_cents": 5_000,
            "pass_through_cents": 3_000,
            "group_buy_sales_cents": 8_800,
            "group_buy_cost_cents": 8_000,
            "group_buy_markup_cents": 800,
            "expenses_cents": 1_500,
            "net_margin_cents": 11_300,
        }
    ]
    await run_worker(settings, session_maker)
    computed = (await client.get(f"/v1/allocation-runs/{run['id']}", headers=staff)).json()
    assert computed["status"] == "computed", computed
    assert computed["totals"]["net_margin_cents"] == 11_300
    assert computed["margins"] == run["margins"]
    approved = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert approved.status_code == 200, approved.text

    # Closed to the income summary, which the allocation emptied: nothing of the year is left to allocate.
    assert await ledger.balance_of(session, chart.income_summary(FY)) == 0
    for spec in (
        chart.programme_rebate_income("purchases"),
        chart.programme_fee_income("purchases"),
        chart.programme_pass_through("purchases"),
        chart.SALES,
        chart.COST_OF_GOODS,
    ):
        assert await ledger.balance_of(session, spec) == 0, spec.code
    assert await ledger.balance_of(session, chart.pool_expenses("purchases")) == 999  # next year's
    left = await margins.book_margins(session, FY, ["purchases"], fiscal_year_start_month=1)
    assert [b.net_margin_cents for b in left] == [0]
    assert [b.group_buy_markup_cents for b in left] == [0]
    second = await client.post("/v1/allocation-runs", json=run_body(), headers=staff)
    assert second.status_code == 409
    recon = (await client.get(f"/v1/fiscal-years/{FY}/reconciliation", headers=staff)).json()
    assert recon["balanced"] is True
    trial = await ledger.trial_balance(session)
    assert sum(t.debits_cents for t in trial) == sum(t.credits_cents for t in trial)
