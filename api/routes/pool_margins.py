"""Each pool's programme margin from the books, and the expenses staff enter against a pool, for the year end."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter

from api.auth import staff_only
from api.deps import Caller, DbSession
from api.fields import (
    FIRST_YEAR,
    LAST_YEAR,
    PLAIN_PATTERN,
    Day,
    LongText,
    NonZeroCents,
    ShortText,
)
from api.problems import AUTHENTICATED, POSTED, problems
from domain.programmes import margins
from domain.programmes.rules import (
    ExpensePaidFrom,
)
from domain.programmes.views import ExpenseView


class PoolMarginOut(msgspec.Struct):
    """A pool's programme margin: rebate income + fee income - pass-through, from the ledger."""

    pool: str
    rebate_income_cents: int
    fee_income_cents: int
    pass_through_cents: int
    net_margin_cents: int


class ProgrammeMarginsOut(msgspec.Struct):
    """Programme margins per pool for a fiscal year (claims count in the year their period ended)."""

    fiscal_year: int
    pools: list[PoolMarginOut]


@get(
    "/v1/programme-margins",
    access=staff_only,
    summary="Programme margins per pool, from the books",
    responses=problems(400, *AUTHENTICATED),
    tags=["programmes"],
)
async def programme_margins(
    db: DbSession,
    state: State,
    fiscal_year: Annotated[int, Parameter(ge=FIRST_YEAR, le=LAST_YEAR, description="the fiscal year")],
) -> ProgrammeMarginsOut:
    """Each pool's rebate and fee income less the members' pass-through, with the figures it comes from."""
    pools = await margins.pool_margins(
        db, fiscal_year, fiscal_year_start_month=state.settings.policy.fiscal_year_start_month
    )
    return ProgrammeMarginsOut(
        fiscal_year,
        [
            PoolMarginOut(p.pool, p.rebate_income_cents, p.fee_income_cents, p.pass_through_cents, p.net_margin_cents)
            for p in pools
        ],
    )


class PoolExpenseIn(msgspec.Struct, forbid_unknown_fields=True):
    """An expense of one pool: counted in the fiscal year of `incurred_on`, posted to the ledger."""

    pool: ShortText
    incurred_on: Day
    amount_cents: NonZeroCents
    description: LongText
    paid_from: ExpensePaidFrom = ExpensePaidFrom.BANK


class PoolExpenseOut(msgspec.Struct):
    """An expense as recorded."""

    id: str
    pool: str
    incurred_on: date
    fiscal_year: int
    amount_cents: int
    paid_from: str
    description: str


def _expense_out(view: ExpenseView) -> PoolExpenseOut:
    return PoolExpenseOut(
        str(view.id),
        view.pool,
        view.incurred_on,
        view.fiscal_year,
        view.amount_cents,
        view.paid_from,
        view.description,
    )


@post(
    "/v1/pool-expenses",
    access=staff_only,
    summary="Enter an expense of a pool",
    responses=problems(*POSTED),
    tags=["programmes"],
)
async def record_expense(data: JSONBody[PoolExpenseIn], db: DbSession, caller: Caller, state: State) -> PoolExpenseOut:
    """Staff only: debits the pool's expense account, credits the bank, the till or accrued expenses."""
    new = margins.NewExpense(data.pool, data.incurred_on, data.amount_cents, data.paid_from, data.description)
    view = await margins.record_expense(
        db, new, actor=caller.user_id, fiscal_year_start_month=state.settings.policy.fiscal_year_start_month
    )
    return _expense_out(view)


@get(
    "/v1/pool-expenses",
    access=staff_only,
    summary="A fiscal year's pool expenses",
    responses=problems(400, *AUTHENTICATED),
    tags=["programmes"],
)
async def list_expenses(
    db: DbSession,
    fiscal_year: Annotated[int, Parameter(ge=FIRST_YEAR, le=LAST_YEAR, description="the fiscal year")],
    pool: Annotated[str | None, Parameter(max_length=50, pattern=PLAIN_PATTERN, description="only this pool")] = None,
) -> list[PoolExpenseOut]:
    """Oldest first."""
    return [_expense_out(v) for v in await margins.list_expenses(db, fiscal_year, pool)]
