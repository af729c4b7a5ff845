"""Payout reconciliation through the API: pay, bounce, reissue, hold, void, set off; every move in the books."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlmodel import col

from domain.db import make_engine, make_session_maker
from domain.errors import ConflictError, InvalidInputError
from domain.identity.rules import MemberRole
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.tables import JournalEntry
from domain.membership import service as membership
from domain.payments import service as payouts
from domain.payments.rules import PayoutMethod, PayoutStatus
from domain.payments.service import create_payout
from tests.support.buying import make_supplier, supplier_headers
from tests.support.scratch_db import migrated_database
from tests.support.users import bearer, make_member_user, make_user

if TYPE_CHECKING:
    from collections.abc import Iterator

PROBLEM = "application/problem+json"
_seq = itertools.count(1)


async def _staff(client, session) -> dict[str, str]:
    return await bearer(client, (await make_user(session)).email)


async def _charge(session, member_id: int, cents: int) -> None:
    """A sale on the member's trade account (what settling a group buy posts)."""
    await ledger.transfer(
        session,
        debit=chart.member_trade(member_id),
        credit=chart.SALES,
        amount_cents=cents,
        kind="sale",
        idempotency_key=f"test-sale:{member_id}:{next(_seq)}",
        occurred_at=datetime.now(UTC),
    )
    await session.commit()


async def _withdrawn(client, session, staff, *, owed: int = 0, share_method: str = "bank_transfer") -> tuple[str, str]:
    """A member who paid its 100.00 share, owed `owed`, withdrew and had its redemption approved: (member, payout)."""
    n = next(_seq)
    mid = (
        await client.post("/v1/members", json={"name": f"Shop {n}", "email": f"shop{n}@x.test"}, headers=staff)
    ).json()["id"]
    paid = await client.post(
        f"/v1/members/{mid}/share-payments", json={"amount_cents": 10_000, "method": share_method}, headers=staff
    )
    assert paid.status_code == 201, paid.text
    assert (await client.post(f"/v1/members/{mid}/admit", json={}, headers=staff)).status_code == 200
    if owed:
        await _charge(session, int(mid), owed)
    left = await client.post(f"/v1/members/{mid}/withdraw", json={}, headers=staff)
    assert left.status_code == 200, left.text
    approved = await client.post(f"/v1/members/{mid}/share-redemption/approve", headers=staff)
    assert approved.status_code == 200, approved.text
    listed = await client.get(f"/v1/payouts?member_id={mid}&kind=share_redemption", headers=staff)
    assert listed.status_code == 200, listed.text
    [payout] = listed.json()["items"]
    return mid, payout["id"]


async def _books(client, staff) -> dict[str, int]:
    """Every account's balance by code, after checking the trial balance balances."""
    trial = (await client.get("/v1/ledger/trial-balance", headers=staff)).json()
    assert trial["balanced"] is True
    return {a["code"]: a["balance_cents"] for a in trial["accounts"]}


async def _trade_balance(client, staff, mid: str) -> int:
    return int((await client.get(f"/v1/members/{mid}/account", headers=staff)).json()["balance_cents"])


