"""Views of the ledger records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["JournalEntryView"]


class JournalEntryView(Protocol):
    """The transports' view of a stored `JournalEntry`.

    One business event that moved money; never edited, corrected by reversal.
    """

    id: int | None
    kind: str
    memo: str
    occurred_at: datetime
    recorded_at: datetime
    idempotency_key: str
    reverses_id: int | None
