"""Suppliers, their users, products and prices (API.md "Suppliers and catalog")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post, put
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import staff_only
from api.deps import Caller, DbSession
from api.fields import Email, Id, Password, Rate, ShortText, SkuText, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import anyone_signed_in, own_supplier, query_id, staff_or_suppliers
from api.routes.identity import Me, me_of
from domain.buying import pricing
from domain.catalog import service
from domain.catalog.rules import DEFAULT_POOL, Tier, rate_text
from domain.catalog.views import SupplierView
from domain.identity import service as identity
from domain.identity.rules import Role
from domain.network import sellers

MAX_UNIT_PRICE_CENTS = 10**9


class NewSupplier(msgspec.Struct, forbid_unknown_fields=True):
    """A supplier's name and contact address."""

    name: Text
    email: Email


class SupplierOut(msgspec.Struct):
    """A supplier; `member_id` is the member business it is, if it is one (members as suppliers)."""

    id: str
    name: str
    email: str
    member_id: str | None
    created_at: datetime


class SupplierMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    """The member business the supplier is (a full member in good standing), or null to clear the link."""

    member_id: Id | None


class NewSupplierUser(msgspec.Struct, forbid_unknown_fields=True):
    """A user for the supplier: e-mail and initial password."""

    email: Email
    password: Password


class TierIn(msgspec.Struct, forbid_unknown_fields=True):
    """A price tier: `unit_price_cents` once the group buys at least `min_quantity` units."""

    min_quantity: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    # At most $10 million a unit: (quantity + flex) x price x 500 lines stays inside BIGINT.
    unit_price_cents: Annotated[int, msgspec.Meta(ge=0, le=MAX_UNIT_PRICE_CENTS)]


Tiers = Annotated[list[TierIn], msgspec.Meta(min_length=1, max_length=50)]


class NewProduct(msgspec.Struct, forbid_unknown_fields=True):
    """A product sold by the case, with its price tiers (first at 1, increasing minimums, prices not rising)."""

    supplier_id: Id
    sku: SkuText
    name: Text
    unit: ShortText
    case_size: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    tiers: Tiers
    pool: ShortText = DEFAULT_POOL
    markup_rate: Rate | None = None  # staff only (403 from a supplier); 0 when left out


class NewPrices(msgspec.Struct, forbid_unknown_fields=True):
    """New tiers and, optionally, a new markup (staff only): a new price version."""

    tiers: Tiers
    markup_rate: Rate | None = None


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; those left out stay. `pool` is staff's (403 from a supplier); prices: PUT .../prices."""

    name: Text | None = None
    unit: ShortText | None = None
    sku: SkuText | None = None
    pool: ShortText | None = None


class TierOut(msgspec.Struct):
    """A price tier."""

    min_quantity: int
    unit_price_cents: int


class ProductOut(msgspec.Struct):
    """A product with its current price version."""

    id: str
    supplier_id: str
    sku: str
    name: str
    unit: str
    case_size: int
    pool: str
    markup_rate: str
    tiers: list[TierOut]
    price_version: int
    retired_at: datetime | None


def supplier_out(supplier: SupplierView) -> SupplierOut:
    """The public view of a supplier."""
    member = None if supplier.member_id is None else str(supplier.member_id)
    return SupplierOut(str(supplier.id), supplier.name, supplier.email, member, supplier.created_at)


def product_out(view: service.ProductView) -> ProductOut:
    """The public view of a product."""
    p, prices = view.product, view.prices
    return ProductOut(
        id=str(p.id),
        supplier_id=str(p.supplier_id),
        sku=p.sku,
        name=p.name,
        unit=p.unit,
        case_size=p.case_size,
        pool=p.pool,
        markup_rate=rate_text(prices.markup_rate),
        tiers=[TierOut(t.min_quantity, t.unit_price_cents) for t in prices.tiers],
        price_version=prices.version,
        retired_at=p.retired_at,
    )


def _tiers(tiers: list[TierIn]) -> tuple[Tier, ...]:
    return tuple(Tier(t.min_quantity, t.unit_price_cents) for t in tiers)


