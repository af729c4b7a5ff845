"""What several route modules share: who may call, reading ids from the query, times without a zone."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from litestar.exceptions import PermissionDeniedException

from api.auth import Principal, allow, principal_of
from api.paging import as_id
from api.unit_of_work import request_work_of
from domain.errors import FieldError, InvalidInputError
from domain.identity.rules import Role
from domain.network import sellers

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler

anyone_signed_in = allow(Role.STAFF, Role.MEMBER, Role.SUPPLIER)


async def staff_or_suppliers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Staff and suppliers' users; a member business that is a supplier reaches it too (docs/network.md).

    One business, two roles: a user of a member linked to a supplier (an admin or buyer, the
    member in good standing now) passes as a user of that supplier for this request, so every
    supplier-side route applies the supplier's own walls to it. Its member side is untouched:
    other routes see the member's user. Anyone else gets 403, as before.
    """
    if connection.scope.get("method") == "OPTIONS":
        return
    caller = principal_of(connection)
    if caller.role in {Role.STAFF, Role.SUPPLIER}:
        return
    if caller.role is Role.MEMBER and caller.member_id is not None:
        session = request_work_of(connection.scope).uow.session
        supplier_id = await sellers.seller_supplier(session, caller.member_id, caller.member_role)
        if supplier_id is not None:
            connection.scope["user"] = as_supplier(caller, supplier_id)
            return
    msg = "only staff, supplier (or the users of a member business that is this supplier) may do this"
    raise PermissionDeniedException(msg)


def as_supplier(caller: Principal, supplier_id: int) -> Principal:
    """A member's user acting for the supplier its member is: the same user, on the supplier's side."""
    return dataclasses.replace(caller, role=Role.SUPPLIER, supplier_id=supplier_id, member_id=None, member_role=None)


def utc(moment: datetime) -> datetime:
    """Times without a zone are taken as UTC, as API.md's times are."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def query_id(value: str | None, field: str) -> int | None:
    """An optional id filter in the query string; a malformed one is a 400 naming the parameter."""
    if value is None:
        return None
    found = as_id(value)
    if found is None:
        raise InvalidInputError(f"{field} is not a valid id", [FieldError(field, "not an id this API gave out")])
    return found


def own_supplier(caller: Principal) -> int | None:
    """A supplier's users are limited to their own supplier; staff and members are not."""
    return caller.supplier_id if caller.role is Role.SUPPLIER else None
