"""Bringing an existing co-op over: its member register (equity lots: domain/equity/imports.py).

Each import is all or nothing: every row is checked first and a bad row rejects
the whole import with its errors; rows already imported (same external_ref) are
counted as duplicates and left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col

from domain.db import utc_now
from domain.errors import ConflictError, FieldConflictError, FieldError, InvalidInputError
from domain.import_rows import EXTERNAL_REF, UniqueKey, import_row_errors
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.membership.rules import Status, email_errors, normalize_email
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


def member_row_errors(rows: list[MemberRow], par_cents: int, *, now: datetime) -> list[FieldError]:
    """Every problem in the register, row by row."""

    def row_errors(at: str, row: MemberRow) -> list[FieldError]:
        errors = _future_errors(at, row, now)
        errors += email_errors(row.email, f"{at}.email")
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

    return import_row_errors(rows, "members", row_errors, unique=(EXTERNAL_REF, _EMAIL))


def _email(row: MemberRow) -> str:
    return normalize_email(row.email)


_EMAIL = UniqueKey("email", _email, "appears twice in this import (e-mails compare in any case)")


def _future_errors(at: str, row: MemberRow, now: datetime) -> list[FieldError]:
    """A register records the past: nobody joined or left after this moment."""
    return [
        FieldError(f"{at}.{field}", "is in the future; a register records what already happened")
        for field, moment in (("joined_at", row.joined_at), ("left_at", row.left_at))
        if moment is not None and moment > now
    ]


async def import_members(
    session: AsyncSession, rows: list[MemberRow], *, par_cents: int, now: datetime | None = None
) -> list[ImportedMember]:
    """Add the register's members with their historical dates and paid-in shares, set-based.

    One statement per table, each taking the rows as arrays (unnest): members, status
    history, consents, share accounts, journal entries, postings. A row another
    import wrote at the same moment is reported as a duplicate.
    """
    if errors := member_row_errors(rows, par_cents, now=now or utc_now()):
        raise InvalidInputError("the member import has errors; nothing was imported", errors)
    landed = await _landed_by_ref(session, [r.external_ref for r in rows])
    new_rows = [r for r in rows if r.external_ref not in landed]
    await _refuse_registered_emails(session, rows, new_rows)
    created: dict[str, tuple[int, int]] = {}
    if new_rows:
        result = await session.execute(
            _MEMBERS,
            {
                "names": [r.name for r in new_rows],
                "emails": [normalize_email(r.email) for r in new_rows],
                "statuses": [r.status.value for r in new_rows],
                "joined": [r.joined_at for r in new_rows],
                "left": [r.left_at for r in new_rows],
                "refs": [r.external_ref for r in new_rows],
                "par": par_cents,
            },
        )
        created = {str(ref): (int(mid), int(number)) for ref, mid, number in result.all()}
    if len(created) < len(new_rows):  # written by a concurrent import: duplicates now
        landed |= await _landed_by_ref(session, [r.external_ref for r in new_rows if r.external_ref not in created])
    written = [(r, created[r.external_ref][0]) for r in new_rows if r.external_ref in created]
    await _add_history(session, written)
    await _post_opening_shares(session, [(r, mid) for r, mid in written if r.share_paid_cents])
    return [
        ImportedMember(r.external_ref, *created[r.external_ref], duplicate=False)
        if r.external_ref in created
        else ImportedMember(r.external_ref, *landed[r.external_ref], duplicate=True)
        for r in rows
    ]


_REASON = "imported from the previous register"

# WITH ORDINALITY ... ORDER BY: member numbers (a sequence default) follow the register's order.
_MEMBERS = sa.text("""
INSERT INTO member (name, email, status, share_par_cents, joined_at, left_at, external_ref)
SELECT name, email, status, :par, joined_at, left_at, external_ref
  FROM unnest(CAST(:names AS text[]), CAST(:emails AS text[]), CAST(:statuses AS text[]),
              CAST(:joined AS timestamptz[]), CAST(:left AS timestamptz[]), CAST(:refs AS text[]))
       WITH ORDINALITY AS r(name, email, status, joined_at, left_at, external_ref, ord)
 ORDER BY ord
ON CONFLICT (external_ref) DO NOTHING
RETURNING external_ref, id, member_number
""")

_HISTORY = sa.text("""
INSERT INTO member_status_change (member_id, from_status, to_status, effective_at, reason)
SELECT member_id, from_status, to_status, effective_at, :reason
  FROM unnest(CAST(:members AS bigint[]), CAST(:froms AS text[]), CAST(:tos AS text[]), CAST(:ats AS timestamptz[]))
       AS r(member_id, from_status, to_status, effective_at)
""")

_CONSENTS = sa.text("""
INSERT INTO member_consent (member_id, kind, received_on)
SELECT member_id, 'bylaw', received_on
  FROM unnest(CAST(:members AS bigint[]), CAST(:days AS date[])) AS r(member_id, received_on)
