"""Members: joining, shares, leaving, and their statements (API.md "Members")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import check_member_access, staff_only, staff_or_members
from api.deps import Caller, DbSession
from api.fields import PLAIN_PATTERN, Day, Email, LongText, Password, PositiveCents, Text
from api.keys import new_entry_key
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.routes.identity import Me, me_of
from domain.departures import service as departures
from domain.equity import statements
from domain.errors import ConflictError
from domain.identity import service as identity
from domain.identity.rules import MemberRole, Role, member_takes_new_users
from domain.ledger.chart import PaymentMethod
from domain.membership import service as membership
from domain.membership.rules import RedemptionDecision, Status, votes
from domain.membership.views import MemberView, ShareRedemptionDecisionView

Cents = PositiveCents


class Share(msgspec.Struct):
    """The membership share: par, paid so far, issued once paid in full."""

    par_cents: int
    paid_cents: int
    issued: bool


class MemberOut(msgspec.Struct):
    """A member as clients see it."""

    id: str
    member_number: int
    name: str
    email: str
    contact_name: str | None
    status: Status
    votes: int
    share: Share
    joined_at: datetime | None
    left_at: datetime | None
    probation_ends_on: date | None
    resigns_on: date | None


class NewMember(msgspec.Struct, forbid_unknown_fields=True):
    """An application to join."""

    name: Text
    email: Email
    contact_name: Text | None = None


class NewMemberUser(msgspec.Struct, forbid_unknown_fields=True):
    """A user for the member's business."""

    email: Email
    password: Password
    member_role: MemberRole


class Admission(msgspec.Struct, forbid_unknown_fields=True):
    """Admit an applicant, with optional probation."""

    probation_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0


class MoneyIn(msgspec.Struct, forbid_unknown_fields=True):
    """A payment received from the member."""

    amount_cents: Cents
    method: PaymentMethod
    reference: Text | None = None


class CreditIn(msgspec.Struct, forbid_unknown_fields=True):
    """A credit granted on the trade account."""

    amount_cents: Cents
    reason: Text


class Withdrawal(msgspec.Struct, forbid_unknown_fields=True):
    """Notice of withdrawal; today when no date is given."""

    effective_date: Day | None = None


class StandingChange(msgspec.Struct, forbid_unknown_fields=True):
    """Why staff suspend, reinstate or expel a member."""

    reason: Text


class RedemptionDecline(msgspec.Struct, forbid_unknown_fields=True):
    """Why the board does not redeem the share now (it stays owed as equity)."""

    reason: LongText


class ShareRedemptionOut(msgspec.Struct):
    """The board's decision on a leaving member's share and what it paid."""

    member_id: str
    decision: RedemptionDecision
    payout_cents: int
    set_off_cents: int
    reason: str | None
    decided_at: datetime


def _redemption_out(row: ShareRedemptionDecisionView) -> ShareRedemptionOut:
    return ShareRedemptionOut(
        member_id=str(row.member_id),
        decision=RedemptionDecision(row.decision),
        payout_cents=row.payout_cents,
        set_off_cents=row.set_off_cents,
        reason=row.reason,
        decided_at=row.decided_at,
    )


class Receipt(msgspec.Struct):
    """A recorded payment or credit and the ledger entry it became."""

    id: str
    member_id: str
    kind: str
    amount_cents: int
    occurred_at: datetime
    memo: str
    member: MemberOut


class ConsentIn(msgspec.Struct, forbid_unknown_fields=True):
    """A Subchapter T consent received from the member."""

    kind: Literal["written", "check_endorsement", "bylaw"]
    received_on: Day


class ConsentOut(msgspec.Struct):
    """A consent on file, with the day it was received (and revoked, if so)."""

    kind: str
    received_on: date
    revoked_on: date | None


class StatusChangeOut(msgspec.Struct):
    """One dated change in the member's history."""

    from_status: Status | None
    to_status: Status
    effective_at: datetime
    reason: str


class LotOut(msgspec.Struct):
    """One equity lot."""

    fiscal_year: int
    kind: str
    qualified: bool
    face_cents: int
    redeemed_cents: int
    outstanding_cents: int


class EquityStatement(msgspec.Struct):
    """The member's capital account, derived from postings."""

    member_id: str
    membership_share_cents: int
    preferred_shares_cents: int
    lots: list[LotOut]
    total_equity_cents: int


class AccountEntry(msgspec.Struct):
    """One entry on the trade account; positive amounts increase what the member owes."""

    entry_id: str
    kind: str
    memo: str
    occurred_at: datetime
    amount_cents: int
    balance_cents: int


class TradeAccount(msgspec.Struct):
    """The trade account: positive balance = the member owes the co-op."""

    member_id: str
    balance_cents: int
    entries: list[AccountEntry]


