"""The process keeps pinned price versions it has read, per database: ids restart in each one.

A process that speaks to two databases (the tests do: the shared one and each committing
test's own) must not answer one database's version with the other's prices.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import sqlalchemy as sa

from domain.buying import service as buying
from domain.catalog import service as catalog
from domain.catalog.rules import Tier
from domain.db import make_session_maker


async def _version_priced(s, unit_price_cents: int) -> int:
    tag = uuid.uuid4().hex[:8]
    supplier = await catalog.create_supplier(s, name=f"Cache Mill {tag}", email=f"{tag}@mill.test")
    new = catalog.NewProduct(
        supplier.id or 0, f"C-{tag}", "Oats", "sack", 4, "purchases", Decimal(0), (Tier(1, unit_price_cents),)
    )
    created = await catalog.create_product(s, new, actor=0)
    return created.prices.version_id


async def test_the_same_version_id_in_two_databases_keeps_each_ones_prices(session, committing_engine):
    shared_id = await _version_priced(session, 250)
    async with make_session_maker(committing_engine)() as own:
        await own.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('product_price_version', 'id'), :id, false)"),
            {"id": shared_id},
        )
        assert await _version_priced(own, 900) == shared_id

        from_shared = await buying.pinned_versions(session, [shared_id])
        from_own = await buying.pinned_versions(own, [shared_id])

    assert from_shared[shared_id].tiers == (Tier(1, 250),)
    assert from_own[shared_id].tiers == (Tier(1, 900),)
