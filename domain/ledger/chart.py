"""The co-op's chart of accounts: which account a kind of money lives in."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from domain.ledger.rules import AccountKind


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account by code, created on first use."""

    code: str
    kind: AccountKind
    name: str
    member_id: int | None = None


class PaymentMethod(enum.StrEnum):
    """How money reached the co-op."""

    CASH = "cash"
    CHECK = "check"
    BANK_TRANSFER = "bank_transfer"
    CARD = "card"


CASH = AccountSpec("coop:cash", AccountKind.ASSET, "Cash on hand")
BANK = AccountSpec("coop:bank", AccountKind.ASSET, "Bank account")
CARD_CLEARING = AccountSpec("coop:card_clearing", AccountKind.ASSET, "Card payments clearing")
CARD_FEES = AccountSpec("coop:card_fees", AccountKind.EXPENSE, "Card processing fees")
SALES = AccountSpec("coop:sales", AccountKind.INCOME, "Sales to members")
MEMBER_CREDITS = AccountSpec("coop:member_credits", AccountKind.EXPENSE, "Credits granted to members")
PAYOUTS_PAYABLE = AccountSpec("coop:payouts_payable", AccountKind.LIABILITY, "Payouts owed to members")
UNCLAIMED_PAYOUTS = AccountSpec("coop:unclaimed_payouts", AccountKind.LIABILITY, "Unclaimed payouts held for members")
OPENING_BALANCES = AccountSpec("coop:opening_balances", AccountKind.EQUITY, "Opening balances brought over")
UNALLOCATED_EQUITY = AccountSpec("coop:unallocated_equity", AccountKind.EQUITY, "Unallocated equity")
# Members' retained equity: the control account of the equity lots, their subsidiary ledger
# (migration 0041). A member's part of it is the outstanding of the member's lots.
RETAINED_EQUITY = AccountSpec("coop:retained_equity", AccountKind.EQUITY, "Retained patronage equity")
# Group-buy goods pass straight to members at settlement (credited to SALES), so what the
# co-op owes the supplier for them is their cost, never inventory held.
COST_OF_GOODS = AccountSpec("coop:cost_of_goods", AccountKind.EXPENSE, "Cost of goods sold to members")


def received_into(method: PaymentMethod) -> AccountSpec:
    """Where a payment lands: cash in the till, checks and transfers in the bank."""
    return {
        PaymentMethod.CASH: CASH,
        PaymentMethod.CHECK: BANK,
        PaymentMethod.BANK_TRANSFER: BANK,
        PaymentMethod.CARD: CARD_CLEARING,
    }[method]


# A member's accounts are ``member:<id>:<what>``; set-based SQL builds and matches the
# codes from these parts so that the chart stays the one place that spells them.
MEMBER_CODE_PREFIX = "member:"
SHARE_SUFFIX = ":share"
PREFERRED_SUFFIX = ":preferred"
TRADE_SUFFIX = ":trade"
# A lot written before migration 0041 has its own account, ``member:<id>:equity_lot:<lot>``.
EQUITY_LOT_INFIX = ":equity_lot:"
FUND_CODE_PREFIX = "coop:fund:"

# SQL LIKE patterns (``%`` is any run of characters) for every account of one kind.
MEMBER_SHARE_PATTERN = f"{MEMBER_CODE_PREFIX}%{SHARE_SUFFIX}"
MEMBER_PREFERRED_PATTERN = f"{MEMBER_CODE_PREFIX}%{PREFERRED_SUFFIX}"
EQUITY_LOT_PATTERN = f"{MEMBER_CODE_PREFIX}%{EQUITY_LOT_INFIX}%"
FUND_PATTERN = f"{FUND_CODE_PREFIX}%"

EMPLOYEE_PROFIT_SHARE = AccountSpec("coop:employee_profit_share", AccountKind.LIABILITY, "Employee profit share")


def member_trade(member_id: int) -> AccountSpec:
    """What the member owes for purchases (a receivable: positive = member owes)."""
    return AccountSpec(f"{MEMBER_CODE_PREFIX}{member_id}{TRADE_SUFFIX}", AccountKind.ASSET, "Trade account", member_id)


def member_share(member_id: int) -> AccountSpec:
    """The member's paid-in membership share (capital)."""
    return AccountSpec(
        f"{MEMBER_CODE_PREFIX}{member_id}{SHARE_SUFFIX}", AccountKind.EQUITY, "Membership share", member_id
    )