def member_out(view: membership.MemberWithShare) -> MemberOut:
    """The public view of one member, with its paid share."""
    return _shape(view.member, view.share_paid_cents)


def receipt(recorded: membership.Recorded, amount_cents: int) -> Receipt:
    """What a recorded payment or credit answers: the entry and the member after it."""
    entry, member = recorded.entry, recorded.member
    return Receipt(
        str(entry.id),
        str(member.member.id),
        entry.kind,
        amount_cents,
        entry.occurred_at,
        entry.memo,
        member_out(member),
    )


def _shape(member: MemberView, paid: int) -> MemberOut:
    assert member.member_number is not None  # noqa: S101 - assigned by the database
    return MemberOut(
        id=str(member.id),
        member_number=member.member_number,
        name=member.name,
        email=member.email,
        contact_name=member.contact_name,
        status=Status(member.status),
        votes=votes(Status(member.status)),
        share=Share(member.share_par_cents, paid, paid >= member.share_par_cents),
        joined_at=member.joined_at,
        left_at=member.left_at,
        probation_ends_on=member.probation_ends_on,
        resigns_on=member.resigns_on,
    )


class MemberController(Controller):
    """Routes under /v1/members."""

    path = "/v1/members"
    tags = ["members"]  # noqa: RUF012 - litestar's declared attribute type

    @post("/", access=staff_only, summary="Register an applicant", responses=problems(*POSTED))
    async def apply(self, data: JSONBody[NewMember], db: DbSession, state: State) -> MemberOut:
        """A business applies; it gets its member number now and becomes a member on admission."""
        member = await membership.apply(
            db,
            name=data.name,
            email=data.email,
            contact_name=data.contact_name,
            par_cents=state.settings.policy.share_par_cents,
        )
        return _shape(member, 0)

    @get("/", access=staff_or_members, summary="List members", responses=problems(400, *AUTHENTICATED))
    async def list_members(
        self,
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[Status | None, Parameter(description="only members in this status")] = None,
        name: Annotated[
            str | None,
            Parameter(
                min_length=1,
                max_length=200,
                pattern=PLAIN_PATTERN,
                description="only names containing this (any case, literal)",
            ),
        ] = None,
    ) -> Page[MemberOut]:
        """Staff see all members; a member's users see only their own."""
        only = None if caller.role is Role.STAFF else caller.member_id
        members = await membership.page(
            db, only_member_id=only, after_id=after_id(cursor), limit=limit, status=status, name_contains=name
        )
        items = [_shape(view.member, view.share_paid_cents) for view in await membership.with_shares(db, members)]
        return Page(items, next_cursor([m.id for m in members if m.id is not None], limit))

    @get("/{member_id:str}", summary="One member", responses=problems(400, 404, *AUTHENTICATED))
    async def show(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> MemberOut:
        """The member, to staff and to its own users."""
        mid = path_id(member_id, "member")
        check_member_access(caller, mid)
        return member_out(await membership.get_with_share(db, mid))

    @post("/{member_id:str}/users", summary="Add a user to the member", responses=problems(404, *POSTED))
    async def add_user(
        self, member_id: FromPath[str], data: JSONBody[NewMemberUser], db: DbSession, caller: Caller
    ) -> Me:
        """Staff, or the member's own admins, add users (admin, buyer, finance).

        An e-mail address already in use gets one 409 whoever holds it; see README "Accounts".
        """
        mid = path_id(member_id, "member")
        check_member_access(caller, mid, admin=True)
        member = await membership.locked(db, mid)
        if not member_takes_new_users(member.status):
            msg = f"a {member.status} member gets no new users"
            raise ConflictError(msg)
        user = await identity.create_user(
            db, email=data.email, password=data.password, role=Role.MEMBER, member_id=mid, member_role=data.member_role
        )
        return me_of(user)

    @post(
        "/{member_id:str}/admit",
        status_code=200,
        access=staff_only,
        summary="Admit an applicant",
        responses=problems(404, *POSTED),
    )
    async def admit(
        self, member_id: FromPath[str], data: JSONBody[Admission], db: DbSession, caller: Caller
    ) -> MemberOut:
        """Full at once when the share is paid and there is no probation; else probationary."""
        member = await membership.admit(
            db,
            path_id(member_id, "member"),
            probation_days=data.probation_days,
            now=datetime.now(UTC),
            actor=caller.user_id,
        )
        return member_out(member)

    @post(
        "/{member_id:str}/share-payments",
        access=staff_only,
        summary="Record a share payment",
        responses=problems(404, *POSTED),
    )
    async def pay_share(
        self, member_id: FromPath[str], data: JSONBody[MoneyIn], db: DbSession, caller: Caller
    ) -> Receipt:
        """At once or in instalments; more than what remains due is refused (400)."""
        mid = path_id(member_id, "member")
        recorded = await membership.pay_share(
            db,
            mid,
            amount_cents=data.amount_cents,
            method=data.method,
            reference=data.reference,
            now=datetime.now(UTC),
            entry_key=new_entry_key(),
            actor=caller.user_id,
        )
        return receipt(recorded, data.amount_cents)

    @post(
        "/{member_id:str}/payments",
        access=staff_only,
        summary="Record a payment on the trade account",
        responses=problems(404, *POSTED),
    )
    async def pay(self, member_id: FromPath[str], data: JSONBody[MoneyIn], db: DbSession) -> Receipt:
        """Bank transfer, cash, check or card received against what the member owes."""
        mid = path_id(member_id, "member")
        recorded = await membership.record_payment(
            db,
            mid,
            amount_cents=data.amount_cents,
            method=data.method,
            reference=data.reference,
            now=datetime.now(UTC),
            entry_key=new_entry_key(),
        )
        return receipt(recorded, data.amount_cents)

    @post(
        "/{member_id:str}/credits",
        access=staff_only,
        summary="Grant a credit on the trade account",
        responses=problems(404, *POSTED),
    )
    async def credit(self, member_id: FromPath[str], data: JSONBody[CreditIn], db: DbSession) -> Receipt:
        """A credit the co-op bears (goodwill, a returned item)."""
        mid = path_id(member_id, "member")
        recorded = await membership.grant_credit(
            db,
            mid,
            amount_cents=data.amount_cents,
            reason=data.reason,
            now=datetime.now(UTC),
            entry_key=new_entry_key(),
        )
        return receipt(recorded, data.amount_cents)

    @post(
        "/{member_id:str}/withdraw",
        status_code=200,
        summary="Give notice of withdrawal",
        responses=problems(404, *POSTED),
    )
    async def withdraw(
        self, member_id: FromPath[str], data: JSONBody[Withdrawal], db: DbSession, caller: Caller
    ) -> MemberOut:
        """Staff or the member's admins; a full member resigns until a future date, else leaves on it.

        The share is not redeemed here: the board approves or declines that (`share-redemption/approve`).
        """
        mid = path_id(member_id, "member")
        check_member_access(caller, mid, admin=True)
        member = await departures.withdraw(
            db, mid, effective_on=data.effective_date, now=datetime.now(UTC), actor=caller.user_id
        )
        return member_out(member)

    @post(
        "/{member_id:str}/withdraw/cancel",
        status_code=200,
        summary="Take back a notice of withdrawal",
        responses=problems(404, *POSTED),
    )
    async def take_back_notice(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> MemberOut:
        """Staff or the member's admins, while the member is `resigning`: full again (else 409)."""
        mid = path_id(member_id, "member")
        check_member_access(caller, mid, admin=True)
        member = await membership.take_back_notice(db, mid, now=datetime.now(UTC), actor=caller.user_id)
        return member_out(member)

    @post(
        "/{member_id:str}/share-redemption/approve",
        status_code=200,
        access=staff_only,
        summary="Approve a leaving member's share redemption",
        responses=problems(404, *POSTED),
    )
    async def approve_redemption(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> ShareRedemptionOut:
        """Board approval: the share is redeemed at par minus what the member owes, and paid out; once."""
        row = await membership.decide_share_redemption(
            db,
            path_id(member_id, "member"),
            RedemptionDecision.APPROVED,
            reason=None,
            now=datetime.now(UTC),
            actor=caller.user_id,
        )
        return _redemption_out(row)

    @post(
        "/{member_id:str}/share-redemption/decline",
        status_code=200,
        access=staff_only,
        summary="Decline a leaving member's share redemption for now",
        responses=problems(404, *POSTED),
    )
    async def decline_redemption(
        self, member_id: FromPath[str], data: JSONBody[RedemptionDecline], db: DbSession, caller: Caller
    ) -> ShareRedemptionOut:
        """The share stays on the capital account as equity owed later; it can be approved afterwards."""
        row = await membership.decide_share_redemption(
            db,
            path_id(member_id, "member"),
            RedemptionDecision.DECLINED,
            reason=data.reason,
            now=datetime.now(UTC),
            actor=caller.user_id,
        )
        return _redemption_out(row)

    @post(
        "/{member_id:str}/suspend",
        status_code=200,
        access=staff_only,
        summary="Suspend a member",
        responses=problems(404, *POSTED),
    )
    async def suspend(
        self, member_id: FromPath[str], data: JSONBody[StandingChange], db: DbSession, caller: Caller
    ) -> MemberOut:
        """A suspended member keeps its equity but loses its vote."""
        return await self._standing(db, member_id, Status.SUSPENDED, data.reason, caller.user_id)

    @post(
        "/{member_id:str}/reinstate",
        status_code=200,
        access=staff_only,
        summary="Reinstate a member",
        responses=problems(404, *POSTED),
    )
    async def reinstate(
        self, member_id: FromPath[str], data: JSONBody[StandingChange], db: DbSession, caller: Caller
    ) -> MemberOut:
        """Back to full: from suspension, or withdrawing a notice of resignation."""
        return await self._standing(db, member_id, Status.FULL, data.reason, caller.user_id)

    @post(
        "/{member_id:str}/expel",
        status_code=200,
        access=staff_only,
        summary="Expel a member",
        responses=problems(404, *POSTED),
    )
    async def expel(
        self, member_id: FromPath[str], data: JSONBody[StandingChange], db: DbSession, caller: Caller
    ) -> MemberOut:
        """Expelled members leave: the share is redeemed like a withdrawal."""
        return await self._standing(db, member_id, Status.EXPELLED, data.reason, caller.user_id)

    async def _standing(self, db: DbSession, member_id: str, target: Status, reason: str, actor: int) -> MemberOut:
        member = await departures.change_standing(
            db, path_id(member_id, "member"), target, reason=reason, now=datetime.now(UTC), actor=actor
        )
        return member_out(member)

    @get("/{member_id:str}/history", summary="Status history", responses=problems(400, 404, *AUTHENTICATED))
    async def history(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> Page[StatusChangeOut]:
        """Every dated status change, oldest first, in one page (a member has a handful)."""
        mid = path_id(member_id, "member")
        check_member_access(caller, mid)
        await membership.get(db, mid)
        changes = [
            StatusChangeOut(
                Status(c.from_status) if c.from_status else None, Status(c.to_status), c.effective_at, c.reason
            )
            for c in await membership.history(db, mid)
        ]
        return Page(changes, next_cursor=None)

    @post("/{member_id:str}/consents", access=staff_only, summary="Record a consent", responses=problems(404, *POSTED))
    async def add_consent(self, member_id: FromPath[str], data: JSONBody[ConsentIn], db: DbSession) -> ConsentOut:
        """Consent lets allocations be qualified notices (recording the same one twice changes nothing)."""
        consent = await membership.record_consent(
            db, path_id(member_id, "member"), kind=data.kind, received_on=data.received_on
        )
        return ConsentOut(consent.kind, consent.received_on, consent.revoked_on)

    @get("/{member_id:str}/consents", summary="Consents on file", responses=problems(400, 404, *AUTHENTICATED))
    async def list_consents(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> Page[ConsentOut]:
        """Bylaw consent from the day the member became full, and any others received, in one page."""
        mid = path_id(member_id, "member")
        check_member_access(caller, mid)
        await membership.get(db, mid)
        consents = [ConsentOut(c.kind, c.received_on, c.revoked_on) for c in await membership.consents(db, mid)]
        return Page(consents, next_cursor=None)

    @get("/{member_id:str}/equity", summary="Capital account statement", responses=problems(400, 404, *AUTHENTICATED))
    async def equity(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> EquityStatement:
        """Membership share, preferred shares and equity lots, from the ledger."""
        mid = path_id(member_id, "member")
        check_member_access(caller, mid)
        await membership.get(db, mid)
        capital = await statements.capital_account(db, mid)
        return EquityStatement(
            member_id=str(mid),
            membership_share_cents=capital.membership_share_cents,
            preferred_shares_cents=capital.preferred_cents,
            lots=[
                LotOut(
                    lot.fiscal_year, lot.kind, lot.qualified, lot.face_cents, lot.redeemed_cents, lot.outstanding_cents
                )
                for lot in capital.lots
            ],
            total_equity_cents=capital.total_equity_cents,
        )

    @get("/{member_id:str}/account", summary="Trade account statement", responses=problems(400, 404, *AUTHENTICATED))
    async def account(self, member_id: FromPath[str], db: DbSession, caller: Caller) -> TradeAccount:
        """Charges, payments and credits with the running balance (positive = the member owes)."""
        mid = path_id(member_id, "member")
        check_member_access(caller, mid)
        lines = await membership.trade_account(db, mid)
        return TradeAccount(
            member_id=str(mid),
            balance_cents=lines[-1].balance_cents if lines else 0,
            entries=[
                AccountEntry(str(ln.entry_id), ln.kind, ln.memo, ln.occurred_at, ln.amount_cents, ln.balance_cents)
                for ln in lines
            ],
        )
