"""Issue 5 end to end: patronage from a settled group buy and an import, an allocation run through
the real worker, approval, notices, payouts paid, a FIFO redemption two years later, 1099-PATR data,
and balanced books, every figure to the cent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.routes import allocation as allocation_routes
from tests.support.buying import make_product, make_supplier, staff_headers, supplier_headers
from tests.support.users import PASSWORD, bearer
from tests.support.worker import run_worker


async def _members(client, staff) -> dict[str, dict[str, Any]]:
    register = [
        {
            "external_ref": f"ye-{n}",
            "name": f"Shop {n}",
            "email": f"{n.lower()}@ye.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        }
        for n in "ABC"
    ]
    landed = (await client.post("/v1/members/imports", json={"members": register}, headers=staff)).json()["members"]
    members = dict(zip("ABC", landed, strict=True))
    for name, m in members.items():
        created = await client.post(
            f"/v1/members/{m['id']}/users",
            json={"email": f"buyer-{name.lower()}@ye.test", "password": PASSWORD, "member_role": "admin"},
            headers=staff,
        )
        assert created.status_code == 201, created.text
    return members


async def test_patronage_to_dividends_to_redemption(client, session, session_maker, settings, monkeypatch):
    # The group buy settles today, so its patronage lands in this fiscal year (2026), which
    # has not ended: the allocation is started as if on a day after the year closed.
    monkeypatch.setattr(allocation_routes, "today", lambda: date(2027, 1, 15))
    staff = await staff_headers(client, session)
    members = await _members(client, staff)
    a_h, b_h = await bearer(client, "buyer-a@ye.test"), await bearer(client, "buyer-b@ye.test")
    number = {n: m["member_number"] for n, m in members.items()}

    # Older equity brought over: A's 2022 lot is non-qualified, B's 2022 and C's 2023 lots are qualified.
    lots = [
        {
            "external_ref": "ye-l1",
            "member_number": number["A"],
            "fiscal_year": 2022,
            "qualified": False,
            "face_cents": 10_000,
            "redeemed_cents": 0,
        },
        {
            "external_ref": "ye-l2",
            "member_number": number["B"],
            "fiscal_year": 2022,
            "qualified": True,
            "face_cents": 5_000,
            "redeemed_cents": 0,
        },
        {
            "external_ref": "ye-l3",
            "member_number": number["C"],
            "fiscal_year": 2023,
            "qualified": True,
            "face_cents": 8_000,
            "redeemed_cents": 0,
        },
    ]
    assert (await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)).status_code == 200

    # A group buy: A and B take 6 bags each, 12 reach the 4.50 tier together; delivered in full.
    mill = await make_supplier(session, "Valley Mill")
    flour = await make_product(session, mill.id, case_size=6, tiers=[(1, 500), (12, 450)])
    body = {
        "supplier_id": str(mill.id),
        "title": "Flour",
        "closes_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "product_ids": [str(flour)],
    }
    gid = (await client.post("/v1/group-buys", json=body, headers=staff)).json()["id"]
    for headers in (a_h, b_h):
        ordered = await client.post(
            f"/v1/group-buys/{gid}/orders", json={"lines": [{"product_id": str(flour), "quantity": 6}]}, headers=headers
        )
        assert ordered.status_code == 201, ordered.text
    assert (await client.post(f"/v1/group-buys/{gid}/close", headers=staff)).json()["status"] == "ordered"
    mill_h = await supplier_headers(client, session, mill.id)
    delivered = await client.post(
        f"/v1/group-buys/{gid}/delivery",
        json={"lines": [{"product_id": str(flour), "delivered_quantity": 12}]},
        headers=mill_h,
    )
    assert delivered.json()["status"] == "delivered", delivered.text
    await run_worker(settings, session_maker)  # the settlement job
    for name in "AB":
        account = (await client.get(f"/v1/members/{members[name]['id']}/account", headers=staff)).json()
        assert account["balance_cents"] == 2_700  # 6 x 4.50

    # Purchases made outside the platform: C as a member, and non-member business.
    records = [
        {
            "external_ref": "ye-p1",
            "member_number": number["C"],
            "pool": "purchases",
            "amount_cents": 5_000,
            "occurred_at": "2026-04-01T00:00:00Z",
        },
        {
            "external_ref": "ye-p2",
            "member_number": None,
            "pool": "purchases",
            "amount_cents": 1_000,
            "occurred_at": "2026-04-01T00:00:00Z",
        },
    ]
    imported = await client.post("/v1/patronage/imports", json={"records": records}, headers=staff)
    assert imported.status_code in {200, 201}, imported.text

    # FY2026: margin 1,000.00. Member volume 104.00, non-member 10.00:
    # M = HALF_UP(100000 * 10400 / 11400) = 91,228; LRM(91228, [2700, 2700, 5000]) = 23,684 / 23,684 / 43,860.
    run_body = {
        "fiscal_year": 2026,
        "pools": [{"pool": "purchases", "net_margin_cents": 100_000}],
        "payment_date": "2027-03-15",
        "policy": {"cash_rate": "0.20"},
    }
    run = (await client.post("/v1/allocation-runs", json=run_body, headers=staff)).json()
    await run_worker(settings, session_maker)
    await run_worker(settings, session_maker)  # a second worker pass finds nothing more to do
    computed = (await client.get(f"/v1/allocation-runs/{run['id']}", headers=staff)).json()
    assert computed["status"] == "computed", computed
    t = computed["totals"]
    assert (t["member_share_cents"], t["nonmember_share_cents"], t["allocated_cents"]) == (91_228, 8_772, 91_228)
    assert (t["cash_cents"], t["retained_cents"], t["unallocated_cents"]) == (18_246, 72_982, 8_772)
    lines = {
        ln["member_number"]: ln
        for ln in (await client.get(f"/v1/allocation-runs/{run['id']}/lines", headers=staff)).json()["items"]
    }
    expected = {
        "A": (2_700, 23_684, 4_737, 18_947),
        "B": (2_700, 23_684, 4_737, 18_947),
        "C": (5_000, 43_860, 8_772, 35_088),
    }
    for name, (patronage, allocation, cash, retained) in expected.items():
        ln = lines[number[name]]
        assert (ln["patronage_cents"], ln["allocation_cents"], ln["cash_cents"], ln["retained_cents"]) == (
            patronage,
            allocation,
            cash,
            retained,
        ), name
        assert ln["qualified"] is True

    approved = (await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)).json()
    assert approved["status"] == "posted"
    assert (await client.post(f"/v1/allocation-runs/{run['id']}/approve", json={}, headers=staff)).json() == approved

    notice = await client.get(f"/v1/allocation-runs/{run['id']}/notices/{members['A']['id']}", headers=a_h)
    assert notice.status_code == 200
    assert (notice.json()["stated_allocation_cents"], notice.json()["cash_cents"]) == (23_684, 4_737)
    not_yours = await client.get(f"/v1/allocation-runs/{run['id']}/notices/{members['B']['id']}", headers=a_h)
    assert not_yours.status_code == 404

    # Staff pay the dividend cash by check.
    pending = (
        await client.get("/v1/payouts", params={"kind": "patronage_cash", "status": "pending"}, headers=staff)
    ).json()["items"]
    assert sorted(p["amount_cents"] for p in pending) == [4_737, 4_737, 8_772]
    for p in pending:
        paid = await client.post(
            f"/v1/payouts/{p['id']}/mark-paid", json={"reference": f"CHK-{p['id']}"}, headers=staff
        )
        assert paid.json()["status"] == "paid", paid.text
    recon = (await client.get("/v1/fiscal-years/2026/reconciliation", headers=staff)).json()
    assert recon["balanced"] is True
    assert (recon["cash_cents"], recon["retained_cents"], recon["unallocated_cents"]) == (18_246, 72_982, 8_772)
    assert recon["payouts_by_status"] == {"paid": 18_246}

    # Two years later: a 430.00 FIFO budget redeems 2022 and 2023 whole (230.00), then 200.00 of 2026
    # pro rata: LRM(20000, [18947, 18947, 35088]) = 5,192 / 5,192 / 9,616.
    redemption = await client.post(
        "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 43_000, "as_of": "2028-12-31"}, headers=staff
    )
    assert redemption.status_code == 201, redemption.text
    rid = redemption.json()["id"]
    r_lines = (await client.get(f"/v1/redemption-runs/{rid}/lines", headers=staff)).json()["items"]
    got = sorted((ln["fiscal_year"], ln["member_number"], ln["amount_cents"]) for ln in r_lines)
    assert got == sorted(
        [
            (2022, number["A"], 10_000),
            (2022, number["B"], 5_000),
            (2023, number["C"], 8_000),
            (2026, number["A"], 5_192),
            (2026, number["B"], 5_192),
            (2026, number["C"], 9_616),
        ]
    )
    assert (await client.post(f"/v1/redemption-runs/{rid}/approve", json={}, headers=staff)).status_code == 200
    equity_a = (await client.get(f"/v1/members/{members['A']['id']}/equity", headers=a_h)).json()
    assert [
        (lot["fiscal_year"], lot["face_cents"], lot["redeemed_cents"], lot["outstanding_cents"])
        for lot in equity_a["lots"]
    ] == [(2022, 10_000, 10_000, 0), (2026, 18_947, 5_192, 13_755)]
    assert equity_a["total_equity_cents"] == 10_000 + 13_755

    redemptions = (await client.get("/v1/payouts", params={"kind": "equity_redemption"}, headers=staff)).json()
    assert sorted(p["amount_cents"] for p in redemptions["items"]) == sorted([15_192, 10_192, 17_616])
    for p in redemptions["items"]:
        await client.post(
            f"/v1/payouts/{p['id']}/mark-paid", json={"reference": f"ACH-{p['id']}", "method": "ach"}, headers=staff
        )

    # Form 1099-PATR: the qualified notices are reported for 2027 (their payment date); the cash in
    # the year it was paid (this year), with A's redemption of non-qualified equity (box 5);
    # qualified redemptions were taxed when issued.
    y2027 = (await client.get("/v1/reports/1099-patr", params={"calendar_year": 2027}, headers=staff)).text
    rows_2027 = {r.split(",")[2]: r.split(",")[3:] for r in y2027.strip().splitlines()[1:]}
    assert rows_2027 == {str(number[n]): [str(expected[n][3]), "0", "0"] for n in "ABC"}
    paid_year = (await client.get("/v1/payouts", params={"kind": "equity_redemption"}, headers=staff)).json()["items"][
        0
    ]["paid_at"][:4]
    this_year = (
        await client.get("/v1/reports/1099-patr", params={"calendar_year": int(paid_year)}, headers=staff)
    ).text
    rows = {r.split(",")[2]: r.split(",")[3:] for r in this_year.strip().splitlines()[1:]}
    assert rows == {
        str(number["A"]): [str(expected["A"][2]), "10000", "0"],
        str(number["B"]): [str(expected["B"][2]), "0", "0"],
        str(number["C"]): [str(expected["C"][2]), "0", "0"],
    }

    balance = (await client.get("/v1/ledger/trial-balance", headers=staff)).json()
    assert balance["balanced"] is True
    assert (await client.get("/v1/fiscal-years/2026/reconciliation", headers=staff)).json()["balanced"] is True
