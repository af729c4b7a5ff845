"""A member leaves the co-op: membership's exit, and its open orders in open buys cancelled.

Membership sits below buying (an order checks its member's standing), so the exits that
membership decides take the buying reaction as a hook; this module, above both, passes it.
Callers (routes, the daily job) leave a member through here, never through membership alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.buying.orders import cancel_orders_of_leaving_member
from domain.membership import service as membership

if TYPE_CHECKING:
    from datetime import date, datetime

    from sqlmodel.ext.asyncio.session import AsyncSession

    from domain.membership.rules import Status
    from domain.membership.service import MemberWithShare


async def withdraw(
    session: AsyncSession, member_id: int, *, effective_on: date | None, now: datetime, actor: int
) -> MemberWithShare:
    """Dated notice of withdrawal (see membership.withdraw); on leaving, the member's open orders go."""
    return await membership.withdraw(
        session,
        member_id,
        effective_on=effective_on,
        now=now,
        actor=actor,
        on_leaving=cancel_orders_of_leaving_member,
    )


async def complete_due_resignations(session: AsyncSession, today: date) -> int:
    """The daily job: resigning members whose date has come become former; their open orders go."""
    return await membership.complete_due_resignations(session, today, on_leaving=cancel_orders_of_leaving_member)


async def change_standing(
    session: AsyncSession, member_id: int, target: Status, *, reason: str, now: datetime, actor: int
) -> MemberWithShare:
    """Suspend, reinstate or expel (see membership.change_standing); an expelled member's open orders go."""
    return await membership.change_standing(
        session,
        member_id,
        target,
        reason=reason,
        now=now,
        actor=actor,
        on_leaving=cancel_orders_of_leaving_member,
    )
