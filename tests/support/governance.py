"""Members with a dated status history and ballots, for the governance tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from domain.identity.rules import MemberRole, Role
from domain.membership import service as membership
from domain.membership.rules import Status
from tests.support.users import bearer, make_member, make_user

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.membership.tables import Member

# Far in the past, so members other tests commit (with today's history) are never on these rolls.
LONG_AGO = datetime(1990, 1, 1, tzinfo=UTC)
RECORD_DATE = date(1990, 6, 1)
AFTER_RECORD_DATE = datetime(1990, 7, 1, tzinfo=UTC)


async def member_with_history(session: AsyncSession, name: str, changes: list[tuple[Status, datetime]]) -> Member:
    """A committed member whose dated history is `changes` (after applying long before the first)."""
    member = await make_member(session, name)
    first = min((at for _, at in changes), default=LONG_AGO) - timedelta(days=1)
    await session.execute(
        sa.text("UPDATE member_status_change SET effective_at = :at WHERE member_id = :m"),
        {"at": first, "m": member.id},
    )
    previous = Status.APPLICANT
    for status, at in changes:
        await membership.record_change(
            session,
            member,
            from_status=previous,
            to_status=status,
            effective_at=at,
            reason="history for a test",
            actor_user_id=None,
        )
        previous = status
    member.status = previous.value
    session.add(member)
    await session.commit()
    return member


async def voter(
    client: httpx.AsyncClient, session: AsyncSession, name: str, changes: list[tuple[Status, datetime]] | None = None
) -> tuple[Member, dict[str, str]]:
    """A member (full since long ago unless told) and its signed-in admin user."""
    member = await member_with_history(session, name, changes or [(Status.FULL, LONG_AGO)])
    user = await make_user(session, Role.MEMBER, member_id=member.id, member_role=MemberRole.ADMIN)
    return member, await bearer(client, user.email)


def resolution_body(**extra: Any) -> dict[str, Any]:
    """A two-thirds resolution open now for a day, record date in 1990, quorum half."""
    return {
        "title": "Amend bylaw 4",
        "kind": "resolution",
        "record_date": RECORD_DATE.isoformat(),
        "opens_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "closes_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "quorum_rate": "0.5",
        "threshold": "two_thirds",
        **extra,
    }


def election_body(names: list[str], seats: int, **extra: Any) -> dict[str, Any]:
    """A board election by STV, open now for a day."""
    body = resolution_body(
        title="Board election", kind="election", seats=seats, candidates=[{"name": n} for n in names]
    )
    del body["threshold"]
    return {**body, **extra}


def meeting_body(**extra: Any) -> dict[str, Any]:
    """An AGM 15 days ahead (the notice period is 14), record date in 1990, quorum a third."""
    return {
        "kind": "agm",
        "title": "Annual general meeting",
        "starts_at": (datetime.now(UTC) + timedelta(days=15)).isoformat(),
        "record_date": RECORD_DATE.isoformat(),
        "quorum_rate": "0.3",
        "agenda": [{"title": "Minutes of the last meeting"}],
        **extra,
    }


async def begin(session, meeting_id: str, *, ago: timedelta = timedelta(hours=1)) -> None:
    """The meeting's day has come: move it into the past (the notice was given when it was scheduled)."""
    await session.execute(
        sa.text("UPDATE meeting SET starts_at = :at WHERE id = :m"),
        {"at": datetime.now(UTC) - ago, "m": int(meeting_id)},
    )
