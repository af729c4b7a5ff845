"""Which payment gateway the settings ask for: Stripe when ``STRIPE_API_KEY`` is set, else the trade account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.payments.gateway import PaymentGateway, TradeAccountGateway
from domain.payments.stripe_gateway import StripeGateway

if TYPE_CHECKING:
    from domain.settings import Settings


def gateway_for(settings: Settings) -> PaymentGateway:
    """The gateway; building it calls nothing, so start-up never waits on Stripe."""
    if settings.stripe_api_key is None:
        return TradeAccountGateway()
    return StripeGateway(
        settings.stripe_api_key, api_base=settings.stripe_api_base, localstripe=settings.stripe_localstripe
    )


async def close(gateway: PaymentGateway) -> None:
    """Close the gateway's connections, if it keeps any."""
    if isinstance(gateway, StripeGateway):
        await gateway.aclose()
