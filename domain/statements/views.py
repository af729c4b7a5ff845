"""What the transports read of a value statement (plain types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import date

    from domain.statements.rules import ValueFigures

__all__ = ["ValueStatement"]


@dataclass(frozen=True, slots=True)
class ValueStatement:
    """A member's value of membership for one fiscal year."""

    member_id: int
    member_number: int | None
    member_name: str
    fiscal_year: int
    first_day: date
    last_day: date
    figures: ValueFigures
    allocation_run_id: int | None
