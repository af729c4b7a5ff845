"""Read-only self-service: a member's notices, payouts and redemptions; staff lists of year-end runs.

A member's users see their own member's only (another member's id: 404); staff see any member's.
"""

from __future__ import annotations

from typing import Any

from tests.support.buying import staff_headers
from tests.support.users import PASSWORD, bearer
from tests.support.worker import run_worker


async def _coop(client, staff) -> dict[str, dict[str, Any]]:
    """Members A, B (full since 2020, each with a user) with 2021 lots and FY2025 patronage."""
    register = [
        {
            "external_ref": f"ss-{n}",
            "name": f"Shop {n}",
            "email": f"{n.lower()}@ss.test",
            "joined_at": "2020-01-01T00:00:00Z",
            "status": "full",
            "share_paid_cents": 10_000,
        }
        for n in "AB"
    ]
    landed = await client.post("/v1/members/imports", json={"members": register}, headers=staff)
    assert landed.status_code == 200, landed.text
    members = dict(zip("AB", landed.json()["members"], strict=True))
    for name, m in members.items():
        user = {"email": f"ss-{name.lower()}@ss.test", "password": PASSWORD, "member_role": "finance"}
        assert (await client.post(f"/v1/members/{m['id']}/users", json=user, headers=staff)).status_code == 201
    lots = [
        {
            "external_ref": f"ss-lot-{n}",
            "member_number": m["member_number"],
            "fiscal_year": 2021,
            "qualified": True,
            "face_cents": 4_000,
            "redeemed_cents": 0,
        }
        for n, m in members.items()
    ]
    assert (await client.post("/v1/equity/imports", json={"lots": lots}, headers=staff)).status_code == 200
    records = [
        {
            "external_ref": f"ss-p-{n}",
            "member_number": m["member_number"],
            "pool": "purchases",
            "amount_cents": amount,
            "occurred_at": "2025-05-01T00:00:00Z",
        }
        for (n, m), amount in zip(members.items(), (30_000, 10_000), strict=True)
    ]
    assert (await client.post("/v1/patronage/imports", json={"records": records}, headers=staff)).status_code == 200
    return members


async def _posted_allocation(client, staff, settings, session_maker) -> str:
    body = {
        "fiscal_year": 2025,
        "pools": [{"pool": "purchases", "net_margin_cents": 10_000}],
        "payment_date": "2026-03-15",
        "policy": {"cash_rate": "0.20"},
    }
    started = await client.post("/v1/allocation-runs", json=body, headers=staff)
    assert started.status_code == 202, started.text
    await run_worker(settings, session_maker)
    approved = await client.post(f"/v1/allocation-runs/{started.json()['id']}/approve", json={}, headers=staff)
    assert approved.json()["status"] == "posted", approved.text
    return str(started.json()["id"])


