"""The Stripe adapter of the payment gateway port, on the official SDK's async client.

Building it calls nothing: the app starts and serves with ``STRIPE_API_KEY`` set even
when Stripe cannot be reached; the first call that needs Stripe is the first to fail.
Every call that changes something sends the caller's deterministic idempotency key
(never the SDK's random one), and the SDK retries network failures with that same key.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import stripe

from domain.errors import PaymentProviderError
from domain.payments.gateway import (
    BankPayout,
    Capture,
    CardSetup,
    Customer,
    Hold,
    HoldRequest,
    PaymentDeclinedError,
    ProviderEvent,
    Refund,
    SavedCard,
    TransferRequest,
)
from domain.payments.rules import hold_status

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from stripe import RequestOptions

# The SDK retries connection errors, 409s and 5xx with the same idempotency key.
MAX_NETWORK_RETRIES = 2


class HTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx client, sending the form-encoded body as ``content``.

    stripe 16.1 hands httpx a string as ``data=``, which httpx deprecates with a warning on
    every call; the body is already encoded, so ``content=`` is the same request.
    """

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: object
    ) -> list[Any]:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data")
        if isinstance(data, (str, bytes)):
            kwargs["content"] = data
        elif data:
            kwargs["data"] = data
        return [args, kwargs]


@contextmanager
def _provider_errors() -> Iterator[None]:
    """A declined card is the member's (409); any other Stripe failure is the provider's (502)."""
    try:
        yield
    except stripe.CardError as exc:
        intent = getattr(exc.error, "payment_intent", None) if exc.error is not None else None
        raise PaymentDeclinedError(
            f"the card was declined: {exc.user_message or exc.code}",
            intent_id=getattr(intent, "id", None),
            client_secret=getattr(intent, "client_secret", None),
        ) from exc
    except stripe.StripeError as exc:
        msg = f"Stripe answered {exc.http_status or 'nothing'}: {exc.user_message or type(exc).__name__}"
        raise PaymentProviderError(msg) from exc


def _capture_before(intent: stripe.PaymentIntent) -> datetime | None:
    """The card's ``capture_before`` when Stripe reports it on the charge (localstripe does not)."""
    charge = getattr(intent, "latest_charge", None)
    if charge is None or isinstance(charge, str):
        return None
    details = getattr(charge, "payment_method_details", None)
    card = getattr(details, "card", None) if details is not None else None
    at = getattr(card, "capture_before", None) if card is not None else None
    return datetime.fromtimestamp(at, UTC) if isinstance(at, int) else None


