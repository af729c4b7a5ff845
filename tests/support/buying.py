"""Suppliers, products, ordering members and group buys, for tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.identity.rules import MemberRole, Role
from domain.membership import service as membership
from tests.support.users import bearer, make_member, make_user

if TYPE_CHECKING:
    import httpx
    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.catalog.tables import Supplier
    from domain.membership.tables import Member

_seq = itertools.count(1)


async def make_supplier(session: AsyncSession, name: str = "Valley Mill") -> Supplier:
    """A committed supplier."""
    supplier = await catalog.create_supplier(session, name=name, email=f"s{next(_seq)}@supplier.test")
    await session.commit()
    return supplier


async def supplier_headers(client: httpx.AsyncClient, session: AsyncSession, supplier_id: int | None) -> dict[str, str]:
    """Signed-in headers of a new user of that supplier."""
    assert supplier_id is not None
    user = await make_user(session, Role.SUPPLIER, supplier_id=supplier_id)
    return await bearer(client, user.email)


async def staff_headers(client: httpx.AsyncClient, session: AsyncSession) -> dict[str, str]:
    """Signed-in headers of a new staff user."""
    return await bearer(client, (await make_user(session)).email)


async def make_product(
    session: AsyncSession,
    supplier_id: int | None,
    *,
    case_size: int = 1,
    tiers: list[tuple[int, int]] | None = None,
    markup: str = "0",
    pool: str = "purchases",
    sku: str | None = None,
) -> int:
    """A committed product; returns its id."""
    assert supplier_id is not None
    new = catalog.NewProduct(
        supplier_id=supplier_id,
        sku=sku or f"SKU-{next(_seq)}",
        name="Flour 1 kg",
        unit="bag",
        case_size=case_size,
        pool=pool,
        markup_rate=Decimal(markup),
        tiers=tuple(Tier(q, p) for q, p in (tiers or [(1, 100)])),
    )
    view = await catalog.create_product(session, new, actor=0)
    await session.commit()
    assert view.product.id is not None
    return view.product.id


async def ordering_member(
    client: httpx.AsyncClient, session: AsyncSession, name: str = "Corner Bakery", role: MemberRole = MemberRole.BUYER
) -> tuple[Member, dict[str, str]]:
    """An admitted (probationary, so it may order) member and signed-in headers of one of its users."""
    member = await make_member(session, name)
    assert member.id is not None
    await membership.admit(session, member.id, probation_days=30, now=datetime.now(UTC), actor=0)
    await session.commit()
    user = await make_user(session, Role.MEMBER, member_id=member.id, member_role=role)
    return member, await bearer(client, user.email)


def group_buy_body(supplier_id: int | None, product_ids: list[int], **extra: Any) -> dict[str, Any]:
    """A POST /v1/group-buys body that opens now and closes in a day."""
    return {
        "supplier_id": str(supplier_id),
        "title": "Spring flour",
        "closes_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "product_ids": [str(p) for p in product_ids],
        **extra,
    }
