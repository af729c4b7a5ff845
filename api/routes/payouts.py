"""Payouts: the staff list, one payout with its history, the payment run, and reconciliation.

API.md "Year-end allocation, payouts, redemption". Every status change is one ledger
entry where money moves, and always one payout event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from api.auth import staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import TEXT_PATTERN, LongText, PositiveCents
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import query_id
from domain.errors import ForbiddenError, NotFoundError
from domain.identity.rules import Access, member_access
from domain.membership.check_register import check_register
from domain.payments import service
from domain.payments.rules import PayoutKind, PayoutMethod, PayoutStatus
from domain.payments.views import PayoutView

Cents = PositiveCents
Reference = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=TEXT_PATTERN, description="check number, trace id, ...")
]
Reason = LongText
PaidBy = Literal["check", "bank_transfer", "ach", "cash", "store_credit"]

_VOID_POLICY = (
    "Voiding releases the liability to unallocated equity: the co-op keeps the money "
    "(it is never reallocated to other members). From unclaimed, the held amount is released."
)


class MarkPaidIn(msgspec.Struct, forbid_unknown_fields=True):
    """How the payout was paid; `method` defaults to the payout's planned method, else `check`."""

    method: PaidBy | None = None
    reference: Reference | None = None
    reason: Reason | None = None


class StatusChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The reference (a returned item's trace, a new check number) and why."""

    reference: Reference | None = None
    reason: Reason | None = None


class SetOffIn(msgspec.Struct, forbid_unknown_fields=True):
    """At most this much (default: all that the member owes, up to the payout)."""

    amount_cents: Cents | None = None
    reason: Reason | None = None


class PayoutOut(msgspec.Struct):
    """A payout: what the co-op owes a member, and where it stands.

    `amount_cents` is what remains to pay (set-offs reduce it); `status_since` is when
    the payout entered its status (for unclaimed payouts, the date they are held from).
    """

    id: str
    member_id: str
    kind: PayoutKind
    amount_cents: int
    status: PayoutStatus
    method: PayoutMethod | None
    reference: str | None
    paid_at: datetime | None
    created_at: datetime
    status_since: datetime


class PayoutEventOut(msgspec.Struct):
    """One change of the payout: the move, its amount, and the ledger entry (null when no money moved)."""

    action: str
    from_status: PayoutStatus
    to_status: PayoutStatus
    amount_cents: int | None
    reference: str | None
    reason: str | None
    entry_id: str | None
    actor_user_id: str | None
    occurred_at: datetime


class PayoutDetailOut(PayoutOut):
    """A payout with its history, oldest event first."""

    events: list[PayoutEventOut]


def _shape(payout: PayoutView, since: datetime) -> PayoutOut:
    return PayoutOut(
        id=str(payout.id),
        member_id=str(payout.member_id),
        kind=PayoutKind(payout.kind),
        amount_cents=payout.amount_cents,
        status=PayoutStatus(payout.status),
        method=PayoutMethod(payout.method) if payout.method else None,
        reference=payout.reference,
        paid_at=payout.paid_at,
        created_at=payout.created_at,
        status_since=since,
    )


def _detail(detail: service.PayoutDetail) -> PayoutDetailOut:
    events = [
        PayoutEventOut(
            action=view.action,
            from_status=PayoutStatus(view.event.from_status),
            to_status=PayoutStatus(view.event.to_status),
            amount_cents=view.event.amount_cents,
            reference=view.event.reference,
            reason=view.event.reason,
            entry_id=str(view.event.entry_id) if view.event.entry_id is not None else None,
            actor_user_id=str(view.event.actor_user_id) if view.event.actor_user_id is not None else None,
            occurred_at=view.event.occurred_at,
        )
        for view in detail.events
    ]
    return PayoutDetailOut(**msgspec.structs.asdict(_shape(detail.payout, detail.status_since)), events=events)


class PayoutController(Controller):
    """Routes under /v1/payouts."""

    path = "/v1/payouts"
    tags = ["payouts"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", access=staff_only, summary="List payouts", responses=problems(400, *AUTHENTICATED))
    async def list_payouts(
        self,
        db: DbSession,
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[PayoutStatus | None, Parameter(description="only payouts in this status")] = None,
        kind: Annotated[PayoutKind | None, Parameter(description="only payouts of this kind")] = None,
        member_id: Annotated[str | None, Parameter(description="only this member's payouts")] = None,
    ) -> Page[PayoutOut]:
        """Oldest first; unknown filter values are a 400."""
        payouts = await service.page(
            db,
            status=status,
            kind=kind,
            member_id=query_id(member_id, "member_id"),
            after_id=after_id(cursor),
            limit=limit,
        )
        since = await service.status_since(db, payouts)
        ids = [p.id for p in payouts if p.id is not None]
        return Page([_shape(p, since[p.id]) for p in payouts if p.id is not None], next_cursor(ids, limit))

    @get(
        "/export",
        access=staff_only,
        summary="Payment run: pending payouts as a check register",
        media_type="text/csv",
        responses=problems(400, *AUTHENTICATED),
    )
    async def export(
        self,
        db: DbSession,
        file_format: Annotated[
            Literal["check_register"], QueryParameter(name="format", description="the register's layout")
        ] = "check_register",
        kind: Annotated[PayoutKind | None, Parameter(description="only payouts of this kind")] = None,
    ) -> Response[str]:
        """CSV (`text/csv`), one row per pending payout in member number order, amounts in cents and dollars.

        Staff pay from it (checks, or their bank's ACH/NACHA tool) and then mark each payout paid.
        """
        body = await check_register(db, kind=kind)
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="payouts-{file_format}-{stamp}.csv"'},
        )

    @get(
        "/{payout_id:str}",
        access=staff_or_members,
        summary="One payout with its history",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, payout_id: FromPath[str], db: DbSession, caller: Caller) -> PayoutDetailOut:
        """Staff, and the member's own users (another member's payouts are not found)."""
        pid = path_id(payout_id, "payout")
        payout = await service.get(db, pid)
        access = member_access(caller.role, caller.member_id, caller.member_role, payout.member_id, admin=False)
        if access is Access.HIDDEN:
            raise NotFoundError(f"payout {payout_id} not found")
        if access is Access.FORBIDDEN:
            raise ForbiddenError("your role may not see this payout")
        return _detail(await service.detail(db, payout))

    @post(
        "/{payout_id:str}/mark-paid",
        status_code=200,
        access=staff_only,
        summary="Mark a payout paid",
        responses=problems(404, *POSTED),
    )
    async def mark_paid(
        self, payout_id: FromPath[str], data: JSONBody[MarkPaidIn], db: DbSession, caller: Caller
    ) -> PayoutDetailOut:
        """Pending -> paid: debit payouts payable, credit where the money went out.

        The bank (check, bank_transfer, ach), cash on hand (cash) or the member's trade account
        (store_credit). The same request again right after is answered with the payout as it is;
        another move is a 409 naming the allowed ones.
        """
        payout = await service.change_status(
            db,
            path_id(payout_id, "payout"),
            PayoutStatus.PAID,
            method=PayoutMethod(data.method) if data.method else None,
            reference=data.reference,
            reason=data.reason,
            actor=caller.user_id,
            now=datetime.now(UTC),
        )
        return _detail(payout)

    @post(
        "/{payout_id:str}/fail",
        status_code=200,
        access=staff_only,
        summary="Mark a payout failed",
        responses=problems(404, *POSTED),
    )
    async def fail(
        self, payout_id: FromPath[str], data: JSONBody[StatusChangeIn], db: DbSession, caller: Caller
    ) -> PayoutDetailOut:
        """Paid -> failed, or pending -> failed.

        Paid -> failed is a bounced check or returned transfer: debit the bank, credit payouts
        payable (owed again). Pending -> failed was never sent: no money moved, so only the event
        is recorded.
        """
        return await self._move(db, payout_id, PayoutStatus.FAILED, data, caller.user_id)

    @post(
        "/{payout_id:str}/void",
        status_code=200,
        access=staff_only,
        summary="Void a payout",
        description=(
            "pending, failed or unclaimed -> void (final). " + _VOID_POLICY + " Debit payouts payable (or unclaimed "
            "payouts) and credit unallocated equity."
        ),
        responses=problems(404, *POSTED),
    )
    async def void(
        self, payout_id: FromPath[str], data: JSONBody[StatusChangeIn], db: DbSession, caller: Caller
    ) -> PayoutDetailOut:
        """Void a payout: the co-op keeps the money."""
        return await self._move(db, payout_id, PayoutStatus.VOID, data, caller.user_id)

    @post(
        "/{payout_id:str}/reissue",
        status_code=200,
        access=staff_only,
        summary="Reissue a payout",
        responses=problems(404, *POSTED),
    )
    async def reissue(
        self, payout_id: FromPath[str], data: JSONBody[StatusChangeIn], db: DbSession, caller: Caller
    ) -> PayoutDetailOut:
        """Failed -> pending, or unclaimed -> pending.

        From failed the money is still in payouts payable: nothing moves, only the event is
        recorded. From unclaimed: debit unclaimed payouts, credit payouts payable. `reference` is
        the new check number, if any.
        """
        return await self._move(db, payout_id, PayoutStatus.PENDING, data, caller.user_id)

    @post(
        "/{payout_id:str}/mark-unclaimed",
        status_code=200,
        access=staff_only,
        summary="Hold a payout as unclaimed",
        responses=problems(404, *POSTED),
    )
    async def mark_unclaimed(
        self, payout_id: FromPath[str], data: JSONBody[StatusChangeIn], db: DbSession, caller: Caller
    ) -> PayoutDetailOut:
        """Pending -> unclaimed: debit payouts payable, credit unclaimed payouts.

        Held, from this date (`status_since`), until reissued or voided per policy.
        """
        return await self._move(db, payout_id, PayoutStatus.UNCLAIMED, data, caller.user_id)

    @post(
        "/{payout_id:str}/set-off",
        status_code=200,
        access=staff_only,
        summary="Set a payout off against the trade balance",
        responses=problems(404, *POSTED),
    )
    async def set_off(
        self, payout_id: FromPath[str], data: JSONBody[SetOffIn], db: DbSession, caller: Caller
    ) -> PayoutDetailOut:
        """Apply a pending payout (409 otherwise) to what the member owes.

        min(owed, payout, amount_cents) goes to the member's trade account (debit payouts payable,
        credit the trade account) and the payout shrinks by it; when nothing remains it is paid, by
        `set_off`. 400 when the member owes nothing.
        """
        payout = await service.set_off(
            db,
            path_id(payout_id, "payout"),
            amount_cents=data.amount_cents,
            reason=data.reason,
            actor=caller.user_id,
            now=datetime.now(UTC),
        )
        return _detail(payout)

    async def _move(
        self, db: DbSession, payout_id: str, target: PayoutStatus, data: StatusChangeIn, actor: int
    ) -> PayoutDetailOut:
        payout = await service.change_status(
            db,
            path_id(payout_id, "payout"),
            target,
            reference=data.reference,
            reason=data.reason,
            actor=actor,
            now=datetime.now(UTC),
        )
        return _detail(payout)
