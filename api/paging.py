"""Ids in paths and cursor pagination, the same on every route."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import Parameter

from domain.errors import FieldError, InvalidInputError, NotFoundError

T = TypeVar("T")

MAX_LIMIT = 200

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Parameter(description="`next_cursor` of the previous page")]


class Page(msgspec.Struct, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None


# ASCII digits only: str.isdigit() and int() also take other scripts' digits ("١٢" is 12),
# and 18 digits always fit a BIGINT.
_ID = re.compile(r"[0-9]{1,18}")


def as_id(value: str) -> int | None:
    """The id an opaque id string stands for, or None when it is not one this API gives out."""
    return int(value) if _ID.fullmatch(value) else None


def path_id(value: str, what: str) -> int:
    """Ids are opaque strings to clients; one that is not ours is simply not found."""
    found = as_id(value)
    if found is None:
        raise NotFoundError(f"{what} {value[:40]!r} not found")
    return found


def after_id(cursor: str | None) -> int:
    """The last id of the previous page (0 for the first page)."""
    if cursor is None:
        return 0
    refused = InvalidInputError(
        "the cursor is not one this API gave out", [FieldError("cursor", "not a cursor this API gave out")]
    )
    try:
        found = as_id(base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii"))
    except ValueError as exc:  # binascii.Error and UnicodeError are ValueErrors
        raise refused from exc
    if found is None:
        raise refused
    return found


def next_cursor(last_ids: list[int], limit: int) -> str | None:
    """A cursor after the page's last id, when the page was full."""
    if len(last_ids) < limit:
        return None
    return base64.urlsafe_b64encode(str(last_ids[-1]).encode()).decode()
