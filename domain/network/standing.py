"""Members' standing as the network's writes see it: read FOR SHARE, so a status change waits for the write."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.errors import NotFoundError
from domain.membership.rules import Status
from domain.membership.tables import Member

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def locked_statuses(session: AsyncSession, member_ids: set[int]) -> dict[int, Status]:
    """The members' statuses, their rows locked FOR SHARE in id order: a status change waits for this write."""
    rows = await session.execute(
        sa.select(col(Member.id), col(Member.status))
        .where(col(Member.id).in_(sorted(member_ids)))
        .order_by(col(Member.id))
        .with_for_update(read=True)
    )
    return {int(member_id): Status(status) for member_id, status in rows.all()}


async def locked_status(session: AsyncSession, member_id: int) -> Status:
    """One member's status, its row locked FOR SHARE; 404 if there is no such member."""
    found = (await locked_statuses(session, {member_id})).get(member_id)
    if found is None:
        raise NotFoundError(f"member {member_id} not found")
    return found
