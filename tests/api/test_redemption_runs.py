"""Equity redemption through the API: FIFO and percentage runs, approval, special redemptions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from domain.identity.rules import MemberRole
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.tables import JournalEntry
from domain.payments.service import payouts_of
from tests.support.users import bearer, make_member_user, make_user

REGISTER = [
    {
        "external_ref": "red-a",
        "name": "Bakery",
        "email": "a@red.test",
        "joined_at": "2015-01-01T00:00:00Z",
        "status": "full",
        "share_paid_cents": 10_000,
    },
    {
        "external_ref": "red-b",
        "name": "Florist",
        "email": "b@red.test",
        "joined_at": "2016-01-01T00:00:00Z",
        "status": "full",
        "share_paid_cents": 10_000,
    },
    {
        "external_ref": "red-c",
        "name": "Cobbler",
        "email": "c@red.test",
        "joined_at": "2014-01-01T00:00:00Z",
        "status": "former",
        "share_paid_cents": 0,
        "left_at": "2021-06-30T00:00:00Z",
    },
]

# (member, fiscal year, face, already redeemed)
LOTS = [
    ("a", 2018, 10_000, 0),
    ("c", 2018, 5_000, 0),  # a former member's lot takes part
    ("a", 2019, 7_000, 2_000),  # 5,000 outstanding
    ("b", 2019, 8_000, 0),
    ("a", 2020, 3_001, 0),
    ("b", 2020, 3_333, 0),
    ("c", 2020, 3_334, 0),
    ("a", 2021, 20_000, 0),
    ("b", 2021, 1_000, 0),
    ("b", 2025, 4_000, 0),  # after as_of's year: not in a run as of 2024
]
AS_OF = "2024-06-30"


async def _staff(client, session) -> dict[str, str]:
    return await bearer(client, (await make_user(session)).email)


async def _coop(client, staff) -> dict[str, tuple[str, int]]:
    """Import the register and the lots; answers each member's (id, member_number)."""
    answer = await client.post("/v1/members/imports", json={"members": REGISTER}, headers=staff)
    assert answer.status_code == 200, answer.text
    members = {m["external_ref"][-1]: (m["id"], m["member_number"]) for m in answer.json()["members"]}
    lots = [
        {
            "external_ref": f"red-lot-{who}-{year}",
            "member_number": members[who][1],
            "fiscal_year": year,
            "qualified": year != 2019,
            "face_cents": face,
            "redeemed_cents": redeemed,
        }
        for who, year, face, redeemed in LOTS
    ]
    imported = await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)
    assert imported.json() == {"imported": len(LOTS), "duplicates": 0}, imported.text
    return members


async def _lines(client, staff, run_id: str, limit: int = 200) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = await client.get(f"/v1/redemption-runs/{run_id}/lines", params=params, headers=staff)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def _rows(lines: list[dict[str, Any]], members: dict[str, tuple[str, int]]) -> list[tuple[str, int, int]]:
    who = {mid: name for name, (mid, _) in members.items()}
    return [(who[ln["member_id"]], ln["fiscal_year"], ln["amount_cents"]) for ln in lines]


async def _entries(session) -> int:
    return int((await session.execute(sa.select(sa.func.count()).select_from(JournalEntry))).scalar_one())


async def _run_postings(session, run_id: str) -> list[tuple[str, int]]:
    """The sides and amounts of the run's journal entries' postings; fails unless the run posted one entry."""
    keyed = col(JournalEntry.idempotency_key).like(f"redemption:{run_id}:%")
    entries = (await session.scalars(sa.select(col(JournalEntry.id)).where(keyed))).all()
    assert len(entries) == 1, entries
    rows = await session.execute(
        sa.text("SELECT side, amount_cents FROM posting WHERE entry_id = :entry"), {"entry": entries[0]}
    )
    return [(str(side), int(amount)) for side, amount in rows]


