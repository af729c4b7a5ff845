"""Read-only lists: a member's own notices, payouts and redemptions; staff's lists of year-end runs.

A member's users see their own member's only (another member's id is not found); staff
see any member's. Nothing here writes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from api.auth import check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import FIRST_YEAR, LAST_YEAR
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, problems
from api.routes.allocation import RunOut, RunStatusName, run_out
from api.routes.payouts import PayoutOut
from api.routes.payouts import _shape as payout_out
from api.routes.redemption import RedemptionRunOut, RedemptionStatusName
from api.routes.redemption import _run_out as redemption_run_out
from domain.allocation import listing as allocation_listing
from domain.equity import listing as equity_listing
from domain.membership import service as membership
from domain.payments import service as payments
from domain.payments.rules import PayoutKind, PayoutStatus

FiscalYear = Annotated[int | None, Parameter(ge=FIRST_YEAR, le=LAST_YEAR, description="only this fiscal year")]


class NoticeOut(msgspec.Struct):
    """The member's figures in a posted allocation run; `notice_url` is its written notice (JSON or PDF)."""

    run_id: str
    fiscal_year: int
    payment_date: date
    patronage_cents: int
    allocation_cents: int
    cash_cents: int
    retained_cents: int
    qualified: bool
    loan_repayment_cents: int
    notice_url: str


class RedemptionOut(msgspec.Struct):
    """What one of the member's lots gave up in a posted redemption run."""

    run_id: str
    method: Literal["fifo", "percentage"]
    as_of: date
    posted_at: datetime | None
    lot_id: str
    fiscal_year: int
    qualified: bool
    amount_cents: int


async def _visible_member(db: DbSession, caller: Caller, member_id: str) -> int:
    mid = path_id(member_id, "member")
    check_member_access(caller, mid)
    await membership.get(db, mid)
    return mid


@get(
    "/v1/members/{member_id:str}/notices",
    access=staff_or_members,
    tags=["members"],
    summary="The member's notices of allocation",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def member_notices(
    member_id: FromPath[str], db: DbSession, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> Page[NoticeOut]:
    """One per posted allocation run that allocated the member something, oldest run first."""
    mid = await _visible_member(db, caller, member_id)
    rows = await allocation_listing.member_notices(db, mid, after_run_id=after_id(cursor), limit=limit)
    items = [
        NoticeOut(
            run_id=str(run.id),
            fiscal_year=run.fiscal_year,
            payment_date=run.payment_date,
            patronage_cents=line.patronage_cents,
            allocation_cents=line.allocation_cents,
            cash_cents=line.cash_cents,
            retained_cents=line.retained_cents,
            qualified=line.qualified,
            loan_repayment_cents=line.loan_deduction_cents,
            notice_url=f"/v1/allocation-runs/{run.id}/notices/{mid}",
        )
        for run, line in rows
    ]
    return Page(items, next_cursor([run.id for run, _ in rows if run.id is not None], limit))


@get(
    "/v1/members/{member_id:str}/payouts",
    access=staff_or_members,
    tags=["members"],
    summary="The member's payouts",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def member_payouts(
    member_id: FromPath[str],
    db: DbSession,
    caller: Caller,
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[PayoutStatus | None, Parameter(description="only payouts in this status")] = None,
    kind: Annotated[PayoutKind | None, Parameter(description="only payouts of this kind")] = None,
) -> Page[PayoutOut]:
    """Dividend cash and redemptions owed to the member, oldest first; each one's history is at /v1/payouts/{id}."""
    mid = await _visible_member(db, caller, member_id)
    rows = await payments.page(db, status=status, kind=kind, member_id=mid, after_id=after_id(cursor), limit=limit)
    since = await payments.status_since(db, rows)
    return Page(
        [payout_out(p, since[p.id]) for p in rows if p.id is not None],
        next_cursor([p.id for p in rows if p.id is not None], limit),
    )


@get(
    "/v1/members/{member_id:str}/redemptions",
    access=staff_or_members,
    tags=["members"],
    summary="The member's equity redemptions",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def member_redemptions(
    member_id: FromPath[str], db: DbSession, caller: Caller, limit: Limit = 50, cursor: Cursor = None
) -> Page[RedemptionOut]:
    """Each of the member's lots redeemed by a posted redemption run, in the order the runs redeemed them."""
    mid = await _visible_member(db, caller, member_id)
    rows = await equity_listing.member_redemptions(db, mid, after_id=after_id(cursor), limit=limit)
    items = [
        RedemptionOut(
            run_id=str(run.id),
            method="fifo" if run.method == "fifo" else "percentage",
            as_of=run.as_of,
            posted_at=run.posted_at,
            lot_id=str(line.lot_id),
            fiscal_year=line.fiscal_year,
            qualified=line.qualified,
            amount_cents=line.amount_cents,
        )
        for line, run in rows
    ]
    return Page(items, next_cursor([line.id for line, _ in rows if line.id is not None], limit))


@get(
    "/v1/allocation-runs",
    access=staff_only,
    tags=["year-end"],
    summary="List allocation runs",
    responses=problems(400, *AUTHENTICATED),
)
async def list_allocation_runs(
    db: DbSession,
    limit: Limit = 50,
    cursor: Cursor = None,
    fiscal_year: FiscalYear = None,
    status: Annotated[RunStatusName | None, Parameter(description="only runs in this status")] = None,
) -> Page[RunOut]:
    """Oldest first, with their totals once computed."""
    runs = await allocation_listing.run_page(
        db, after_id=after_id(cursor), limit=limit, fiscal_year=fiscal_year, status=status
    )
    return Page([run_out(r) for r in runs], next_cursor([r.id for r in runs if r.id is not None], limit))


@get(
    "/v1/redemption-runs",
    access=staff_only,
    tags=["redemption"],
    summary="List redemption runs",
    responses=problems(400, *AUTHENTICATED),
)
async def list_redemption_runs(
    db: DbSession,
    state: State,
    *,
    limit: Limit = 50,
    cursor: Cursor = None,
    status: Annotated[RedemptionStatusName | None, Parameter(description="only runs in this status")] = None,
    method: Annotated[Literal["fifo", "percentage"] | None, Parameter(description="only runs of this method")] = None,
    fiscal_year: Annotated[
        int | None,
        Parameter(ge=FIRST_YEAR, le=LAST_YEAR, description="only runs whose `as_of` falls in this fiscal year"),
    ] = None,
) -> Page[RedemptionRunOut]:
    """Oldest first; computed runs are proposals until approved (posted)."""
    runs = await equity_listing.run_page(
        db,
        after_id=after_id(cursor),
        limit=limit,
        status=status,
        method=method,
        fiscal_year=fiscal_year,
        fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
    )
    return Page([redemption_run_out(r) for r in runs], next_cursor([r.id for r in runs if r.id is not None], limit))