ON CONFLICT ON CONSTRAINT uq_member_consent_member_kind DO NOTHING
""")

_ACCOUNTS = sa.text("""
INSERT INTO ledger_account (code, name, kind, member_id)
SELECT code, :name, :kind, member_id
  FROM unnest(CAST(:codes AS text[]), CAST(:members AS bigint[])) AS r(code, member_id)
ON CONFLICT (code) DO NOTHING
""")

_ENTRIES = sa.text("""
INSERT INTO journal_entry (kind, memo, occurred_at, idempotency_key)
SELECT 'opening_share', :memo, occurred_at, key
  FROM unnest(CAST(:keys AS text[]), CAST(:ats AS timestamptz[])) AS r(key, occurred_at)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
""")

# Both legs of every entry: opening balances debited, the member's share account credited.
_POSTINGS = sa.text("""
WITH r AS (
  SELECT e.id AS entry_id, a.id AS share_id, r.amount
    FROM unnest(CAST(:keys AS text[]), CAST(:codes AS text[]), CAST(:amounts AS bigint[])) AS r(key, code, amount)
    JOIN journal_entry e ON e.idempotency_key = r.key
    JOIN ledger_account a ON a.code = r.code
)
INSERT INTO posting (entry_id, account_id, side, amount_cents)
SELECT entry_id, :opening, 'debit', amount FROM r
UNION ALL
SELECT entry_id, share_id, 'credit', amount FROM r
""")


async def _refuse_registered_emails(session: AsyncSession, rows: list[MemberRow], new_rows: list[MemberRow]) -> None:
    """A new row naming an e-mail another member already has is refused, by its row number (409).

    The unique constraint on member.email closes the race with a concurrent registration.
    """
    emails = [normalize_email(r.email) for r in new_rows]
    if not emails:
        return
    taken = set(
        (
            await session.execute(
                sa.select(col(Member.email)).where(col(Member.email) == sa.any_(sa.literal(emails, ARRAY(sa.String))))
            )
        )
        .scalars()
        .all()
    )
    fresh = {r.external_ref for r in new_rows}
    errors = [
        FieldError(f"members[{i}].email", "another member is registered with this e-mail address")
        for i, row in enumerate(rows)
        if row.external_ref in fresh and normalize_email(row.email) in taken
    ]
    if errors:
        msg = "rows name e-mail addresses other members already have; nothing was imported"
        raise FieldConflictError(msg, errors, code="member_email_taken")


async def _landed_by_ref(session: AsyncSession, refs: list[str]) -> dict[str, tuple[int, int]]:
    """(id, member number) of the members already imported under these refs."""
    found = await session.execute(
        sa.select(col(Member.external_ref), col(Member.id), col(Member.member_number)).where(
            col(Member.external_ref) == sa.any_(sa.literal(refs, ARRAY(sa.String)))
        )
    )
    return {str(ref): (int(mid), int(number)) for ref, mid, number in found.all()}


async def _add_history(session: AsyncSession, written: list[tuple[MemberRow, int]]) -> None:
    """Each member became full when it joined (consenting by bylaw), and former ones left."""
    if not written:
        return
    changes: list[tuple[int, str | None, str, datetime]] = []
    for row, member_id in written:
        changes.append((member_id, None, Status.FULL.value, row.joined_at))
        if row.status is Status.FORMER and row.left_at is not None:
            changes.append((member_id, Status.FULL.value, Status.FORMER.value, row.left_at))
    members, froms, tos, ats = (list(column) for column in zip(*changes, strict=True))
    await session.execute(_HISTORY, {"members": members, "froms": froms, "tos": tos, "ats": ats, "reason": _REASON})
    await session.execute(
        _CONSENTS, {"members": [mid for _, mid in written], "days": [row.joined_at.date() for row, _ in written]}
    )


async def _post_opening_shares(session: AsyncSession, paid: list[tuple[MemberRow, int]]) -> None:
    """One balanced entry per member that had paid into its share: opening balances to the share account.

    The same accounts, keys and amounts `ledger.transfer` wrote row by row.
    """
    if not paid:
        return
    opening = await ledger.account_id(session, chart.OPENING_BALANCES)
    await ledger.lock_accounts(session, [opening])
    specs = [chart.member_share(mid) for _, mid in paid]
    codes = [spec.code for spec in specs]
    await session.execute(
        _ACCOUNTS,
        {"codes": codes, "members": [mid for _, mid in paid], "name": specs[0].name, "kind": specs[0].kind.value},
    )
    keys = [_share_key(row) for row, _ in paid]
    result = await session.execute(
        _ENTRIES,
        {"keys": keys, "ats": [row.joined_at for row, _ in paid], "memo": "membership share paid before the move"},
    )
    if len(result.all()) < len(paid):  # a key from an earlier move names another member's share
        msg = "opening share entries of this import were already posted; nothing was imported"
        raise ConflictError(msg)
    await session.execute(
        _POSTINGS,
        {"keys": keys, "codes": codes, "amounts": [row.share_paid_cents for row, _ in paid], "opening": opening},
    )


def _share_key(row: MemberRow) -> str:
    return f"import:member:{row.external_ref}:share"
