"""Patronage records and their import (API.md "Patronage")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from api.auth import check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import FIRST_YEAR, LAST_YEAR, PLAIN_PATTERN, MemberNumber, Moment, ShortText, SignedCents, Text
from api.paging import Cursor, Limit, Page, after_id, next_cursor
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import query_id, utc
from domain.identity.rules import Role
from domain.patronage import service


class PatronageOut(msgspec.Struct):
    """One patronage record; `member_business` is false for non-member business."""

    id: str
    member_id: str | None
    fiscal_year: int
    pool: str
    amount_cents: int
    occurred_at: datetime
    source: str
    group_buy_id: str | None
    member_business: bool
    external_ref: str | None


class ImportRecordIn(msgspec.Struct, forbid_unknown_fields=True):
    """A purchase made outside the platform; `member_number: null` is non-member business."""

    external_ref: Text
    member_number: MemberNumber | None
    pool: ShortText
    amount_cents: SignedCents
    occurred_at: Moment


class ImportIn(msgspec.Struct, forbid_unknown_fields=True):
    """Records to import, idempotent by `external_ref`."""

    records: Annotated[list[ImportRecordIn], msgspec.Meta(max_length=10_000)]


class ImportOut(msgspec.Struct):
    """New records and records imported before (same `external_ref`)."""

    imported: int
    duplicates: int


@get(
    "/v1/patronage",
    access=staff_or_members,
    summary="Patronage records",
    description=(
        "Staff see every record (filter by member, fiscal year, pool and days); a member's users see their own."
    ),
    responses=problems(400, 404, *AUTHENTICATED),
    tags=["patronage"],
)
async def list_patronage(  # noqa: PLR0913 - each filter is a query parameter Litestar reads from the signature
    db: DbSession,
    caller: Caller,
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    member_id: Annotated[str | None, Parameter(description="only this member's records")] = None,
    fiscal_year: Annotated[
        int | None, Parameter(ge=FIRST_YEAR, le=LAST_YEAR, description="only this fiscal year")
    ] = None,
    pool: Annotated[
        str | None, Parameter(min_length=1, max_length=50, pattern=PLAIN_PATTERN, description="only this pool")
    ] = None,
    occurred_from: Annotated[date | None, Parameter(description="only records on or after this UTC day")] = None,
    occurred_to: Annotated[date | None, Parameter(description="only records on or before this UTC day")] = None,
) -> Page[PatronageOut]:
    """Records in the order they were written."""
    member = query_id(member_id, "member_id")
    if caller.role is Role.MEMBER:
        member = caller.member_id if member is None else member
        assert member is not None  # noqa: S101 - member users always act for a member
        check_member_access(caller, member)
    rows = await service.page(
        db,
        after_id=after_id(cursor),
        limit=limit,
        member_id=member,
        fiscal_year=fiscal_year,
        pool=pool,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    items = [
        PatronageOut(
            id=str(r.id),
            member_id=None if r.member_id is None else str(r.member_id),
            fiscal_year=r.fiscal_year,
            pool=r.pool,
            amount_cents=r.amount_cents,
            occurred_at=r.occurred_at,
            source=r.source,
            group_buy_id=None if r.group_buy_id is None else str(r.group_buy_id),
            member_business=r.member_business,
            external_ref=r.external_ref,
        )
        for r in rows
    ]
    return Page(items, next_cursor([r.id for r in rows if r.id is not None], limit))


@post(
    "/v1/patronage/imports",
    status_code=200,
    access=staff_only,
    summary="Import patronage",
    description=(
        "History and purchases made outside the platform. Idempotent by `external_ref`; any bad row "
        "refuses the whole import (400 listing every bad row)."
    ),
    responses=problems(*POSTED),
    tags=["patronage"],
)
async def import_patronage(data: JSONBody[ImportIn], db: DbSession, state: State) -> ImportOut:
    """Write the new records; count the ones seen before."""
    result = await service.import_records(
        db,
        [
            service.ImportRow(r.external_ref, r.member_number, r.pool, r.amount_cents, utc(r.occurred_at))
            for r in data.records
        ],
        fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
        now=datetime.now(UTC),
    )
    return ImportOut(result.imported, result.duplicates)
