"""The Stripe adapter with the real SDK against localstripe on 127.0.0.1, and request shapes.

localstripe ignores idempotency keys and refuses parameters it does not know
(``transfer_group``), so those are checked with a recording HTTP client: it records
what the SDK would send and answers a canned body without reaching any server.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import pytest

from domain.payments.gateway import Customer, HoldRequest, PaymentDeclinedError
from domain.payments.rules import CardStatus, cancel_key, capture_key, hold_key, refund_key, transfer_group
from domain.payments.stripe_gateway import HTTPXClient, StripeGateway

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import stripe

KEY = "sk_test_localstripe"


class RecordingClient(HTTPXClient):
    """Records every request the SDK makes; forwards it to the server, or answers ``canned``."""

    def __init__(self, canned: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.canned = canned
        self.requests: list[tuple[str, str, dict[str, str], dict[str, list[str]]]] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        body = parse_qs(post_data or "", keep_blank_values=True)
        self.requests.append((method, url, dict(headers), body))
        if self.canned is not None:
            return json.dumps(self.canned).encode(), 200, {}
        return await super().request_async(method, url, headers, post_data)


async def saved_card(raw: stripe.StripeClient, customer_id: str, test_card: str = "pm_card_visa") -> str:
    """Attach a test card to the customer (localstripe does not attach on SetupIntent confirm)."""
    method = await raw.v1.payment_methods.attach_async(test_card, {"customer": customer_id})
    return str(method.id)


def hold_request(customer_id: str, card: str, amount: int = 10_000, version: int = 1) -> HoldRequest:
    return HoldRequest(
        amount_cents=amount,
        currency="USD",
        customer_id=customer_id,
        payment_method_id=card,
        idempotency_key=hold_key(7, version),
        transfer_group=transfer_group(3),
        metadata={"order_id": "7"},
    )


@pytest.fixture
def recorder() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
async def gateway(localstripe_url: str, recorder: RecordingClient) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(KEY, api_base=localstripe_url, localstripe=True, http_client=recorder)
    yield gateway
    await gateway.aclose()


async def test_a_customer_saves_a_card_with_a_setup_intent(gateway: StripeGateway, raw: stripe.StripeClient) -> None:
    customer = await gateway.create_customer(Customer(1, "Bakery One", "owner@bakery.test"), idempotency_key="c:1")
    setup = await gateway.start_card_setup(customer, idempotency_key="setup:1:1")
    assert setup.id.startswith("seti_")
    assert setup.client_secret
    confirmed = await raw.v1.setup_intents.confirm_async(setup.id, {"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded"
    card = await saved_card(raw, customer)

    cards = await gateway.saved_cards(customer)

    assert [(c.id, c.last4, c.brand) for c in cards] == [(card, "4242", "visa")]


async def test_a_hold_is_authorized_then_partly_captured(gateway: StripeGateway, raw: stripe.StripeClient) -> None:
    customer = await gateway.create_customer(Customer(2, "Cafe Two"), idempotency_key="c:2")
    card = await saved_card(raw, customer)

    hold = await gateway.hold(hold_request(customer, card))
    assert (hold.status, hold.amount_cents) == (CardStatus.AUTHORIZED, 10_000)
    captured = await gateway.capture(hold.id, 8_000, idempotency_key=capture_key(7))

    assert captured.amount_cents == 8_000
    intent = await raw.v1.payment_intents.retrieve_async(hold.id)
    assert intent.status == "succeeded"
    charge = intent.latest_charge
    assert not isinstance(charge, str)
    assert charge is not None
    assert (charge.amount, charge.amount_refunded) == (10_000, 2_000)  # the rest released


async def test_a_cancelled_hold_is_released(gateway: StripeGateway, raw: stripe.StripeClient) -> None:
    customer = await gateway.create_customer(Customer(3, "Deli Three"), idempotency_key="c:3")
    hold = await gateway.hold(hold_request(customer, await saved_card(raw, customer)))

    await gateway.cancel(hold.id, idempotency_key=cancel_key(7, 1))

    intent = await raw.v1.payment_intents.retrieve_async(hold.id)
    assert intent.status == "canceled"


async def test_a_capture_is_partly_refunded(gateway: StripeGateway, raw: stripe.StripeClient) -> None:
    customer = await gateway.create_customer(Customer(4, "Grocer Four"), idempotency_key="c:4")
    hold = await gateway.hold(hold_request(customer, await saved_card(raw, customer), amount=5_000))
    await gateway.capture(hold.id, 5_000, idempotency_key=capture_key(7))

    refund = await gateway.refund(hold.id, 1_250, idempotency_key=refund_key(7, 1))

    assert refund.amount_cents == 1_250
    assert refund.id.startswith("re_")


async def test_a_declined_card_is_a_payment_declined_error(gateway: StripeGateway, raw: stripe.StripeClient) -> None:
    customer = await gateway.create_customer(Customer(5, "Florist Five"), idempotency_key="c:5")
    card = await saved_card(raw, customer, "pm_card_chargeCustomerFail")

    with pytest.raises(PaymentDeclinedError):
        await gateway.hold(hold_request(customer, card))


async def test_every_write_carries_the_domain_key_not_a_random_one(
    gateway: StripeGateway, recorder: RecordingClient, raw: stripe.StripeClient
) -> None:
    customer = await gateway.create_customer(Customer(6, "Smith Six"), idempotency_key="customer:6")
    await gateway.start_card_setup(customer, idempotency_key="setup:6:1")
    hold = await gateway.hold(hold_request(customer, await saved_card(raw, customer), version=2))
    await gateway.capture(hold.id, 9_000, idempotency_key=capture_key(7))
    await gateway.refund(hold.id, 100, idempotency_key=refund_key(7, 1))

    posts = [(url.split("/v1/")[1], headers.get("Idempotency-Key")) for method, url, headers, _ in recorder.requests]
    assert posts == [
        ("customers", "customer:6"),
        ("setup_intents", "setup:6:1"),
        ("payment_intents", "hold:7:2"),
        (f"payment_intents/{hold.id}/capture", "capture:7"),
        ("refunds", "refund:7:1"),
    ]


async def test_a_hold_on_real_stripe_carries_the_transfer_group() -> None:
    """Recorded, not sent: localstripe refuses ``transfer_group`` (it has no Connect)."""
    recorder = RecordingClient(
        canned={"id": "pi_rec", "object": "payment_intent", "status": "requires_capture", "amount": 10_000}
    )
    gateway = StripeGateway(KEY, http_client=recorder)

    hold = await gateway.hold(hold_request("cus_rec", "pm_rec"))
    await gateway.aclose()

    assert hold.status is CardStatus.AUTHORIZED
    [(method, url, headers, body)] = recorder.requests
    assert (method, url) == ("post", "https://api.stripe.com/v1/payment_intents")
    assert headers["Idempotency-Key"] == "hold:7:1"
    assert body["transfer_group"] == ["gb_3"]
    assert body["capture_method"] == ["manual"]
    assert body["amount"] == ["10000"]
    assert "setup_future_usage" not in body  # the card was saved off-session by its SetupIntent


async def test_building_the_gateway_calls_nothing() -> None:
    recorder = RecordingClient(canned={})
    await StripeGateway("sk_test_unreachable", api_base="http://127.0.0.1:9", http_client=recorder).aclose()
    assert recorder.requests == []
