"""Bringing an existing co-op over: its member register and the equity members already hold.

Each import is all or nothing: every row is checked first and a bad row rejects
the whole import with its errors; rows already imported (same external_ref) are
counted as duplicates and left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.equity.tables import EquityLot
from domain.errors import FieldError, InvalidInputError
from domain.identity.rules import credential_errors
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership.rules import Status
from domain.membership.service import grant_bylaw_consent, record_change
from domain.membership.tables import Member

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member of the old register."""

    external_ref: str
    name: str
    email: str
    joined_at: datetime
    status: Status
    share_paid_cents: int
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImportedMember:
    """Where an imported row landed."""

    external_ref: str
    member_id: int
    member_number: int
    duplicate: bool


def member_row_errors(rows: list[MemberRow], par_cents: int) -> list[FieldError]:
    """Every problem in the register, row by row."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        at = f"members[{i}]"
        if row.external_ref in seen:
            errors.append(FieldError(f"{at}.external_ref", "appears twice in this import"))
        seen.add(row.external_ref)
        errors += [
            FieldError(f"{at}.email", e.message) for e in credential_errors(row.email, "x" * 99) if e.field == "email"
        ]
        if row.status not in {Status.FULL, Status.FORMER}:
            errors.append(FieldError(f"{at}.status", "must be full or former"))
        if not 0 <= row.share_paid_cents <= par_cents:
            errors.append(FieldError(f"{at}.share_paid_cents", f"must be between 0 and the par value {par_cents}"))
        if row.status is Status.FORMER and row.left_at is None:
            errors.append(FieldError(f"{at}.left_at", "a former member needs the date it left"))
        if row.status is Status.FULL and row.left_at is not None:
            errors.append(FieldError(f"{at}.left_at", "a full member has not left"))
        if row.left_at is not None and row.left_at < row.joined_at:
            errors.append(FieldError(f"{at}.left_at", "cannot be before joined_at"))
    return errors


async def import_members(session: AsyncSession, rows: list[MemberRow], *, par_cents: int) -> list[ImportedMember]:
    """Add the register's members with their historical dates and paid-in shares."""
    if errors := member_row_errors(rows, par_cents):
        raise InvalidInputError("the member import has errors; nothing was imported", errors)
    existing = {
        m.external_ref: m
        for m in (
            await session.exec(select(Member).where(col(Member.external_ref).in_([r.external_ref for r in rows])))
        ).all()
    }
    results = []
    for row in rows:
        member = existing.get(row.external_ref)
        if member is not None:
            results.append(_landed(row.external_ref, member, duplicate=True))
            continue
        member = await _add_member(session, row, par_cents)
        results.append(_landed(row.external_ref, member, duplicate=False))
    return results


def _landed(ref: str, member: Member, *, duplicate: bool) -> ImportedMember:
    assert member.id is not None  # noqa: S101 - stored members
    assert member.member_number is not None  # noqa: S101
    return ImportedMember(ref, member.id, member.member_number, duplicate)


async def _add_member(session: AsyncSession, row: MemberRow, par_cents: int) -> Member:
    member = Member(
        name=row.name,
        email=row.email.strip().lower(),
        status=row.status.value,
        share_par_cents=par_cents,
        joined_at=row.joined_at,
        left_at=row.left_at,
        external_ref=row.external_ref,
    )
    session.add(member)
    await session.flush()
    await session.refresh(member)
    assert member.id is not None  # noqa: S101 - flushed
    await record_change(
        session,
        member,
        from_status=None,
        to_status=Status.FULL,
        effective_at=row.joined_at,
        reason="imported from the previous register",
        actor_user_id=None,
    )
    await grant_bylaw_consent(session, member, row.joined_at.date())
    if row.status is Status.FORMER and row.left_at is not None:
        await record_change(
            session,
            member,
            from_status=Status.FULL,
            to_status=Status.FORMER,
            effective_at=row.left_at,
            reason="imported from the previous register",
            actor_user_id=None,
        )
    if row.share_paid_cents:
        await ledger.transfer(
            session,
            debit=chart.OPENING_BALANCES,
            credit=chart.member_share(member.id),
            amount_cents=row.share_paid_cents,
            kind="opening_share",
            idempotency_key=f"import:member:{row.external_ref}:share",
            occurred_at=row.joined_at,
            memo="membership share paid before the move",
        )
    return member


