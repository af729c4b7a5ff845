"""Ids in paths and cursor pagination, the same on every route."""

from __future__ import annotations

import base64
from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.params import Parameter

from domain.errors import InvalidInputError, NotFoundError

T = TypeVar("T")

MAX_LIMIT = 200

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size")]
Cursor = Annotated[str | None, Parameter(description="`next_cursor` of the previous page")]


class Page(msgspec.Struct, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None


def path_id(value: str, what: str) -> int:
    """Ids are opaque strings to clients; one that is not ours is simply not found."""
    if not value.isdigit() or len(value) > 18:  # noqa: PLR2004 - fits a BIGINT
        raise NotFoundError(f"{what} {value} not found")
    return int(value)


def after_id(cursor: str | None) -> int:
    """The last id of the previous page (0 for the first page)."""
    if cursor is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError as exc:
        raise InvalidInputError("the cursor is not one this API gave out") from exc


def next_cursor(last_ids: list[int], limit: int) -> str | None:
    """A cursor after the page's last id, when the page was full."""
    if len(last_ids) < limit:
        return None
    return base64.urlsafe_b64encode(str(last_ids[-1]).encode()).decode()
