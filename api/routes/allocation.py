"""Year-end allocation runs, their notices, reconciliation and Form 1099-PATR data."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, JSONBody, Parameter

from api.accept import negotiate
from api.auth import check_member_access, staff_only
from api.deps import Caller, DbSession
from api.fields import FIRST_YEAR, LAST_YEAR, FiscalYear, Rate, ShortText, SignedCents
from api.fields import Cents as Amount
from api.fields import Day as BusinessDay
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.pdf import text_pdf
from api.problems import AUTHENTICATED, POSTED, problems
from domain.allocation import posting, reports
from domain.allocation import service as allocation
from domain.allocation.tables import AllocationLine, AllocationRun

Cents = SignedCents


class PoolMargin(msgspec.Struct, forbid_unknown_fields=True):
    """A pool's net margin from business with patrons (negative = a loss)."""

    pool: ShortText
    net_margin_cents: Cents


class FundIn(msgspec.Struct, forbid_unknown_fields=True):
    """A fund taken from the member share, CEIL(M * rate)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")]
    rate: Rate
    indivisible: bool


class BaseCapitalIn(msgspec.Struct, forbid_unknown_fields=True):
    """Base capital plan: members retain up to CEIL(k x average patronage of the last `years` years)."""

    k: Rate = Decimal("0.10")
    years: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    """The board's policy; a profile's presets with these fields over them."""

    cash_rate: Rate
    profile: Literal["us", "mondragon", "italy", "spain", "france_scop"] | None = None
    min_allocation_cents: Amount | None = None
    rounding: Literal["largest_remainder", "residue_to_reserve"] | None = None
    funds: list[FundIn] | None = None
    base_capital: BaseCapitalIn | None = None


class RunIn(msgspec.Struct, forbid_unknown_fields=True):
    """What staff enter from the year's accounts."""

    fiscal_year: FiscalYear
    pools: Annotated[list[PoolMargin], msgspec.Meta(min_length=1, max_length=100)]
    payment_date: BusinessDay
    policy: PolicyIn
    nonpatronage_income_cents: Amount = 0


class FundOut(msgspec.Struct):
    """A fund's amount for the year."""

    name: str
    amount_cents: int


class Totals(msgspec.Struct):
    """The run's totals; cash + retained + funds + unallocated equals the margin."""

    net_margin_cents: int
    member_share_cents: int
    nonmember_share_cents: int
    funds: list[FundOut]
    allocated_cents: int
    cash_cents: int
    retained_cents: int
    unallocated_cents: int
    de_minimis_cents: int
    deficit_recovered_cents: int
    loss_cents: int
    deficit_carried_forward_cents: int


class RunOut(msgspec.Struct):
    """An allocation run; totals are null until computed."""

    id: str
    fiscal_year: int
    status: Literal["computing", "computed", "posted", "failed"]
    payment_date: date
    totals: Totals | None
    failure_reason: str | None


class AllocationLineOut(msgspec.Struct):
    """One member's line; members below the minimum show allocation 0."""

    member_id: str
    member_number: int
    patronage_cents: int
    allocation_cents: int
    cash_cents: int
    retained_cents: int
    qualified: bool
    loan_repayment_cents: int


class ReconciliationOut(msgspec.Struct):
    """From the ledger: balanced only when everything adds up to the margin, to the cent."""

    fiscal_year: int
    run_id: str | None
    net_margin_cents: int
    cash_cents: int
    retained_cents: int
    funds_cents: int
    unallocated_cents: int
    total_cents: int
    difference_cents: int
    payouts_by_status: dict[str, int]
    balanced: bool


def run_out(run: AllocationRun) -> RunOut:
    """The public view of a run."""
    t: dict[str, Any] | None = run.totals
    totals = None
    if t is not None:
        totals = Totals(
            net_margin_cents=t["net_margin_cents"],
            member_share_cents=t["member_share_cents"],
            nonmember_share_cents=t["nonmember_share_cents"],
            funds=[FundOut(f["name"], f["amount_cents"]) for f in t["funds"]],
            allocated_cents=t["allocated_cents"],
            cash_cents=t["cash_cents"],
            retained_cents=t["retained_cents"],
            unallocated_cents=t["unallocated_cents"],
            de_minimis_cents=t["de_minimis_cents"],
            deficit_recovered_cents=t["deficit_recovered_cents"],
            loss_cents=t["loss_cents"],
            deficit_carried_forward_cents=t["deficit_carried_forward_cents"],
        )
    return RunOut(str(run.id), run.fiscal_year, run.status, run.payment_date, totals, run.failure_reason)  # type: ignore[arg-type]


def _line_out(line: AllocationLine) -> AllocationLineOut:
    return AllocationLineOut(
        str(line.member_id),
        line.member_number,
        line.patronage_cents,
        line.allocation_cents,
        line.cash_cents,
        line.retained_cents,
        line.qualified,
        line.loan_deduction_cents,
    )


@post(
    "/v1/allocation-runs",
    status_code=202,
    guards=[staff_only],
    tags=["year-end"],
    summary="Start an allocation run",
    responses=problems(*POSTED),
)
async def start_run(data: JSONBody[RunIn], db: DbSession, caller: Caller) -> RunOut:
    """Stored as `computing`; a worker computes it from the year's patronage. Poll until it is not computing."""
    request = msgspec.to_builtins(data)
    run = await allocation.start(
        db, fiscal_year=data.fiscal_year, request=request, payment_date=data.payment_date, actor=caller.user_id
    )
    return run_out(run)


