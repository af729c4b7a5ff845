"""Payouts: creating the instructions, and reconciling them as staff pay, fail, void, reissue or set them off.

Every change locks the payout row first (one change at a time), checks the move
against the status machine in `rules`, posts the move's journal entry (if money
moves) under a key made of the payout id and the event's sequence number, and
keeps a `PayoutEvent` with who, why, the reference, the amount and the entry.
Nothing here commits: the request (or job) that calls it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from domain.errors import ConflictError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.tables import JournalEntry
from domain.payments import rules
from domain.payments.rules import Book, PayoutKind, PayoutMethod, PayoutStatus
from domain.payments.tables import Payout, PayoutEvent

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.ledger.chart import AccountSpec
    from domain.payments.views import PayoutView

# Journal entry kinds of payout moves. `set_off` is the kind the member's trade
# account statement already shows for set-offs at exit.
SET_OFF_ENTRY = "set_off"
_ENTRY_KIND = {
    (PayoutStatus.PENDING, PayoutStatus.PAID): "payout_paid",
    (PayoutStatus.PAID, PayoutStatus.FAILED): "payout_returned",
    (PayoutStatus.PENDING, PayoutStatus.UNCLAIMED): "payout_unclaimed",
    (PayoutStatus.UNCLAIMED, PayoutStatus.PENDING): "payout_reissued",
}


async def create_payout(
    session: AsyncSession, *, member_id: int, kind: str, amount_cents: int, business_key: str
) -> Payout:
    """A pending payout for staff to approve and pay; one per business key."""
    await session.execute(
        insert(Payout)
        .values(member_id=member_id, kind=kind, amount_cents=amount_cents, status="pending", business_key=business_key)
        .on_conflict_do_nothing(index_elements=["business_key"])
    )
    payout: Payout = (await session.exec(select(Payout).where(col(Payout.business_key) == business_key))).one()
    return payout


async def payouts_of(session: AsyncSession, member_id: int) -> list[Payout]:
    """A member's payouts, oldest first."""
    result = await session.exec(select(Payout).where(col(Payout.member_id) == member_id).order_by(col(Payout.id)))
    return list(result.all())


async def get(session: AsyncSession, payout_id: int) -> Payout:
    """The payout, or 404."""
    payout = await session.get(Payout, payout_id)
    if payout is None:
        raise NotFoundError(f"payout {payout_id} not found")
    return payout


async def _locked(session: AsyncSession, payout_id: int) -> Payout:
    """The payout's row, locked until the transaction ends, read fresh."""
    payout = (await session.exec(select(Payout).where(col(Payout.id) == payout_id).with_for_update())).one_or_none()
    if payout is None:
        raise NotFoundError(f"payout {payout_id} not found")
    await session.refresh(payout)
    return payout


def _account(book: Book, member_id: int) -> AccountSpec:
    """The chart account behind one of the books payout moves touch."""
    return {
        Book.PAYABLE: chart.PAYOUTS_PAYABLE,
        Book.UNCLAIMED: chart.UNCLAIMED_PAYOUTS,
        Book.BANK: chart.BANK,
        Book.CASH: chart.CASH,
        Book.MEMBER_TRADE: chart.member_trade(member_id),
        Book.UNALLOCATED_EQUITY: chart.UNALLOCATED_EQUITY,
    }[book]


async def _last_event(session: AsyncSession, payout_id: int) -> tuple[PayoutEvent | None, int]:
    """The payout's latest event and how many it has (the next event's sequence is that + 1)."""
    count = (
        await session.execute(sa.select(sa.func.count()).where(col(PayoutEvent.payout_id) == payout_id))
    ).scalar_one()
    last = (
        await session.exec(
            select(PayoutEvent).where(col(PayoutEvent.payout_id) == payout_id).order_by(col(PayoutEvent.id).desc())
        )
    ).first()
    return last, int(count)


