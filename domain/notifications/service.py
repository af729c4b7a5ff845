"""Record a notification with the change it reports; deliver it later, once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from domain.jobs import service as outbox

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession

DELIVER_JOB = "deliver_notification"

log = logging.getLogger("coop.notifications")


class NotificationSender(Protocol):
    """Whatever carries a notification to people (e-mail, SMS, a log)."""

    async def send(self, event: str, audience: str, data: Mapping[str, Any]) -> None:
        """Deliver one notification."""


class LogSender:
    """The default sender: one structured log line per notification."""

    async def send(self, event: str, audience: str, data: Mapping[str, Any]) -> None:
        """Log the notification."""
        log.info("notification", extra={"event": event, "audience": audience, "data": dict(data)})


async def record(
    session: AsyncSession, *, event: str, audience: str, data: Mapping[str, Any], business_key: str
) -> None:
    """Queue a notification in the caller's transaction; a business key is notified once."""
    await outbox.add(
        session, DELIVER_JOB, f"notify:{business_key}", {"event": event, "audience": audience, "data": dict(data)}
    )


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification to record with others in one statement."""

    event: str
    audience: str
    data: Mapping[str, Any]
    business_key: str


async def record_many(session: AsyncSession, notices: Sequence[Notice]) -> None:
    """Queue many notifications in the caller's transaction, one statement; each business key once."""
    await outbox.add_many(
        session,
        DELIVER_JOB,
        [
            (f"notify:{n.business_key}", {"event": n.event, "audience": n.audience, "data": dict(n.data)})
            for n in notices
        ],
    )


async def deliver(sender: NotificationSender, payload: Mapping[str, Any]) -> None:
    """Send a recorded notification."""
    await sender.send(str(payload["event"]), str(payload["audience"]), payload.get("data", {}))
