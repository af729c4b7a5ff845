"""Equity redemption: revolving-fund and percentage runs, and special redemptions (API.md "Year-end ... redemption")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from api.auth import staff_only
from api.deps import DbSession
from api.fields import Cents, Day, Rate, SignedCents
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from domain.equity import rules as equity_rules
from domain.equity import service as equity
from domain.equity.rules import RedemptionRunStatus
from domain.equity.views import RedemptionLineView, RedemptionRunView, SpecialRedemptionLineView, SpecialRedemptionView
from domain.membership import service as membership


class RedemptionRunIn(msgspec.Struct, forbid_unknown_fields=True):
    """The board's decision; give all five budget figures to cap the budget by cash and the equity ratio."""

    method: Literal["fifo", "percentage"]
    budget_cents: Cents
    as_of: Day
    cash_available_cents: SignedCents | None = None
    minimum_cash_cents: SignedCents | None = None
    equity_cents: SignedCents | None = None
    assets_cents: SignedCents | None = None
    equity_ratio_floor: Rate | None = None


class BudgetInputsOut(msgspec.Struct):
    """The figures that capped the board's budget."""

    cash_available_cents: int
    minimum_cash_cents: int
    equity_cents: int
    assets_cents: int
    equity_ratio_floor: Decimal


class RedemptionTotals(msgspec.Struct):
    """``budget_cents = min(board, cash - minimum cash, equity-ratio cap)``; ``redeemed_cents`` never exceeds it."""

    board_budget_cents: int
    budget_cents: int
    outstanding_cents: int
    redeemed_cents: int
    lines: int
    members: int


# The wire spelling of domain.equity.rules.RedemptionRunStatus (a test keeps the two equal).
RedemptionStatusName = Literal["computed", "posted"]


class RedemptionRunOut(msgspec.Struct):
    """A redemption run: computed on creation, posted once on approval."""

    id: str
    method: Literal["fifo", "percentage"]
    status: RedemptionStatusName
    as_of: date
    budget_inputs: BudgetInputsOut | None
    totals: RedemptionTotals
    created_at: datetime
    posted_at: datetime | None


class RedemptionLineOut(msgspec.Struct):
    """What one lot gives up in the run."""

    member_id: str
    member_number: int
    fiscal_year: int
    amount_cents: int
    lot_id: str
    qualified: bool


class SpecialRedemptionIn(msgspec.Struct, forbid_unknown_fields=True):
    """Early redemption at present value; ``revolving_years`` is the policy's years to normal revolvement."""

    reason: Literal["death", "retirement", "exit"]
    discount_rate: Rate
    as_of: Day
    revolving_years: Annotated[int, msgspec.Meta(ge=0, le=100)] = equity.DEFAULT_REVOLVING_YEARS


class SpecialLotOut(msgspec.Struct):
    """One lot: outstanding face, years to its normal revolvement, present value and discount."""

    lot_id: str
    fiscal_year: int
    qualified: bool
    outstanding_cents: int
    years: int
    present_value_cents: int
    discount_cents: int


class SpecialRedemptionOut(msgspec.Struct):
    """Present value = set-off + payout; the discount went to unallocated equity."""

    id: str
    member_id: str
    reason: Literal["death", "retirement", "exit"]
    as_of: date
    discount_rate: Decimal
    revolving_years: int
    outstanding_cents: int
    present_value_cents: int
    discount_cents: int
    set_off_cents: int
    payout_cents: int
    payout_id: str | None
    lots: list[SpecialLotOut]


def _rate(value: Decimal) -> Decimal:
    """Rates as given ("0.25"), not as stored ("0.250000")."""
    return value.normalize() if value else Decimal(0)


def _run_out(run: RedemptionRunView) -> RedemptionRunOut:
    inputs = None
    if run.equity_ratio_floor is not None:
        inputs = BudgetInputsOut(
            run.cash_available_cents or 0,
            run.minimum_cash_cents or 0,
            run.equity_cents or 0,
            run.assets_cents or 0,
            _rate(run.equity_ratio_floor),
        )
    return RedemptionRunOut(
        id=str(run.id),
        method="fifo" if run.method == "fifo" else "percentage",
        status=RedemptionRunStatus(run.status).value,
        as_of=run.as_of,
        budget_inputs=inputs,
        totals=RedemptionTotals(
            board_budget_cents=run.board_budget_cents,
            budget_cents=run.budget_cents,
            outstanding_cents=run.outstanding_cents,
            redeemed_cents=run.redeemed_cents,
            lines=run.line_count,
            members=run.member_count,
        ),
        created_at=run.created_at,
        posted_at=run.posted_at,
    )


def _line_out(line: RedemptionLineView) -> RedemptionLineOut:
    return RedemptionLineOut(
        str(line.member_id), line.member_number, line.fiscal_year, line.amount_cents, str(line.lot_id), line.qualified
    )


