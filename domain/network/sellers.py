"""Members as suppliers (issue 16): a catalog supplier linked to a member business.

One business, two roles: the member's users reach the supplier side by the supplier's own
walls (api/route_helpers.py `staff_or_suppliers`), their member side by the member's.
The link is `supplier.member_id` (unique: a member is at most one supplier); settlement
reads it to write the seller's marketing patronage (domain/buying/rules/marketing.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from domain.catalog.tables import Supplier
from domain.db import driver_connection
from domain.errors import ConflictError, FieldError, InvalidInputError, NotFoundError
from domain.membership.rules import Status
from domain.membership.tables import Member
from domain.network.rules import MEMBER_ALREADY_SUPPLIER, SELLER_SIDE_ROLES, acts_as_seller, check_seller_link

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


async def link_member(session: AsyncSession, supplier_id: int, member_id: int | None) -> Supplier:
    """Staff link the supplier to a member business, or clear the link (``member_id`` None).

    404 for an unknown supplier; 400 naming `member_id` for an unknown member; 409
    `member_not_full` unless the member is full now (its row read FOR SHARE, so a suspension
    waits for the link); 409 `member_already_supplier` when the member is another supplier
    (the unique constraint decides, not a look-up first). Linking the same member again
    changes nothing.
    """
    locked = select(Supplier).where(col(Supplier.id) == supplier_id).with_for_update()
    supplier = (await session.exec(locked.execution_options(populate_existing=True))).one_or_none()
    if supplier is None:
        raise NotFoundError(f"supplier {supplier_id} not found")
    if member_id is not None:
        status = (
            await session.exec(select(Member.status).where(col(Member.id) == member_id).with_for_update(read=True))
        ).one_or_none()
        if status is None:
            raise InvalidInputError("the link is not valid", [FieldError("member_id", f"no member {member_id}")])
        check_seller_link(member_id, Status(status))
    if supplier.member_id != member_id:
        try:
            async with session.begin_nested():
                await session.execute(
                    sa.update(Supplier).where(col(Supplier.id) == supplier_id).values(member_id=member_id)
                )
        except IntegrityError as exc:
            msg = f"member {member_id} is already another supplier; a member is at most one supplier"
            raise ConflictError(msg, code=MEMBER_ALREADY_SUPPLIER) from exc
        await session.refresh(supplier)
    return supplier


# One constant statement on the session's driver connection: /v1/me and every supplier-side
# guard ask it for member users, so it is prepared once and opens no transaction of its own.
_SELLER = "SELECT s.id, m.status FROM supplier s JOIN member m ON m.id = s.member_id WHERE s.member_id = $1"


async def seller_supplier(session: AsyncSession, member_id: int, member_role: str | None) -> int | None:
    """The supplier a user of this member acts for now, if any (network rules `acts_as_seller`)."""
    if member_role not in SELLER_SIDE_ROLES:
        return None
    row = await (await driver_connection(session, begin=False)).fetchrow(_SELLER, member_id)
    if row is None or not acts_as_seller(member_role, Status(row[1])):
        return None
    return int(row[0])
