"""Supplier programmes (API.md "Supplier programmes"; docs/programmes.md): contracts, reports, claims."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, Parameter

from api.auth import staff_only
from api.deps import Caller, DbSession
from api.fields import (
    Day,
    MemberNumber,
    Moment,
    NonZeroCents,
    PositiveCents,
    Rate,
    ShortText,
    Text,
    decode_body,
)
from api.paging import Cursor, Limit, Page, after_id, next_cursor, path_id
from api.problems import AUTHENTICATED, POSTED, problems
from api.route_helpers import own_supplier, query_id, staff_or_suppliers, utc
from domain.errors import FieldError, InvalidInputError
from domain.programmes import claims, contracts, reports
from domain.programmes.rules import (
    MAX_ELIGIBLE,
    MAX_LINES,
    MAX_TIERS,
    ClaimStatus,
    LineIn,
    LineStatus,
    Period,
)
from domain.programmes.rules import RebateMode as Mode
from domain.programmes.rules import Tier as RuleTier
from domain.programmes.views import AccrualView, ClaimView, ContractView, LineView, MemberAccrual


class RebateTierIn(msgspec.Struct, forbid_unknown_fields=True):
    """From `min_spend_cents` of spend in a period on, the rebate rate is `rate`."""

    min_spend_cents: Annotated[int, msgspec.Meta(ge=0, le=10**13)]
    rate: Rate


class RebateIn(msgspec.Struct, forbid_unknown_fields=True):
    """Tiers by cumulative spend in the period (first at 0, rates not falling)."""

    mode: Mode
    tiers: Annotated[list[RebateTierIn], msgspec.Meta(min_length=1, max_length=MAX_TIERS)]


class NewContractIn(msgspec.Struct, forbid_unknown_fields=True):
    """A supplier contract; `eligible_members` (member numbers) left out: every member may buy under it."""

    starts_on: Day
    ends_on: Day
    pool: ShortText
    period: Period
    rebate: RebateIn
    admin_fee_rate: Rate | None = None
    pass_through_rate: Rate | None = None
    eligible_members: Annotated[list[MemberNumber], msgspec.Meta(max_length=MAX_ELIGIBLE)] | None = None


class RebateTierOut(msgspec.Struct):
    """A rebate tier."""

    min_spend_cents: int
    rate: str


class RebateOut(msgspec.Struct):
    """The rebate programme."""

    mode: Mode
    tiers: list[RebateTierOut]


class MemberAccrualOut(msgspec.Struct):
    """A member's spend in the period and share of the pass-through."""

    member_id: str
    member_number: int
    spend_cents: int
    pass_through_cents: int


class AccrualOut(msgspec.Struct):
    """What a period's accepted purchases have earned so far (at its end: what the claim bills)."""

    period_start: date
    period_end: date
    spend_cents: int
    rebate_cents: int
    fee_cents: int
    pass_through_cents: int
    members: list[MemberAccrualOut]


class ContractOut(msgspec.Struct):
    """A supplier contract with the live accrual of its current period (null outside the term)."""

    id: str
    supplier_id: str
    starts_on: date
    ends_on: date
    pool: str
    period: Period
    rebate: RebateOut
    admin_fee_rate: str
    pass_through_rate: str
    eligible_members: list[int] | None
    created_at: datetime
    current: AccrualOut | None


class PurchaseLineIn(msgspec.Struct, forbid_unknown_fields=True):
    """One purchase by a member under the contract; a negative amount corrects earlier lines."""

    external_ref: Text
    member_number: MemberNumber
    occurred_at: Moment
    amount_cents: NonZeroCents
    invoice_ref: Text | None = None


