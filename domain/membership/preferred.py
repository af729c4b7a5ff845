"""Preferred shares: non-voting capital with a fixed dividend, capped as a share of total equity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col

from domain.errors import ConflictError, FieldError, InvalidInputError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import AccountKind, Side
from domain.ledger.tables import Account, Posting
from domain.membership.rules import EXITED, Status, preferred_dividend_cents, preferred_issue_errors
from domain.membership.service import Recorded, locked, with_share
from domain.membership.tables import Member
from domain.payments.service import create_payout
from domain.payments.tables import Payout

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.ledger.chart import PaymentMethod

# One preferred issue at a time: the cap depends on every other issue.
_ISSUE_LOCK = 0x5052_4546  # "PREF"


def _net_credit() -> sa.ColumnElement[int]:
    credit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.CREDIT.value), 0)
    debit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.DEBIT.value), 0)
    return credit - debit


# Where the co-op's capital lives: membership shares, preferred shares, retained equity (its
# account, and the own accounts of lots written before migration 0041), reserve funds and
# unallocated equity. An income summary is a clearing account
# (debited as the year's margin is distributed), and opening balances brought over on
# import are a bookkeeping offset: neither is capital, so neither counts.
_CAPITAL_CODES = (
    chart.MEMBER_SHARE_PATTERN,
    chart.MEMBER_PREFERRED_PATTERN,
    chart.RETAINED_EQUITY.code,
    chart.EQUITY_LOT_PATTERN,
    chart.FUND_PATTERN,
    chart.UNALLOCATED_EQUITY.code,
)


async def equity_totals(session: AsyncSession) -> tuple[int, int]:
    """(preferred capital, total equity) from the capital accounts of the ledger."""
    preferred = (
        await session.execute(
            sa.select(_net_credit())
            .select_from(Posting)
            .join(Account, col(Account.id) == col(Posting.account_id))
            .where(col(Account.code).like(chart.MEMBER_PREFERRED_PATTERN))
        )
    ).scalar_one()
    total = (
        await session.execute(
            sa.select(_net_credit())
            .select_from(Posting)
            .join(Account, col(Account.id) == col(Posting.account_id))
            .where(
                col(Account.kind) == AccountKind.EQUITY.value,
                sa.or_(*(col(Account.code).like(code) for code in _CAPITAL_CODES)),
            )
        )
    ).scalar_one()
    return int(preferred), int(total)


async def issue(
    session: AsyncSession,
    member_id: int,
    *,
    amount_cents: int,
    method: PaymentMethod,
    reference: str | None,
    cap_rate: Decimal,
    now: datetime,
    entry_key: str,
) -> Recorded:
    """Sell preferred shares to a member, refused when capital would pass the cap."""
    member = await locked(session, member_id)
    if Status(member.status) in EXITED:
        raise ConflictError(f"a {member.status} member cannot buy preferred shares")
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_ISSUE_LOCK)))
    preferred, total = await equity_totals(session)
    errors = preferred_issue_errors(
        amount_cents, preferred_total_cents=preferred, total_equity_cents=total, cap_rate=cap_rate
    )
    if errors:
        raise InvalidInputError("the preferred share issue is not acceptable", errors)
    entry = await ledger.record_receipt(
        session,
        method=method,
        credit=chart.member_preferred(member_id),
        amount_cents=amount_cents,
        kind="preferred_issue",
        key=f"{member_id}:{entry_key}",
        reference=reference,
        occurred_at=now,
    )
    return Recorded(entry, await with_share(session, member))


@dataclass(frozen=True, slots=True)
class DividendLine:
    """One holder's dividend."""

    member_id: int
    member_number: int
    holding_cents: int
    dividend_cents: int


async def dividend_run(
    session: AsyncSession, *, fiscal_year: int, rate: Decimal, max_rate: Decimal, now: datetime
) -> list[DividendLine]:
    """Declare the year's preferred dividend: HALF_UP per holder, owed as payouts; once per year."""
    if not 0 < rate <= max_rate:
        raise InvalidInputError(
            "the dividend rate is not acceptable", [FieldError("rate", f"must be in (0, {max_rate}]")]
        )
    prefix = f"preferred_dividend:{fiscal_year}:"
    already = (
        await session.execute(sa.select(sa.func.count()).where(col(Payout.business_key).startswith(prefix)))
    ).scalar_one()
    if already:
        raise ConflictError(f"the preferred dividend for {fiscal_year} was already declared")
    holdings = (
        await session.execute(
            sa.select(col(Member.id), col(Member.member_number), _net_credit())
            .select_from(Posting)
            .join(Account, col(Account.id) == col(Posting.account_id))
            .join(Member, col(Member.id) == col(Account.member_id))
            .where(col(Account.code).like(chart.MEMBER_PREFERRED_PATTERN))
            .group_by(col(Member.id))
            .having(_net_credit() > 0)
            .order_by(col(Member.member_number))
        )
    ).all()
    lines = []
    for member_id, number, holding in holdings:
        dividend = preferred_dividend_cents(int(holding), rate)
        lines.append(DividendLine(member_id, number, int(holding), dividend))
        if dividend == 0:
            continue
        await ledger.transfer(
            session,
            debit=chart.UNALLOCATED_EQUITY,
            credit=chart.PAYOUTS_PAYABLE,
            amount_cents=dividend,
            kind="preferred_dividend",
            idempotency_key=f"{prefix}{member_id}",
            occurred_at=now,
            memo=f"preferred dividend FY{fiscal_year} at {rate}",
        )
        await create_payout(
            session,
            member_id=member_id,
            kind="preferred_dividend",
            amount_cents=dividend,
            business_key=f"{prefix}{member_id}",
        )
    return lines