async def change_status(
    session: AsyncSession,
    payout_id: int,
    target: PayoutStatus,
    *,
    method: PayoutMethod | None = None,
    reference: str | None,
    reason: str | None,
    actor: int | None,
    now: datetime,
) -> PayoutDetail:
    """Move a payout to `target` (mark paid, fail, void, reissue, mark unclaimed).

    `method` is used by mark-paid only (default: the payout's planned method, else a
    check). The same move repeated with the same details right after it was made is
    a retry: the payout is returned as it is and nothing is written. Any other move
    the machine does not allow is a 409 naming the allowed ones.
    """
    payout = await _locked(session, payout_id)
    assert payout.id is not None  # noqa: S101 - loaded from the database
    current = PayoutStatus(payout.status)
    stored = PayoutMethod(payout.method) if payout.method else None
    rail = rules.payment_method(method, stored) if target is PayoutStatus.PAID else stored
    last, count = await _last_event(session, payout.id)
    if last is not None and rules.is_repeat(
        target,
        current=current,
        # a set-off (pending -> pending) is never what a status move repeats
        last_to=PayoutStatus(last.to_status) if last.from_status != last.to_status else None,
        last_details=(payout.method if target is PayoutStatus.PAID else None, last.reference, last.reason),
        details=(rail if target is PayoutStatus.PAID else None, reference, reason),
    ):
        return await detail(session, payout)
    move = rules.move_for(current, target, method=rail)
    entry_id = None
    if move is not None:
        entry = await ledger.transfer(
            session,
            debit=_account(move.debit, payout.member_id),
            credit=_account(move.credit, payout.member_id),
            amount_cents=payout.amount_cents,
            kind=_ENTRY_KIND.get((current, target), f"payout_{target}"),
            idempotency_key=rules.journal_key(payout.id, count + 1),
            occurred_at=now,
            memo=_memo(payout, f"{current} -> {target}", reference or reason),
        )
        entry_id = entry.id
    if target is PayoutStatus.PAID:
        payout.method = rail
        payout.reference = reference
        payout.paid_at = now
    elif current is PayoutStatus.PAID:  # the payment came back
        payout.paid_at = None
    elif target is PayoutStatus.PENDING:  # reissued: a new check or transfer, with its own reference
        payout.reference = reference
    payout.status = target.value
    session.add(payout)
    session.add(
        PayoutEvent(
            payout_id=payout.id,
            from_status=current.value,
            to_status=target.value,
            reference=reference,
            reason=reason,
            amount_cents=payout.amount_cents,
            entry_id=entry_id,
            actor_user_id=actor,
            occurred_at=now,
        )
    )
    await session.flush()
    return await detail(session, payout)


def _memo(payout: Payout, what: str, detail: str | None) -> str:
    memo = f"{payout.kind} payout {payout.id}: {what}"
    return f"{memo} ({detail})"[:500] if detail else memo


async def set_off(
    session: AsyncSession,
    payout_id: int,
    *,
    amount_cents: int | None,
    reason: str | None,
    actor: int | None,
    now: datetime,
) -> PayoutDetail:
    """Apply a pending payout to the member's overdue trade balance (DOMAIN.md §5), as its own entry.

    Sets off min(owed, payout, requested): debit payouts payable, credit the trade
    account. The payout shrinks by that much; when nothing remains it is paid, by
    `set_off`. 400 when the member owes nothing; 409 unless the payout is pending.
    """
    payout = await _locked(session, payout_id)
    assert payout.id is not None  # noqa: S101 - loaded from the database
    current = PayoutStatus(payout.status)
    if current is not PayoutStatus.PENDING:
        raise ConflictError(f"only a pending payout can be set off; this one is {current}")
    trade = chart.member_trade(payout.member_id)
    # Lock both accounts (sorted, as every posting does) before reading the debt, so a
    # payment landing at the same time cannot make the set-off larger than the debt.
    await ledger.lock_accounts(
        session, [await ledger.account_id(session, trade), await ledger.account_id(session, chart.PAYOUTS_PAYABLE)]
    )
    owed = await ledger.balance_of(session, trade)
    result = rules.set_off(owed_cents=owed, payout_cents=payout.amount_cents, requested_cents=amount_cents)
    _, count = await _last_event(session, payout.id)
    why = reason or f"set off against the trade balance of {owed} cents"
    entry = await ledger.transfer(
        session,
        debit=chart.PAYOUTS_PAYABLE,
        credit=trade,
        amount_cents=result.set_off_cents,
        kind=SET_OFF_ENTRY,
        idempotency_key=rules.journal_key(payout.id, count + 1),
        occurred_at=now,
        memo=_memo(payout, "set off against the trade balance", reason),
    )
    target = PayoutStatus.PAID if result.settles else PayoutStatus.PENDING
    if result.settles:  # the amount stays: it was paid, by set-off (a payout is never 0)
        payout.status = target.value
        payout.method = PayoutMethod.SET_OFF.value
        payout.reference = None
        payout.paid_at = now
    else:
        payout.amount_cents = result.remaining_cents
    session.add(payout)
    session.add(
        PayoutEvent(
            payout_id=payout.id,
            from_status=current.value,
            to_status=target.value,
            reason=why[:500],
            amount_cents=result.set_off_cents,
            entry_id=entry.id,
            actor_user_id=actor,
            occurred_at=now,
        )
    )
    await session.flush()
    return await detail(session, payout)


