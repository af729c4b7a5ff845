"""`POST /v1/stripe/webhook`: Stripe's events, routed only when STRIPE_WEBHOOK_SECRET is set.

No bearer token: the signature is the authentication. A missing, forged or stale
signature (older than Stripe's default tolerance, 5 minutes) is a 400 and nothing is
stored; a signed event is stored once by its id and acknowledged with 200, a replay
too, changing nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import stripe
from litestar import Request, post
from litestar.datastructures import State

from api.deps import DbSession
from api.problems import problems
from domain.errors import FieldError, InvalidInputError
from domain.payments import webhooks

SIGNATURE_HEADER = "Stripe-Signature"


class WebhookAnswer(msgspec.Struct):
    """The event was received (`duplicate`: it had been already; nothing changed)."""

    received: bool
    event_id: str
    duplicate: bool


def _verified(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event as sent, once its signature checks out (the SDK's check: HMAC and the 5-minute tolerance)."""
    if not signature:
        raise InvalidInputError("the event is not signed", [FieldError(SIGNATURE_HEADER, "is required")])
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        msg = "the signature does not match the body, or is too old"
        raise InvalidInputError("the event's signature is not valid", [FieldError(SIGNATURE_HEADER, msg)]) from exc
    except ValueError as exc:
        raise InvalidInputError("the event is not JSON", [FieldError("body", "must be a Stripe event")]) from exc
    event = json.loads(payload)
    if not isinstance(event, dict):
        raise InvalidInputError("the event is not an object", [FieldError("body", "must be a Stripe event")])
    return event


@post(
    "/v1/stripe/webhook",
    status_code=200,
    tags=["payments"],
    summary="Stripe events (signed)",
    responses=problems(400, 413),
    security=[],
)
async def stripe_webhook(request: Request[Any, Any, Any], db: DbSession, state: State) -> WebhookAnswer:
    """Verify the signature, store the event once, hand the events the app acts on to a job."""
    event = _verified(await request.body(), request.headers.get(SIGNATURE_HEADER), state.settings.stripe_webhook_secret)
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id:
        raise InvalidInputError("the event has no id or type", [FieldError("body", "must be a Stripe event")])
    object_id = obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None
    received = await webhooks.receive(
        db, event_id=event_id[:255], event_type=event_type, object_id=object_id, now=datetime.now(UTC)
    )
    return WebhookAnswer(received=True, event_id=received.event_id, duplicate=received.duplicate)
