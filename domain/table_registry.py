"""Every table model, imported once so metadata (and alembic) sees them all."""

from domain.allocation.tables import AllocationLine, AllocationRun
from domain.buying.tables import BuyOrder, GroupBuy, GroupBuyItem, OrderIncrement, OrderLine
from domain.catalog.tables import Product, ProductPriceTier, ProductPriceVersion, Supplier
from domain.equity.tables import EquityLot, RedemptionLine, RedemptionRun, SpecialRedemption, SpecialRedemptionLine
from domain.idempotency.tables import IdempotencyRecord
from domain.identity.tables import AuthToken, LoginThrottle, User
from domain.jobs.tables import OutboxJob
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.membership.tables import Member, MemberConsent, MemberStatusChange
from domain.network.tables import (
    DirectoryRateWindow,
    EventRegistration,
    MemberOffer,
    MemberProfile,
    NetworkEvent,
    OfferClaim,
)
from domain.patronage.tables import PatronageRecord
from domain.payments.tables import CardHold, Payout, PayoutEvent, StripeCustomer, StripeEvent

__all__ = [
    "Account",
    "AllocationLine",
    "AllocationRun",
    "AuthToken",
    "BuyOrder",
    "CardHold",
    "DirectoryRateWindow",
    "EquityLot",
    "EventRegistration",
    "GroupBuy",
    "GroupBuyItem",
    "IdempotencyRecord",
    "JournalEntry",
    "LoginThrottle",
    "Member",
    "MemberConsent",
    "MemberOffer",
    "MemberProfile",
    "MemberStatusChange",
    "NetworkEvent",
    "OfferClaim",
    "OrderIncrement",
    "OrderLine",
    "OutboxJob",
    "PatronageRecord",
    "Payout",
    "PayoutEvent",
    "Posting",
    "Product",
    "ProductPriceTier",
    "ProductPriceVersion",
    "RedemptionLine",
    "RedemptionRun",
    "SpecialRedemption",
    "SpecialRedemptionLine",
    "StripeCustomer",
    "StripeEvent",
    "Supplier",
    "User",
]
