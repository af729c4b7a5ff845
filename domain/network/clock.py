"""The network clock's steps: event reminders through the outbox, spent rate windows swept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.network.rules import REMINDER_LEAD, RateLimit, RegistrationStatus, window_start
from domain.network.tables import DirectoryRateWindow, EventRegistration, NetworkEvent
from domain.notifications import service as notifications

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

REMINDER_EVENT = "event.reminder"


def _member_audience(member_id: int) -> str:
    # The audience naming of buying's notifications ("member:<id>"), kept without importing buying.
    return f"member:{member_id}"


async def send_reminders(session: AsyncSession, *, now: datetime) -> int:
    """Queue one reminder per confirmed registration of an event starting within the day (rules.reminder_due).

    One UPDATE claims the registrations (`reminded_at` set where it was null) and returns them:
    a second run, or a second worker waiting on the same rows, finds them reminded and sends
    nothing; the notification's business key backs it.
    """
    events = sa.select(col(NetworkEvent.id)).where(
        col(NetworkEvent.starts_at) > now, col(NetworkEvent.starts_at) <= now + REMINDER_LEAD
    )
    claimed = await session.execute(
        sa.update(EventRegistration)
        .where(
            col(EventRegistration.event_id).in_(events),
            col(EventRegistration.status) == RegistrationStatus.CONFIRMED.value,
            col(EventRegistration.reminded_at).is_(None),
            # Non-members have no member audience to tell; staff reach them by the e-mail recorded.
            col(EventRegistration.member_id).is_not(None),
        )
        .values(reminded_at=now)
        .returning(col(EventRegistration.id), col(EventRegistration.member_id), col(EventRegistration.event_id))
    )
    due = sorted(claimed.all())
    if not due:
        return 0
    events_by_id = {
        e.id: e
        for e in (
            await session.execute(
                sa.select(NetworkEvent).where(col(NetworkEvent.id).in_({event_id for _, _, event_id in due}))
            )
        ).scalars()
    }
    for registration_id, member_id, event_id in due:
        event = events_by_id[event_id]
        await notifications.record(
            session,
            event=REMINDER_EVENT,
            audience=_member_audience(member_id),
            data={
                "event_id": str(event_id),
                "registration_id": str(registration_id),
                "title": event.title,
                "starts_at": event.starts_at.isoformat(),
                "place": event.place or "",
                "online_url": event.online_url or "",
            },
            business_key=f"event_registration:{registration_id}:reminder",
        )
    return len(due)


async def sweep_rate_windows(session: AsyncSession, *, now: datetime, limit: RateLimit) -> int:
    """Delete the public directory's counters of windows that are over: they count nothing any more.

    Without it every address that ever asked keeps a row. A request racing the sweep loses
    nothing: its upsert starts a fresh window either way (rules.window_over).
    """
    result = await session.execute(
        sa.delete(DirectoryRateWindow).where(col(DirectoryRateWindow.window_start) < window_start(now, limit))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
