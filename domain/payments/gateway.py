"""The payment gateway port: what the co-op asks of whoever moves a member's card money.

Two adapters: the member trade account (the default: nothing leaves the co-op; the
account is charged at settlement) and Stripe (``domain.payments.stripe_gateway``). Every
call that changes something carries a deterministic idempotency key made by the caller
from the domain operation (``domain.payments.rules``), so a retry repeats, never doubles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from domain.errors import ConflictError
from domain.payments.rules import CardStatus

if TYPE_CHECKING:
    from datetime import datetime

CARDS_NOT_CONFIGURED = "card_payments_not_configured"


class PaymentDeclinedError(ConflictError):
    """The card said no (409): the member tries another card.

    Off-session, Stripe also answers so when the card wants the member (``authentication_required``);
    ``intent_id`` and ``client_secret`` then name the PaymentIntent the member can finish.
    """

    def __init__(self, detail: str, *, intent_id: str | None = None, client_secret: str | None = None) -> None:
        super().__init__(detail, code="card_declined")
        self.intent_id = intent_id
        self.client_secret = client_secret


@dataclass(frozen=True, slots=True)
class Customer:
    """Who a member is to the gateway."""

    member_id: int
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class CardSetup:
    """A started card set-up: the client finishes it with ``client_secret``."""

    id: str
    client_secret: str
    status: str


@dataclass(frozen=True, slots=True)
class SavedCard:
    """A card saved for a member, as far as it may be shown."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """Authorize ``amount_cents`` on a saved card, captured later (manual capture)."""

    amount_cents: int
    currency: str
    customer_id: str
    payment_method_id: str
    idempotency_key: str
    transfer_group: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    off_session: bool = False  # the member is not there: a renewal, or a charge at settlement
    capture: bool = False  # take the money at once (automatic capture) instead of holding it


@dataclass(frozen=True, slots=True)
class Hold:
    """An authorization as the gateway answered it."""

    id: str
    status: CardStatus
    amount_cents: int
    client_secret: str | None = None
    capture_before: datetime | None = None  # as the card network reported it, when the provider says


@dataclass(frozen=True, slots=True)
class Capture:
    """Money taken from a hold."""

    id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back from a capture."""

    id: str
    amount_cents: int


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """Money to a supplier's connected account (separate charges and transfers), once under its key."""

    amount_cents: int
    currency: str
    destination: str
    transfer_group: str
    idempotency_key: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """An event the provider kept, as its webhook would have delivered it."""

    id: str
    type: str
    object_id: str | None
    created: datetime


@dataclass(frozen=True, slots=True)
class BankPayout:
    """A payout from the provider's balance to the co-op's bank account, as the provider has it now."""

    id: str
    amount_cents: int
    status: str
    arrival: datetime


