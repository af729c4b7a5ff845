"""Year-end allocation runs, their notices, reconciliation and Form 1099-PATR data."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIType
from litestar.params import FromPath, JSONBody, Parameter

from api.accept import negotiate
from api.auth import check_member_access, staff_only
from api.deps import Caller, DbSession
from api.fields import END, FIRST_YEAR, LAST_YEAR, FiscalYear, Rate, ShortText, SignedCents
from api.fields import Cents as Amount
from api.fields import Day as BusinessDay
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.pdf import notice_pdf
from api.problems import AUTHENTICATED, POSTED, problems
from domain.allocation import posting, reports
from domain.allocation import service as allocation
from domain.allocation.rules import AllocationRunStatus
from domain.allocation.views import AllocationLineView, AllocationRunView
from domain.errors import FieldError, InvalidInputError

Cents = SignedCents


class PoolMargin(msgspec.Struct, forbid_unknown_fields=True):
    """A pool's net margin from business with patrons (negative = a loss); left out when read from the books."""

    pool: ShortText
    net_margin_cents: Cents | None = None


class FundIn(msgspec.Struct, forbid_unknown_fields=True):
    """A fund taken from the member share, CEIL(M * rate)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=rf"^[a-z0-9_]+{END}")]
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
    margin_source: Literal["typed", "books"] = "typed"


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


# The wire spelling of domain.allocation.rules.AllocationRunStatus (a test keeps the two equal).
RunStatusName = Literal["computing", "computed", "posted", "failed"]


class MarginFromBooksOut(msgspec.Struct):
    """How a pool's net margin was read from the books: programme margin + group-buy markup - expenses."""

    pool: str
    rebate_income_cents: int
    fee_income_cents: int
    pass_through_cents: int
    group_buy_sales_cents: int
    group_buy_cost_cents: int
    group_buy_markup_cents: int
    expenses_cents: int
    net_margin_cents: int


class RunOut(msgspec.Struct):
    """An allocation run; totals are null until computed; `margins` only when they came from the books."""

    id: str
    fiscal_year: int
    status: RunStatusName
    payment_date: date
    totals: Totals | None
    failure_reason: str | None
    margin_source: Literal["typed", "books"]
    margins: list[MarginFromBooksOut] | None


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


class CashExplainedOut(msgspec.Struct):
    """Where the allocated cash went; `unexplained_cents` is 0 when every cent is accounted for."""

    allocated_cents: int
    applied_to_shares_cents: int
    set_off_cents: int
    paid_cents: int
    pending_cents: int
    unclaimed_cents: int
    failed_cents: int
    void_cents: int
    unexplained_cents: int


class ReconciliationOut(msgspec.Struct):
    """From the ledger: balanced only when everything adds up to the margin, to the cent.

    `status` is `no_run` (and `allocation_run` null) for a year without a posted run.
    """

    fiscal_year: int
    status: Literal["no_run", "balanced", "unbalanced"]
    allocation_run: str | None
    run_id: str | None
    net_margin_cents: int
    cash_cents: int
    retained_cents: int
    funds_cents: int
    unallocated_cents: int
    total_cents: int
    difference_cents: int
    payouts_by_status: dict[str, int]
    cash: CashExplainedOut
    nonpatronage_income_cents: int
    loss_cents: int
    balanced: bool


# Parsed by `_year` (a 400 naming it), not the router; the schema states the window all the same,
# as an integer, so generated clients and fuzzers know it.
FiscalYearPath = Annotated[
    str,
    Parameter(
        description=f"a fiscal year, {FIRST_YEAR}..{LAST_YEAR}",
        schema_extra={"type": OpenAPIType.INTEGER, "minimum": FIRST_YEAR, "maximum": LAST_YEAR},
    ),
]


def _year(value: str) -> int:
    # Parsed here rather than by the router, whose `:int` answers a non-number with a bare 404.
    if not (value.isascii() and value.isdigit() and FIRST_YEAR <= int(value) <= LAST_YEAR):
        raise InvalidInputError(
            "not a fiscal year", [FieldError("fiscal_year", f"must be a year, {FIRST_YEAR}-{LAST_YEAR}")]
        )
    return int(value)


def today() -> date:
    """The co-op's date now (UTC): whether a fiscal year has ended is judged against it."""
    return datetime.now(UTC).date()


def run_out(run: AllocationRunView) -> RunOut:
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
    return RunOut(
        str(run.id),
        run.fiscal_year,
        AllocationRunStatus(run.status).value,
        run.payment_date,
        totals,
        run.failure_reason,
        "books" if run.margin_derivation is not None else "typed",
        None
        if run.margin_derivation is None
        else [msgspec.convert(pool, MarginFromBooksOut) for pool in run.margin_derivation],
    )