async def test_a_redemption_is_paid_bounces_is_reissued_and_paid_again(client, session):
    staff = await _staff(client, session)
    mid, pid = await _withdrawn(client, session, staff, owed=2_550)
    shown = (await client.get(f"/v1/payouts/{pid}", headers=staff)).json()
    assert shown["member_id"] == mid
    assert (shown["kind"], shown["amount_cents"], shown["status"], shown["method"], shown["reference"]) == (
        "share_redemption",
        7_450,  # the 25.50 owed was set off at exit
        "pending",
        None,
        None,
    )
    assert shown["events"] == []
    books = await _books(client, staff)
    assert books["coop:payouts_payable"] == 7_450
    assert books["coop:bank"] == 10_000

    paid = await client.post(
        f"/v1/payouts/{pid}/mark-paid", json={"method": "check", "reference": "CHK-1001"}, headers=staff
    )
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["status"], body["method"], body["reference"]) == ("paid", "check", "CHK-1001")
    assert body["paid_at"] is not None
    [event] = body["events"]
    assert (event["action"], event["from_status"], event["to_status"], event["amount_cents"]) == (
        "mark-paid",
        "pending",
        "paid",
        7_450,
    )
    assert event["entry_id"] is not None
    assert event["actor_user_id"] is not None
    books = await _books(client, staff)
    assert books["coop:payouts_payable"] == 0
    assert books["coop:bank"] == 10_000 - 7_450

    # The same request again (a client retry) answers with the payout as it is and writes nothing.
    again = await client.post(
        f"/v1/payouts/{pid}/mark-paid", json={"method": "check", "reference": "CHK-1001"}, headers=staff
    )
    assert again.status_code == 200
    assert len(again.json()["events"]) == 1
    other = await client.post(
        f"/v1/payouts/{pid}/mark-paid", json={"method": "check", "reference": "CHK-9"}, headers=staff
    )
    assert other.status_code == 409
    assert other.headers["content-type"].startswith(PROBLEM)
    assert "allowed from paid: fail (failed)" in other.json()["detail"]
    assert (await _books(client, staff))["coop:bank"] == 2_550

    bounced = await client.post(
        f"/v1/payouts/{pid}/fail", json={"reference": "RET-77", "reason": "check bounced"}, headers=staff
    )
    assert bounced.status_code == 200, bounced.text
    assert (bounced.json()["status"], bounced.json()["paid_at"]) == ("failed", None)
    books = await _books(client, staff)
    assert books["coop:payouts_payable"] == 7_450  # owed again
    assert books["coop:bank"] == 10_000

    refused = await client.post(f"/v1/payouts/{pid}/mark-paid", json={}, headers=staff)
    assert refused.status_code == 409
    assert "reissue (pending)" in refused.json()["detail"]

    reissued = await client.post(f"/v1/payouts/{pid}/reissue", json={"reference": "CHK-1002"}, headers=staff)
    assert reissued.status_code == 200, reissued.text
    assert (reissued.json()["status"], reissued.json()["reference"]) == ("pending", "CHK-1002")
    assert reissued.json()["events"][-1]["entry_id"] is None  # still owed in the payable: no money moved
    assert (await _books(client, staff))["coop:payouts_payable"] == 7_450

    # No method: the payout's planned one (the check it was paid by before).
    repaid = await client.post(f"/v1/payouts/{pid}/mark-paid", json={"reference": "CHK-1002"}, headers=staff)
    assert repaid.status_code == 200
    assert repaid.json()["method"] == "check"
    books = await _books(client, staff)
    assert books["coop:payouts_payable"] == 0
    assert books["coop:bank"] == 2_550

    history = (await client.get(f"/v1/payouts/{pid}", headers=staff)).json()["events"]
    assert [(e["action"], e["from_status"], e["to_status"], e["reference"]) for e in history] == [
        ("mark-paid", "pending", "paid", "CHK-1001"),
        ("fail", "paid", "failed", "RET-77"),
        ("reissue", "failed", "pending", "CHK-1002"),
        ("mark-paid", "pending", "paid", "CHK-1002"),
    ]
    assert history[1]["reason"] == "check bounced"
    assert [e["entry_id"] is not None for e in history] == [True, True, False, True]


