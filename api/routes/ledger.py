"""The co-op's books as staff see them."""

from __future__ import annotations

import msgspec
from litestar import get

from api.auth import staff_only
from api.deps import DbSession
from api.problems import AUTHENTICATED, problems
from domain.ledger import service


class TrialBalanceLine(msgspec.Struct):
    """One account: totals of its postings, balance on its normal side."""

    account_id: str
    code: str
    name: str
    kind: str
    debits_cents: int
    credits_cents: int
    balance_cents: int


class TrialBalance(msgspec.Struct):
    """All accounts; `balanced` is true when total debits equal total credits."""

    accounts: list[TrialBalanceLine]
    total_debits_cents: int
    total_credits_cents: int
    balanced: bool


@get(
    "/v1/ledger/trial-balance",
    access=staff_only,
    summary="Trial balance",
    description="Every ledger account with its debits, credits and balance, derived from postings.",
    responses=problems(*AUTHENTICATED),
    tags=["ledger"],
)
async def trial_balance(db: DbSession) -> TrialBalance:
    """Sum every account's postings."""
    lines = await service.trial_balance(db)
    debits = sum(line.debits_cents for line in lines)
    credits = sum(line.credits_cents for line in lines)
    return TrialBalance(
        accounts=[
            TrialBalanceLine(
                str(line.account_id),
                line.code,
                line.name,
                line.kind.value,
                line.debits_cents,
                line.credits_cents,
                line.balance_cents,
            )
            for line in lines
        ],
        total_debits_cents=debits,
        total_credits_cents=credits,
        balanced=debits == credits,
    )