async def _items(client, path: str, headers, **params) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        page = await client.get(path, params=params | ({"cursor": cursor} if cursor else {}), headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_members_read_their_own_notices_payouts_and_redemptions(client, session, settings, session_maker):
    staff = await staff_headers(client, session)
    members = await _coop(client, staff)
    a, b = members["A"]["id"], members["B"]["id"]
    a_h = await bearer(client, "ss-a@ss.test")
    run_id = await _posted_allocation(client, staff, settings, session_maker)
    posted = await client.post(
        "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 5_000, "as_of": "2026-06-30"}, headers=staff
    )
    assert posted.status_code == 201, posted.text
    assert (await client.post(f"/v1/redemption-runs/{posted.json()['id']}/approve", json={}, headers=staff)).is_success
    # Computed, never approved: a board draft, not a redemption of the member's equity.
    draft = await client.post(
        "/v1/redemption-runs",
        json={"method": "percentage", "budget_cents": 1_000, "as_of": "2026-06-30"},
        headers=staff,
    )
    assert draft.status_code == 201, draft.text

    # Notices: the member's figures from the posted run, with the notice's address.
    lines = await _items(client, f"/v1/allocation-runs/{run_id}/lines", staff)
    line_a = next(ln for ln in lines if ln["member_id"] == a)
    notices = await _items(client, f"/v1/members/{a}/notices", a_h)
    assert notices == [
        {
            "run_id": run_id,
            "fiscal_year": 2025,
            "payment_date": "2026-03-15",
            "patronage_cents": line_a["patronage_cents"],
            "allocation_cents": line_a["allocation_cents"],
            "cash_cents": line_a["cash_cents"],
            "retained_cents": line_a["retained_cents"],
            "qualified": line_a["qualified"],
            "loan_repayment_cents": line_a["loan_repayment_cents"],
            "notice_url": f"/v1/allocation-runs/{run_id}/notices/{a}",
        }
    ]
    assert line_a["allocation_cents"] > 0
    assert (await client.get(notices[0]["notice_url"], headers=a_h)).status_code == 200

    # Payouts: the member's own (dividend cash and the redemption), as staff see them.
    mine = await _items(client, f"/v1/members/{a}/payouts", a_h)
    as_staff = await _items(client, "/v1/payouts", staff, member_id=a)
    assert mine == as_staff
    assert {p["kind"] for p in mine} == {"patronage_cash", "equity_redemption"}
    assert {p["member_id"] for p in mine} == {a}
    only_cash = await _items(client, f"/v1/members/{a}/payouts", a_h, kind="patronage_cash")
    assert [p["kind"] for p in only_cash] == ["patronage_cash"]

    # Redemptions: lines of posted runs only, with the run that made them.
    redemptions = await _items(client, f"/v1/members/{a}/redemptions", a_h)
    run_lines = await _items(client, f"/v1/redemption-runs/{posted.json()['id']}/lines", staff)
    assert [(r["run_id"], r["lot_id"], r["fiscal_year"], r["amount_cents"]) for r in redemptions] == [
        (posted.json()["id"], ln["lot_id"], ln["fiscal_year"], ln["amount_cents"])
        for ln in run_lines
        if ln["member_id"] == a
    ]
    assert redemptions
    assert all(r["as_of"] == "2026-06-30" and r["posted_at"] for r in redemptions)

    # Another member's, or an unknown one: not found. Staff see any member's.
    for what in ("notices", "payouts", "redemptions"):
        other = await client.get(f"/v1/members/{b}/{what}", headers=a_h)
        assert other.status_code == 404, (what, other.text)
        unknown = await client.get(f"/v1/members/999999999/{what}", headers=staff)
        assert unknown.status_code == 404, (what, unknown.text)
        assert (await client.get(f"/v1/members/{b}/{what}", headers=staff)).status_code == 200
    bad = await client.get(f"/v1/members/{a}/payouts", params={"status": "lost"}, headers=a_h)
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["status"]


async def test_staff_list_allocation_and_redemption_runs(client, session, settings, session_maker):
    staff = await staff_headers(client, session)
    await _coop(client, staff)
    run_id = await _posted_allocation(client, staff, settings, session_maker)
    failed = await client.post(
        "/v1/allocation-runs",
        json={
            "fiscal_year": 2024,
            "pools": [{"pool": "purchases", "net_margin_cents": 10_000}],
            "payment_date": "2025-03-15",
            "policy": {"cash_rate": "0.20"},
        },
        headers=staff,
    )
    assert failed.status_code in {202, 400}, failed.text

    async def run_ids(path: str, **params) -> list[str]:
        return [r["id"] for r in await _items(client, path, staff, **params)]

    assert run_id in await run_ids("/v1/allocation-runs")
    assert await run_ids("/v1/allocation-runs", fiscal_year=2025) == [run_id]
    assert await run_ids("/v1/allocation-runs", status="posted") == [run_id]
    assert await run_ids("/v1/allocation-runs", fiscal_year=2023) == []

    fifo = await client.post(
        "/v1/redemption-runs", json={"method": "fifo", "budget_cents": 1_000, "as_of": "2026-06-30"}, headers=staff
    )
    older = await client.post(
        "/v1/redemption-runs",
        json={"method": "percentage", "budget_cents": 1_000, "as_of": "2025-12-31"},
        headers=staff,
    )
    assert fifo.status_code == older.status_code == 201, (fifo.text, older.text)
    assert (await client.post(f"/v1/redemption-runs/{fifo.json()['id']}/approve", json={}, headers=staff)).is_success
    fifo_id, older_id = fifo.json()["id"], older.json()["id"]
    assert await run_ids("/v1/redemption-runs") == [fifo_id, older_id]
    assert await run_ids("/v1/redemption-runs", status="posted") == [fifo_id]
    assert await run_ids("/v1/redemption-runs", status="computed", method="percentage") == [older_id]
    assert await run_ids("/v1/redemption-runs", fiscal_year=2025) == [older_id]
    assert await run_ids("/v1/redemption-runs", fiscal_year=2026, limit=1) == [fifo_id]

    for path, params, field in (
        ("/v1/allocation-runs", {"status": "done"}, "status"),
        ("/v1/allocation-runs", {"fiscal_year": "last"}, "fiscal_year"),
        ("/v1/redemption-runs", {"status": "approved"}, "status"),
        ("/v1/redemption-runs", {"method": "lifo"}, "method"),
    ):
        answer = await client.get(path, params=params, headers=staff)
        assert answer.status_code == 400, (path, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    member_h = await bearer(client, "ss-a@ss.test")
    for path in ("/v1/allocation-runs", "/v1/redemption-runs"):
        assert (await client.get(path, headers=member_h)).status_code == 403
