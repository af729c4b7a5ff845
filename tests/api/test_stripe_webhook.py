"""The Stripe webhook through the HTTP app: only signed, fresh events are taken, once, and move holds forward.

Forged, stale, unsigned and replayed events change nothing: no event row, no job, no hold moved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from domain.jobs.tables import OutboxJob
from domain.payments.tables import CardHold, StripeEvent
from tests.conftest import STRIPE_WEBHOOK_SECRET
from tests.support.users import make_member

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

URL = "/v1/stripe/webhook"


def event(event_id: str, event_type: str, object_id: str = "pi_webhook_1") -> bytes:
    body = {"id": event_id, "object": "event", "type": event_type, "data": {"object": {"id": object_id}}}
    return json.dumps(body).encode()


def signed(payload: bytes, *, secret: str = STRIPE_WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    """The Stripe-Signature header Stripe would send: HMAC-SHA256 of `t.payload`."""
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={digest}", "content-type": "application/json"}


async def counts(session: AsyncSession) -> tuple[int, int]:
    events = (await session.execute(sa.select(sa.func.count()).select_from(StripeEvent))).scalar_one()
    jobs = (
        await session.execute(
            sa.select(sa.func.count()).select_from(OutboxJob).where(col(OutboxJob.job_name) == "stripe_event")
        )
    ).scalar_one()
    return int(events), int(jobs)


@pytest.fixture
async def hold(session: AsyncSession) -> CardHold:
    """An authorized hold on a real order row, as the hold job leaves it."""
    from tests.support.buying import make_product, make_supplier

    member = await make_member(session)
    supplier = await make_supplier(session)
    await make_product(session, supplier.id)
    gb_id = (
        await session.execute(
            sa.text(
                "INSERT INTO group_buy (supplier_id, title, status, opens_at, closes_at, on_minimum_missed,"
                " extend_hours, extended, held, allocation_policy, payment_mode, status_reason)"
                " VALUES (:s, 'w', 'open', now(), now() + interval '1 day', 'cancel', 24, false, false,"
                " 'pro_rata', 'card', '') RETURNING id"
            ),
            {"s": supplier.id},
        )
    ).scalar_one()
    order_id = (
        await session.execute(
            sa.text(
                "INSERT INTO buy_order (group_buy_id, member_id, status, placed_seq) VALUES (:g, :m, 'open', 1)"
                " RETURNING id"
            ),
            {"g": gb_id, "m": member.id},
        )
    ).scalar_one()
    row = CardHold(
        order_id=order_id,
        group_buy_id=gb_id,
        member_id=member.id or 0,
        version=1,
        intent_id="pi_webhook_1",
        status="authorized",
        amount_cents=1_000,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    session.add(row)
    await session.commit()
    return row


async def status_of(session: AsyncSession, hold: CardHold) -> str:
    query = select(CardHold.status).where(col(CardHold.id) == hold.id).execution_options(populate_existing=True)
    return (await session.exec(query)).one()


async def test_a_signed_event_is_stored_once_and_moves_the_hold_forward(
    client: httpx.AsyncClient, session: AsyncSession, hold: CardHold, settings: Any, session_maker: Any
) -> None:
    from tests.support.worker import run_worker

    payload = event("evt_cancel_1", "payment_intent.canceled")

    first = await client.post(URL, content=payload, headers=signed(payload))
    replay = await client.post(URL, content=payload, headers=signed(payload))

    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "event_id": "evt_cancel_1", "duplicate": False}
    assert replay.status_code == 200
    assert replay.json()["duplicate"] is True
    assert await counts(session) == (1, 1)
    await run_worker(settings, session_maker)
    assert await status_of(session, hold) == "voided"

    # A late event that would move it back (authorized again) changes nothing.
    late = event("evt_late_1", "payment_intent.amount_capturable_updated")
    assert (await client.post(URL, content=late, headers=signed(late))).status_code == 200
    await run_worker(settings, session_maker)
    assert await status_of(session, hold) == "voided"
    handled = (await session.exec(select(StripeEvent.handled_at).where(col(StripeEvent.id) == "evt_late_1"))).one()
    assert handled is not None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"content-type": "application/json"}, id="unsigned"),
        pytest.param("forged", id="forged"),
        pytest.param("stale", id="stale"),
        pytest.param("tampered", id="tampered"),
        pytest.param({"Stripe-Signature": "garbage", "content-type": "application/json"}, id="malformed"),
    ],
)
async def test_unsigned_forged_stale_or_tampered_events_change_nothing(
    client: httpx.AsyncClient, session: AsyncSession, hold: CardHold, headers: Any
) -> None:
    payload = event("evt_bad_1", "payment_intent.canceled")
    if headers == "forged":
        headers = signed(payload, secret="whsec_not_ours")
    elif headers == "stale":
        headers = signed(payload, at=int(time.time()) - 600)  # older than the 5-minute tolerance
    elif headers == "tampered":
        headers = signed(event("evt_bad_1", "payment_intent.succeeded"))  # signed another body

    answer = await client.post(URL, content=payload, headers=headers)

    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "Stripe-Signature"
    assert await counts(session) == (0, 0)
    assert await status_of(session, hold) == "authorized"


async def test_an_event_the_app_does_not_act_on_is_stored_and_acknowledged(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payload = event("evt_other_1", "customer.created", "cus_1")

    answer = await client.post(URL, content=payload, headers=signed(payload))

    assert answer.status_code == 200
    assert await counts(session) == (1, 0)
