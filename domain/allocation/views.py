"""Views of the allocation records the transports shape (api never imports the table module).

Each is a Protocol that the stored row satisfies, so a service may answer with the row itself
and a table can change without the transports importing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import date, datetime

__all__ = ["AllocationLineView", "AllocationRunView"]


class AllocationRunView(Protocol):
    """The transports' view of a stored `AllocationRun`.

    One computation of a fiscal year's allocation; at most one per year is ever posted.
    """

    id: int | None
    fiscal_year: int
    status: str
    payment_date: date
    request: dict[str, Any]
    totals: dict[str, Any] | None
    margin_derivation: list[dict[str, Any]] | None
    failure_reason: str | None
    created_by: int | None
    created_at: datetime
    computed_at: datetime | None
    posted_at: datetime | None


class AllocationLineView(Protocol):
    """The transports' view of a stored `AllocationLine`: one member's allocation in a run."""

    run_id: int
    member_id: int
    member_number: int
    patronage_cents: int
    computed_cents: int
    allocation_cents: int
    cash_cents: int
    retained_cents: int
    loan_deduction_cents: int
    qualified: bool
    below_minimum: bool
