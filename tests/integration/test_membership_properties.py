"""Properties of membership on the real database: votes, shares and statements."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.departures import service as departures
from domain.errors import ConflictError, InvalidInputError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.chart import PaymentMethod
from domain.membership import service as membership
from domain.membership.rules import Status, votes

_names = itertools.count()
ACTIONS = (
    "admit",
    "admit_probation",
    "pay_part",
    "pay_rest",
    "withdraw",
    "withdraw_later",
    "suspend",
    "reinstate",
    "expel",
    "daily_job",
    "daily_job_next_year",
)
DB_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

KEYS = itertools.count()


async def _act(session, member_id: int, action: str, now: datetime) -> None:
    paid = (await membership.shares_paid(session, [member_id]))[member_id]
    match action:
        case "admit" | "admit_probation":
            await membership.admit(
                session, member_id, probation_days=30 if action == "admit_probation" else 0, now=now, actor=1
            )
        case "pay_part" | "pay_rest":
            amount = 3_000 if action == "pay_part" else max(10_000 - paid, 1)
            await membership.pay_share(
                session,
                member_id,
                amount_cents=amount,
                method=PaymentMethod.CASH,
                reference=None,
                now=now,
                entry_key=f"k{next(KEYS)}",
                actor=1,
            )
        case "withdraw" | "withdraw_later":
            later = now.date() + timedelta(days=10) if action == "withdraw_later" else None
            await departures.withdraw(session, member_id, effective_on=later, now=now, actor=1)
        case "suspend" | "reinstate" | "expel":
            target = {"suspend": Status.SUSPENDED, "reinstate": Status.FULL, "expel": Status.EXPELLED}[action]
            await departures.change_standing(session, member_id, target, reason="test", now=now, actor=1)
        case "daily_job" | "daily_job_next_year":
            day = now.date() + timedelta(days=365 if action == "daily_job_next_year" else 0)
            await membership.promote_due_members(session, day)
            await departures.complete_due_resignations(session, day)


@DB_SETTINGS
@given(actions=st.lists(st.sampled_from(ACTIONS), max_size=12))
async def test_no_sequence_of_calls_gives_a_vote_to_a_non_full_member(session, actions):
    now = datetime.now(UTC)
    member = await membership.apply(
        session, name=f"Shop {(n := next(_names))}", email=f"p{n}@shop.test", contact_name=None, par_cents=10_000
    )
    assert member.id is not None
    for action in actions:
        try:
            async with session.begin_nested():  # a refused call changes nothing
                await _act(session, member.id, action, now)
        except (ConflictError, InvalidInputError):
            pass
        current = await membership.get(session, member.id)
        await session.refresh(current)
        status = Status(current.status)
        paid = (await membership.shares_paid(session, [member.id]))[member.id]
        assert votes(status) == (1 if status is Status.FULL else 0)
        if status is Status.FULL:  # full means admitted, share paid in full
            assert current.joined_at is not None
            assert paid == current.share_par_cents
        assert 0 <= paid <= current.share_par_cents


AMOUNTS = st.integers(min_value=1, max_value=5_000_000)
MOVES = st.lists(st.tuples(st.sampled_from(["charge", "payment", "credit"]), AMOUNTS), min_size=1, max_size=15)


@DB_SETTINGS
@given(moves=MOVES)
async def test_the_trade_statement_equals_the_ledger_balance(session, moves):
    now = datetime.now(UTC)
    member = await membership.apply(
        session, name=f"Shop {(n := next(_names))}", email=f"s{n}@shop.test", contact_name=None, par_cents=10_000
    )
    assert member.id is not None
    expected = 0
    for i, (kind, cents) in enumerate(moves):
        if kind == "charge":
            await ledger.transfer(
                session,
                debit=chart.member_trade(member.id),
                credit=chart.SALES,
                amount_cents=cents,
                kind="sale",
                idempotency_key=f"prop-sale:{member.id}:{i}",
                occurred_at=now,
            )
            expected += cents
        elif kind == "payment":
            await membership.record_payment(
                session,
                member.id,
                amount_cents=cents,
                method=PaymentMethod.BANK_TRANSFER,
                reference=None,
                now=now,
                entry_key=f"k{next(KEYS)}",
            )
            expected -= cents
        else:
            await membership.grant_credit(
                session, member.id, amount_cents=cents, reason="r", now=now, entry_key=f"k{next(KEYS)}"
            )
            expected -= cents
    lines = await membership.trade_account(session, member.id)
    assert len(lines) == len(moves)
    assert sum(line.amount_cents for line in lines) == expected
    assert lines[-1].balance_cents == expected
    assert await ledger.balance_of(session, chart.member_trade(member.id)) == expected
    trial = await ledger.trial_balance(session)
    assert sum(t.debits_cents for t in trial) == sum(t.credits_cents for t in trial)