async def test_fifo_run_redeems_whole_oldest_years_then_the_next_pro_rata_and_posts_once(client, session):
    staff = await _staff(client, session)
    members = await _coop(client, staff)
    # 2018 (15,000) and 2019 (13,000) whole, then 4,000 over 2020's 9,668 by LRM:
    # 1241.62 / 1378.98 / 1379.40 -> floors 1241 + 1378 + 1379 = 3998; the two cents go
    # to the largest remainders, .98 (b) and .62 (a).
    created = await client.post(
        "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 32_000, "as_of": AS_OF}, headers=staff
    )
    assert created.status_code == 201, created.text
    run = created.json()
    assert (run["method"], run["status"], run["as_of"], run["budget_inputs"]) == ("fifo", "computed", AS_OF, None)
    assert run["totals"] == {
        "board_budget_cents": 32_000,
        "budget_cents": 32_000,
        "outstanding_cents": 15_000 + 13_000 + 9_668 + 21_000,
        "redeemed_cents": 32_000,
        "lines": 7,
        "members": 3,
    }
    lines = await _lines(client, staff, run["id"], limit=3)  # three pages
    assert _rows(lines, members) == [
        ("a", 2018, 10_000),
        ("c", 2018, 5_000),
        ("a", 2019, 5_000),
        ("b", 2019, 8_000),
        ("a", 2020, 1_242),
        ("b", 2020, 1_379),
        ("c", 2020, 1_379),
    ]
    assert [ln["qualified"] for ln in lines] == [True, True, False, False, True, True, True]
    assert {ln["member_number"] for ln in lines} == {n for _, n in members.values()}
    assert (await client.get(f"/v1/redemption-runs/{run['id']}", headers=staff)).json() == run

    # Nothing is posted before approval.
    a_id = members["a"][0]
    before = (await client.get(f"/v1/members/{a_id}/equity", headers=staff)).json()
    assert [lot["redeemed_cents"] for lot in before["lots"]] == [0, 2_000, 0, 0]

    approved = await client.post(f"/v1/redemption-runs/{run['id']}/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "posted"
    assert approved.json()["posted_at"] is not None
    assert approved.json()["totals"] == run["totals"]

    statement = (await client.get(f"/v1/members/{a_id}/equity", headers=staff)).json()
    assert [(lot["fiscal_year"], lot["redeemed_cents"], lot["outstanding_cents"]) for lot in statement["lots"]] == [
        (2018, 10_000, 0),
        (2019, 7_000, 0),
        (2020, 1_242, 1_759),
        (2021, 0, 20_000),
    ]
    assert statement["total_equity_cents"] == 10_000 + 1_759 + 20_000
    c_lots = (await client.get(f"/v1/members/{members['c'][0]}/equity", headers=staff)).json()["lots"]
    assert [lot["outstanding_cents"] for lot in c_lots] == [0, 3_334 - 1_379]

    expected_payouts = {"a": 10_000 + 5_000 + 1_242, "b": 8_000 + 1_379, "c": 5_000 + 1_379}
    for name, amount in expected_payouts.items():
        payouts = await payouts_of(session, int(members[name][0]))
        assert [(p.kind, p.amount_cents, p.status) for p in payouts] == [("equity_redemption", amount, "pending")]
    assert await ledger.balance_of(session, chart.PAYOUTS_PAYABLE) == 32_000
    # The run is one money movement: one entry debits each redeemed lot and credits payouts payable once.
    posted = await _run_postings(session, run["id"])
    assert sorted(posted) == sorted(
        [("debit", amount) for amount in (10_000, 5_000, 5_000, 8_000, 1_242, 1_379, 1_379)] + [("credit", 32_000)]
    )

    # Approving again changes nothing and answers the posted run.
    entries = await _entries(session)
    again = await client.post(f"/v1/redemption-runs/{run['id']}/approve", headers=staff)
    assert again.status_code == 200
    assert again.json() == approved.json()
    assert await _entries(session) == entries
    assert len(await payouts_of(session, int(a_id))) == 1
    assert (await client.get("/v1/ledger/trial-balance", headers=staff)).json()["balanced"] is True

    # A run computed now starts where this one stopped: the rest of 2020, then 2021.
    nxt = await client.post(
        "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 10_000, "as_of": AS_OF}, headers=staff
    )
    assert _rows(await _lines(client, staff, nxt.json()["id"]), members) == [
        ("a", 2020, 3_001 - 1_242),
        ("b", 2020, 3_333 - 1_379),
        ("c", 2020, 3_334 - 1_379),
        ("a", 2021, 4_126),  # 4,332 left over 20,000 / 1,000
        ("b", 2021, 206),
    ]
    assert nxt.json()["totals"]["redeemed_cents"] == 10_000


async def test_a_run_whose_lots_were_redeemed_since_it_was_computed_must_be_recomputed(client, session):
    staff = await _staff(client, session)
    await _coop(client, staff)
    body = {"method": "fifo", "budget_cents": 20_000, "as_of": AS_OF}
    first = (await client.post("/v1/redemption-runs", json=body, headers=staff)).json()
    second = (await client.post("/v1/redemption-runs", json=body, headers=staff)).json()
    assert (await client.post(f"/v1/redemption-runs/{first['id']}/approve", headers=staff)).status_code == 200
    entries = await _entries(session)
    stale = await client.post(f"/v1/redemption-runs/{second['id']}/approve", headers=staff)
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert "Compute a new run" in stale.json()["detail"]
    assert await _entries(session) == entries
    assert (await client.get(f"/v1/redemption-runs/{second['id']}", headers=staff)).json()["status"] == "computed"


async def test_percentage_run_redeems_the_same_share_of_every_lot(client, session):
    staff = await _staff(client, session)
    members = await _coop(client, staff)
    # 6,000 of 58,668 outstanding (10.227 %) by LRM over every lot, by member then year.
    created = await client.post(
        "/v1/redemption-runs", json={"method": "percentage", "budget_cents": 6_000, "as_of": AS_OF}, headers=staff
    )
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["totals"]["redeemed_cents"] == 6_000
    assert run["totals"]["lines"] == 9
    assert _rows(await _lines(client, staff, run["id"]), members) == [
        ("a", 2018, 1_023),
        ("a", 2019, 511),
        ("a", 2020, 307),
        ("a", 2021, 2_046),
        ("b", 2019, 818),
        ("b", 2020, 341),
        ("b", 2021, 102),
        ("c", 2018, 511),
        ("c", 2020, 341),
    ]
    assert (await client.post(f"/v1/redemption-runs/{run['id']}/approve", headers=staff)).status_code == 200
    payouts = await payouts_of(session, int(members["b"][0]))
    assert [p.amount_cents for p in payouts] == [818 + 341 + 102]

    everything = await client.post(
        "/v1/redemption-runs", json={"method": "percentage", "budget_cents": 10**9, "as_of": AS_OF}, headers=staff
    )
    assert everything.json()["totals"]["redeemed_cents"] == 58_668 - 6_000  # never more than a lot holds
    assert everything.json()["totals"]["budget_cents"] == 10**9


async def test_the_budget_is_capped_by_cash_and_the_equity_ratio(client, session):
    staff = await _staff(client, session)
    members = await _coop(client, staff)
    # min(1,000,000 board, 500,000 - 100,000 cash, FLOOR((270,000 - 0.25 * 1,000,000) / 0.75) = 26,666)
    body = {
        "method": "fifo",
        "budget_cents": 1_000_000,
        "as_of": AS_OF,
        "cash_available_cents": 500_000,
        "minimum_cash_cents": 100_000,
        "equity_cents": 270_000,
        "assets_cents": 1_000_000,
        "equity_ratio_floor": "0.25",
    }
    created = await client.post("/v1/redemption-runs", json=body, headers=staff)
    assert created.status_code == 201, created.text
    run = created.json()
    assert run["budget_inputs"] == {
        "cash_available_cents": 500_000,
        "minimum_cash_cents": 100_000,
        "equity_cents": 270_000,
        "assets_cents": 1_000_000,
        "equity_ratio_floor": "0.25",
    }
    assert (run["totals"]["board_budget_cents"], run["totals"]["budget_cents"]) == (1_000_000, 26_666)
    assert run["totals"]["redeemed_cents"] == 26_666
    # 2018 whole (15,000), then 11,666 over 2019's 5,000 / 8,000: 4486.9 / 7179.1 -> 4487 / 7179.
    assert _rows(await _lines(client, staff, run["id"]), members) == [
        ("a", 2018, 10_000),
        ("c", 2018, 5_000),
        ("a", 2019, 4_487),
        ("b", 2019, 7_179),
    ]
    cash_binds = await client.post(
        "/v1/redemption-runs", json=body | {"cash_available_cents": 110_000, "equity_cents": 900_000}, headers=staff
    )
    assert cash_binds.json()["totals"]["budget_cents"] == 10_000
    below_ratio = await client.post("/v1/redemption-runs", json=body | {"equity_cents": 200_000}, headers=staff)
    assert below_ratio.json()["totals"]["budget_cents"] == 0
    assert below_ratio.json()["totals"]["lines"] == 0


async def test_special_redemption_at_present_value_with_set_off(client, session):
    staff = await _staff(client, session)
    answer = await client.post("/v1/members/imports", json={"members": REGISTER[:1]}, headers=staff)
    mid, number = answer.json()["members"][0]["id"], answer.json()["members"][0]["member_number"]
    lots = [
        {
            "external_ref": f"sp-{year}",
            "member_number": number,
            "fiscal_year": year,
            "qualified": True,
            "face_cents": face,
            "redeemed_cents": redeemed,
        }
        for year, face, redeemed in [(2015, 3_500, 500), (2020, 10_000, 0), (2023, 5_000, 0)]
    ]
    assert (await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)).status_code == 200
    await ledger.transfer(
        session,
        debit=chart.member_trade(int(mid)),
        credit=chart.SALES,
        amount_cents=2_500,
        kind="sale",
        idempotency_key=f"test-sale:{mid}",
        occurred_at=datetime.now(UTC),
    )
    await session.commit()

    body = {"reason": "death", "discount_rate": "0.05", "as_of": "2025-06-30"}
    made = await client.post(f"/v1/members/{mid}/special-redemptions", json=body, headers=staff)
    assert made.status_code == 201, made.text
    out = made.json()
    # Revolving in 7 years: FY2015 revolved in 2022 (n = 0), FY2020 revolves in 2027 (n = 2),
    # FY2023 in 2030 (n = 5). 10,000 / 1.05^2 = 9070.29 -> 9070; 5,000 / 1.05^5 = 3917.63 -> 3918.
    assert [
        (lot["fiscal_year"], lot["outstanding_cents"], lot["years"], lot["present_value_cents"], lot["discount_cents"])
        for lot in out["lots"]
    ] == [(2015, 3_000, 0, 3_000, 0), (2020, 10_000, 2, 9_070, 930), (2023, 5_000, 5, 3_918, 1_082)]
    assert (out["reason"], out["discount_rate"], out["revolving_years"], out["as_of"]) == (
        "death",
        "0.05",
        7,
        "2025-06-30",
    )
    assert (out["outstanding_cents"], out["present_value_cents"], out["discount_cents"]) == (18_000, 15_988, 2_012)
    assert (out["set_off_cents"], out["payout_cents"]) == (2_500, 13_488)

    statement = (await client.get(f"/v1/members/{mid}/equity", headers=staff)).json()
    assert [lot["outstanding_cents"] for lot in statement["lots"]] == [0, 0, 0]
    assert statement["total_equity_cents"] == 10_000  # the membership share is not part of it
    assert (await client.get(f"/v1/members/{mid}/account", headers=staff)).json()["balance_cents"] == 0
    payouts = await payouts_of(session, int(mid))
    assert [(p.kind, p.amount_cents, p.status, str(p.id)) for p in payouts] == [
        ("equity_redemption", 13_488, "pending", out["payout_id"])
    ]
    assert await ledger.balance_of(session, chart.UNALLOCATED_EQUITY) == 2_012
    assert await ledger.balance_of(session, chart.PAYOUTS_PAYABLE) == 13_488
    assert (await client.get("/v1/ledger/trial-balance", headers=staff)).json()["balanced"] is True

    # The same request again answers the same redemption and changes nothing.
    entries = await _entries(session)
    again = await client.post(f"/v1/members/{mid}/special-redemptions", json=body, headers=staff)
    assert again.status_code == 201
    assert again.json() == out
    assert await _entries(session) == entries
    assert len(await payouts_of(session, int(mid))) == 1
    other_terms = await client.post(
        f"/v1/members/{mid}/special-redemptions", json=body | {"discount_rate": "0.06"}, headers=staff
    )
    assert other_terms.status_code == 409
    nothing_left = await client.post(
        f"/v1/members/{mid}/special-redemptions", json=body | {"as_of": "2025-07-01"}, headers=staff
    )
    assert nothing_left.status_code == 409
    assert "no outstanding" in nothing_left.json()["detail"]
    assert await _entries(session) == entries