async def test_an_unclaimed_payout_is_held_then_reissued_and_paid_in_cash(client, session):
    staff = await _staff(client, session)
    _, pid = await _withdrawn(client, session, staff, share_method="cash")
    held = await client.post(f"/v1/payouts/{pid}/mark-unclaimed", json={"reason": "member unreachable"}, headers=staff)
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "unclaimed"
    assert held.json()["status_since"] == held.json()["events"][-1]["occurred_at"]
    books = await _books(client, staff)
    assert (books["coop:payouts_payable"], books["coop:unclaimed_payouts"]) == (0, 10_000)
    listed = (await client.get("/v1/payouts?status=unclaimed", headers=staff)).json()["items"]
    assert [p["id"] for p in listed] == [pid]

    assert (await client.post(f"/v1/payouts/{pid}/mark-paid", json={}, headers=staff)).status_code == 409
    reissued = await client.post(f"/v1/payouts/{pid}/reissue", json={"reason": "member came forward"}, headers=staff)
    assert reissued.status_code == 200
    assert reissued.json()["events"][-1]["entry_id"] is not None
    books = await _books(client, staff)
    assert (books["coop:payouts_payable"], books["coop:unclaimed_payouts"]) == (10_000, 0)

    paid = await client.post(f"/v1/payouts/{pid}/mark-paid", json={"method": "cash"}, headers=staff)
    assert paid.status_code == 200
    books = await _books(client, staff)
    assert (books["coop:payouts_payable"], books["coop:cash"]) == (0, 0)  # the share came in cash and went out
    cash_cannot_bounce = await client.post(f"/v1/payouts/{pid}/fail", json={}, headers=staff)
    assert cash_cannot_bounce.status_code == 409
    assert "cannot fail" in cash_cannot_bounce.json()["detail"]


async def test_store_credit_pays_into_the_trade_account(client, session):
    staff = await _staff(client, session)
    mid, pid = await _withdrawn(client, session, staff)
    paid = await client.post(f"/v1/payouts/{pid}/mark-paid", json={"method": "store_credit"}, headers=staff)
    assert paid.status_code == 200, paid.text
    assert await _trade_balance(client, staff, mid) == -10_000  # the co-op owes the member on account
    assert (await _books(client, staff))["coop:payouts_payable"] == 0


async def test_voiding_releases_the_money_to_unallocated_equity_and_is_final(client, session):
    staff = await _staff(client, session)
    _, pending = await _withdrawn(client, session, staff)
    _, held = await _withdrawn(client, session, staff)
    _, failed = await _withdrawn(client, session, staff)
    assert (await client.post(f"/v1/payouts/{held}/mark-unclaimed", json={}, headers=staff)).status_code == 200
    never_sent = await client.post(f"/v1/payouts/{failed}/fail", json={"reason": "no bank details"}, headers=staff)
    assert never_sent.status_code == 200
    assert never_sent.json()["events"][-1]["entry_id"] is None  # never sent: nothing moved
    books = await _books(client, staff)
    assert (books["coop:payouts_payable"], books["coop:unclaimed_payouts"]) == (20_000, 10_000)

    for pid in (pending, held, failed):
        voided = await client.post(f"/v1/payouts/{pid}/void", json={"reason": "escheat waived"}, headers=staff)
        assert voided.status_code == 200, voided.text
        assert voided.json()["status"] == "void"
    books = await _books(client, staff)
    assert (books["coop:payouts_payable"], books["coop:unclaimed_payouts"]) == (0, 0)
    assert books["coop:unallocated_equity"] == 30_000

    again = await client.post(f"/v1/payouts/{pending}/void", json={"reason": "escheat waived"}, headers=staff)
    assert again.status_code == 200  # a retry
    assert len(again.json()["events"]) == 1
    for action in ("void", "reissue", "mark-paid", "fail", "mark-unclaimed"):
        refused = await client.post(f"/v1/payouts/{pending}/{action}", json={}, headers=staff)
        assert refused.status_code == 409, action
        assert "allowed from void: none (final state)" in refused.json()["detail"]
    no_set_off = await client.post(f"/v1/payouts/{pending}/set-off", json={}, headers=staff)
    assert no_set_off.status_code == 409
    assert "only a pending payout" in no_set_off.json()["detail"]
    assert (await _books(client, staff))["coop:unallocated_equity"] == 30_000


