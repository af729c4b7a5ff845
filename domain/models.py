"""Every table model, imported once so metadata (and alembic) sees them all."""

from domain.equity.tables import EquityLot
from domain.idempotency.tables import IdempotencyRecord
from domain.identity.tables import AuthToken, LoginFailure, User
from domain.jobs.tables import OutboxJob
from domain.ledger.tables import Account, JournalEntry, Posting
from domain.membership.tables import Member, MemberConsent, MemberStatusChange
from domain.payments.tables import Payout

__all__ = [
    "Account",
    "AuthToken",
    "EquityLot",
    "IdempotencyRecord",
    "JournalEntry",
    "LoginFailure",
    "Member",
    "MemberConsent",
    "MemberStatusChange",
    "OutboxJob",
    "Payout",
    "Posting",
    "User",
]
