"""Membership use cases: apply, admit, pay the share, withdraw, and the member's statements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col, select

from domain.db import utc_now
from domain.errors import FieldConflictError, FieldError, InvalidInputError, NotFoundError
from domain.ledger import chart
from domain.ledger import service as ledger
from domain.ledger.rules import Side
from domain.ledger.tables import Account, Posting
from domain.membership.rules import (
    EXITED,
    RedemptionDecision,
    ShareRedemption,
    Status,
    admitted_status,
    check_notice_withdrawal,
    check_redemption_decision,
    check_standing_change,
    check_transition,
    normalize_email,
    notice_target,
    share_payment_errors,
    share_redemption,
    withdrawal_date_errors,
)
from domain.membership.tables import Member, MemberConsent, MemberStatusChange, ShareRedemptionDecision
from domain.payments.service import create_payout

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.ledger.chart import PaymentMethod
    from domain.ledger.tables import JournalEntry
    from domain.membership.views import MemberView


class LeavingHook(Protocol):
    """What a leaving member's business elsewhere does (its open orders go), under the member's row lock.

    Buying sits above membership (an order checks its member's standing), so membership
    cannot call it; the caller above both passes the reaction in (domain.departures).
    """

    async def __call__(self, session: AsyncSession, member_id: int, *, now: datetime) -> object:
        """React to ``member_id`` leaving; ``now`` is when its exit takes effect (never in the past)."""


def start_of(day: date) -> datetime:
    """Midnight UTC of a date: dated events without a time happen at the start of the day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


async def apply(session: AsyncSession, *, name: str, email: str, contact_name: str | None, par_cents: int) -> Member:
    """A business applies to join; it gets its member number now. One member per e-mail address."""
    member_id = (
        await session.execute(
            insert(Member)
            .values(
                name=name,
                email=normalize_email(email),
                contact_name=contact_name,
                status=Status.APPLICANT.value,
                share_par_cents=par_cents,
            )
            .on_conflict_do_nothing(constraint="uq_member_email")
            .returning(col(Member.id))
        )
    ).scalar_one_or_none()
    if member_id is None:
        raise email_taken("email")
    member = await get(session, member_id)
    await record_change(
        session,
        member,
        from_status=None,
        to_status=Status.APPLICANT,
        effective_at=utc_now(),
        reason="applied",
        actor_user_id=None,
    )
    return member


def email_taken(field: str) -> FieldConflictError:
    """Another member is registered under this e-mail address (compared case-insensitively)."""
    return FieldConflictError(
        "another member is registered with this e-mail address",
        [FieldError(field, "another member is registered with this e-mail address")],
        code="member_email_taken",
    )


async def get(session: AsyncSession, member_id: int) -> Member:
    """The member, or 404."""
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFoundError(f"member {member_id} not found")
    return member


async def locked(session: AsyncSession, member_id: int) -> Member:
    """The member's row, locked until the transaction ends (one change at a time)."""
    member = (await session.exec(select(Member).where(col(Member.id) == member_id).with_for_update())).one_or_none()
    if member is None:
        raise NotFoundError(f"member {member_id} not found")
    await session.refresh(member)
    return member


async def page(
    session: AsyncSession,
    *,
    only_member_id: int | None,
    after_id: int,
    limit: int,
    status: Status | None = None,
    name_contains: str | None = None,
) -> list[Member]:
    """Members in id order after a cursor; a member's users see only their own.

    ``name_contains`` matches case-insensitively and literally (``%`` and ``_`` are not wildcards).
    """
    query = select(Member).where(col(Member.id) > after_id).order_by(col(Member.id)).limit(limit)
    if only_member_id is not None:
        query = query.where(col(Member.id) == only_member_id)
    if status is not None:
        query = query.where(col(Member.status) == status.value)
    if name_contains is not None:
        query = query.where(col(Member.name).icontains(name_contains, autoescape=True))
    return list((await session.exec(query)).all())


async def shares_paid(session: AsyncSession, member_ids: list[int]) -> dict[int, int]:
    """Paid-in membership share per member, summed from the ledger in one query."""
    if not member_ids:
        return {}
    credit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.CREDIT.value), 0)
    debit = sa.func.coalesce(sa.func.sum(col(Posting.amount_cents)).filter(col(Posting.side) == Side.DEBIT.value), 0)
    rows = (
        await session.execute(
            sa.select(col(Account.member_id), credit - debit)
            .join(Posting, col(Posting.account_id) == col(Account.id))
            # One array parameter, not one per id: a year-end run asks for every member at once.
            .where(
                col(Account.member_id) == sa.any_(sa.literal(member_ids, ARRAY(sa.BigInteger))),
                col(Account.code).like(chart.MEMBER_SHARE_PATTERN),
            )
            .group_by(col(Account.member_id))
        )
    ).all()
    paid = {int(mid): int(amount) for mid, amount in rows}
    return {mid: paid.get(mid, 0) for mid in member_ids}


