"""Bringing an existing co-op over: its member register (equity lots: domain/equity/imports.py).

Each import is all or nothing: every row is checked first and a bad row rejects
the whole import with its errors; rows already imported (same external_ref) are
counted as duplicates and left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from domain.errors import FieldError, InvalidInputError
from domain.identity.rules import credential_errors
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership.rules import Status
from domain.membership.service import grant_bylaw_consent, record_change
from domain.membership.tables import Member

if TYPE_CHECKING:
    from datetime import datetime

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