class SupplierController(Controller):
    """Routes under /v1/suppliers."""

    path = "/v1/suppliers"
    tags = ["catalog"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=staff_only, summary="Add a supplier", responses=problems(*POSTED))
    async def create(self, data: JSONBody[NewSupplier], db: DbSession) -> SupplierOut:
        """Staff register a supplier."""
        return supplier_out(await service.create_supplier(db, name=data.name, email=data.email))

    @get("/", access=anyone_signed_in, summary="List suppliers", responses=problems(400, *AUTHENTICATED))
    async def list_suppliers(
        self, db: DbSession, caller: Caller, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[SupplierOut]:
        """Staff and members see every supplier; a supplier's users see their own."""
        rows = await service.supplier_page(
            db, after_id=after_id(cursor), limit=limit, only_supplier_id=own_supplier(caller)
        )
        return Page([supplier_out(s) for s in rows], next_cursor([s.id for s in rows if s.id is not None], limit))

    @get("/{supplier_id:str}", access=anyone_signed_in, summary="One supplier", responses=problems(400, 404, 401, 403))
    async def show(self, supplier_id: FromPath[str], db: DbSession, caller: Caller) -> SupplierOut:
        """The supplier (404 for another supplier's users)."""
        sid = path_id(supplier_id, "supplier")
        return supplier_out(await service.get_supplier(db, sid, only_supplier_id=own_supplier(caller)))

    @put(
        "/{supplier_id:str}/member",
        access=staff_only,
        summary="Link the supplier to a member business",
        description=(
            "Staff say which member business the supplier is (members as suppliers), or clear it with null. The"
            " member must be full now (409 member_not_full) and no other supplier (409 member_already_supplier);"
            " an unknown member is a 400 naming member_id. The member's admins and buyers then reach the"
            " supplier's side by the supplier's walls, and its sales through the co-op become its patronage in"
            " the marketing pool."
        ),
        responses=problems(404, *POSTED),
    )
    async def link_member(
        self, supplier_id: FromPath[str], data: JSONBody[SupplierMemberIn], db: DbSession
    ) -> SupplierOut:
        """Set or clear the member business the supplier is."""
        member = None if data.member_id is None else int(data.member_id)
        return supplier_out(await sellers.link_member(db, path_id(supplier_id, "supplier"), member))

    @post(
        "/{supplier_id:str}/users",
        access=staff_only,
        summary="Add a user to a supplier",
        responses=problems(404, *POSTED),
    )
    async def add_user(self, supplier_id: FromPath[str], data: JSONBody[NewSupplierUser], db: DbSession) -> Me:
        """Staff give a supplier its users; they see only their supplier's products, buys and orders."""
        sid = path_id(supplier_id, "supplier")
        await service.get_supplier(db, sid)
        user = await identity.create_user(
            db, email=data.email, password=data.password, role=Role.SUPPLIER, supplier_id=sid
        )
        return me_of(user)


class ProductController(Controller):
    """Routes under /v1/products."""

    path = "/v1/products"
    tags = ["catalog"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=staff_or_suppliers, summary="Add a product", responses=problems(*POSTED))
    async def create(self, data: JSONBody[NewProduct], db: DbSession, caller: Caller) -> ProductOut:
        """Staff, or the supplier's own users; a SKU is unique per supplier (409)."""
        new = service.NewProduct(
            supplier_id=int(data.supplier_id),
            sku=data.sku,
            name=data.name,
            unit=data.unit,
            case_size=data.case_size,
            pool=data.pool,
            markup_rate=data.markup_rate,
            tiers=_tiers(data.tiers),
        )
        view = await service.create_product(db, new, actor=caller.user_id, only_supplier_id=own_supplier(caller))
        return product_out(view)

    @get("/", access=anyone_signed_in, summary="List products", responses=problems(400, *AUTHENTICATED))
    async def list_products(
        self,
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        supplier_id: Annotated[str | None, Parameter(description="only this supplier's products")] = None,
        include_retired: Annotated[bool, Parameter(description="list retired products too")] = False,  # noqa: FBT002
    ) -> Page[ProductOut]:
        """Staff and members see every product; a supplier's users see their own. Retired ones only on request."""
        views = await service.product_page(
            db,
            after_id=after_id(cursor),
            limit=limit,
            supplier_id=query_id(supplier_id, "supplier_id"),
            only_supplier_id=own_supplier(caller),
            include_retired=include_retired,
        )
        ids = [v.product.id for v in views if v.product.id is not None]
        return Page([product_out(v) for v in views], next_cursor(ids, limit))

    @get("/{product_id:str}", access=anyone_signed_in, summary="One product", responses=problems(400, 404, 401, 403))
    async def show(self, product_id: FromPath[str], db: DbSession, caller: Caller) -> ProductOut:
        """The product with its current prices (404 for another supplier's users)."""
        pid = path_id(product_id, "product")
        return product_out(await service.get_product(db, pid, only_supplier_id=own_supplier(caller)))

    @put(
        "/{product_id:str}/prices",
        access=staff_or_suppliers,
        summary="Change a product's prices",
        responses=problems(400, 404, 401, 403, 409),
    )
    async def change_prices(
        self, product_id: FromPath[str], data: JSONBody[NewPrices], db: DbSession, caller: Caller
    ) -> ProductOut:
        """A new price version (tiers; markup from staff only, 403 from a supplier).

        Group buys keep the prices they opened with; open ones take a new price only when it
        is no dearer at any quantity. A retired product's prices no longer change: 409
        `product_retired` (the same prices again are still a 200 that changes nothing).
        """
        view = await pricing.change_prices(
            db,
            path_id(product_id, "product"),
            tiers=_tiers(data.tiers),
            markup_rate=data.markup_rate,
            actor=caller.user_id,
            only_supplier_id=own_supplier(caller),
        )
        return product_out(view)

    @patch(
        "/{product_id:str}",
        access=staff_or_suppliers,
        summary="Edit a product",
        responses=problems(400, 404, 401, 403, 409, 422),
    )
    async def edit(
        self, product_id: FromPath[str], data: JSONBody[ProductPatch], db: DbSession, caller: Caller
    ) -> ProductOut:
        """Name, unit, SKU (unique per supplier: 409) and pool (staff only); its supplier edits its own."""
        edit = service.ProductEdit(name=data.name, unit=data.unit, sku=data.sku, pool=data.pool)
        pid = path_id(product_id, "product")
        view = await service.edit_product(db, pid, edit, only_supplier_id=own_supplier(caller))
        return product_out(view)

    @post(
        "/{product_id:str}/retire",
        status_code=200,
        access=staff_or_suppliers,
        summary="Retire a product",
        responses=problems(404, *POSTED),
    )
    async def retire(self, product_id: FromPath[str], db: DbSession, caller: Caller) -> ProductOut:
        """No new group buy may take it (400); buys and orders that have it keep it. Retiring twice is harmless."""
        view = await service.retire_product(
            db, path_id(product_id, "product"), now=datetime.now(UTC), only_supplier_id=own_supplier(caller)
        )
        return product_out(view)
