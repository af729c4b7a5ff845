"""Bringing an existing co-op over: the member register and existing equity lots."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import post
from litestar.datastructures import State
from litestar.params import JSONBody

from api.auth import staff_only
from api.deps import DbSession
from api.fields import Cents, Email, FiscalYear, MemberNumber, Moment, Text
from api.problems import POSTED, problems
from domain.equity import imports as lot_imports
from domain.membership import imports
from domain.membership.rules import Status

Ref = Text
MAX_ROWS = 10_000


class MemberRowIn(msgspec.Struct, forbid_unknown_fields=True):
    """One member of the old register."""

    external_ref: Ref
    name: Text
    email: Email
    joined_at: Moment
    status: Literal["full", "former"]
    share_paid_cents: Cents
    left_at: Moment | None = None


class MemberImport(msgspec.Struct, forbid_unknown_fields=True):
    """The register, at most 10,000 rows per call."""

    members: Annotated[list[MemberRowIn], msgspec.Meta(min_length=1, max_length=MAX_ROWS)]


class ImportedMemberOut(msgspec.Struct):
    """Where a row landed: its id and member number."""

    external_ref: str
    id: str
    member_number: int


class MemberImportResult(msgspec.Struct):
    """How many rows were new, how many were already there."""

    imported: int
    duplicates: int
    members: list[ImportedMemberOut]


class LotRowIn(msgspec.Struct, forbid_unknown_fields=True):
    """One equity lot a member already holds."""

    external_ref: Ref
    member_number: MemberNumber
    fiscal_year: FiscalYear
    qualified: bool
    face_cents: Cents
    redeemed_cents: Cents


class LotImport(msgspec.Struct, forbid_unknown_fields=True):
    """The lots, at most 10,000 rows per call."""

    lots: Annotated[list[LotRowIn], msgspec.Meta(min_length=1, max_length=MAX_ROWS)]


class LotImportResult(msgspec.Struct):
    """How many lots were new, how many were already there."""

    imported: int
    duplicates: int


def _aware(moment: datetime) -> datetime:
    """Dates without a zone are taken as UTC, as API.md's times are."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@post(
    "/v1/members/imports",
    status_code=200,
    access=staff_only,
    tags=["imports"],
    summary="Import the member register",
    responses=problems(*POSTED),
)
async def import_members(data: JSONBody[MemberImport], db: DbSession, state: State) -> MemberImportResult:
    """Idempotent by external_ref; any bad row rejects the whole import (400, rows listed).

    A row naming an e-mail another member already has is a 409 naming the row's `email`.
    """
    rows = [
        imports.MemberRow(
            r.external_ref,
            r.name,
            r.email,
            _aware(r.joined_at),
            Status(r.status),
            r.share_paid_cents,
            _aware(r.left_at) if r.left_at else None,
        )
        for r in data.members
    ]
    landed = await imports.import_members(
        db, rows, par_cents=state.settings.policy.share_par_cents, now=datetime.now(UTC)
    )
    return MemberImportResult(
        imported=sum(not m.duplicate for m in landed),
        duplicates=sum(m.duplicate for m in landed),
        members=[ImportedMemberOut(m.external_ref, str(m.member_id), m.member_number) for m in landed],
    )


@post(
    "/v1/equity/imports",
    status_code=200,
    access=staff_only,
    tags=["imports"],
    summary="Import existing equity lots",
    responses=problems(*POSTED),
)
async def import_lots(data: JSONBody[LotImport], db: DbSession, state: State) -> LotImportResult:
    """Idempotent by external_ref; lots keep their fiscal year for FIFO redemption.

    400 naming the row and field for a lot of a fiscal year not yet ended, or one
    that ended before the member joined.
    """
    rows = [
        lot_imports.LotRow(r.external_ref, r.member_number, r.fiscal_year, r.qualified, r.face_cents, r.redeemed_cents)
        for r in data.lots
    ]
    imported, duplicates = await lot_imports.import_lots(
        db,
        rows,
        today=datetime.now(UTC).date(),
        fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
    )
    return LotImportResult(imported, duplicates)