class PurchaseReportIn(msgspec.Struct, forbid_unknown_fields=True):
    """Lines of a purchase report, each idempotent by its `external_ref` under the contract."""

    lines: Annotated[list[PurchaseLineIn], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


class UnmatchedOut(msgspec.Struct):
    """A line held for staff, and why.

    Reasons: `unknown_member`, `member_not_eligible`, `outside_term`, `period_claimed`, `correction_exceeds_spend`.
    """

    external_ref: str
    reason: str


class PurchaseReportOut(msgspec.Struct):
    """What the report did."""

    accepted: int
    duplicates: int
    unmatched: list[UnmatchedOut]


class PurchaseLineOut(msgspec.Struct):
    """A reported line and its fate."""

    id: str
    contract_id: str
    external_ref: str
    member_number: int
    member_id: str | None
    occurred_at: datetime
    amount_cents: int
    invoice_ref: str | None
    status: LineStatus
    reason: str | None
    period_start: date | None
    recorded_at: datetime


class MatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """The member the held line belongs to."""

    member_number: MemberNumber


class NewClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    """The first day of an ended period of the contract."""

    period_start: Day


class SupplierClaimOut(msgspec.Struct):
    """A claim to the supplier; `short_paid` flags a claim paid in part."""

    id: str
    contract_id: str
    supplier_id: str
    period_start: date
    period_end: date
    spend_cents: int
    rebate_cents: int
    fee_cents: int
    pass_through_cents: int
    received_cents: int
    outstanding_cents: int
    status: ClaimStatus
    created_at: datetime
    paid_at: datetime | None
    members: list[MemberAccrualOut]


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    """Money received from the supplier against the claim."""

    amount_cents: PositiveCents
    received_on: Day
    reference: Text


def _rate(value: object) -> str:
    return format(value, "f")


def _members(members: tuple[MemberAccrual, ...]) -> list[MemberAccrualOut]:
    return [MemberAccrualOut(str(m.member_id), m.member_number, m.spend_cents, m.pass_through_cents) for m in members]


def accrual_out(view: AccrualView) -> AccrualOut:
    """The public view of an accrual."""
    return AccrualOut(
        period_start=view.period_start,
        period_end=view.period_end,
        spend_cents=view.spend_cents,
        rebate_cents=view.rebate_cents,
        fee_cents=view.fee_cents,
        pass_through_cents=view.pass_through_cents,
        members=_members(view.members),
    )


def contract_out(view: ContractView) -> ContractOut:
    """The public view of a contract."""
    return ContractOut(
        id=str(view.id),
        supplier_id=str(view.supplier_id),
        starts_on=view.starts_on,
        ends_on=view.ends_on,
        pool=view.pool,
        period=Period(view.period),
        rebate=RebateOut(Mode(view.rebate_mode), [RebateTierOut(t.min_spend_cents, _rate(t.rate)) for t in view.tiers]),
        admin_fee_rate=_rate(view.admin_fee_rate),
        pass_through_rate=_rate(view.pass_through_rate),
        eligible_members=None if view.eligible_members is None else list(view.eligible_members),
        created_at=view.created_at,
        current=None if view.current is None else accrual_out(view.current),
    )


def line_out(view: LineView) -> PurchaseLineOut:
    """The public view of a reported line."""
    return PurchaseLineOut(
        id=str(view.id),
        contract_id=str(view.contract_id),
        external_ref=view.external_ref,
        member_number=view.member_number,
        member_id=None if view.member_id is None else str(view.member_id),
        occurred_at=view.occurred_at,
        amount_cents=view.amount_cents,
        invoice_ref=view.invoice_ref,
        status=LineStatus(view.status),
        reason=view.reason,
        period_start=view.period_start,
        recorded_at=view.recorded_at,
    )


def claim_out(view: ClaimView) -> SupplierClaimOut:
    """The public view of a claim."""
    return SupplierClaimOut(
        id=str(view.id),
        contract_id=str(view.contract_id),
        supplier_id=str(view.supplier_id),
        period_start=view.period_start,
        period_end=view.period_end,
        spend_cents=view.spend_cents,
        rebate_cents=view.rebate_cents,
        fee_cents=view.fee_cents,
        pass_through_cents=view.pass_through_cents,
        received_cents=view.received_cents,
        outstanding_cents=view.rebate_cents + view.fee_cents - view.received_cents,
        status=ClaimStatus(view.status),
        created_at=view.created_at,
        paid_at=view.paid_at,
        members=_members(view.members),
    )


CSV_COLUMNS = ("external_ref", "member_number", "occurred_at", "amount_cents", "invoice_ref")
_INTEGER_COLUMNS = {"member_number", "amount_cents"}
_INTEGER = re.compile(r"-?[0-9]{1,19}")


def _csv_refused(field: str, message: str) -> InvalidInputError:
    return InvalidInputError("the CSV report is not valid", [FieldError(field, message)])


def _cell(column: str, value: str | None) -> object:
    # Integers are converted only when they are plainly integers, so anything else reaches
    # the same strict decoding as JSON and is refused there, naming lines[i].<column>.
    if value is not None and column in _INTEGER_COLUMNS and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return value


def report_from_csv(body: bytes) -> PurchaseReportIn:
    """A CSV report (a header row naming the JSON fields) checked exactly as the JSON body is."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _csv_refused("body", "must be UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    lines: list[dict[str, object]] = []
    try:
        header = reader.fieldnames or []
        if sorted(set(header) - {"invoice_ref"}) != sorted(set(CSV_COLUMNS) - {"invoice_ref"}) or len(
            set(header)
        ) != len(header):
            raise _csv_refused(
                "body", f"the header row names the columns {', '.join(CSV_COLUMNS)} (invoice_ref optional)"
            )
        for i, row in enumerate(reader):
            if i >= MAX_LINES:
                raise _csv_refused("lines", f"at most {MAX_LINES} lines per report")
            if None in row:
                raise _csv_refused(f"lines[{i}]", "more fields than columns")
            lines.append({k: _cell(k, v) for k, v in row.items() if not (k == "invoice_ref" and not v)})
    except csv.Error as exc:
        raise _csv_refused("body", f"not valid CSV: {exc}") from None
    report: PurchaseReportIn = decode_body(json.dumps({"lines": lines}).encode(), PurchaseReportIn)
    return report


def _or_zero(rate: Decimal | None) -> Decimal:
    return Decimal(0) if rate is None else rate


def _now() -> datetime:
    return datetime.now(UTC)


@post(
    "/v1/suppliers/{supplier_id:str}/contracts",
    access=staff_only,
    summary="Sign a supplier contract",
    responses=problems(404, *POSTED),
    tags=["programmes"],
)
async def create_contract(supplier_id: FromPath[str], data: JSONBody[NewContractIn], db: DbSession) -> ContractOut:
    """Staff only; terms that break a rule are a 400 naming the fields."""
    new = contracts.NewContract(
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        pool=data.pool,
        period=data.period,
        rebate_mode=data.rebate.mode,
        tiers=tuple(RuleTier(t.min_spend_cents, t.rate) for t in data.rebate.tiers),
        admin_fee_rate=_or_zero(data.admin_fee_rate),
        pass_through_rate=_or_zero(data.pass_through_rate),
        eligible_members=None if data.eligible_members is None else tuple(data.eligible_members),
    )
    view = await contracts.create_contract(db, path_id(supplier_id, "supplier"), new, today=_now().date())
    return contract_out(view)


async def _report(
    contract_id: str, data: PurchaseReportIn, db: DbSession, caller: Caller, state: State
) -> PurchaseReportOut:
    lines = [
        LineIn(line.external_ref, line.member_number, utc(line.occurred_at), line.amount_cents, line.invoice_ref)
        for line in data.lines
    ]
    outcome = await reports.report_purchases(
        db,
        path_id(contract_id, "contract"),
        lines,
        only_supplier_id=own_supplier(caller),
        now=_now(),
        fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
    )
    return PurchaseReportOut(
        outcome.accepted, outcome.duplicates, [UnmatchedOut(u.external_ref, u.reason) for u in outcome.unmatched]
    )


class ContractController(Controller):
    """Routes under /v1/contracts."""

    path = "/v1/contracts"
    tags = ["programmes"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", access=staff_or_suppliers, summary="List supplier contracts", responses=problems(400, *AUTHENTICATED))
    async def list_contracts(
        self,
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        supplier_id: Annotated[str | None, Parameter(description="only this supplier's contracts")] = None,
    ) -> Page[ContractOut]:
        """Staff see every contract; a supplier's users their own."""
        rows = await contracts.contract_page(
            db,
            after_id=after_id(cursor),
            limit=limit,
            only_supplier_id=own_supplier(caller),
            supplier_id=query_id(supplier_id, "supplier_id"),
            today=_now().date(),
        )
        return Page([contract_out(c) for c in rows], next_cursor([c.id for c in rows], limit))

    @get(
        "/{contract_id:str}",
        access=staff_or_suppliers,
        summary="One supplier contract",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, contract_id: FromPath[str], db: DbSession, caller: Caller) -> ContractOut:
        """With the accrued rebate and fee of the current period (404 for another supplier's users)."""
        view = await contracts.get_contract(
            db, path_id(contract_id, "contract"), only_supplier_id=own_supplier(caller), today=_now().date()
        )
        return contract_out(view)

    @get(
        "/{contract_id:str}/accruals",
        access=staff_or_suppliers,
        summary="A period's accrual, per member",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def accrual(
        self,
        contract_id: FromPath[str],
        db: DbSession,
        caller: Caller,
        on: Annotated[date | None, Parameter(description="a day in the period (default: today)")] = None,
    ) -> AccrualOut:
        """Spend, rebate, fee and pass-through of the period `on` falls in, with each member's share."""
        view = await contracts.accrual(
            db, path_id(contract_id, "contract"), only_supplier_id=own_supplier(caller), day=on or _now().date()
        )
        return accrual_out(view)

    @post(
        "/{contract_id:str}/purchase-reports",
        access=staff_or_suppliers,
        status_code=200,
        summary="Report members' purchases under the contract",
        responses=problems(404, *POSTED),
    )
    async def report(
        self, contract_id: FromPath[str], data: JSONBody[PurchaseReportIn], db: DbSession, caller: Caller, state: State
    ) -> PurchaseReportOut:
        """The supplier's users (their own contracts) or staff; lines that cannot be placed are held, not dropped."""
        return await _report(contract_id, data, db, caller, state)

    @post(
        "/{contract_id:str}/purchase-reports/csv",
        access=staff_or_suppliers,
        status_code=200,
        summary="Report members' purchases under the contract as CSV",
        description=(
            "A `text/csv` body: a header row `external_ref,member_number,occurred_at,amount_cents[,invoice_ref]` "
            "and one row per line; the rows are checked and recorded exactly as the JSON report's lines "
            "(errors name `lines[i].<column>`, i counting data rows from 0)."
        ),
        responses=problems(404, *POSTED),
    )
    async def report_csv(
        self, contract_id: FromPath[str], request: Request[Any, Any, Any], db: DbSession, caller: Caller, state: State
    ) -> PurchaseReportOut:
        """The same report as CSV; another supplier's contract is a 404 whatever the body."""
        await contracts.check_visible(db, path_id(contract_id, "contract"), only_supplier_id=own_supplier(caller))
        return await _report(contract_id, report_from_csv(await request.body()), db, caller, state)

    @get(
        "/{contract_id:str}/purchase-lines",
        access=staff_or_suppliers,
        summary="Reported lines under the contract",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def lines(
        self,
        contract_id: FromPath[str],
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        status: Annotated[LineStatus | None, Parameter(description="only lines in this status")] = None,
    ) -> Page[PurchaseLineOut]:
        """Oldest first; `status=unmatched` lists the lines waiting for staff."""
        rows = await reports.line_page(
            db,
            path_id(contract_id, "contract"),
            only_supplier_id=own_supplier(caller),
            status=status,
            after_id=after_id(cursor),
            limit=limit,
        )
        return Page([line_out(r) for r in rows], next_cursor([r.id for r in rows], limit))

    @post(
        "/{contract_id:str}/claims",
        access=staff_only,
        summary="Claim an ended period's rebate and fee",
        responses=problems(404, *POSTED),
    )
    async def claim(self, contract_id: FromPath[str], data: JSONBody[NewClaimIn], db: DbSession) -> SupplierClaimOut:
        """Once per period, only after it ended (409 otherwise)."""
        view = await claims.create_claim(
            db, path_id(contract_id, "contract"), period_start=data.period_start, now=_now()
        )
        return claim_out(view)


class PurchaseLineController(Controller):
    """Routes under /v1/purchase-lines: staff settle held lines."""

    path = "/v1/purchase-lines"
    tags = ["programmes"]  # noqa: RUF012 - litestar's declared attribute type

    @post(
        "/{line_id:str}/match",
        access=staff_only,
        status_code=200,
        summary="Match a held line to a member",
        responses=problems(404, *POSTED),
    )
    async def match(
        self, line_id: FromPath[str], data: JSONBody[MatchIn], db: DbSession, state: State
    ) -> PurchaseLineOut:
        """The line is accepted as the member's patronage, or stays held (409 naming why)."""
        view = await reports.match_line(
            db,
            path_id(line_id, "purchase line"),
            member_number=data.member_number,
            now=_now(),
            fiscal_year_start_month=state.settings.policy.fiscal_year_start_month,
        )
        return line_out(view)

    @post(
        "/{line_id:str}/reject",
        access=staff_only,
        status_code=200,
        summary="Reject a held line",
        responses=problems(404, *POSTED),
    )
    async def reject(self, line_id: FromPath[str], db: DbSession) -> PurchaseLineOut:
        """The line is kept, rejected, and never becomes patronage."""
        return line_out(await reports.reject_line(db, path_id(line_id, "purchase line"), now=_now()))


class ClaimController(Controller):
    """Routes under /v1/claims."""

    path = "/v1/claims"
    tags = ["programmes"]  # noqa: RUF012 - litestar's declared attribute type

    @get("/", access=staff_or_suppliers, summary="List claims", responses=problems(400, *AUTHENTICATED))
    async def list_claims(
        self,
        db: DbSession,
        caller: Caller,
        limit: Limit = 50,
        cursor: Cursor = None,
        contract_id: Annotated[str | None, Parameter(description="only this contract's claims")] = None,
        status: Annotated[ClaimStatus | None, Parameter(description="only claims in this status")] = None,
    ) -> Page[SupplierClaimOut]:
        """Staff see every claim; a supplier's users their own."""
        rows = await claims.claim_page(
            db,
            after_id=after_id(cursor),
            limit=limit,
            only_supplier_id=own_supplier(caller),
            contract_id=query_id(contract_id, "contract_id"),
            status=status,
        )
        return Page([claim_out(c) for c in rows], next_cursor([c.id for c in rows], limit))

    @get(
        "/{claim_id:str}",
        access=staff_or_suppliers,
        summary="One claim",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def show(self, claim_id: FromPath[str], db: DbSession, caller: Caller) -> SupplierClaimOut:
        """With each member's spend and pass-through share (404 for another supplier's users)."""
        return claim_out(await claims.get_claim(db, path_id(claim_id, "claim"), only_supplier_id=own_supplier(caller)))

    @get(
        "/{claim_id:str}/statement",
        access=staff_or_suppliers,
        summary="The purchases a claim bills",
        responses=problems(400, 404, *AUTHENTICATED),
    )
    async def statement(
        self, claim_id: FromPath[str], db: DbSession, caller: Caller, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[PurchaseLineOut]:
        """The accepted lines of the claimed period, oldest first."""
        rows = await claims.claim_statement(
            db,
            path_id(claim_id, "claim"),
            only_supplier_id=own_supplier(caller),
            after_id=after_id(cursor),
            limit=limit,
        )
        return Page([line_out(r) for r in rows], next_cursor([r.id for r in rows], limit))

    @post(
        "/{claim_id:str}/receipts",
        access=staff_only,
        status_code=200,
        summary="Record money received against a claim",
        responses=problems(404, *POSTED),
    )
    async def receipt(self, claim_id: FromPath[str], data: JSONBody[ReceiptIn], db: DbSession) -> SupplierClaimOut:
        """`short_paid` until covered; then `paid`, and the members' pass-through is credited, once."""
        view = await claims.record_receipt(
            db,
            path_id(claim_id, "claim"),
            amount_cents=data.amount_cents,
            received_on=data.received_on,
            reference=data.reference,
            now=_now(),
        )
        return claim_out(view)
