"""Suppliers' Stripe connected accounts: staff set them; with Connect configured, payables are paid by transfer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.dialects.postgresql import insert

from domain.catalog import service as catalog
from domain.errors import InvalidInputError
from domain.payments.rules import connected_account_errors
from domain.payments.tables import SupplierStripeAccount

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession


async def set_connected_account(
    session: AsyncSession, supplier_id: int, account_id: str, *, actor: int, now: datetime
) -> SupplierStripeAccount:
    """Store (or replace) the supplier's connected account; 404 for an unknown supplier, 400 for a malformed id."""
    await catalog.get_supplier(session, supplier_id)
    if errors := connected_account_errors(account_id):
        raise InvalidInputError("the payment settings are not valid", errors)
    await session.execute(
        insert(SupplierStripeAccount)
        .values(supplier_id=supplier_id, account_id=account_id, updated_by=actor, updated_at=now)
        .on_conflict_do_update(
            index_elements=["supplier_id"], set_={"account_id": account_id, "updated_by": actor, "updated_at": now}
        )
    )
    stored = await session.get(SupplierStripeAccount, supplier_id, populate_existing=True)
    assert stored is not None  # noqa: S101 - just written
    return stored


async def connected_account(
    session: AsyncSession, supplier_id: int, *, only_supplier_id: int | None = None
) -> str | None:
    """The supplier's connected account id, or None; 404 for an unknown supplier or another supplier's users."""
    await catalog.get_supplier(session, supplier_id, only_supplier_id=only_supplier_id)
    stored = await session.get(SupplierStripeAccount, supplier_id, populate_existing=True)
    return stored.account_id if stored is not None else None
