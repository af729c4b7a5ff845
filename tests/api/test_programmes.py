"""Supplier programmes through the API: contract, reports, claim, receipts, pass-through, walls."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import col

from domain.equity.statements import capital_account
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership.tables import Member
from domain.patronage.tables import PatronageRecord
from tests.support.books import settled_group_buy
from tests.support.buying import make_supplier, ordering_member, staff_headers, supplier_headers
from tests.support.worker import run_worker

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

TODAY = datetime.now(UTC).date()
THIS_MONTH = TODAY.replace(day=1)
# A month of the fiscal year before this one (calendar fiscal years): ended, so it can be allocated.
PAST_MONTH = date(TODAY.year - 1, 11, 1)
IN_PAST_MONTH = datetime.combine(PAST_MONTH + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
FY = PAST_MONTH.year


def contract_body(**changes: Any) -> dict[str, Any]:
    return {
        "starts_on": date(TODAY.year - 1, 1, 1).isoformat(),
        "ends_on": date(TODAY.year + 1, 12, 31).isoformat(),
        "pool": "direct",
        "period": "month",
        "rebate": {
            "mode": "retroactive",
            "tiers": [{"min_spend_cents": 0, "rate": "0.01"}, {"min_spend_cents": 10_000_000, "rate": "0.02"}],
        },
        "admin_fee_rate": "0.015",
        "pass_through_rate": "0.5",
        **changes,
    }


def line(ref: str, number: int, cents: int, at: datetime = IN_PAST_MONTH) -> dict[str, Any]:
    return {"external_ref": ref, "member_number": number, "occurred_at": at.isoformat(), "amount_cents": cents}


@dataclass(frozen=True, slots=True)
class Shop:
    id: int
    member_number: int
    headers: dict[str, str]


def shop(member: Member, headers: dict[str, str]) -> Shop:
    assert member.id is not None
    assert member.member_number is not None
    return Shop(member.id, member.member_number, headers)


async def member_since(client: httpx.AsyncClient, session: AsyncSession, joined: datetime, name: str) -> Shop:
    """An admitted member whose membership dates from ``joined``, with signed-in headers of its buyer."""
    member, headers = await ordering_member(client, session, name)
    await session.execute(sa.update(Member).where(col(Member.id) == member.id).values(joined_at=joined))
    await session.commit()
    return shop(member, headers)


async def test_a_contract_from_reports_to_pass_through(client, session, session_maker, settings):
    supplier = await make_supplier(session)
    staff = await staff_headers(client, session)
    clerk = await supplier_headers(client, session, supplier.id)
    long_ago = datetime(TODAY.year - 2, 1, 1, tzinfo=UTC)
    a = await member_since(client, session, long_ago, "Able Bakery")
    b = await member_since(client, session, long_ago, "Baker Hardware")
    # C joined after the purchase it reports: non-member business on that date, still its purchase.
    c = await member_since(client, session, IN_PAST_MONTH + timedelta(days=1), "Corner Cafe")

    made = await client.post(f"/v1/suppliers/{supplier.id}/contracts", json=contract_body(), headers=staff)
    assert made.status_code == 201, made.text
    contract = made.json()
    assert contract["rebate"]["mode"] == "retroactive"
    assert contract["eligible_members"] is None
    assert contract["current"]["period_start"] == THIS_MONTH.isoformat()

    first = await client.post(
        f"/v1/contracts/{contract['id']}/purchase-reports",
        json={
            "lines": [
                line("inv-1", a.member_number, 7_333_333),
                line("inv-2", b.member_number, 4_000_001),
                line("inv-3", c.member_number, 1_111_111),
                line("inv-4", 999_999, 5_000),
                line("inv-now", a.member_number, 10_000, datetime.now(UTC)),
            ]
        },
        headers=clerk,
    )
    assert first.status_code == 200, first.text
    assert first.json() == {
        "accepted": 4,
        "duplicates": 0,
        "unmatched": [{"external_ref": "inv-4", "reason": "unknown_member"}],
    }
    second = await client.post(
        f"/v1/contracts/{contract['id']}/purchase-reports",
        json={"lines": [line("inv-1", a.member_number, 7_333_333), line("fix-1", a.member_number, -1_000_000)]},
        headers=clerk,
    )
    assert second.json() == {"accepted": 1, "duplicates": 1, "unmatched": []}
    too_much = await client.post(
        f"/v1/contracts/{contract['id']}/purchase-reports",
        json={"lines": [line("fix-2", b.member_number, -4_000_002)]},
        headers=clerk,
    )
    assert too_much.json()["unmatched"] == [{"external_ref": "fix-2", "reason": "correction_exceeds_spend"}]

    # The unknown member's line is held until staff match it, the excessive correction rejected.
    held = (await client.get(f"/v1/contracts/{contract['id']}/purchase-lines?status=unmatched", headers=staff)).json()[
        "items"
    ]
    assert [h["external_ref"] for h in held] == ["inv-4", "fix-2"]
    rejected = await client.post(f"/v1/purchase-lines/{held[1]['id']}/reject", headers=staff)
    assert rejected.json()["status"] == "rejected"
    refused = await client.post(
        f"/v1/purchase-lines/{held[0]['id']}/match", json={"member_number": 999_998}, headers=staff
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "purchase_line_still_held"
    matched = await client.post(
        f"/v1/purchase-lines/{held[0]['id']}/match", json={"member_number": b.member_number}, headers=staff
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["status"] == "accepted"
    again = await client.post(
        f"/v1/purchase-lines/{held[0]['id']}/match", json={"member_number": b.member_number}, headers=staff
    )
    assert again.status_code == 409

    records = (
        await session.execute(
            sa.select(
                col(PatronageRecord.member_id), col(PatronageRecord.amount_cents), col(PatronageRecord.member_business)
            )
            .where(col(PatronageRecord.source) == "programme")
            .order_by(col(PatronageRecord.id))
        )
    ).all()
    assert [tuple(r) for r in records] == [
        (a.id, 7_333_333, True),
        (b.id, 4_000_001, True),
        (c.id, 1_111_111, False),
        (a.id, 10_000, True),
        (a.id, -1_000_000, True),
        (b.id, 5_000, True),
    ]

    # Live accrual of last month: A 6,333,333, B 4,005,001, C 1,111,111 = 11,449,445 reaches 2% on all of it.
    accrued = (
        await client.get(f"/v1/contracts/{contract['id']}/accruals?on={PAST_MONTH.isoformat()}", headers=clerk)
    ).json()
    assert (accrued["spend_cents"], accrued["rebate_cents"], accrued["fee_cents"], accrued["pass_through_cents"]) == (
        11_449_445,
        228_989,  # HALF_UP(228,988.9)
        171_742,  # HALF_UP(171,741.675)
        114_495,  # CEIL(114,494.5)
    )
    # LRM over spend: floors 63,333 / 40,050 / 11,111 leave one cent for A (largest remainder).
    assert [(m["member_number"], m["pass_through_cents"]) for m in accrued["members"]] == [
        (a.member_number, 63_334),
        (b.member_number, 40_050),
        (c.member_number, 11_111),
    ]

    early = await client.post(
        f"/v1/contracts/{contract['id']}/claims", json={"period_start": THIS_MONTH.isoformat()}, headers=staff
    )
    assert early.status_code == 409
    assert early.json()["code"] == "period_not_ended"
    claimed = await client.post(
        f"/v1/contracts/{contract['id']}/claims", json={"period_start": PAST_MONTH.isoformat()}, headers=staff
    )
    assert claimed.status_code == 201, claimed.text
    claim = claimed.json()
    assert (claim["spend_cents"], claim["rebate_cents"], claim["fee_cents"], claim["pass_through_cents"]) == (
        11_449_445,
        228_989,
        171_742,
        114_495,
    )
    assert claim["status"] == "open"
    twice = await client.post(
        f"/v1/contracts/{contract['id']}/claims", json={"period_start": PAST_MONTH.isoformat()}, headers=staff
    )
    assert twice.status_code == 409
    statement = (await client.get(f"/v1/claims/{claim['id']}/statement", headers=clerk)).json()["items"]
    assert sorted(s["external_ref"] for s in statement) == ["fix-1", "inv-1", "inv-2", "inv-3", "inv-4"]
    # A late line for a claimed period is held, not added to a bill already sent.
    late = await client.post(
        f"/v1/contracts/{contract['id']}/purchase-reports",
        json={"lines": [line("late-1", a.member_number, 100)]},
        headers=clerk,
    )
    assert late.json()["unmatched"] == [{"external_ref": "late-1", "reason": "period_claimed"}]

    due = 228_989 + 171_742
    assert supplier.id is not None
    receivable = chart.supplier_programme_receivable(supplier.id)
    assert await ledger.balance_of(session, receivable) == due
    short = await client.post(
        f"/v1/claims/{claim['id']}/receipts",
        json={"amount_cents": 300_000, "received_on": TODAY.isoformat(), "reference": "wire 1"},
        headers=staff,
    )
    assert short.status_code == 200, short.text
    assert (short.json()["status"], short.json()["outstanding_cents"]) == ("short_paid", due - 300_000)
    flagged = (await client.get("/v1/claims?status=short_paid", headers=staff)).json()["items"]
    assert [f["id"] for f in flagged] == [claim["id"]]
    assert await ledger.balance_of(session, chart.member_trade(a.id)) == 0  # nothing passed through yet

    rest = {"amount_cents": due - 300_000, "received_on": TODAY.isoformat(), "reference": "wire 2"}
    keyed = {**staff, "Idempotency-Key": "claim-rest"}
    paid = await client.post(f"/v1/claims/{claim['id']}/receipts", json=rest, headers=keyed)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["outstanding_cents"]) == ("paid", 0)
    retried = await client.post(f"/v1/claims/{claim['id']}/receipts", json=rest, headers=keyed)
    assert retried.json() == paid.json()
    unkeyed = await client.post(f"/v1/claims/{claim['id']}/receipts", json=rest, headers=staff)
    assert unkeyed.status_code == 409

    # Credits on the trade accounts (an asset: a credit is money the co-op owes the member).
    assert [await ledger.balance_of(session, chart.member_trade(m.id)) for m in (a, b, c)] == [
        -63_334,
        -40_050,
        -11_111,
    ]
    assert await ledger.balance_of(session, receivable) == 0
    assert await ledger.balance_of(session, chart.PASS_THROUGH_PAYABLE) == 0
    assert await ledger.balance_of(session, chart.programme_rebate_income("direct")) == 228_989
    assert await ledger.balance_of(session, chart.programme_fee_income("direct")) == 171_742
    assert await ledger.balance_of(session, chart.programme_pass_through("direct")) == 114_495
    # The pool's margin from the books: the claim counts in the fiscal year its period ended in.
    margins = await client.get(f"/v1/programme-margins?fiscal_year={PAST_MONTH.year}", headers=staff)
    assert margins.status_code == 200, margins.text
    direct = [p for p in margins.json()["pools"] if p["pool"] == "direct"]
    assert [
        (p["rebate_income_cents"], p["fee_income_cents"], p["pass_through_cents"], p["net_margin_cents"])
        for p in direct
    ] == [(228_989, 171_742, 114_495, 228_989 + 171_742 - 114_495)]
    assert (await client.get("/v1/programme-margins?fiscal_year=2026", headers=clerk)).status_code == 403

    await _allocate_from_the_books_and_state_the_value(
        client, session, session_maker, settings, staff=staff, clerk=clerk, a=a, b=b
    )
    trial = await ledger.trial_balance(session)
    assert sum(t.debits_cents for t in trial) == sum(t.credits_cents for t in trial)


async def _allocate_from_the_books_and_state_the_value(
    client, session, session_maker, settings, *, staff, clerk, a: Shop, b: Shop
) -> None:
    """The scenario goes on: the year's margin from the books is allocated, and A's value statement ties out."""
    # A group buy in the same pool, settled in the year: A's 6 and B's 4 units reach the 8.00 tier
    # (first tier 10.00); members pay 8.80 a unit: markup 800, A saves (10.00 - 8.00) x 6 = 12.00.
    supplier = await make_supplier(session, "Direct Goods")
    assert supplier.id is not None
    await settled_group_buy(
        client,
        session,
        staff=staff,
        supplier_id=supplier.id,
        buyers=[(a.headers, 6), (b.headers, 4)],
        settled_at=datetime(FY, 9, 1, tzinfo=UTC),
        settings=settings,
        session_maker=session_maker,
        pool="direct",
    )
    expense = {"pool": "direct", "incurred_on": date(FY, 12, 1).isoformat(), "amount_cents": 7_036}
    assert (
        await client.post("/v1/pool-expenses", json={**expense, "description": "programme admin"}, headers=staff)
    ).status_code == 201
    body = {
        "fiscal_year": FY,
        "pools": [{"pool": "direct"}],
        "margin_source": "books",
        "payment_date": date(FY + 1, 3, 15).isoformat(),
        "policy": {"profile": "us", "cash_rate": "0.20"},
    }
    started = await client.post("/v1/allocation-runs", json=body, headers=staff)
    assert started.status_code == 202, started.text
    run = started.json()
    # 228,989 + 171,742 - 114,495 = 286,236 programme margin; + 800 markup; - 7,036 expenses
    assert [
        (m["pool"], m["group_buy_markup_cents"], m["expenses_cents"], m["net_margin_cents"]) for m in run["margins"]
    ] == [("direct", 800, 7_036, 280_000)]
    await run_worker(settings, session_maker)
    computed = (await client.get(f"/v1/allocation-runs/{run['id']}", headers=staff)).json()
    assert computed["status"] == "computed", computed
    # Member volume 6,333,333 + 4,005,001, C's 1,111,111 non-member: M = HALF_UP(280,000 x 10,338,334 / 11,449,445)
    assert (computed["totals"]["net_margin_cents"], computed["totals"]["member_share_cents"]) == (280_000, 252_827)
    lines = {
        ln["member_id"]: ln
        for ln in (await client.get(f"/v1/allocation-runs/{run['id']}/lines", headers=staff)).json()["items"]
    }
    mine = lines[str(a.id)]
    # LRM: floors 154,883 / 97,943 leave a cent for A; cash CEIL(20%) = 30,977.
    assert (mine["allocation_cents"], mine["cash_cents"], mine["retained_cents"]) == (154_884, 30_977, 123_907)
    assert lines[str(b.id)]["allocation_cents"] == 97_943
    approved = await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)
    assert approved.status_code == 200, approved.text
    # Closed: the pool's income, pass-through and expenses of the year are in the allocated income summary.
    assert await ledger.balance_of(session, chart.income_summary(FY)) == 0
    assert await ledger.balance_of(session, chart.programme_rebate_income("direct")) == 0
    assert await ledger.balance_of(session, chart.pool_expenses("direct")) == 0
    assert (await client.post("/v1/allocation-runs", json=body, headers=staff)).status_code == 409

    url = f"/v1/members/{a.id}/value-statement?fiscal_year={FY}"
    statement = (await client.get(url, headers=a.headers)).json()
    trade = await ledger.statement(session, chart.member_trade(a.id))
    assert (
        statement["purchases"]
        == {
            "group_buys_cents": sum(t.amount_cents for t in trade if t.kind == "group_buy_charge"),
            "direct_cents": 6_333_333,
        }
        == {"group_buys_cents": 5_280, "direct_cents": 6_333_333}
    )
    assert statement["spend_cents"] == 6_338_613
    assert statement["savings_cents"] == 1_200
    assert statement["rebates_cents"] == -sum(t.amount_cents for t in trade if t.kind == "programme_pass_through")
    assert statement["rebates_cents"] == 63_334
    assert (statement["patronage_cash_cents"], statement["patronage_retained_cents"]) == (30_977, 123_907)
    assert statement["return_cents"] == 1_200 + 63_334 + 30_977 + 123_907
    assert statement["return_on_spend"] == {
        "numerator_cents": 219_418,
        "denominator_cents": 6_338_613,
        "value": "0.0346",  # 0.034616... HALF_UP to 4 places
        "rounding": "HALF_UP to 4 decimal places",
    }
    # The allocation is posted on its payment date, in the next year: this year's capital did not move.
    assert statement["equity"] == dict.fromkeys(
        ("opening_cents", "paid_in_cents", "retained_cents", "redeemed_cents", "closing_cents"), 0
    )
    assert statement["return_on_equity"]["value"] is None
    following = (await client.get(f"/v1/members/{a.id}/value-statement?fiscal_year={FY + 1}", headers=staff)).json()
    capital = (await capital_account(session, a.id)).total_equity_cents
    assert following["equity"]["retained_cents"] == 123_907
    assert (
        following["equity"]["closing_cents"]
        == capital
        == following["equity"]["opening_cents"]
        + following["equity"]["paid_in_cents"]
        + 123_907
        - following["equity"]["redeemed_cents"]
    )

    pdf = await client.get(url, headers={**a.headers, "Accept": "application/pdf"})
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"].startswith("application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    for figure in ("$63,386.13", "$12.00", "$633.34", "$309.77", "$1,239.07", "$2,194.18", "0.0346"):
        assert figure in text, figure
    # Walls: another member's users see nothing, a supplier may not ask.
    assert (await client.get(url, headers=b.headers)).status_code == 404
    assert (await client.get(url, headers=clerk)).status_code in {403, 404}


async def test_suppliers_see_only_their_own_programmes(client, session):
    supplier = await make_supplier(session)
    other = await make_supplier(session, "Hill Farm")
    staff = await staff_headers(client, session)
    clerk = await supplier_headers(client, session, supplier.id)
    stranger = await supplier_headers(client, session, other.id)
    member = await member_since(client, session, datetime(TODAY.year - 2, 1, 1, tzinfo=UTC), "Some Shop")
    _, member_headers = await ordering_member(client, session)
    contract = (await client.post(f"/v1/suppliers/{supplier.id}/contracts", json=contract_body(), headers=staff)).json()
    report = {"lines": [line("x-1", member.member_number, 1_000)]}
    assert (
        await client.post(f"/v1/contracts/{contract['id']}/purchase-reports", json=report, headers=stranger)
    ).status_code == 404
    assert (await client.get(f"/v1/contracts/{contract['id']}", headers=stranger)).status_code == 404
    assert (await client.get(f"/v1/contracts/{contract['id']}/purchase-lines", headers=stranger)).status_code == 404
    assert (await client.get("/v1/contracts", headers=stranger)).json()["items"] == []
    assert (await client.get(f"/v1/contracts/{contract['id']}", headers=member_headers)).status_code == 403
    assert (
        await client.post(f"/v1/contracts/{contract['id']}/purchase-reports", json=report, headers=clerk)
    ).status_code == 200
    claim = (
        await client.post(
            f"/v1/contracts/{contract['id']}/claims", json={"period_start": PAST_MONTH.isoformat()}, headers=staff
        )
    ).json()
    assert (await client.get(f"/v1/claims/{claim['id']}", headers=clerk)).status_code == 200
    assert (await client.get(f"/v1/claims/{claim['id']}", headers=stranger)).status_code == 404
    assert (await client.get(f"/v1/claims/{claim['id']}/statement", headers=stranger)).status_code == 404
    assert (await client.get("/v1/claims", headers=stranger)).json()["items"] == []
    assert [c["id"] for c in (await client.get("/v1/contracts", headers=clerk)).json()["items"]] == [contract["id"]]
    # Suppliers report; they neither sign contracts, claim, nor record receipts.
    assert (
        await client.post(f"/v1/suppliers/{supplier.id}/contracts", json=contract_body(), headers=clerk)
    ).status_code == 403
    assert (
        await client.post(
            f"/v1/contracts/{contract['id']}/claims", json={"period_start": THIS_MONTH.isoformat()}, headers=clerk
        )
    ).status_code == 403


async def test_eligible_members_and_bad_terms(client, session):
    supplier = await make_supplier(session)
    staff = await staff_headers(client, session)
    listed = shop(*(await ordering_member(client, session, "Listed Shop")))
    unlisted = shop(*(await ordering_member(client, session, "Other Shop")))
    bad = await client.post(
        f"/v1/suppliers/{supplier.id}/contracts",
        json=contract_body(
            ends_on="2000-01-01",
            admin_fee_rate="1.5",
            eligible_members=[listed.member_number, 999_999],
            rebate={"mode": "graduated", "tiers": [{"min_spend_cents": 5, "rate": "0.01"}]},
        ),
        headers=staff,
    )
    assert bad.status_code == 400
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"ends_on", "admin_fee_rate", "rebate.tiers[0].min_spend_cents", "eligible_members[1]"}
    made = await client.post(
        f"/v1/suppliers/{supplier.id}/contracts",
        json=contract_body(eligible_members=[listed.member_number]),
        headers=staff,
    )
    assert made.status_code == 201, made.text
    assert made.json()["eligible_members"] == [listed.member_number]
    now = datetime.now(UTC)
    report = await client.post(
        f"/v1/contracts/{made.json()['id']}/purchase-reports",
        json={
            "lines": [
                line("e-1", listed.member_number, 100, now),
                line("e-2", unlisted.member_number, 100, now),
                line("e-3", listed.member_number, 100, datetime(TODAY.year + 3, 1, 1, tzinfo=UTC)),
            ]
        },
        headers=staff,
    )
    assert report.json() == {
        "accepted": 1,
        "duplicates": 0,
        "unmatched": [
            {"external_ref": "e-2", "reason": "member_not_eligible"},
            {"external_ref": "e-3", "reason": "outside_term"},
        ],
    }
    zero = await client.post(
        f"/v1/contracts/{made.json()['id']}/purchase-reports",
        json={"lines": [line("z-1", listed.member_number, 0, now)]},
        headers=staff,
    )
    assert zero.status_code == 400
    assert "lines[0].amount_cents" in zero.text


async def test_a_report_as_csv(client, session):
    supplier = await make_supplier(session)
    staff = await staff_headers(client, session)
    clerk = await supplier_headers(client, session, supplier.id)
    member = await member_since(client, session, datetime(TODAY.year - 2, 1, 1, tzinfo=UTC), "Csv Shop")
    contract = (await client.post(f"/v1/suppliers/{supplier.id}/contracts", json=contract_body(), headers=staff)).json()
    at = IN_PAST_MONTH.strftime("%Y-%m-%dT%H:%M:%S")
    body = (
        "external_ref,member_number,occurred_at,amount_cents,invoice_ref\r\n"
        f"c-1,{member.member_number},{at},2500,INV-1\r\n"
        f"c-2,{member.member_number},{at},-500,\r\n"
        f"c-1,{member.member_number},{at},2500,INV-1\r\n"
        f"c-3,424242,{at},100,\r\n"
    )
    url = f"/v1/contracts/{contract['id']}/purchase-reports/csv"
    sent = await client.post(url, content=body.encode(), headers={**clerk, "content-type": "text/csv"})
    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "accepted": 2,
        "duplicates": 1,
        "unmatched": [{"external_ref": "c-3", "reason": "unknown_member"}],
    }
    lines = (await client.get(f"/v1/contracts/{contract['id']}/purchase-lines", headers=clerk)).json()["items"]
    assert [(ln["external_ref"], ln["amount_cents"], ln["invoice_ref"]) for ln in lines] == [
        ("c-1", 2500, "INV-1"),
        ("c-2", -500, None),
        ("c-3", 100, None),
    ]
    bad = f"external_ref,member_number,occurred_at,amount_cents\r\nc-9,{member.member_number},{at},12.5\r\n"
    refused = await client.post(url, content=bad.encode(), headers={**clerk, "content-type": "text/csv"})
    assert refused.status_code == 400
    assert [e["field"] for e in refused.json()["errors"]] == ["lines[0].amount_cents"]
    headerless = await client.post(url, content=b"a,b\r\n1,2\r\n", headers={**clerk, "content-type": "text/csv"})
    assert headerless.status_code == 400
    assert (await client.post(url, content=b"", headers=clerk)).status_code == 400
    assert (await client.get(f"/v1/contracts/{contract['id']}/purchase-lines?status=unmatched", headers=staff)).json()[
        "items"
    ][0]["external_ref"] == "c-3"