async def test_special_redemption_without_debt_pays_it_all_and_stales_earlier_runs(client, session):
    staff = await _staff(client, session)
    members = await _coop(client, staff)
    cid = members["c"][0]
    run = await client.post(
        "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 15_000, "as_of": AS_OF}, headers=staff
    )
    made = await client.post(
        f"/v1/members/{cid}/special-redemptions",
        json={"reason": "exit", "discount_rate": "0", "revolving_years": 3, "as_of": "2021-06-30"},
        headers=staff,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["present_value_cents"], made.json()["discount_cents"]) == (8_334, 0)
    assert (made.json()["set_off_cents"], made.json()["payout_cents"]) == (0, 8_334)
    # The run computed before counted on c's 2018 lot, which is gone now.
    stale = await client.post(f"/v1/redemption-runs/{run.json()['id']}/approve", headers=staff)
    assert stale.status_code == 409


async def test_invalid_requests_are_400_404_or_409(client, session):
    staff = await _staff(client, session)
    members = await _coop(client, staff)
    url = "/v1/redemption-runs"
    good: dict[str, Any] = {"method": "fifo", "budget_cents": 1_000, "as_of": AS_OF}
    for bad in (
        good | {"method": "lifo"},
        good | {"budget_cents": -1},
        good | {"budget_cents": 1.5},
        good | {"as_of": "not-a-date"},
        good | {"unknown": 1},
        {"method": "fifo", "as_of": AS_OF},
        good | {"equity_ratio_floor": "abc"},
    ):
        answer = await client.post(url, json=bad, headers=staff)
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    partial = await client.post(url, json=good | {"cash_available_cents": 5, "equity_ratio_floor": "1"}, headers=staff)
    assert partial.status_code == 400
    assert {e["field"] for e in partial.json()["errors"]} == {
        "minimum_cash_cents",
        "equity_cents",
        "assets_cents",
        "equity_ratio_floor",
    }
    for path in (f"{url}/999999999", f"{url}/nope", f"{url}/999999999/lines"):
        assert (await client.get(path, headers=staff)).status_code == 404, path
    assert (await client.post(f"{url}/999999999/approve", headers=staff)).status_code == 404
    run_id = (await client.post(url, json=good, headers=staff)).json()["id"]
    assert (await client.get(f"{url}/{run_id}/lines", params={"cursor": "@@"}, headers=staff)).status_code == 400
    assert (await client.get(f"{url}/{run_id}/lines", params={"limit": 0}, headers=staff)).status_code == 400

    special = f"/v1/members/{members['a'][0]}/special-redemptions"
    body: dict[str, Any] = {"reason": "retirement", "discount_rate": "0.05", "as_of": "2025-01-01"}
    for bad in (
        body | {"reason": "boredom"},
        body | {"discount_rate": "1.5"},
        body | {"discount_rate": "-0.01"},
        body | {"discount_rate": "NaN"},
        body | {"discount_rate": "0.0000001"},
        body | {"revolving_years": -1},
        {"reason": "death", "discount_rate": "0.05"},
    ):
        answer = await client.post(special, json=bad, headers=staff)
        assert answer.status_code == 400, (bad, answer.text)
    missing = await client.post("/v1/members/999999999/special-redemptions", json=body, headers=staff)
    assert missing.status_code == 404
    applicant = (await client.post("/v1/members", json={"name": "New", "email": "n@x.test"}, headers=staff)).json()
    none_held = await client.post(f"/v1/members/{applicant['id']}/special-redemptions", json=body, headers=staff)
    assert none_held.status_code == 409


async def test_members_cannot_use_redemption_routes(client, session):
    staff = await _staff(client, session)
    run_id = (
        await client.post(
            "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 0, "as_of": AS_OF}, headers=staff
        )
    ).json()["id"]
    user = await make_member_user(session, MemberRole.ADMIN)
    member = await bearer(client, user.email)
    calls = [
        ("POST", "/v1/redemption-runs", {"method": "fifo", "budget_cents": 1, "as_of": AS_OF}),
        ("GET", f"/v1/redemption-runs/{run_id}", None),
        ("GET", f"/v1/redemption-runs/{run_id}/lines", None),
        ("POST", f"/v1/redemption-runs/{run_id}/approve", None),
        (
            "POST",
            f"/v1/members/{user.member_id}/special-redemptions",
            {"reason": "exit", "discount_rate": "0.05", "as_of": AS_OF},
        ),
    ]
    for method, path, body in calls:
        answer = await client.request(method, path, json=body, headers=member)
        assert answer.status_code == 403, (method, path, answer.text)
        assert (await client.request(method, path, json=body)).status_code == 401
    assert (await client.get(f"/v1/redemption-runs/{run_id}", headers=staff)).json()["status"] == "computed"
