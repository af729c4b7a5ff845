"""A supplier's payment settings: the Stripe connected account the co-op pays it through (Connect).

Staff set it; staff and the supplier's own users read it (another supplier's users: 404).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import get, put
from litestar.params import FromPath, JSONBody

from api.auth import staff_only
from api.deps import Caller, DbSession
from api.paging import path_id
from api.problems import AUTHENTICATED, problems
from api.route_helpers import own_supplier, staff_or_suppliers
from domain.payments import supplier_accounts

AccountId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=255, description="a Stripe connected account id: acct_...")
]


class SupplierPaymentSettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    """The supplier's Stripe connected account (``acct_`` then letters and digits)."""

    stripe_account_id: AccountId


class SupplierPaymentSettingsOut(msgspec.Struct):
    """How the co-op pays the supplier: by Connect transfer when `stripe_account_id` is set, else by hand."""

    supplier_id: str
    stripe_account_id: str | None


PATH = "/v1/suppliers/{supplier_id:str}/payment-settings"


@put(
    PATH,
    access=staff_only,
    tags=["payments"],
    summary="Set a supplier's Stripe connected account",
    responses=problems(400, 404, 409, 413, 422, *AUTHENTICATED),
)
async def set_payment_settings(
    supplier_id: FromPath[str], data: JSONBody[SupplierPaymentSettingsIn], db: DbSession, caller: Caller
) -> SupplierPaymentSettingsOut:
    """With Connect configured, settled card-mode buys pay this account by transfer (400 for a malformed id)."""
    sid = path_id(supplier_id, "supplier")
    stored = await supplier_accounts.set_connected_account(
        db, sid, data.stripe_account_id, actor=caller.user_id, now=datetime.now(UTC)
    )
    return SupplierPaymentSettingsOut(supplier_id, stored.account_id)


@get(
    PATH,
    access=staff_or_suppliers,
    tags=["payments"],
    summary="A supplier's payment settings",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def payment_settings(supplier_id: FromPath[str], db: DbSession, caller: Caller) -> SupplierPaymentSettingsOut:
    """The connected account, or null (paid by hand)."""
    sid = path_id(supplier_id, "supplier")
    account = await supplier_accounts.connected_account(db, sid, only_supplier_id=own_supplier(caller))
    return SupplierPaymentSettingsOut(supplier_id, account)
