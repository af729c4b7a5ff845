"""Every table model, imported once so metadata (and alembic) sees them all."""

from domain.idempotency.tables import IdempotencyRecord
from domain.identity.tables import AuthToken, LoginFailure, User
from domain.jobs.tables import OutboxJob
from domain.ledger.tables import Account, JournalEntry, Posting

__all__ = ["Account", "AuthToken", "IdempotencyRecord", "JournalEntry", "LoginFailure", "OutboxJob", "Posting", "User"]