async def record_change(
    session: AsyncSession,
    member: Member,
    *,
    from_status: Status | None,
    to_status: Status,
    effective_at: datetime,
    reason: str,
    actor_user_id: int | None,
) -> None:
    """Keep a dated, attributed status change in the member's history."""
    assert member.id is not None  # noqa: S101 - flushed members have ids
    session.add(
        MemberStatusChange(
            member_id=member.id,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            effective_at=effective_at,
            reason=reason,
            actor_user_id=actor_user_id,
        )
    )


async def _move(
    session: AsyncSession, member: Member, target: Status, effective_at: datetime, reason: str, actor: int | None
) -> None:
    current = Status(member.status)
    check_transition(current, target)
    member.status = target.value
    session.add(member)
    await record_change(
        session,
        member,
        from_status=current,
        to_status=target,
        effective_at=effective_at,
        reason=reason,
        actor_user_id=actor,
    )
    if target is Status.FULL:
        await grant_bylaw_consent(session, member, effective_at.date())


async def grant_bylaw_consent(session: AsyncSession, member: Member, on: date) -> None:
    """Full members consent by bylaw from the day they become full (Subchapter T)."""
    await session.execute(
        insert(MemberConsent)
        .values(member_id=member.id, kind="bylaw", received_on=on)
        .on_conflict_do_nothing(constraint="uq_member_consent_member_kind")
    )


async def admit(
    session: AsyncSession, member_id: int, *, probation_days: int, now: datetime, actor: int
) -> MemberWithShare:
    """Admit an applicant: full at once if the share is paid and there is no probation."""
    member = await locked(session, member_id)
    check_transition(Status(member.status), Status.PROBATIONARY)
    today = now.date()
    member.probation_ends_on = today + timedelta(days=probation_days) if probation_days > 0 else None
    member.joined_at = now
    paid = (await shares_paid(session, [member_id]))[member_id]
    target = admitted_status(
        share_paid_cents=paid, par_cents=member.share_par_cents, probation_ends=member.probation_ends_on, today=today
    )
    await _move(session, member, target, now, f"admitted with {probation_days} days of probation", actor)
    return MemberWithShare(member, paid)


async def pay_share(
    session: AsyncSession,
    member_id: int,
    *,
    amount_cents: int,
    method: PaymentMethod,
    reference: str | None,
    now: datetime,
    entry_key: str,
    actor: int,
) -> Recorded:
    """Record a share payment (at once or an instalment); never more than remains due."""
    member = await locked(session, member_id)
    paid = (await shares_paid(session, [member_id]))[member_id]
    errors = share_payment_errors(
        amount_cents, paid_cents=paid, par_cents=member.share_par_cents, status=Status(member.status)
    )
    if errors:
        raise InvalidInputError("the share payment is not acceptable", errors)
    entry = await ledger.record_receipt(
        session,
        method=method,
        credit=chart.member_share(member_id),
        amount_cents=amount_cents,
        kind="share_payment",
        key=f"{member_id}:{entry_key}",
        reference=reference,
        occurred_at=now,
    )
    await _promote_if_due(session, member, now=now, paid_cents=paid + amount_cents, actor=actor)
    return Recorded(entry, MemberWithShare(member, paid + amount_cents))


async def _promote_if_due(
    session: AsyncSession, member: Member, *, now: datetime, paid_cents: int, actor: int | None
) -> bool:
    if member.status != Status.PROBATIONARY.value:
        return False
    target = admitted_status(
        share_paid_cents=paid_cents,
        par_cents=member.share_par_cents,
        probation_ends=member.probation_ends_on,
        today=now.date(),
    )
    if target is not Status.FULL:
        return False
    await _move(session, member, Status.FULL, now, "share paid and probation over", actor)
    return True


async def promote_if_due(
    session: AsyncSession, member: Member, *, now: datetime, paid_cents: int, actor: int | None
) -> bool:
    """A probationary member whose share is now paid (and probation over) becomes full; True when it did."""
    return await _promote_if_due(session, member, now=now, paid_cents=paid_cents, actor=actor)


