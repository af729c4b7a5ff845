"""Views of the catalog records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["SupplierView"]


class SupplierView(Protocol):
    """The transports' view of a stored `Supplier`.

    A business the co-op buys from; its users fill purchase orders and report deliveries.
    """

    id: int | None
    name: str
    email: str
    member_id: int | None
    created_at: datetime