def member_preferred(member_id: int) -> AccountSpec:
    """The member's preferred shares (non-voting capital)."""
    return AccountSpec(
        f"{MEMBER_CODE_PREFIX}{member_id}{PREFERRED_SUFFIX}", AccountKind.EQUITY, "Preferred shares", member_id
    )


def supplier_payable(supplier_id: int) -> AccountSpec:
    """What the co-op owes one supplier for delivered goods (a liability: positive = the co-op owes)."""
    return AccountSpec(f"supplier:{supplier_id}:payable", AccountKind.LIABILITY, "Supplier payable")


def income_summary(fiscal_year: int) -> AccountSpec:
    """Where the year's margin waits to be distributed (debited by every year-end entry)."""
    return AccountSpec(f"coop:income_summary:{fiscal_year}", AccountKind.EQUITY, f"Income summary FY{fiscal_year}")


def fund_account(name: str) -> AccountSpec:
    """A reserve fund; an employee share is owed to employees, so it is a liability, not a reserve."""
    if name == "employee_share":
        return EMPLOYEE_PROFIT_SHARE
    return AccountSpec(f"{FUND_CODE_PREFIX}{name}", AccountKind.EQUITY, f"Fund: {name}")


def is_member_share(code: str) -> bool:
    """Whether ``code`` is some member's membership share account."""
    return code.startswith(MEMBER_CODE_PREFIX) and code.endswith(SHARE_SUFFIX)


def is_retained_equity(code: str) -> bool:
    """Whether ``code`` holds members' retained equity: the control account, or a lot's own from before 0041."""
    return code == RETAINED_EQUITY.code or (code.startswith(MEMBER_CODE_PREFIX) and EQUITY_LOT_INFIX in code)


def is_fund(code: str) -> bool:
    """Whether ``code`` is a fund carved out of the year's margin (a reserve or the employee share)."""
    return code.startswith(FUND_CODE_PREFIX) or code == EMPLOYEE_PROFIT_SHARE.code


# Supplier programmes (DOMAIN.md section 8): what suppliers owe on claims, the rebate and fee
# income and the pass-through of each patronage pool, so a pool's margin can be read from the books.
PROGRAMME_CODE_PREFIX = "coop:programme:"
PROGRAMME_PATTERN = f"{PROGRAMME_CODE_PREFIX}%"
PASS_THROUGH_PAYABLE = AccountSpec(
    "coop:pass_through_payable", AccountKind.LIABILITY, "Rebates owed to members (pass-through)"
)


def supplier_programme_receivable(supplier_id: int) -> AccountSpec:
    """Rebates and fees a supplier owes on claims (an asset: positive = the supplier owes)."""
    return AccountSpec(f"supplier:{supplier_id}:programme_receivable", AccountKind.ASSET, "Programme receivable")


def programme_rebate_income(pool: str) -> AccountSpec:
    """Supplier rebates earned on one pool's purchases."""
    return AccountSpec(f"{PROGRAMME_CODE_PREFIX}{pool}:rebate_income", AccountKind.INCOME, f"Rebates: {pool}")


def programme_fee_income(pool: str) -> AccountSpec:
    """Administrative fees billed to suppliers on one pool's purchases."""
    return AccountSpec(f"{PROGRAMME_CODE_PREFIX}{pool}:fee_income", AccountKind.INCOME, f"Admin fees: {pool}")


def programme_pass_through(pool: str) -> AccountSpec:
    """The members' share of one pool's rebates: not the co-op's margin."""
    return AccountSpec(
        f"{PROGRAMME_CODE_PREFIX}{pool}:pass_through", AccountKind.EXPENSE, f"Rebates passed through: {pool}"
    )


# Expenses staff enter against one pool (DOMAIN.md section 3: a pool's net margin is after its
# expenses); credited to the bank, the till, or accrued when the bill is not paid yet.
POOL_EXPENSE_CODE_PREFIX = "coop:pool_expenses:"
ACCRUED_EXPENSES = AccountSpec("coop:accrued_expenses", AccountKind.LIABILITY, "Expenses incurred, not yet paid")


def pool_expenses(pool: str) -> AccountSpec:
    """What running one pool's business cost the co-op in the year."""
    return AccountSpec(f"{POOL_EXPENSE_CODE_PREFIX}{pool}", AccountKind.EXPENSE, f"Expenses: {pool}")