@dataclass(frozen=True, slots=True)
class LotRow:
    """One equity lot a member already holds."""

    external_ref: str
    member_number: int
    fiscal_year: int
    qualified: bool
    face_cents: int
    redeemed_cents: int


def lot_row_errors(rows: list[LotRow], known_numbers: set[int], this_year: int) -> list[FieldError]:
    """Every problem in the lots, row by row."""
    errors: list[FieldError] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        at = f"lots[{i}]"
        if row.external_ref in seen:
            errors.append(FieldError(f"{at}.external_ref", "appears twice in this import"))
        seen.add(row.external_ref)
        if row.member_number not in known_numbers:
            errors.append(FieldError(f"{at}.member_number", f"no member has number {row.member_number}"))
        if not 1900 <= row.fiscal_year <= this_year:  # noqa: PLR2004 - a sane oldest year
            errors.append(FieldError(f"{at}.fiscal_year", f"must be a past fiscal year (1900..{this_year})"))
        if row.face_cents <= 0:
            errors.append(FieldError(f"{at}.face_cents", "must be positive"))
        if not 0 <= row.redeemed_cents <= row.face_cents:
            errors.append(FieldError(f"{at}.redeemed_cents", "must be between 0 and face_cents"))
    return errors


async def import_lots(session: AsyncSession, rows: list[LotRow], *, today: date) -> tuple[int, int]:
    """Add the lots with their face and what was already redeemed; returns (imported, duplicates)."""
    numbers = {r.member_number for r in rows}
    found = (await session.exec(select(Member).where(col(Member.member_number).in_(numbers)))).all()
    members = {m.member_number: m for m in found if m.member_number is not None}
    if errors := lot_row_errors(rows, set(members), today.year):
        raise InvalidInputError("the equity import has errors; nothing was imported", errors)
    refs = [r.external_ref for r in rows]
    already = set(
        (await session.exec(select(EquityLot.external_ref).where(col(EquityLot.external_ref).in_(refs)))).all()
    )
    imported = 0
    for row in rows:
        if row.external_ref in already:
            continue
        member = members[row.member_number]
        assert member.id is not None  # noqa: S101 - stored members
        await _add_lot(session, member.id, row)
        imported += 1
    return imported, len(rows) - imported


async def _add_lot(session: AsyncSession, member_id: int, row: LotRow) -> None:
    lot = EquityLot(
        member_id=member_id,
        fiscal_year=row.fiscal_year,
        kind="imported",
        qualified=row.qualified,
        external_ref=row.external_ref,
    )
    session.add(lot)
    await session.flush()
    assert lot.id is not None  # noqa: S101 - flushed
    spec = chart.equity_lot(member_id, lot.id)
    lot.account_id = await ledger.account_id(session, spec)
    session.add(lot)
    # Lots are dated at their fiscal year's end, so history reads as it happened.
    year_end = datetime(row.fiscal_year, 12, 31, tzinfo=UTC)
    await ledger.transfer(
        session,
        debit=chart.OPENING_BALANCES,
        credit=spec,
        amount_cents=row.face_cents,
        kind="opening_equity_lot",
        idempotency_key=f"import:lot:{row.external_ref}:face",
        occurred_at=year_end,
        memo=f"retained equity FY{row.fiscal_year} brought over",
    )
    if row.redeemed_cents:
        await ledger.transfer(
            session,
            debit=spec,
            credit=chart.OPENING_BALANCES,
            amount_cents=row.redeemed_cents,
            kind="opening_equity_redeemed",
            idempotency_key=f"import:lot:{row.external_ref}:redeemed",
            occurred_at=year_end,
            memo=f"FY{row.fiscal_year} equity redeemed before the move",
        )
