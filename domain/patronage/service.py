"""Patronage records: written at settlement and by imports, read for statements and year-end.

Records are immutable (a trigger refuses UPDATE and DELETE); a correction is a new record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.catalog.rules import pool_errors
from domain.errors import FieldError, InvalidInputError
from domain.import_rows import EXTERNAL_REF, import_row_errors
from domain.membership.tables import Member
from domain.patronage.rules import fiscal_year_of, is_member_business, utc_day_range
from domain.patronage.tables import PatronageRecord

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date, datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

MAX_AMOUNT_CENTS = 10**13
_BATCH = 1000  # rows per INSERT: PostgreSQL takes at most 32767 parameters per statement


async def _insert(session: AsyncSession, rows: Sequence[dict[str, Any]], key: str) -> int:
    """Insert in batches, skipping rows whose `key` exists; the number written."""
    written = 0
    for start in range(0, len(rows), _BATCH):
        result = await session.execute(
            insert(PatronageRecord)
            .values(list(rows[start : start + _BATCH]))
            .on_conflict_do_nothing(index_elements=[key])
            .returning(col(PatronageRecord.id))
        )
        written += len(result.all())
    return written


async def count_own_records(session: AsyncSession) -> None:
    """Add this transaction's own new records to `patronage_total` now, before reading it.

    Records reach the totals when their transaction commits (migration 0030); a transaction
    that writes records and then reads the totals (year-end reads them) would miss its own.
    From here on, its later records are added at the end of each statement.
    """
    await session.execute(sa.text("SET CONSTRAINTS patronage_total_flush IMMEDIATE"))


def _fiscal_year(occurred_at: datetime, start_month: int) -> int:
    return fiscal_year_of(occurred_at.astimezone(UTC).date(), start_month)


class Buyer(Protocol):
    """Who bought: enough of a member to tell member from non-member business."""

    @property
    def id(self) -> int | None:
        """The member's id."""

    @property
    def joined_at(self) -> datetime | None:
        """When the member joined (None: never)."""

    @property
    def left_at(self) -> datetime | None:
        """When the member left (None: still a member)."""


@dataclass(frozen=True, slots=True)
class MemberDates:
    """A member's id and membership dates, read without loading the whole row."""

    id: int
    joined_at: datetime | None
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class Purchase:
    """One member purchase to record, as settlement computed it."""

    member: Buyer
    pool: str
    amount_cents: int
    occurred_at: datetime
    group_buy_id: int


async def record_purchases(
    session: AsyncSession, purchases: Sequence[Purchase], *, fiscal_year_start_month: int
) -> int:
    """Write one record per member purchase and pool; the same purchase again is not written twice.

    Member or non-member business is decided by membership at the purchase date.
    """
    if not purchases:
        return 0
    # A settlement's purchases all share one date: its fiscal year is worked out once, not per record.
    years: dict[datetime, int] = {}
    for p in purchases:
        if p.occurred_at not in years:
            years[p.occurred_at] = _fiscal_year(p.occurred_at, fiscal_year_start_month)
    params = {
        "member_id": [p.member.id for p in purchases],
        "member_business": [is_member_business(p.member.joined_at, p.member.left_at, p.occurred_at) for p in purchases],
        "fiscal_year": [years[p.occurred_at] for p in purchases],
        "pool": [p.pool for p in purchases],
        "amount_cents": [p.amount_cents for p in purchases],
        "occurred_at": [p.occurred_at for p in purchases],
        "group_buy_id": [p.group_buy_id for p in purchases],
        "source_key": [f"group_buy:{p.group_buy_id}:member:{p.member.id}:pool:{p.pool}" for p in purchases],
    }
    result = await session.execute(_PURCHASES, params)
    return int(getattr(result, "rowcount", 0))