class StripeGateway:
    """Customers, SetupIntents, manual-capture PaymentIntents and refunds on Stripe.

    ``localstripe`` leaves out the parameters that fake server refuses (``transfer_group``:
    it rejects any parameter it does not know); real Stripe always gets them.
    """

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        localstripe: bool = False,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        self._http = http_client or HTTPXClient()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            http_client=self._http,
            max_network_retries=MAX_NETWORK_RETRIES,
        )
        self._localstripe = localstripe

    async def aclose(self) -> None:
        """Close the HTTP connections (the app does at shutdown)."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    @staticmethod
    def _options(idempotency_key: str) -> RequestOptions:
        return {"idempotency_key": idempotency_key}

    async def create_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        """A Stripe customer for the member, tagged with its member id."""
        params: dict[str, Any] = {"name": customer.name, "metadata": {"member_id": str(customer.member_id)}}
        if customer.email:
            params["email"] = customer.email
        with _provider_errors():
            created = await self._client.v1.customers.create_async(params, self._options(idempotency_key))  # type: ignore[arg-type]
        return str(created.id)

    async def start_card_setup(self, customer_id: str, *, idempotency_key: str) -> CardSetup:
        """A SetupIntent for off-session use: the card is saved to charge when the buy closes."""
        params: dict[str, Any] = {"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"]}
        with _provider_errors():
            intent = await self._client.v1.setup_intents.create_async(params, self._options(idempotency_key))  # type: ignore[arg-type]
        return CardSetup(str(intent.id), str(intent.client_secret), str(intent.status))

    async def saved_cards(self, customer_id: str) -> list[SavedCard]:
        """The customer's cards (``payment_methods.list``: localstripe has no customer sub-resource)."""
        with _provider_errors():
            listed = await self._client.v1.payment_methods.list_async({"customer": customer_id, "type": "card"})
        cards = []
        for method in listed.data:
            card = method.card
            if card is None:
                continue
            cards.append(SavedCard(str(method.id), str(card.brand), str(card.last4), card.exp_month, card.exp_year))
        return cards

    async def hold(self, request: HoldRequest) -> Hold:
        """A manual-capture PaymentIntent confirmed on the saved card: ``requires_capture`` is a hold."""
        params: dict[str, Any] = {
            "amount": request.amount_cents,
            "currency": request.currency.lower(),
            "customer": request.customer_id,
            "payment_method": request.payment_method_id,
            "payment_method_types": ["card"],
            "capture_method": "automatic" if request.capture else "manual",
            "confirm": True,
            "metadata": request.metadata,
        }
        if request.off_session:
            params["off_session"] = True
        if request.transfer_group and not self._localstripe:
            params["transfer_group"] = request.transfer_group
        with _provider_errors():
            intent = await self._client.v1.payment_intents.create_async(params, self._options(request.idempotency_key))  # type: ignore[arg-type]
        secret = intent.client_secret if intent.status == "requires_action" else None
        return Hold(
            str(intent.id), hold_status(str(intent.status)), int(intent.amount), secret, _capture_before(intent)
        )

    async def capture(self, hold_id: str, amount_cents: int, *, idempotency_key: str) -> Capture:
        """Capture part of the hold (``amount_to_capture``); Stripe releases the rest."""
        with _provider_errors():
            intent = await self._client.v1.payment_intents.capture_async(
                hold_id, {"amount_to_capture": amount_cents}, self._options(idempotency_key)
            )
        return Capture(str(intent.id), amount_cents)

    async def cancel(self, hold_id: str, *, idempotency_key: str) -> None:
        """Release the whole hold."""
        with _provider_errors():
            await self._client.v1.payment_intents.cancel_async(hold_id, None, self._options(idempotency_key))

    async def refund(self, hold_id: str, amount_cents: int, *, idempotency_key: str) -> Refund:
        """Refund part or all of the captured amount."""
        with _provider_errors():
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": hold_id, "amount": amount_cents}, self._options(idempotency_key)
            )
        return Refund(str(refund.id), int(refund.amount))

    async def intent_status(self, hold_id: str) -> str:
        """The PaymentIntent's status as Stripe has it now."""
        with _provider_errors():
            intent = await self._client.v1.payment_intents.retrieve_async(hold_id)
        return str(intent.status)

    async def fee_cents(self, hold_id: str) -> int:
        """The fee on the intent's charge, from its balance transaction (id or embedded: localstripe embeds)."""
        with _provider_errors():
            intent = await self._client.v1.payment_intents.retrieve_async(hold_id, {"expand": ["latest_charge"]})
            charge = getattr(intent, "latest_charge", None)
            if charge is None or isinstance(charge, str):
                return 0
            txn = getattr(charge, "balance_transaction", None)
            if txn is None:
                return 0
            if isinstance(txn, str):
                txn = await self._client.v1.balance_transactions.retrieve_async(txn)
        return int(getattr(txn, "fee", 0) or 0)

    async def transfer(self, request: TransferRequest) -> str:
        """A Transfer to the connected account, in the buy's transfer group (localstripe has no Connect)."""
        params: dict[str, Any] = {
            "amount": request.amount_cents,
            "currency": request.currency.lower(),
            "destination": request.destination,
            "transfer_group": request.transfer_group,
            "metadata": request.metadata,
        }
        with _provider_errors():
            created = await self._client.v1.transfers.create_async(params, self._options(request.idempotency_key))  # type: ignore[arg-type]
        return str(created.id)

    async def reverse_transfer(self, transfer_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        """A Transfer Reversal of part of a transfer (localstripe has no Connect)."""
        with _provider_errors():
            reversal = await self._client.v1.transfers.reversals.create_async(
                transfer_id, {"amount": amount_cents}, self._options(idempotency_key)
            )
        return str(reversal.id)

    async def bank_payout(self, payout_id: str) -> BankPayout:
        """Retrieve the payout: its amount, its status now, the day it arrives at the bank."""
        with _provider_errors():
            payout = await self._client.v1.payouts.retrieve_async(payout_id)
        return BankPayout(
            str(payout.id),
            int(payout.amount),
            str(payout.status),
            datetime.fromtimestamp(int(payout.arrival_date), UTC),
        )

    async def missed_events(self, *, after: datetime, until: datetime) -> list[ProviderEvent]:
        """List Events with ``delivery_success=false`` in the window, every page (localstripe has no such filter)."""
        params: dict[str, Any] = {
            "delivery_success": False,
            "created": {"gt": int(after.timestamp()), "lte": int(until.timestamp())},
            "limit": 100,
        }
        found: list[ProviderEvent] = []
        with _provider_errors():
            while True:
                page = await self._client.v1.events.list_async(params)  # type: ignore[arg-type]
                for event in page.data:
                    obj = getattr(event.data, "object", None)
                    object_id = obj.get("id") if isinstance(obj, dict) else getattr(obj, "id", None)
                    found.append(
                        ProviderEvent(
                            str(event.id),
                            str(event.type),
                            str(object_id) if object_id else None,
                            datetime.fromtimestamp(int(event.created), UTC),
                        )
                    )
                if not page.has_more or not page.data:
                    break
                params["starting_after"] = page.data[-1].id
        return sorted(found, key=lambda e: (e.created, e.id))
