"""Preferred shares: issuing them and declaring their yearly dividend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
from litestar import post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from api.auth import staff_only
from api.deps import DbSession
from api.fields import FiscalYear, Rate
from api.keys import new_entry_key
from api.paging import path_id
from api.problems import POSTED, problems
from api.routes.members import MoneyIn, Receipt, receipt
from domain.membership import preferred


class DividendRunIn(msgspec.Struct, forbid_unknown_fields=True):
    """The fiscal year and the fixed rate (a decimal string, at most the co-op's cap)."""

    fiscal_year: FiscalYear
    rate: Rate


class DividendLineOut(msgspec.Struct):
    """One holder's dividend, HALF_UP."""

    member_id: str
    member_number: int
    holding_cents: int
    dividend_cents: int


class DividendRunOut(msgspec.Struct):
    """What the run declared; each positive dividend is a pending payout."""

    fiscal_year: int
    rate: Decimal
    total_cents: int
    lines: list[DividendLineOut]


@post(
    "/v1/members/{member_id:str}/preferred-shares",
    access=staff_only,
    tags=["members"],
    summary="Issue preferred shares",
    responses=problems(404, *POSTED),
)
async def issue_preferred(member_id: FromPath[str], data: JSONBody[MoneyIn], db: DbSession, state: State) -> Receipt:
    """Non-voting capital; refused (400) when preferred capital would pass the cap share of total equity."""
    mid = path_id(member_id, "member")
    recorded = await preferred.issue(
        db,
        mid,
        amount_cents=data.amount_cents,
        method=data.method,
        reference=data.reference,
        cap_rate=state.settings.policy.preferred_cap_rate,
        now=datetime.now(UTC),
        entry_key=new_entry_key(),
    )
    return receipt(recorded, data.amount_cents)


@post(
    "/v1/preferred-dividend-runs",
    access=staff_only,
    tags=["members"],
    summary="Declare the preferred dividend",
    responses=problems(*POSTED),
)
async def declare_dividend(data: JSONBody[DividendRunIn], db: DbSession, state: State) -> DividendRunOut:
    """Once per fiscal year (409 after); each holder's dividend becomes a pending payout."""
    lines = await preferred.dividend_run(
        db,
        fiscal_year=data.fiscal_year,
        rate=data.rate,
        max_rate=state.settings.policy.preferred_max_dividend_rate,
        now=datetime.now(UTC),
    )
    return DividendRunOut(
        fiscal_year=data.fiscal_year,
        rate=data.rate,
        total_cents=sum(line.dividend_cents for line in lines),
        lines=[
            DividendLineOut(str(ln.member_id), ln.member_number, ln.holding_cents, ln.dividend_cents) for ln in lines
        ],
    )
