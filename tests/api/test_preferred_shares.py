"""Preferred shares: capped by total equity, non-voting, dividend HALF_UP per holder once a year."""

from __future__ import annotations

from tests.support.users import bearer, make_user


async def _full_member(client, staff, name: str) -> str:
    mid = (await client.post("/v1/members", json={"name": name, "email": f"{name}@x.test"}, headers=staff)).json()["id"]
    await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": "cash"}, headers=staff
    )
    await client.post(f"/v1/members/{mid}/admit", json={}, headers=staff)
    return str(mid)


async def test_preferred_shares_are_capped_vote_nothing_and_pay_a_yearly_dividend(client, session):
    staff = await bearer(client, (await make_user(session)).email)
    a, b, c = [await _full_member(client, staff, n) for n in ("alpha", "beta", "gamma")]
    # Equity is 300.00 of membership shares; at a 25% cap, at most 100.00 preferred fits
    # (100 / (300 + 100) = 25%).
    too_much = await client.post(
        f"/v1/members/{a}/preferred-shares", json={"amount_cents": 10_001, "method": "bank_transfer"}, headers=staff
    )
    assert too_much.status_code == 400
    assert too_much.json()["errors"][0]["field"] == "amount_cents"
    first = await client.post(
        f"/v1/members/{a}/preferred-shares", json={"amount_cents": 6_171, "method": "bank_transfer"}, headers=staff
    )
    assert first.status_code == 201, first.text
    assert first.json()["member"]["votes"] == 1  # still one vote, whatever it holds
    second = await client.post(
        f"/v1/members/{b}/preferred-shares", json={"amount_cents": 3_829, "method": "check"}, headers=staff
    )
    assert second.status_code == 201
    over = await client.post(
        f"/v1/members/{c}/preferred-shares", json={"amount_cents": 1, "method": "cash"}, headers=staff
    )
    assert over.status_code == 400  # exactly at the cap now
    equity = (await client.get(f"/v1/members/{a}/equity", headers=staff)).json()
    assert equity["preferred_shares_cents"] == 6_171
    assert equity["total_equity_cents"] == 16_171

    bad_rate = await client.post(
        "/v1/preferred-dividend-runs", json={"fiscal_year": 2026, "rate": "0.09"}, headers=staff
    )
    assert bad_rate.status_code == 400
    run = await client.post("/v1/preferred-dividend-runs", json={"fiscal_year": 2026, "rate": "0.05"}, headers=staff)
    assert run.status_code == 201, run.text
    body = run.json()
    # 6171 * 5% = 308.55 -> 309; 3829 * 5% = 191.45 -> 191 (HALF_UP per holder)
    assert [(ln["member_id"], ln["holding_cents"], ln["dividend_cents"]) for ln in body["lines"]] == [
        (a, 6_171, 309),
        (b, 3_829, 191),
    ]
    assert body["total_cents"] == 500
    again = await client.post("/v1/preferred-dividend-runs", json={"fiscal_year": 2026, "rate": "0.05"}, headers=staff)
    assert again.status_code == 409
    assert (await client.get("/v1/ledger/trial-balance", headers=staff)).json()["balanced"] is True
