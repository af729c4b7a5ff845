"""Every table model, imported once so metadata (and alembic) sees them all."""

from domain.allocation.tables import AllocationLine, AllocationRun
from domain.buying.tables import (
    BuyCorrection,
    BuyOrder,
    GroupBuy,
    GroupBuyItem,
    GroupBuyTotal,
    OrderIncrement,
    OrderLine,
)
from domain.catalog.tables import Product, ProductPriceTier, ProductPriceVersion, Supplier
from domain.equity.tables import EquityLot, RedemptionLine, RedemptionRun, SpecialRedemption, SpecialRedemptionLine
from domain.governance.tables import Ballot, BallotCandidate, BallotProxy, BallotResult, BallotVoter, CastBallot
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
from domain.payments.tables import (
    CardHold,
    Payout,
    PayoutEvent,
    ShareCardPayment,
    StripeCustomer,
    StripeEvent,
    StripeReplayMark,
    SupplierStripeAccount,
)
from domain.programmes.tables import (
    Claim,
    ClaimMember,
    ClaimReceipt,
    ContractMember,
    ContractTier,
    PurchaseLine,
    SupplierContract,
)

__all__ = [
    "Account",
    "AllocationLine",
    "AllocationRun",
    "AuthToken",
    "Ballot",
    "BallotCandidate",
    "BallotProxy",
    "BallotResult",
    "BallotVoter",
    "BuyCorrection",
    "BuyOrder",
    "CardHold",
    "CastBallot",
    "Claim",
    "ClaimMember",
    "ClaimReceipt",
    "ContractMember",
    "ContractTier",
    "DirectoryRateWindow",
    "EquityLot",
    "EventRegistration",
    "GroupBuy",
    "GroupBuyItem",
    "GroupBuyTotal",
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
    "PurchaseLine",
    "RedemptionLine",
    "RedemptionRun",
    "ShareCardPayment",
    "SpecialRedemption",
    "SpecialRedemptionLine",
    "StripeCustomer",
    "StripeEvent",
    "StripeReplayMark",
    "Supplier",
    "SupplierContract",
    "SupplierStripeAccount",
    "User",
]
