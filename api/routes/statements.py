"""The value of membership statement (API.md "Supplier programmes"; docs/programmes.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from api.accept import negotiate
from api.auth import check_member_access
from api.deps import Caller, DbSession
from api.fields import FIRST_YEAR, LAST_YEAR
from api.paging import path_id
from api.pdf import value_statement_pdf
from api.problems import AUTHENTICATED, problems
from domain.statements import service

if TYPE_CHECKING:
    from domain.statements.rules import Ratio
    from domain.statements.views import ValueStatement


class PurchasesOut(msgspec.Struct):
    """What the member bought through each channel in the year."""

    group_buys_cents: int
    direct_cents: int


class EquityOut(msgspec.Struct):
    """The member's capital over the year: opening + paid_in + retained - redeemed = closing."""

    opening_cents: int
    paid_in_cents: int
    retained_cents: int
    redeemed_cents: int
    closing_cents: int


class RatioOut(msgspec.Struct):
    """An exact ratio (numerator / denominator) and its rounded value; null when the base is 0."""

    numerator_cents: int
    denominator_cents: int
    value: str | None
    rounding: str


class ValueStatementOut(msgspec.Struct):
    """A member's value of membership in a fiscal year; return = savings + rebates + patronage."""

    member_id: str
    member_number: int | None
    member_name: str
    fiscal_year: int
    first_day: str
    last_day: str
    purchases: PurchasesOut
    spend_cents: int
    savings_cents: int
    rebates_cents: int
    patronage_cash_cents: int
    patronage_retained_cents: int
    allocation_run_id: str | None
    equity: EquityOut
    return_cents: int
    return_on_spend: RatioOut
    return_on_equity: RatioOut


def _ratio(r: Ratio) -> RatioOut:
    return RatioOut(r.numerator_cents, r.denominator_cents, None if r.value is None else str(r.value), r.rounding)


def statement_out(s: ValueStatement) -> ValueStatementOut:
    """The statement as answered (and laid out in the PDF)."""
    f = s.figures
    return ValueStatementOut(
        member_id=str(s.member_id),
        member_number=s.member_number,
        member_name=s.member_name,
        fiscal_year=s.fiscal_year,
        first_day=s.first_day.isoformat(),
        last_day=s.last_day.isoformat(),
        purchases=PurchasesOut(f.group_buy_cents, f.direct_cents),
        spend_cents=f.spend_cents,
        savings_cents=f.savings_cents,
        rebates_cents=f.rebates_cents,
        patronage_cash_cents=f.patronage_cash_cents,
        patronage_retained_cents=f.patronage_retained_cents,
        allocation_run_id=None if s.allocation_run_id is None else str(s.allocation_run_id),
        equity=EquityOut(
            f.equity.opening_cents,
            f.equity.paid_in_cents,
            f.equity.retained_cents,
            f.equity.redeemed_cents,
            f.equity.closing_cents,
        ),
        return_cents=f.benefit_cents,
        return_on_spend=_ratio(f.return_on_spend),
        return_on_equity=_ratio(f.return_on_equity),
    )


STATEMENT_TYPES = ("application/json", "application/pdf")


@get(
    "/v1/members/{member_id:str}/value-statement",
    tags=["programmes"],
    summary="The value of membership statement",
    responses=problems(400, 404, *AUTHENTICATED),
    description="JSON by default; a PDF with `Accept: application/pdf`.",
)
async def value_statement(
    member_id: FromPath[str],
    db: DbSession,
    caller: Caller,
    state: State,
    request: Request[Any, Any, Any],
    fiscal_year: Annotated[
        int | None, Parameter(ge=FIRST_YEAR, le=LAST_YEAR, description="the fiscal year (default: the current one)")
    ] = None,
) -> Response[Any]:
    """Staff, and the member's own users (another member's: 404)."""
    mid = path_id(member_id, "member")
    check_member_access(caller, mid)
    found = await service.value_statement(
        db,
        mid,
        fiscal_year,
        today=datetime.now(UTC).date(),
        fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
    )
    body = statement_out(found)
    if negotiate(request.headers.get("accept"), STATEMENT_TYPES) == "application/pdf":
        return Response(
            value_statement_pdf(msgspec.to_builtins(body), state.settings.coop.name), media_type="application/pdf"
        )
    return Response(body)
