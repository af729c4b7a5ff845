"""Stripe webhook events: stored once by id, handed to a job that moves card holds only forward.

The route verifies the signature before anything here runs. Storing the event id with
a primary key makes a replay (Stripe retries, or an attacker resending a captured
request) a no-op: it is acknowledged and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.db import utc_now
from domain.jobs import service as jobs
from domain.payments import card_holds
from domain.payments.rules import (
    ACTED_ON,
    CardStatus,
    HoldKind,
    books_charge,
    capture_before,
    event_move,
    releases_late_authorization,
    replay_window,
)
from domain.payments.tables import CardHold, StripeEvent, StripeReplayMark

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.payments.gateway import PaymentGateway

EVENT_JOB = "stripe_event"


@dataclass(frozen=True, slots=True)
class Received:
    """What became of a delivered event."""

    event_id: str
    duplicate: bool
    acted_on: bool


async def receive(
    session: AsyncSession, *, event_id: str, event_type: str, object_id: str | None, now: datetime
) -> Received:
    """Store the event once; an event type the app acts on becomes a job."""
    stored = (
        await session.execute(
            insert(StripeEvent)
            .values(id=event_id, type=event_type[:100], object_id=object_id, received_at=now)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(col(StripeEvent.id))
        )
    ).scalar_one_or_none()
    if stored is None:
        return Received(event_id, duplicate=True, acted_on=False)
    acts = event_type in ACTED_ON and object_id is not None
    if acts:
        await jobs.add(session, EVENT_JOB, f"stripe_event:{event_id}", {"event_id": event_id})
    return Received(event_id, duplicate=False, acted_on=acts)


async def apply_event(session: AsyncSession, payload: Mapping[str, str]) -> None:
    """The job: move the hold the event names, only forward, and mark the event handled."""
    event = await session.get(StripeEvent, payload["event_id"])
    if event is None or event.handled_at is not None:
        return
    now = utc_now()
    hold = (
        await session.exec(select(CardHold).where(col(CardHold.intent_id) == event.object_id).with_for_update())
    ).one_or_none()
    if hold is not None and (target := event_move(event.type, CardStatus(hold.status))) is not None:
        lapses = capture_before(now, reported=None, off_session=False) if target is CardStatus.AUTHORIZED else None
        await session.execute(
            sa.update(CardHold)
            .where(col(CardHold.id) == hold.id)
            .values(
                status=target.value,
                capture_before=sa.func.coalesce(lapses, col(CardHold.capture_before)),
                updated_at=now,
            )
        )
        if target is CardStatus.AUTHORIZED:  # a renewal the member finished replaces the holds before it
            await card_holds.void_holds(session, hold.order_id, now, below_version=hold.version)
    elif hold is not None and releases_late_authorization(event.type, CardStatus(hold.status)):
        await card_holds.request_release(session, hold, event.id)
    elif hold is not None and books_charge(event.type, HoldKind(hold.kind), CardStatus(hold.status)):
        await card_holds.record_charge(session, hold, now)
    event.handled_at = now
    session.add(event)


REPLAY_FEED = "missed_events"


async def replay_missed(session: AsyncSession, gateway: PaymentGateway, *, now: datetime) -> list[Received]:
    """Feed the events Stripe failed to deliver since the last replay through ``receive``, as the webhook does.

    The mark's row is locked first, so two replays never overlap; each event is stored once
    by its id, so one the webhook already got (or a replay already fed) changes nothing.
    """
    first = replay_window(None, now)
    assert first is not None  # noqa: S101 - the first window is never empty
    await session.execute(  # the first replay reaches back as far as Stripe retries
        insert(StripeReplayMark)
        .values(name=REPLAY_FEED, replayed_until=first[0])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    mark = (
        await session.exec(select(StripeReplayMark).where(col(StripeReplayMark.name) == REPLAY_FEED).with_for_update())
    ).one()
    await session.refresh(mark)
    window = replay_window(mark.replayed_until, now)
    if window is None:
        return []
    after, until = window
    received = [
        await receive(session, event_id=e.id, event_type=e.type, object_id=e.object_id, now=now)
        for e in await gateway.missed_events(after=after, until=until)
    ]
    mark.replayed_until = until
    session.add(mark)
    await session.flush()
    return received
