"""What several route modules share: who may call, reading ids from the query, times without a zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from api.auth import allow
from api.paging import as_id
from domain.errors import FieldError, InvalidInputError
from domain.identity.rules import Role

if TYPE_CHECKING:
    from api.auth import Principal

staff_or_suppliers = allow(Role.STAFF, Role.SUPPLIER)
anyone_signed_in = allow(Role.STAFF, Role.MEMBER, Role.SUPPLIER)


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
