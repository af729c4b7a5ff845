"""Properties of the voter roll on the real database (issue 15): the roll is the members that were
`full` at the end of the record date by their dated history, whatever their current status."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.governance import ballots
from domain.governance.rules import status_at
from domain.membership import service as membership
from domain.membership.rules import Status

DB_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BASE = datetime(1970, 1, 1, tzinfo=UTC)  # before any other test's history
_names = itertools.count()

# Changes land on a few days, at midnight or during the day, so the record-date edge is hit.
CHANGES = st.lists(
    st.tuples(st.sampled_from(list(Status)), st.integers(0, 6), st.sampled_from([0, 1, 86_399])),
    min_size=1,
    max_size=6,
)
DAYS = [date(1970, 1, d) for d in range(1, 8)]


@DB_SETTINGS
@given(changes=CHANGES)
async def test_the_roll_is_the_members_full_at_the_end_of_the_record_date(session, changes):
    before = {d: await ballots.eligible_count(session, d) for d in DAYS}
    member = await membership.apply(
        session, name=f"Roll {next(_names)}", email=f"roll{next(_names)}@shop.test", contact_name=None, par_cents=1
    )
    await session.flush()
    await session.execute(
        sa.text("UPDATE member_status_change SET effective_at = :at WHERE member_id = :m"),
        {"at": BASE - timedelta(days=1), "m": member.id},
    )
    history = [(BASE - timedelta(days=1), 0, Status.APPLICANT.value)]
    for order, (status, day, second) in enumerate(changes, start=1):
        at = BASE + timedelta(days=day, seconds=second)
        await membership.record_change(
            session, member, from_status=None, to_status=status, effective_at=at, reason="p", actor_user_id=None
        )
        await session.flush()  # recorded in order, as the ids the tie goes by
        history.append((at, order, status.value))
    member.status = changes[-1][0].value  # the current status is irrelevant to a past record date
    session.add(member)
    await session.flush()
    for day in DAYS:
        expected = status_at(history, ballots.end_of(day)) == Status.FULL.value
        assert await ballots.was_full_on(session, member.id or 0, day) is expected
        assert await ballots.eligible_count(session, day) - before[day] == int(expected)
