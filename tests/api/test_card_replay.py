"""Replaying missed Stripe events: List Events with ``delivery_success=false`` since the last mark, fed
through the webhook's own path (stored once by id, then the webhook's job), so a replay changes nothing twice.

localstripe has no ``delivery_success`` filter (it lists every event), so List Events goes through
the real SDK into a recording HTTP client (tests/support/recording_stripe.py) that checks the query
and answers two pages as Stripe would; the share payment and its PaymentIntent are on localstripe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from domain.db import utc_now
from domain.payments.stripe_gateway import StripeGateway
from domain.payments.tables import ShareCardPayment
from tests.support.cards import card_member, signed_event
from tests.support.recording_stripe import RecordingHTTPClient
from tests.support.worker import run_worker
from workers.payments import run_replay_missed_events

if TYPE_CHECKING:
    import httpx
    import stripe
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.db import SessionMaker
    from domain.settings import Settings


def _event(event_id: str, event_type: str, object_id: str, created: int) -> dict[str, Any]:
    obj = {"id": object_id, "object": event_type.split(".", maxsplit=1)[0]}
    return {"id": event_id, "object": "event", "type": event_type, "created": created, "data": {"object": obj}}


async def test_missed_events_are_replayed_through_the_webhook_path_once(
    stripe_client: httpx.AsyncClient,
    session: AsyncSession,
    raw: stripe.StripeClient,
    stripe_settings: Settings,
    session_maker: SessionMaker,
    localstripe_url: str,
) -> None:
    member, admin = await card_member(stripe_client, session, raw, "Missed Event Shop")
    started = await stripe_client.post(
        f"/v1/members/{member}/share-card-payments", json={"amount_cents": 4_000}, headers=admin
    )
    assert started.status_code == 201, started.text
    await run_worker(stripe_settings, session_maker)
    payment = await session.get(ShareCardPayment, int(started.json()["id"]), populate_existing=True)
    assert payment is not None
    assert payment.intent_id is not None
    body, signature = signed_event("evt_delivered", "customer.updated", {"id": "cus_delivered"})
    assert (await stripe_client.post("/v1/stripe/webhook", content=body, headers=signature)).status_code == 200

    now = utc_now()
    created = int((now - timedelta(hours=1)).timestamp())
    pages = [
        [_event("evt_delivered", "customer.updated", "cus_delivered", created)],  # the webhook got it after all
        [_event("evt_missed_share", "payment_intent.succeeded", payment.intent_id, created + 1)],
    ]

    def list_events(params: dict[str, str]) -> dict[str, Any]:
        page = 1 if params.get("starting_after") == "evt_delivered" else 0
        return {"object": "list", "url": "/v1/events", "has_more": page == 0, "data": pages[page]}

    http = RecordingHTTPClient({("GET", "/v1/events"): list_events})
    gateway = StripeGateway("sk_test_localstripe", api_base=localstripe_url, localstripe=True, http_client=http)
    assert await run_replay_missed_events(session_maker, gateway, None, now=now) == 1
    await run_worker(stripe_settings, session_maker)
    later = now + timedelta(hours=1)
    assert await run_replay_missed_events(session_maker, gateway, None, now=later) == 0  # same events: stored once
    await run_worker(stripe_settings, session_maker)
    await gateway.aclose()

    shown = await stripe_client.get(f"/v1/members/{member}", headers=admin)
    assert shown.json()["share"]["paid_cents"] == 4_000  # credited by the replayed event, once
    until = int((now - timedelta(minutes=15)).timestamp())
    assert [(r.path, r.params) for r in http.requests[:2]] == [
        (
            "/v1/events",
            {
                "delivery_success": "false",
                "created[gt]": str(int((now - timedelta(minutes=15, days=3)).timestamp())),
                "created[lte]": str(until),
                "limit": "100",
            },
        ),
        (
            "/v1/events",
            {
                "delivery_success": "false",
                "created[gt]": str(int((now - timedelta(minutes=15, days=3)).timestamp())),
                "created[lte]": str(until),
                "limit": "100",
                "starting_after": "evt_delivered",
            },
        ),
    ]
    assert http.requests[2].params["created[gt]"] == str(until)  # the next replay starts at the mark
