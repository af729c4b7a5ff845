"""Bringing over the equity members already hold from the old records: lots by fiscal year.

All or nothing: every row is checked first and a bad row rejects the whole import;
rows already imported (same external_ref) are counted as duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.equity.rules import lot_year_errors
from domain.equity.tables import EquityLot
from domain.errors import FieldError, InvalidInputError
from domain.import_rows import EXTERNAL_REF, import_row_errors
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import PostingLine, Side
from domain.membership.tables import Member

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class LotRow:
    """One equity lot a member already holds."""

    external_ref: str
    member_number: int
    fiscal_year: int
    qualified: bool
    face_cents: int
    redeemed_cents: int


def lot_row_errors(
    rows: list[LotRow], joined: Mapping[int, date | None], *, today: date, start_month: int
) -> list[FieldError]:
    """Every problem in the lots, row by row; `joined` is when each known member number joined.

    A lot for a fiscal year not yet ended, or one that ended before the member joined,
    is refused (see `lot_year_errors` for why refused rather than warned about).
    """

    def row_errors(at: str, row: LotRow) -> list[FieldError]:
        errors: list[FieldError] = []
        if row.member_number not in joined:
            errors.append(FieldError(f"{at}.member_number", f"no member has number {row.member_number}"))
        if row.fiscal_year < 1900:  # noqa: PLR2004 - a sane oldest year
            errors.append(FieldError(f"{at}.fiscal_year", "must be 1900 or later"))
        else:
            joined_on = joined.get(row.member_number)
            errors += lot_year_errors(at, row.fiscal_year, joined_on=joined_on, today=today, start_month=start_month)
        if row.face_cents <= 0:
            errors.append(FieldError(f"{at}.face_cents", "must be positive"))
        if not 0 <= row.redeemed_cents <= row.face_cents:
            errors.append(FieldError(f"{at}.redeemed_cents", "must be between 0 and face_cents"))
        return errors

    return import_row_errors(rows, "lots", row_errors, unique=(EXTERNAL_REF,))


async def import_lots(
    session: AsyncSession, rows: list[LotRow], *, today: date, fiscal_year_start_month: int
) -> tuple[int, int]:
    """Add the lots with their face and what was already redeemed; returns (imported, duplicates)."""
    numbers = {r.member_number for r in rows}
    found = (await session.exec(select(Member).where(col(Member.member_number).in_(numbers)))).all()
    members = {m.member_number: m for m in found if m.member_number is not None}
    joined = {
        number: m.joined_at.astimezone(UTC).date() if m.joined_at is not None else None for number, m in members.items()
    }
    if errors := lot_row_errors(rows, joined, today=today, start_month=fiscal_year_start_month):
        raise InvalidInputError("the equity import has errors; nothing was imported", errors)
    refs = [r.external_ref for r in rows]
    already = set(
        (await session.exec(select(EquityLot.external_ref).where(col(EquityLot.external_ref).in_(refs)))).all()
    )
    # Every lot moves between the same two accounts: looked up once, not twice a lot.
    opening = await ledger.account_id(session, chart.OPENING_BALANCES)
    retained = await ledger.account_id(session, chart.RETAINED_EQUITY)
    imported = 0
    for row in rows:
        if row.external_ref in already:
            continue
        member = members[row.member_number]
        assert member.id is not None  # noqa: S101 - stored members
        await _add_lot(session, member.id, row, opening=opening, retained=retained)
        imported += 1
    return imported, len(rows) - imported


async def _add_lot(session: AsyncSession, member_id: int, row: LotRow, *, opening: int, retained: int) -> None:
    """The lot's face credited to retained equity, then the lot; what was redeemed before, against the lot."""
    # Lots are dated at their fiscal year's end, so history reads as it happened.
    year_end = datetime(row.fiscal_year, 12, 31, tzinfo=UTC)
    face = await ledger.post_entry(
        session,
        kind="opening_equity_lot",
        idempotency_key=f"import:lot:{row.external_ref}:face",
        occurred_at=year_end,
        lines=[
            PostingLine(opening, Side.DEBIT, row.face_cents),
            PostingLine(retained, Side.CREDIT, row.face_cents),
        ],
        memo=f"retained equity FY{row.fiscal_year} brought over",
    )
    assert face.id is not None  # noqa: S101 - posted
    lot = EquityLot(
        member_id=member_id,
        fiscal_year=row.fiscal_year,
        kind="imported",
        qualified=row.qualified,
        face_cents=row.face_cents,
        entry_id=face.id,
        external_ref=row.external_ref,
    )
    session.add(lot)
    await session.flush()
    assert lot.id is not None  # noqa: S101 - flushed
    if row.redeemed_cents:
        await ledger.post_entry(
            session,
            kind="opening_equity_redeemed",
            idempotency_key=f"import:lot:{row.external_ref}:redeemed",
            occurred_at=year_end,
            lines=[
                PostingLine(retained, Side.DEBIT, row.redeemed_cents, equity_lot_id=lot.id),
                PostingLine(opening, Side.CREDIT, row.redeemed_cents),
            ],
            memo=f"FY{row.fiscal_year} equity redeemed before the move",
        )