async def test_set_off_applies_a_payout_to_the_trade_debt_until_it_is_paid(client, session):
    staff = await _staff(client, session)
    mid, pid = await _withdrawn(client, session, staff)
    nothing = await client.post(f"/v1/payouts/{pid}/set-off", json={}, headers=staff)
    assert nothing.status_code == 400
    assert nothing.json()["errors"][0]["field"] == "amount_cents"

    await _charge(session, int(mid), 3_000)  # a late delivery settled after the member left
    part = await client.post(f"/v1/payouts/{pid}/set-off", json={"amount_cents": 1_000}, headers=staff)
    assert part.status_code == 200, part.text
    assert (part.json()["status"], part.json()["amount_cents"]) == ("pending", 9_000)
    assert await _trade_balance(client, staff, mid) == 2_000
    rest = await client.post(f"/v1/payouts/{pid}/set-off", json={}, headers=staff)
    assert (rest.json()["status"], rest.json()["amount_cents"]) == ("pending", 7_000)
    assert await _trade_balance(client, staff, mid) == 0
    assert (await _books(client, staff))["coop:payouts_payable"] == 7_000

    await _charge(session, int(mid), 9_000)
    settled = await client.post(f"/v1/payouts/{pid}/set-off", json={"reason": "board decision 12"}, headers=staff)
    assert settled.status_code == 200
    body = settled.json()
    assert (body["status"], body["method"], body["amount_cents"]) == ("paid", "set_off", 7_000)
    assert [(e["action"], e["to_status"], e["amount_cents"]) for e in body["events"]] == [
        ("set-off", "pending", 1_000),
        ("set-off", "pending", 2_000),
        ("set-off", "paid", 7_000),
    ]
    assert body["events"][-1]["reason"] == "board decision 12"
    assert await _trade_balance(client, staff, mid) == 2_000
    account = (await client.get(f"/v1/members/{mid}/account", headers=staff)).json()
    assert [e["kind"] for e in account["entries"]][-2:] == ["sale", "set_off"]
    assert (await _books(client, staff))["coop:payouts_payable"] == 0

    assert (await client.post(f"/v1/payouts/{pid}/set-off", json={}, headers=staff)).status_code == 409
    no_bounce = await client.post(f"/v1/payouts/{pid}/fail", json={}, headers=staff)
    assert no_bounce.status_code == 409
    assert "set_off cannot fail" in no_bounce.json()["detail"]
    by_set_off = await client.post(f"/v1/payouts/{pid}/mark-paid", json={"method": "set_off"}, headers=staff)
    assert by_set_off.status_code == 400  # not a method staff choose


async def test_unknown_payouts_are_404(client, session):
    staff = await _staff(client, session)
    for pid in ("999999999", "abc", "1" * 30):
        assert (await client.get(f"/v1/payouts/{pid}", headers=staff)).status_code == 404
        missing = await client.post(f"/v1/payouts/{pid}/mark-paid", json={}, headers=staff)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith(PROBLEM)
    assert (await client.post("/v1/payouts/999999999/set-off", json={}, headers=staff)).status_code == 404


async def test_members_see_only_their_own_payout_and_no_staff_route(client, session):
    staff = await _staff(client, session)
    # A former member's users cannot sign in (issue 8, item 14): a current member's payout.
    finance = await make_member_user(session, MemberRole.FINANCE)
    assert finance.member_id is not None
    pid = str(await _approved(session, finance.member_id, "patronage_cash", 1_000))
    own = await bearer(client, finance.email)
    other = await bearer(client, (await make_member_user(session)).email)
    supplier = await supplier_headers(client, session, (await make_supplier(session)).id)

    mine = await client.get(f"/v1/payouts/{pid}", headers=own)
    assert mine.status_code == 200
    assert mine.json()["id"] == pid
    hidden = await client.get(f"/v1/payouts/{pid}", headers=other)
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == f"payout {pid} not found"
    assert (await client.get(f"/v1/payouts/{pid}", headers=supplier)).status_code == 403
    for headers in (own, other, supplier):
        assert (await client.get("/v1/payouts", headers=headers)).status_code == 403
        assert (await client.get("/v1/payouts/export", headers=headers)).status_code == 403
        for action in ("mark-paid", "fail", "void", "reissue", "mark-unclaimed", "set-off"):
            refused = await client.post(f"/v1/payouts/{pid}/{action}", json={}, headers=headers)
            assert refused.status_code == 403, (action, refused.text)
    assert (await client.get("/v1/payouts")).status_code == 401
    assert (await client.get(f"/v1/payouts/{pid}", headers=staff)).json()["status"] == "pending"