def _line_out(line: AllocationLineView) -> AllocationLineOut:
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
    access=staff_only,
    tags=["year-end"],
    summary="Start an allocation run",
    responses=problems(*POSTED),
)
async def start_run(data: JSONBody[RunIn], db: DbSession, caller: Caller, state: State) -> RunOut:
    """Stored as `computing`; a worker computes it from the year's patronage. Poll until it is not computing.

    400 naming the field for a fiscal year that has not ended, a payment date outside
    the payment period, or a pool with no patronage in the year.
    """
    request = msgspec.to_builtins(data)
    run = await allocation.start(
        db,
        fiscal_year=data.fiscal_year,
        request=request,
        payment_date=data.payment_date,
        actor=caller.user_id,
        fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
        today=today(),
    )
    return run_out(run)


@get(
    "/v1/allocation-runs/{run_id:str}",
    access=staff_only,
    tags=["year-end"],
    summary="An allocation run",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def show_run(run_id: FromPath[str], db: DbSession) -> RunOut:
    """Status and totals."""
    return run_out(await allocation.get(db, path_id(run_id, "allocation run")))


@get(
    "/v1/allocation-runs/{run_id:str}/lines",
    access=staff_only,
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
    access=staff_only,
    tags=["year-end"],
    summary="Approve and post a run",
    responses=problems(404, *POSTED),
)
async def approve_run(run_id: FromPath[str], db: DbSession, state: State) -> RunOut:
    """Posts equity lots, cash payouts, funds and unallocated equity once; approving again changes nothing.

    A run with margins from the books also closes each pool's figures to the year's income summary.
    """
    run = await posting.approve(
        db, path_id(run_id, "allocation run"), fiscal_year_start_month=state.settings.policy.fiscal_year_start_month
    )
    return run_out(run)


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
    run_id: FromPath[str],
    member_id: FromPath[str],
    db: DbSession,
    caller: Caller,
    state: State,
    request: Request[Any, Any, Any],
) -> Response[Any]:
    """Staff, and the member's own users.

    The allocation is cash + retained; of the cash, `cash` says what was applied to the
    membership share and what is paid. The PDF is the same notice laid out as a letter.
    """
    mid = path_id(member_id, "member")
    check_member_access(caller, mid)
    found = await reports.notice(db, path_id(run_id, "allocation run"), mid)
    body = reports.notice_json(found, state.settings.coop)
    if negotiate(request.headers.get("accept"), NOTICE_TYPES) == "application/pdf":
        return Response(notice_pdf(body), media_type="application/pdf")
    return Response(body)


@get(
    "/v1/fiscal-years/{fiscal_year:str}/reconciliation",
    access=staff_only,
    tags=["year-end"],
    summary="Year-end reconciliation",
    responses=problems(400, 404, *AUTHENTICATED),
)
async def reconcile(fiscal_year: FiscalYearPath, db: DbSession) -> ReconciliationOut:
    """Totals from the ledger that must add up to the margin; `balanced` only when they do.

    `cash` explains payouts against the cash allocated (membership-loan repayments,
    set-offs, paid, still owed, void); non-patronage income and pool losses are stated
    beside the margin. A year without a posted run says `no_run`. A path that is not a
    year (1950-2200) is a 400 naming `fiscal_year`.
    """
    r = await reports.reconciliation(db, _year(fiscal_year))
    c = r.cash
    return ReconciliationOut(
        r.fiscal_year,
        r.status,  # type: ignore[arg-type]
        str(r.run_id) if r.run_id else None,
        str(r.run_id) if r.run_id else None,
        r.net_margin_cents,
        r.cash_cents,
        r.retained_cents,
        r.funds_cents,
        r.unallocated_cents,
        r.total_cents,
        r.difference_cents,
        r.payouts,
        CashExplainedOut(
            c.cash_cents,
            c.applied_to_shares_cents,
            c.set_off_cents,
            c.paid_cents,
            c.pending_cents,
            c.unclaimed_cents,
            c.failed_cents,
            c.void_cents,
            c.unexplained_cents,
        ),
        r.nonpatronage_income_cents,
        r.loss_cents,
        r.balanced,
    )


@get(
    "/v1/reports/1099-patr",
    access=staff_only,
    tags=["year-end"],
    summary="Form 1099-PATR data",
    media_type="text/csv",
    responses=problems(400, *AUTHENTICATED),
)
async def form_1099_patr(
    db: DbSession, calendar_year: Annotated[int, Parameter(ge=FIRST_YEAR, le=LAST_YEAR)]
) -> Response[str]:
    """One row per recipient with box 1 and box 5 at or above $10, for the calendar year of payment.

    Box 1 counts only cash that reached the member (never a void, failed, unclaimed or
    pending payout); the last column states how much of box 1 was applied to the
    member's unpaid membership share.
    """
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
            "box1_applied_to_membership_share_cents",
        ]
    )
    for line in rows:
        row = line.row
        writer.writerow(
            [
                row.calendar_year,
                row.member_key,
                row.member_number,
                row.box1_cents,
                row.box5_cents,
                line.applied_to_share_cents,
            ]
        )
    return Response(out.getvalue(), media_type="text/csv")