@dataclass(frozen=True, slots=True)
class EventView:
    """One event of a payout's history, and whether it was a set-off."""

    event: PayoutEvent
    set_off: bool

    @property
    def action(self) -> str:
        """What happened: mark-paid, fail, void, reissue, mark-unclaimed or set-off."""
        e = self.event
        return rules.action_of(PayoutStatus(e.from_status), PayoutStatus(e.to_status), set_off=self.set_off)


async def history(session: AsyncSession, payout_id: int) -> list[EventView]:
    """The payout's events in order, each with the kind of its journal entry."""
    rows = (
        await session.execute(
            sa.select(PayoutEvent, col(JournalEntry.kind))
            .outerjoin(JournalEntry, col(JournalEntry.id) == col(PayoutEvent.entry_id))
            .where(col(PayoutEvent.payout_id) == payout_id)
            .order_by(col(PayoutEvent.id))
        )
    ).all()
    return [EventView(event, kind == SET_OFF_ENTRY) for event, kind in rows]


async def page(
    session: AsyncSession,
    *,
    status: PayoutStatus | None,
    kind: PayoutKind | None,
    member_id: int | None,
    after_id: int,
    limit: int,
) -> list[Payout]:
    """Payouts in id order after a cursor, filtered by status, kind and member."""
    query = select(Payout).where(col(Payout.id) > after_id)
    if status is not None:
        query = query.where(col(Payout.status) == status.value)
    if kind is not None:
        query = query.where(col(Payout.kind) == kind.value)
    if member_id is not None:
        query = query.where(col(Payout.member_id) == member_id)
    return list((await session.exec(query.order_by(col(Payout.id)).limit(limit))).all())


async def status_since(session: AsyncSession, payouts: Sequence[PayoutView]) -> dict[int, datetime]:
    """When each payout entered its current status (its creation if it never moved).

    For unclaimed payouts this is the date they are held from (DOMAIN.md §4).
    """
    ids = [p.id for p in payouts if p.id is not None]
    since = {p.id: p.created_at for p in payouts if p.id is not None}
    if ids:
        rows = (
            await session.execute(
                sa.select(col(PayoutEvent.payout_id), sa.func.max(col(PayoutEvent.occurred_at)))
                .where(col(PayoutEvent.payout_id).in_(ids), col(PayoutEvent.from_status) != col(PayoutEvent.to_status))
                .group_by(col(PayoutEvent.payout_id))
            )
        ).all()
        since.update({int(pid): at for pid, at in rows})
    return since


@dataclass(frozen=True, slots=True)
class PayoutDetail:
    """A payout as every answer about one payout shows it: since when it is in its status, and its history."""

    payout: PayoutView
    status_since: datetime
    events: list[EventView]


async def detail(session: AsyncSession, payout: PayoutView) -> PayoutDetail:
    """The payout with when it entered its current status and its events in order."""
    assert payout.id is not None  # noqa: S101 - stored payouts
    since = (await status_since(session, [payout]))[payout.id]
    return PayoutDetail(payout, since, await history(session, payout.id))