async def test_bad_bodies_and_filters_are_400(client, session):
    staff = await _staff(client, session)
    _, pid = await _withdrawn(client, session, staff)
    bodies: list[object] = [
        {"method": "bitcoin"},
        {"method": "set_off"},
        {"reference": ""},
        {"reference": "x" * 201},
        {"reason": "y" * 501},
        {"surprise": 1},
        [],
    ]
    for body in bodies:
        answer = await client.post(f"/v1/payouts/{pid}/mark-paid", json=body, headers=staff)
        assert answer.status_code == 400, body
        assert answer.headers["content-type"].startswith(PROBLEM)
    assert (await client.post(f"/v1/payouts/{pid}/void", json={"method": "cash"}, headers=staff)).status_code == 400
    for amount in (0, -5, "5", 1.5):
        body = {"amount_cents": amount}
        assert (await client.post(f"/v1/payouts/{pid}/set-off", json=body, headers=staff)).status_code == 400, body
    for query in ("status=lost", "kind=bonus", "member_id=abc", "limit=0", "limit=201", "cursor=%%%"):
        answer = await client.get(f"/v1/payouts?{query}", headers=staff)
        assert answer.status_code == 400, query
        assert answer.headers["content-type"].startswith(PROBLEM)
    assert (await client.get("/v1/payouts/export?format=nacha", headers=staff)).status_code == 400
    assert (await client.get(f"/v1/payouts/{pid}", headers=staff)).json()["events"] == []  # nothing changed


async def _approved(session, member_id: int, kind: str, cents: int) -> int:
    """A payout as an approval posts it: the amount moves to payouts payable, then the instruction."""
    key = f"test-{kind}:{member_id}:{next(_seq)}"
    await ledger.transfer(
        session,
        debit=chart.UNALLOCATED_EQUITY,
        credit=chart.PAYOUTS_PAYABLE,
        amount_cents=cents,
        kind=kind,
        idempotency_key=key,
        occurred_at=datetime.now(UTC),
    )
    payout = await create_payout(session, member_id=member_id, kind=kind, amount_cents=cents, business_key=key)
    await session.commit()
    assert payout.id is not None
    return payout.id


async def test_the_list_filters_and_pages(client, session):
    staff = await _staff(client, session)
    a = (await make_member_user(session)).member_id
    b = (await make_member_user(session)).member_id
    assert a is not None
    assert b is not None
    made = [
        await _approved(session, a, "patronage_cash", 1_201),
        await _approved(session, a, "equity_redemption", 2_000),
        await _approved(session, b, "patronage_cash", 305),
        await _approved(session, b, "preferred_dividend", 191),
        await _approved(session, b, "patronage_cash", 4_400),
    ]
    ids = [str(i) for i in made]
    assert (await client.post(f"/v1/payouts/{ids[2]}/mark-paid", json={"method": "ach"}, headers=staff)).is_success

    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/v1/payouts?{query}", headers=staff)).json()
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3

    async def listed(query: str) -> list[str]:
        answer = await client.get(f"/v1/payouts?{query}", headers=staff)
        assert answer.status_code == 200, answer.text
        return [p["id"] for p in answer.json()["items"]]

    assert await listed("status=paid") == [ids[2]]
    assert await listed("status=pending&kind=patronage_cash") == [ids[0], ids[4]]
    assert await listed(f"member_id={b}") == ids[2:]
    assert await listed(f"member_id={b}&kind=preferred_dividend") == [ids[3]]
    assert await listed("member_id=999999999") == []
    assert await listed("status=void") == []
    item = (await client.get(f"/v1/payouts?member_id={a}&limit=1", headers=staff)).json()["items"][0]
    assert set(item) == {
        "id",
        "member_id",
        "kind",
        "amount_cents",
        "status",
        "method",
        "reference",
        "paid_at",
        "created_at",
        "status_since",
    }

    export = await client.get("/v1/payouts/export?format=check_register", headers=staff)
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["payout_id"] for r in rows] == [ids[0], ids[1], ids[3], ids[4]]  # pending ones, by member number
    assert [r["amount"] for r in rows] == ["12.01", "20.00", "1.91", "44.00"]
    only_cash = await client.get("/v1/payouts/export?kind=patronage_cash", headers=staff)
    assert [r["payout_id"] for r in csv.DictReader(io.StringIO(only_cash.text))] == [ids[0], ids[4]]
    assert (await _books(client, staff))["coop:payouts_payable"] == 1_201 + 2_000 + 191 + 4_400