# One statement for a settlement's thousands of records: the rows as arrays, not 9 parameters each.
_PURCHASES = sa.text("""
INSERT INTO patronage_record
  (member_id, member_business, fiscal_year, pool, amount_cents, occurred_at, source, group_buy_id, source_key)
SELECT u.member_id, u.member_business, u.fiscal_year, u.pool, u.amount_cents, u.occurred_at, 'group_buy',
       u.group_buy_id, u.source_key
  FROM unnest(:member_id, :member_business, :fiscal_year, :pool, :amount_cents, :occurred_at, :group_buy_id,
              :source_key)
    AS u(member_id, member_business, fiscal_year, pool, amount_cents, occurred_at, group_buy_id, source_key)
ON CONFLICT (source_key) DO NOTHING
""").bindparams(
    sa.bindparam("member_id", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("member_business", type_=ARRAY(sa.Boolean)),
    sa.bindparam("fiscal_year", type_=ARRAY(sa.Integer)),
    sa.bindparam("pool", type_=ARRAY(sa.Text)),
    sa.bindparam("amount_cents", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("occurred_at", type_=ARRAY(sa.DateTime(timezone=True))),
    sa.bindparam("group_buy_id", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("source_key", type_=ARRAY(sa.Text)),
)


@dataclass(frozen=True, slots=True)
class DirectPurchase:
    """One purchase a supplier reported under a contract (supplier programmes), as accepted."""

    line_id: int
    member_id: int
    member_business: bool
    pool: str
    amount_cents: int
    occurred_at: datetime


async def record_direct_purchases(
    session: AsyncSession, purchases: Sequence[DirectPurchase], *, fiscal_year_start_month: int
) -> int:
    """One immutable record per accepted report line (negative for a correction), written once per line."""
    rows = [
        {
            "member_id": p.member_id,
            "member_business": p.member_business,
            "fiscal_year": _fiscal_year(p.occurred_at, fiscal_year_start_month),
            "pool": p.pool,
            "amount_cents": p.amount_cents,
            "occurred_at": p.occurred_at,
            "source": "programme",
            "source_key": f"programme_line:{p.line_id}",
        }
        for p in purchases
    ]
    return await _insert(session, rows, "source_key") if rows else 0


async def record_corrections(
    session: AsyncSession, purchases: Sequence[Purchase], correction_id: int, *, fiscal_year_start_month: int
) -> int:
    """Negative records for purchases a correction gave back (``amount_cents`` is what was given back).

    A correction is a new record, never an edit; it counts in the fiscal year it is made,
    as member business by membership on that date.
    """
    rows = [
        {
            "member_id": p.member.id,
            "member_business": is_member_business(p.member.joined_at, p.member.left_at, p.occurred_at),
            "fiscal_year": _fiscal_year(p.occurred_at, fiscal_year_start_month),
            "pool": p.pool,
            "amount_cents": -p.amount_cents,
            "occurred_at": p.occurred_at,
            "source": "correction",
            "group_buy_id": p.group_buy_id,
            "source_key": f"correction:{correction_id}:member:{p.member.id}:pool:{p.pool}",
        }
        for p in purchases
        if p.amount_cents
    ]
    return await _insert(session, rows, "source_key") if rows else 0


@dataclass(frozen=True, slots=True)
class Sale:
    """A member-supplier's sale through the co-op to record (negative for a correction), under its own key."""

    member: Buyer
    pool: str
    amount_cents: int
    occurred_at: datetime
    group_buy_id: int
    source_key: str


async def record_sales(session: AsyncSession, sales: Sequence[Sale], *, fiscal_year_start_month: int) -> int:
    """One immutable `sale` record per sale or correction; the same key again writes nothing."""
    rows = [
        {
            "member_id": s.member.id,
            "member_business": is_member_business(s.member.joined_at, s.member.left_at, s.occurred_at),
            "fiscal_year": _fiscal_year(s.occurred_at, fiscal_year_start_month),
            "pool": s.pool,
            "amount_cents": s.amount_cents,
            "occurred_at": s.occurred_at,
            "source": "sale",
            "group_buy_id": s.group_buy_id,
            "source_key": s.source_key,
        }
        for s in sales
        if s.amount_cents
    ]
    return await _insert(session, rows, "source_key") if rows else 0


async def sold_in_buy(session: AsyncSession, group_buy_id: int) -> tuple[int, str, int] | None:
    """The seller's net `sale` patronage of one buy: (member, pool, cents), or None if none was recorded."""
    row = (
        await session.execute(
            sa.select(
                col(PatronageRecord.member_id),
                col(PatronageRecord.pool),
                sa.func.sum(col(PatronageRecord.amount_cents)),
            )
            .where(col(PatronageRecord.group_buy_id) == group_buy_id, col(PatronageRecord.source) == "sale")
            .group_by(col(PatronageRecord.member_id), col(PatronageRecord.pool))
        )
    ).first()
    if row is None or row[0] is None:
        return None
    return int(row[0]), str(row[1]), int(row[2])


async def page(
    session: AsyncSession,
    *,
    after_id: int,
    limit: int,
    member_id: int | None = None,
    fiscal_year: int | None = None,
    pool: str | None = None,
    occurred_from: date | None = None,
    occurred_to: date | None = None,
) -> list[PatronageRecord]:
    """Records in id order after a cursor, optionally of one member, fiscal year, pool and UTC days (inclusive)."""
    start, end = utc_day_range(occurred_from, occurred_to)
    query = select(PatronageRecord).where(col(PatronageRecord.id) > after_id)
    if pool is not None:
        query = query.where(col(PatronageRecord.pool) == pool)
    if start is not None:
        query = query.where(col(PatronageRecord.occurred_at) >= start)
    if end is not None:
        query = query.where(col(PatronageRecord.occurred_at) < end)
    if member_id is not None:
        query = query.where(col(PatronageRecord.member_id) == member_id)
    if fiscal_year is not None:
        query = query.where(col(PatronageRecord.fiscal_year) == fiscal_year)
    return list((await session.exec(query.order_by(col(PatronageRecord.id)).limit(limit))).all())


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A purchase made outside the platform (or before it); no member number = non-member business."""

    external_ref: str
    member_number: int | None
    pool: str
    amount_cents: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ImportResult:
    """How many rows were new and how many had been imported before."""

    imported: int
    duplicates: int


async def import_records(
    session: AsyncSession, rows: Sequence[ImportRow], *, fiscal_year_start_month: int, now: datetime
) -> ImportResult:
    """Import history, idempotent by external_ref; any bad row refuses the whole batch (400 listing each).

    A purchase dated after `now` has not happened: it would land in a year not yet closed.
    """
    numbers = sorted({r.member_number for r in rows if r.member_number is not None})
    members = {
        m.member_number: m
        for m in (await session.exec(select(Member).where(col(Member.member_number).in_(numbers)))).all()
    }

    def row_errors(field: str, row: ImportRow) -> list[FieldError]:
        errors: list[FieldError] = []
        if row.member_number is not None and row.member_number not in members:
            errors.append(FieldError(f"{field}.member_number", f"no member number {row.member_number}"))
        errors.extend(pool_errors(row.pool, f"{field}.pool"))
        if row.amount_cents == 0 or abs(row.amount_cents) > MAX_AMOUNT_CENTS:
            errors.append(FieldError(f"{field}.amount_cents", "must be non-zero (negative for a correction)"))
        if row.occurred_at > now:
            errors.append(FieldError(f"{field}.occurred_at", "must not be in the future"))
        return errors

    if errors := import_row_errors(rows, "records", row_errors, unique=(EXTERNAL_REF,)):
        raise InvalidInputError("the patronage import has bad rows; nothing was imported", errors)
    if not rows:
        return ImportResult(0, 0)
    values = []
    for row in rows:
        member = members.get(row.member_number) if row.member_number is not None else None
        values.append(
            {
                "member_id": member.id if member else None,
                "member_business": member is not None
                and is_member_business(member.joined_at, member.left_at, row.occurred_at),
                "fiscal_year": _fiscal_year(row.occurred_at, fiscal_year_start_month),
                "pool": row.pool,
                "amount_cents": row.amount_cents,
                "occurred_at": row.occurred_at,
                "source": "import",
                "external_ref": row.external_ref,
            }
        )
    imported = await _insert(session, values, "external_ref")
    return ImportResult(imported, len(rows) - imported)