def _special_out(redemption: SpecialRedemptionView, lines: Sequence[SpecialRedemptionLineView]) -> SpecialRedemptionOut:
    reason: Literal["death", "retirement", "exit"] = (
        "death" if redemption.reason == "death" else "retirement" if redemption.reason == "retirement" else "exit"
    )
    return SpecialRedemptionOut(
        id=str(redemption.id),
        member_id=str(redemption.member_id),
        reason=reason,
        as_of=redemption.as_of,
        discount_rate=_rate(redemption.discount_rate),
        revolving_years=redemption.revolving_years,
        outstanding_cents=redemption.outstanding_cents,
        present_value_cents=redemption.present_value_cents,
        discount_cents=redemption.discount_cents,
        set_off_cents=redemption.set_off_cents,
        payout_cents=redemption.payout_cents,
        payout_id=str(redemption.payout_id) if redemption.payout_id is not None else None,
        lots=[
            SpecialLotOut(
                str(ln.lot_id),
                ln.fiscal_year,
                ln.qualified,
                ln.outstanding_cents,
                ln.years,
                ln.present_value_cents,
                ln.discount_cents,
            )
            for ln in lines
        ],
    )


class RedemptionRunController(Controller):
    """Routes under /v1/redemption-runs (staff only)."""

    path = "/v1/redemption-runs"
    tags = ["redemption"]  # noqa: RUF012 - litestar's declared attribute type
    # Guards sit on each handler, not the controller: a controller's guards also run on the
    # OPTIONS answers litestar adds, which skip authentication, so they failed with a 500.

    @post("/", access=staff_only, summary="Compute a redemption run", responses=problems(*POSTED))
    async def create(self, data: JSONBody[RedemptionRunIn], db: DbSession) -> RedemptionRunOut:
        """FIFO revolving fund (whole oldest years, then the next year pro rata) or a percentage of all equities.

        Computed at once from the lots outstanding now (fiscal years up to ``as_of``'s);
        nothing is posted until approval.
        """
        inputs = equity_rules.budget_inputs(
            cash_available_cents=data.cash_available_cents,
            minimum_cash_cents=data.minimum_cash_cents,
            equity_cents=data.equity_cents,
            assets_cents=data.assets_cents,
            equity_ratio_floor=data.equity_ratio_floor,
        )
        run = await equity.compute_run(
            db, method=equity.Method(data.method), board_budget_cents=data.budget_cents, as_of=data.as_of, inputs=inputs
        )
        return _run_out(run)

    @get(
        "/{run_id:str}",
        access=staff_only,
        summary="One redemption run",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, run_id: FromPath[str], db: DbSession) -> RedemptionRunOut:
        """The run with its totals and the figures that set its budget."""
        return _run_out(await equity.get_run(db, path_id(run_id, "redemption run")))

    @get(
        "/{run_id:str}/lines",
        access=staff_only,
        summary="A redemption run's lines",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def lines(
        self, run_id: FromPath[str], db: DbSession, limit: Limit = 100, cursor: Cursor = None
    ) -> Page[RedemptionLineOut]:
        """One line per lot that gives something, in the rule's order (by year for FIFO, by member for percentage)."""
        lines = await equity.run_lines(db, path_id(run_id, "redemption run"), after_id=after_id(cursor), limit=limit)
        return Page([_line_out(ln) for ln in lines], next_cursor([ln.id for ln in lines if ln.id is not None], limit))

    @post(
        "/{run_id:str}/approve",
        status_code=200,
        access=staff_only,
        summary="Approve a redemption run",
        responses=problems(404, *POSTED),
    )
    async def approve(self, run_id: FromPath[str], db: DbSession) -> RedemptionRunOut:
        """Posts once: lots are debited, one pending payout per member; again changes nothing.

        409 when a lot was redeemed since the run was computed: compute a new run.
        """
        run = await equity.approve_run(db, path_id(run_id, "redemption run"), now=datetime.now(UTC))
        return _run_out(run)


@post(
    "/v1/members/{member_id:str}/special-redemptions",
    access=staff_only,
    tags=["redemption"],
    summary="Redeem a member's equity early",
    responses=problems(404, *POSTED),
)
async def special_redemption(
    member_id: FromPath[str], data: JSONBody[SpecialRedemptionIn], db: DbSession
) -> SpecialRedemptionOut:
    """Death, retirement or exit: every lot at present value, the discount to unallocated equity.

    Debts owed to the co-op are set off first, the rest is a pending payout. One per
    member and ``as_of``: the same terms again answer the same redemption, others 409.
    """
    mid = path_id(member_id, "member")
    await membership.get(db, mid)
    terms = equity.SpecialTerms(equity.Reason(data.reason), data.discount_rate, data.revolving_years, data.as_of)
    redemption, lines = await equity.special_redemption(db, mid, terms)
    return _special_out(redemption, lines)