async def promote_due_members(session: AsyncSession, today: date) -> int:
    """The daily job: probationary members whose probation ended and share is paid become full."""
    ids = (
        await session.exec(
            select(Member.id)
            .where(
                col(Member.status) == Status.PROBATIONARY.value,
                sa.or_(col(Member.probation_ends_on).is_(None), col(Member.probation_ends_on) <= today),
            )
            .order_by(col(Member.id))
        )
    ).all()
    promoted = 0
    for member_id in ids:
        assert member_id is not None  # noqa: S101 - primary keys
        member = await locked(session, member_id)
        paid = (await shares_paid(session, [member_id]))[member_id]
        # The promotion takes effect on the day it fell due.
        due = datetime.combine(today, time(), UTC)
        promoted += await _promote_if_due(session, member, now=due, paid_cents=paid, actor=None)
    return promoted


async def record_payment(
    session: AsyncSession,
    member_id: int,
    *,
    amount_cents: int,
    method: PaymentMethod,
    reference: str | None,
    now: datetime,
    entry_key: str,
) -> Recorded:
    """A payment on the member's trade account (reduces what it owes)."""
    member = await get(session, member_id)
    if amount_cents <= 0:
        raise InvalidInputError("the payment is not acceptable", [_positive("amount_cents")])
    entry = await ledger.record_receipt(
        session,
        method=method,
        credit=chart.member_trade(member_id),
        amount_cents=amount_cents,
        kind="trade_payment",
        key=f"{member_id}:{entry_key}",
        reference=reference,
        occurred_at=now,
    )
    return Recorded(entry, await with_share(session, member))


async def grant_credit(
    session: AsyncSession, member_id: int, *, amount_cents: int, reason: str, now: datetime, entry_key: str
) -> Recorded:
    """A credit on the trade account (goodwill, a returned item): the co-op bears it."""
    member = await get(session, member_id)
    if amount_cents <= 0:
        raise InvalidInputError("the credit is not acceptable", [_positive("amount_cents")])
    entry = await ledger.transfer(
        session,
        debit=chart.MEMBER_CREDITS,
        credit=chart.member_trade(member_id),
        amount_cents=amount_cents,
        kind="trade_credit",
        idempotency_key=f"trade_credit:{member_id}:{entry_key}",
        occurred_at=now,
        memo=reason,
    )
    return Recorded(entry, await with_share(session, member))


def _positive(field: str) -> FieldError:
    return FieldError(field, "must be a positive number of cents")


async def withdraw(
    session: AsyncSession,
    member_id: int,
    *,
    effective_on: date | None,
    now: datetime,
    actor: int,
    on_leaving: LeavingHook,
) -> MemberWithShare:
    """Dated notice of withdrawal; on the effective date the member becomes former.

    400 (field `effective_date`) for a date before the member joined or more than a
    month in the past.
    """
    member = await locked(session, member_id)
    today = now.date()
    target = notice_target(Status(member.status), effective_on=effective_on, today=today)
    joined_on = member.joined_at.astimezone(UTC).date() if member.joined_at is not None else None
    if errors := withdrawal_date_errors(effective_on or today, joined_on=joined_on, today=today):
        raise InvalidInputError("the withdrawal date is not acceptable", errors)
    if target is Status.RESIGNING:
        member.resigns_on = effective_on
        await _move(session, member, Status.RESIGNING, now, f"notice of withdrawal effective {effective_on}", actor)
        return await with_share(session, member)
    await _exit(
        session,
        member,
        Status.FORMER,
        start_of(effective_on or today),
        "withdrew",
        actor,
        on_leaving=on_leaving,
        redeem=False,
    )
    return await with_share(session, member)


async def take_back_notice(session: AsyncSession, member_id: int, *, now: datetime, actor: int) -> MemberWithShare:
    """A resigning member withdraws its notice before the date: full again, vote restored."""
    member = await locked(session, member_id)
    check_notice_withdrawal(Status(member.status))
    member.resigns_on = None
    await _move(session, member, Status.FULL, now, "notice of withdrawal taken back", actor)
    return await with_share(session, member)


