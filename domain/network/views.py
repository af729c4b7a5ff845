"""What the routes read of the member network: plain values, already cut to what the reader may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["ProfileView"]


@dataclass(frozen=True, slots=True)
class ProfileView:
    """One member's profile as one reader sees it.

    `fields` holds only the fields the reader may see; `visibility` and `listed` only for
    the member itself and staff (None for everyone else).
    """

    member_id: int
    name: str
    fields: dict[str, object]
    listed: bool | None
    visibility: dict[str, str] | None
    distance_km: float | None
    updated_at: datetime