class PaymentGateway(Protocol):
    """The port: customers, saved cards, holds, captures, cancels and refunds."""

    name: str

    async def create_customer(self, customer: Customer, *, idempotency_key: str) -> str:
        """The gateway's id of a new customer for the member."""
        ...

    async def start_card_setup(self, customer_id: str, *, idempotency_key: str) -> CardSetup:
        """Start saving a card for later (off-session) use."""
        ...

    async def saved_cards(self, customer_id: str) -> list[SavedCard]:
        """The customer's saved cards."""
        ...

    async def hold(self, request: HoldRequest) -> Hold:
        """Authorize an amount on a saved card; raises PaymentDeclinedError when the card says no."""
        ...

    async def capture(self, hold_id: str, amount_cents: int, *, idempotency_key: str) -> Capture:
        """Take ``amount_cents`` (at most the hold) and release the rest."""
        ...

    async def cancel(self, hold_id: str, *, idempotency_key: str) -> None:
        """Release the whole hold."""
        ...

    async def refund(self, hold_id: str, amount_cents: int, *, idempotency_key: str) -> Refund:
        """Give back part or all of a capture."""
        ...

    async def intent_status(self, hold_id: str) -> str:
        """The provider's own status of a hold now (a PaymentIntent status: ``requires_capture``, ``canceled``...)."""
        ...

    async def fee_cents(self, hold_id: str) -> int:
        """What the provider kept from the money taken on this hold (its balance transaction's fee)."""
        ...

    async def transfer(self, request: TransferRequest) -> str:
        """Pay a supplier's connected account from the co-op's balance (Connect); the transfer's id."""
        ...

    async def reverse_transfer(self, transfer_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        """Take ``amount_cents`` of a transfer back from the connected account; the reversal's id."""
        ...

    async def bank_payout(self, payout_id: str) -> BankPayout:
        """The payout as the provider has it now (amount, status, arrival)."""
        ...

    async def missed_events(self, *, after: datetime, until: datetime) -> list[ProviderEvent]:
        """Events created in ``(after, until]`` whose webhook delivery has not succeeded, oldest first."""
        ...


class TradeAccountGateway:
    """Today's behaviour: members pay on their trade account, so nothing is held on a card.

    A hold is granted at once under the caller's key (the account is charged at settlement,
    by the ledger); saving cards is refused because there is no card provider.
    """

    name = "account"

    async def create_customer(self, customer: Customer, *, idempotency_key: str) -> str:  # noqa: ARG002
        """No card provider: nothing to create."""
        raise ConflictError("card payments are not configured", code=CARDS_NOT_CONFIGURED)

    async def start_card_setup(self, customer_id: str, *, idempotency_key: str) -> CardSetup:  # noqa: ARG002
        """No card provider: nothing to set up."""
        raise ConflictError("card payments are not configured", code=CARDS_NOT_CONFIGURED)

    async def saved_cards(self, customer_id: str) -> list[SavedCard]:  # noqa: ARG002
        """A trade account has no cards."""
        return []

    async def hold(self, request: HoldRequest) -> Hold:
        """The trade account needs no authorization: granted, named by its key."""
        return Hold(f"account:{request.idempotency_key}", CardStatus.AUTHORIZED, request.amount_cents)

    async def capture(self, hold_id: str, amount_cents: int, *, idempotency_key: str) -> Capture:  # noqa: ARG002
        """Charged to the trade account by settlement's ledger entry."""
        return Capture(f"account:{idempotency_key}", amount_cents)

    async def cancel(self, hold_id: str, *, idempotency_key: str) -> None:
        """Nothing was held."""

    async def refund(self, hold_id: str, amount_cents: int, *, idempotency_key: str) -> Refund:  # noqa: ARG002
        """Credited to the trade account by a ledger entry."""
        return Refund(f"account:{idempotency_key}", amount_cents)

    async def intent_status(self, hold_id: str) -> str:  # noqa: ARG002
        """Nothing is ever held on a trade account, so there is nothing left to release."""
        return "canceled"

    async def fee_cents(self, hold_id: str) -> int:  # noqa: ARG002
        """A trade account costs no card fee."""
        return 0

    async def transfer(self, request: TransferRequest) -> str:  # noqa: ARG002
        """No card provider, no Connect: staff pay suppliers by hand."""
        raise ConflictError("card payments are not configured", code=CARDS_NOT_CONFIGURED)

    async def reverse_transfer(self, transfer_id: str, amount_cents: int, *, idempotency_key: str) -> str:  # noqa: ARG002
        """No card provider, no Connect: nothing was transferred."""
        raise ConflictError("card payments are not configured", code=CARDS_NOT_CONFIGURED)

    async def bank_payout(self, payout_id: str) -> BankPayout:  # noqa: ARG002
        """No card provider, no payouts from it."""
        raise ConflictError("card payments are not configured", code=CARDS_NOT_CONFIGURED)

    async def missed_events(self, *, after: datetime, until: datetime) -> list[ProviderEvent]:  # noqa: ARG002
        """No card provider sends events."""
        return []