async def complete_due_resignations(session: AsyncSession, today: date, *, on_leaving: LeavingHook) -> int:
    """The daily job: resigning members whose effective date has come become former."""
    ids = (
        await session.exec(
            select(Member.id)
            .where(col(Member.status) == Status.RESIGNING.value, col(Member.resigns_on) <= today)
            .order_by(col(Member.id))
        )
    ).all()
    for member_id in ids:
        assert member_id is not None  # noqa: S101 - primary keys
        member = await locked(session, member_id)
        if member.status == Status.RESIGNING.value and member.resigns_on is not None:
            await _exit(
                session,
                member,
                Status.FORMER,
                start_of(member.resigns_on),
                "withdrawal took effect",
                None,
                on_leaving=on_leaving,
                redeem=False,
            )
    return len(ids)


async def change_standing(
    session: AsyncSession,
    member_id: int,
    target: Status,
    *,
    reason: str,
    now: datetime,
    actor: int,
    on_leaving: LeavingHook,
) -> MemberWithShare:
    """Suspend, reinstate or expel (staff decisions); expulsion redeems the share like an exit."""
    member = await locked(session, member_id)
    check_standing_change(Status(member.status), target)
    if target in EXITED:
        await _exit(session, member, target, now, reason, actor, on_leaving=on_leaving)
    else:
        if target is Status.FULL and member.status == Status.RESIGNING.value:
            member.resigns_on = None
        await _move(session, member, target, now, reason, actor)
    return await with_share(session, member)


async def _exit(
    session: AsyncSession,
    member: Member,
    target: Status,
    effective_at: datetime,
    reason: str,
    actor: int | None,
    *,
    on_leaving: LeavingHook,
    redeem: bool = True,
) -> None:
    """Leave: lose the vote; open orders go. Retained equity stays outstanding.

    A withdrawal leaves the share for the board (`decide_share_redemption`); an
    expulsion is itself the staff's decision, so the share is redeemed at once.
    """
    await _move(session, member, target, effective_at, reason, actor)
    assert member.id is not None  # noqa: S101 - loaded members have ids
    # A member who left buys nothing more: its open orders in open buys go (the hook), under
    # the member's row lock that every order write also takes (buying.orders).
    await on_leaving(session, member.id, now=max(effective_at, utc_now()))
    member.left_at = effective_at
    member.resigns_on = None
    session.add(member)
    if redeem:
        redemption = await _redeem_share(session, member, effective_at)
        await _record_decision(
            session, member.id, RedemptionDecision.APPROVED, redemption, reason=reason, now=effective_at, actor=actor
        )


async def decide_share_redemption(
    session: AsyncSession,
    member_id: int,
    decision: RedemptionDecision,
    *,
    reason: str | None,
    now: datetime,
    actor: int,
) -> ShareRedemptionDecision:
    """The board approves (pays par minus set-off, once) or declines (the share stays owed) a leaver's share."""
    member = await locked(session, member_id)  # one decision at a time per member
    existing = await session.get(ShareRedemptionDecision, member_id)
    current = RedemptionDecision(existing.decision) if existing else None
    check_redemption_decision(Status(member.status), current, decision)
    if existing is not None and current is RedemptionDecision.APPROVED:
        return existing  # approving again changes nothing
    redemption = ShareRedemption(payout_cents=0, set_off_cents=0)
    if decision is RedemptionDecision.APPROVED:
        redemption = await _redeem_share(session, member, now)
    return await _record_decision(session, member_id, decision, redemption, reason=reason, now=now, actor=actor)


async def _record_decision(
    session: AsyncSession,
    member_id: int,
    decision: RedemptionDecision,
    redemption: ShareRedemption,
    *,
    reason: str | None,
    now: datetime,
    actor: int | None,
) -> ShareRedemptionDecision:
    row = await session.get(ShareRedemptionDecision, member_id) or ShareRedemptionDecision(
        member_id=member_id, decision=decision.value, decided_at=now
    )
    row.decision = decision.value
    row.reason = reason
    row.payout_cents = redemption.payout_cents
    row.set_off_cents = redemption.set_off_cents
    row.decided_at = now
    row.actor_user_id = actor
    session.add(row)
    await session.flush()
    return row