# --- concurrent moves, on real connections and real COMMITs ------------------------
#
# Committed journal rows cannot be rolled back and the checks read the co-op's own
# accounts, so this runs in a scratch database of its own, dropped afterwards.

SCRATCH = "coop_payouts_concurrency"


@pytest.fixture(scope="module")
def scratch_url(stack) -> Iterator[str]:
    with migrated_database(stack.database_url, SCRATCH) as url:
        yield url


async def test_concurrent_moves_pay_once_and_never_set_off_more_than_owed(scratch_url):
    engine = make_engine(scratch_url, pool_size=8)
    maker = make_session_maker(engine)
    try:
        async with maker() as s:
            member = await membership.apply(s, name="Race Co", email="race@x.test", contact_name=None, par_cents=10_000)
            assert member.id is not None
            member_id = member.id
            await _charge(s, member_id, 250)
            payout_id = await _approved(s, member_id, "patronage_cash", 1_000)

        async def run(move) -> object:
            async with maker() as s:
                result = await move(s)
                await s.commit()
                return result

        def pay(i: int):
            return lambda s: payouts.change_status(
                s,
                payout_id,
                PayoutStatus.PAID,
                method=PayoutMethod.CHECK,
                reference=f"CHK-{i}",
                reason=None,
                actor=None,
                now=datetime.now(UTC),
            )

        def set_off(_: int):
            return lambda s: payouts.set_off(
                s, payout_id, amount_cents=100, reason=None, actor=None, now=datetime.now(UTC)
            )

        # Four set-offs of 1.00 race for a debt of 2.50: 1.00, 1.00, 0.50, then nothing is owed (400).
        offs = await asyncio.gather(*(run(set_off(i)) for i in range(4)), return_exceptions=True)
        refused = [r for r in offs if isinstance(r, BaseException)]
        assert [type(e) for e in refused] == [InvalidInputError]
        # Four different checks race to pay it: one wins, the others conflict (409).
        pays = await asyncio.gather(*(run(pay(i)) for i in range(4)), return_exceptions=True)
        conflicts = [r for r in pays if isinstance(r, BaseException)]
        assert [type(e) for e in conflicts] == [ConflictError] * 3

        async with maker() as s:
            payout = await payouts.get(s, payout_id)
            events = await payouts.history(s, payout_id)
            assert sorted(v.event.amount_cents or 0 for v in events if v.set_off) == [50, 100, 100]
            assert [v.action for v in events][-1] == "mark-paid"
            assert len(events) == 4
            assert (payout.status, payout.amount_cents) == ("paid", 750)
            assert await ledger.balance_of(s, chart.member_trade(member_id)) == 0
            assert await ledger.balance_of(s, chart.PAYOUTS_PAYABLE) == 0
            assert await ledger.balance_of(s, chart.BANK) == -750
            keys = (
                await s.execute(sa.select(sa.func.count()).where(col(JournalEntry.idempotency_key).like("payout:%")))
            ).scalar_one()
            assert keys == 4
    finally:
        await engine.dispose()