@get(
    "/v1/allocation-runs/{run_id:str}",
    guards=[staff_only],
    tags=["year-end"],
    summary="An allocation run",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def show_run(run_id: FromPath[str], db: DbSession) -> RunOut:
    """Status and totals."""
    return run_out(await allocation.get(db, path_id(run_id, "allocation run")))


@get(
    "/v1/allocation-runs/{run_id:str}/lines",
    guards=[staff_only],
    tags=["year-end"],
    summary="A run's lines",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def run_lines(
    run_id: FromPath[str], db: DbSession, limit: Limit = 100, cursor: Cursor = None
) -> Page[AllocationLineOut]:
    """Per member, in member-number order."""
    lines = await allocation.lines(
        db, path_id(run_id, "allocation run"), after_member_number=after_id(cursor), limit=limit
    )
    return Page([_line_out(line) for line in lines], next_cursor([line.member_number for line in lines], limit))


@post(
    "/v1/allocation-runs/{run_id:str}/approve",
    status_code=200,
    guards=[staff_only],
    tags=["year-end"],
    summary="Approve and post a run",
    responses=problems(404, *POSTED),
)
async def approve_run(run_id: FromPath[str], db: DbSession) -> RunOut:
    """Posts equity lots, cash payouts, funds and unallocated equity once; approving again changes nothing."""
    return run_out(await posting.approve(db, path_id(run_id, "allocation run")))


# What a notice can be, the default first.
NOTICE_TYPES = ("application/json", "application/pdf")


@get(
    "/v1/allocation-runs/{run_id:str}/notices/{member_id:str}",
    tags=["year-end"],
    summary="Written notice of allocation",
    responses=problems(400, 404, *AUTHENTICATED),
    description="JSON by default; a PDF with `Accept: application/pdf`.",
)
async def notice(
    run_id: FromPath[str], member_id: FromPath[str], db: DbSession, caller: Caller, request: Request[Any, Any, Any]
) -> Response[Any]:
    """Staff, and the member's own users."""
    mid = path_id(member_id, "member")
    check_member_access(caller, mid)
    found = await reports.notice(db, path_id(run_id, "allocation run"), mid)
    body = reports.notice_json(found)
    if negotiate(request.headers.get("accept"), NOTICE_TYPES) == "application/pdf":
        return Response(
            text_pdf(f"Written notice of allocation - fiscal year {body['fiscal_year']}", _notice_lines(body)),
            media_type="application/pdf",
        )
    return Response(body)


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}" if cents >= 0 else f"-${-cents / 100:,.2f}"


def _notice_lines(body: dict[str, Any]) -> list[str]:
    status = "QUALIFIED" if body["qualified"] else "NON-QUALIFIED"
    return [
        f"Member: {body['member_name']} (member no. {body['member_number']})",
        f"Fiscal year: {body['fiscal_year']}",
        f"Your patronage (purchases through the co-op): {_money(body['patronage_cents'])}",
        f"Stated patronage dividend allocated to you: {_money(body['stated_allocation_cents'])}",
        f"  of which from patronage sources: {_money(body['patronage_portion_cents'])}",
        f"  paid in cash: {_money(body['cash_cents'])}",
        f"  applied to your membership share: {_money(body['loan_repayment_cents'])}",
        f"  retained in your capital account: {_money(body['retained_cents'])}",
        f"Notice status: {status} written notice of allocation (IRC section 1388)",
        f"Payment date: {body['payment_date']} (payment period ends {body['payment_period_end']})",
    ]


@get(
    "/v1/fiscal-years/{fiscal_year:int}/reconciliation",
    guards=[staff_only],
    tags=["year-end"],
    summary="Year-end reconciliation",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def reconcile(
    fiscal_year: Annotated[int, Parameter(ge=FIRST_YEAR, le=LAST_YEAR)], db: DbSession
) -> ReconciliationOut:
    """Totals from the ledger that must add up to the margin; `balanced` only when they do."""
    r = await reports.reconciliation(db, fiscal_year)
    return ReconciliationOut(
        r.fiscal_year,
        str(r.run_id) if r.run_id else None,
        r.net_margin_cents,
        r.cash_cents,
        r.retained_cents,
        r.funds_cents,
        r.unallocated_cents,
        r.total_cents,
        r.difference_cents,
        r.payouts,
        r.balanced,
    )


@get(
    "/v1/reports/1099-patr",
    guards=[staff_only],
    tags=["year-end"],
    summary="Form 1099-PATR data",
    media_type="text/csv",
    responses=problems(400, *AUTHENTICATED),
)
async def form_1099_patr(
    db: DbSession, calendar_year: Annotated[int, Parameter(ge=FIRST_YEAR, le=LAST_YEAR)]
) -> Response[str]:
    """One row per recipient with box 1 and box 5 at or above $10, for the calendar year of payment."""
    rows = await reports.form_1099_patr(db, calendar_year)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "calendar_year",
            "member_id",
            "member_number",
            "box1_patronage_dividends_cents",
            "box5_redemption_nonqualified_cents",
        ]
    )
    for row in rows:
        writer.writerow([row.calendar_year, row.member_key, row.member_number, row.box1_cents, row.box5_cents])
    return Response(out.getvalue(), media_type="text/csv")