async def _redeem_share(session: AsyncSession, member: Member, effective_at: datetime) -> ShareRedemption:
    """The paid share is redeemed at par minus what the member owes.

    Two entries, as the set-off is its own decision: the share becomes a payable,
    then the debt is taken out of it.
    """
    assert member.id is not None  # noqa: S101 - loaded members have ids
    paid = (await shares_paid(session, [member.id]))[member.id]
    if paid <= 0:
        return ShareRedemption(payout_cents=0, set_off_cents=0)
    owed = await ledger.balance_of(session, chart.member_trade(member.id))
    redemption = share_redemption(par_cents=member.share_par_cents, paid_cents=paid, owed_cents=owed)
    await ledger.transfer(
        session,
        debit=chart.member_share(member.id),
        credit=chart.PAYOUTS_PAYABLE,
        amount_cents=redemption.payout_cents + redemption.set_off_cents,
        kind="share_redemption",
        idempotency_key=f"share_redemption:{member.id}",
        occurred_at=effective_at,
        memo="membership share redeemed at par",
    )
    if redemption.set_off_cents:
        await ledger.transfer(
            session,
            debit=chart.PAYOUTS_PAYABLE,
            credit=chart.member_trade(member.id),
            amount_cents=redemption.set_off_cents,
            kind="set_off",
            idempotency_key=f"share_redemption_set_off:{member.id}",
            occurred_at=effective_at,
            memo="trade balance set off against the share redemption",
        )
    if redemption.payout_cents:
        await create_payout(
            session,
            member_id=member.id,
            kind="share_redemption",
            amount_cents=redemption.payout_cents,
            business_key=f"share_redemption:{member.id}",
        )
    return redemption


async def history(session: AsyncSession, member_id: int) -> list[MemberStatusChange]:
    """Every status change, in order."""
    result = await session.exec(
        select(MemberStatusChange)
        .where(col(MemberStatusChange.member_id) == member_id)
        .order_by(col(MemberStatusChange.id))
    )
    return list(result.all())


async def record_consent(session: AsyncSession, member_id: int, *, kind: str, received_on: date) -> MemberConsent:
    """A consent of a kind the member has not given yet; the same one again answers the one on file.

    The same kind with another date is refused (409 naming `received_on`): the first
    consent stays the one in force, and a second row would make qualification ambiguous.
    """
    await get(session, member_id)
    await session.execute(
        insert(MemberConsent)
        .values(member_id=member_id, kind=kind, received_on=received_on)
        .on_conflict_do_nothing(constraint="uq_member_consent_member_kind")
    )
    consent: MemberConsent = (
        await session.exec(
            select(MemberConsent).where(col(MemberConsent.member_id) == member_id, col(MemberConsent.kind) == kind)
        )
    ).one()
    if consent.received_on != received_on:
        msg = f"a {kind} consent received on {consent.received_on} is already on file"
        raise FieldConflictError(msg, [FieldError("received_on", msg)], code="consent_on_file")
    return consent


async def consents(session: AsyncSession, member_id: int) -> list[MemberConsent]:
    """The member's consents, oldest first."""
    result = await session.exec(
        select(MemberConsent).where(col(MemberConsent.member_id) == member_id).order_by(col(MemberConsent.received_on))
    )
    return list(result.all())


async def has_consent(session: AsyncSession, member_id: int, on: date) -> bool:
    """Whether the member had consented (and not revoked) on that date."""
    result = await session.exec(
        select(MemberConsent.id).where(
            col(MemberConsent.member_id) == member_id,
            col(MemberConsent.received_on) <= on,
            sa.or_(col(MemberConsent.revoked_on).is_(None), col(MemberConsent.revoked_on) > on),
        )
    )
    return result.first() is not None


async def trade_account(session: AsyncSession, member_id: int) -> list[ledger.StatementLine]:
    """The trade account's entries with running balance (positive = the member owes)."""
    await get(session, member_id)
    return await ledger.statement(session, chart.member_trade(member_id))


@dataclass(frozen=True, slots=True)
class MemberWithShare:
    """A member as every answer about one shows it: with its paid-in share, read from the ledger."""

    member: MemberView
    share_paid_cents: int


@dataclass(frozen=True, slots=True)
class Recorded:
    """A payment or credit on a member's account: the journal entry and the member after it."""

    entry: JournalEntry
    member: MemberWithShare


async def with_shares(session: AsyncSession, members: Sequence[MemberView]) -> list[MemberWithShare]:
    """Each stored member with its paid-in share, in one query for them all."""
    ids = [m.id for m in members if m.id is not None]
    paid = await shares_paid(session, ids)
    return [MemberWithShare(m, paid[m.id]) for m in members if m.id is not None]


async def with_share(session: AsyncSession, member: MemberView) -> MemberWithShare:
    """One stored member with its paid-in share."""
    return (await with_shares(session, [member]))[0]


async def get_with_share(session: AsyncSession, member_id: int) -> MemberWithShare:
    """The member with its paid-in share, or 404."""
    return await with_share(session, await get(session, member_id))
