"""The member's capital account statement: membership share, preferred shares and equity lots.

A lot's face is fixed when it is posted; its redemptions are the debits that name it (the
lots are the subsidiary ledger of the retained equity account, migration 0041).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col

from domain.equity import rules
from domain.equity.tables import EquityLot
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import Side
from domain.ledger.tables import Posting

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True, slots=True)
class StatementLot:
    """One equity lot in the capital account statement."""

    lot_id: int
    fiscal_year: int
    kind: str
    qualified: bool
    face_cents: int
    redeemed_cents: int

    @property
    def outstanding_cents(self) -> int:
        """What is still to be redeemed."""
        return rules.outstanding_cents(self.face_cents, self.redeemed_cents)


@dataclass(frozen=True, slots=True)
class CapitalAccount:
    """The member's capital: membership share, preferred shares and equity lots, from postings."""

    membership_share_cents: int
    preferred_cents: int
    lots: list[StatementLot]

    @property
    def total_equity_cents(self) -> int:
        """Everything the member has in the co-op."""
        return self.membership_share_cents + self.preferred_cents + sum(lot.outstanding_cents for lot in self.lots)


async def capital_account(session: AsyncSession, member_id: int) -> CapitalAccount:
    """The share and preferred accounts' balances; each lot's face and the postings that name it."""
    credits = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.CREDIT.value), 0)
    debits = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.DEBIT.value), 0)
    rows = (
        await session.execute(
            sa.select(
                col(EquityLot.id),
                col(EquityLot.fiscal_year),
                col(EquityLot.kind),
                col(EquityLot.qualified),
                col(EquityLot.face_cents) + credits,
                debits,
            )
            .outerjoin(Posting, col(Posting.equity_lot_id) == col(EquityLot.id))
            .where(col(EquityLot.member_id) == member_id)
            .group_by(col(EquityLot.id))
            .order_by(col(EquityLot.fiscal_year), col(EquityLot.id))
        )
    ).all()
    lots = [StatementLot(r[0], r[1], r[2], r[3], int(r[4]), int(r[5])) for r in rows]
    share = await ledger.balance_of(session, chart.member_share(member_id))
    preferred = await ledger.balance_of(session, chart.member_preferred(member_id))
    return CapitalAccount(share, preferred, lots)


async def retained_by_member(session: AsyncSession, member_ids: list[int]) -> dict[int, int]:
    """Each member's retained equity outstanding: its lots' faces and the postings that name them.

    Members without lots are left out. One statement for any number of members (a year end asks
    for every member of its run).
    """
    signed = sa.case(
        (col(Posting.side) == Side.CREDIT.value, col(Posting.amount_cents)), else_=-col(Posting.amount_cents)
    )
    moved = (
        sa.select(sa.func.coalesce(sa.func.sum(signed), 0))
        .where(col(Posting.equity_lot_id) == col(EquityLot.id))
        .scalar_subquery()
    )
    rows = await session.execute(
        sa.select(col(EquityLot.member_id), sa.func.sum(col(EquityLot.face_cents) + moved))
        .where(col(EquityLot.member_id) == sa.any_(sa.literal(member_ids, ARRAY(sa.BigInteger))))
        .group_by(col(EquityLot.member_id))
    )
    return {int(member_id): int(cents) for member_id, cents in rows.all()}
