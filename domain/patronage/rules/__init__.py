"""Pure rules of the year-end patronage allocation, split by job.

- :mod:`.terms`: the board's allocation terms and the country profiles;
- :mod:`.computation`: the allocation of one fiscal year (DOMAIN.md sections 3 and 6);
- :mod:`.form_1099_patr`: Form 1099-PATR rows;
- :mod:`.dating`: fiscal years, the payment period, member business, day ranges.

The names are re-exported here so callers say ``domain.patronage.rules``.
"""

from domain.patronage.rules.computation import (
    AllocationResult,
    AllocationTotals,
    FundAmount,
    MemberAllocation,
    MemberPatronage,
    PoolAllocation,
    PoolInput,
    PoolSteps,
    allocation_totals,
    check_balanced,
    compute_allocation,
    loss_charges,
    pool_steps,
)
from domain.patronage.rules.dating import (
    fiscal_year_end,
    fiscal_year_of,
    is_member_business,
    is_within_payment_period,
    payment_period_end,
    utc_day_range,
)
from domain.patronage.rules.form_1099_patr import (
    FORM_1099_PATR_THRESHOLD_CENTS,
    Form1099PatrRow,
    PatronagePayment,
    PatronagePaymentKind,
    form_1099_patr_rows,
)
from domain.patronage.rules.terms import (
    PROFILES,
    QUALIFIED_CASH_RATE,
    AllocationRounding,
    AllocationTerms,
    Fund,
    LossPolicy,
    NonmemberShare,
    policy_errors,
    policy_from_profile,
)

__all__ = [
    "FORM_1099_PATR_THRESHOLD_CENTS",
    "PROFILES",
    "QUALIFIED_CASH_RATE",
    "AllocationResult",
    "AllocationRounding",
    "AllocationTerms",
    "AllocationTotals",
    "Form1099PatrRow",
    "Fund",
    "FundAmount",
    "LossPolicy",
    "MemberAllocation",
    "MemberPatronage",
    "NonmemberShare",
    "PatronagePayment",
    "PatronagePaymentKind",
    "PoolAllocation",
    "PoolInput",
    "PoolSteps",
    "allocation_totals",
    "check_balanced",
    "compute_allocation",
    "fiscal_year_end",
    "fiscal_year_of",
    "form_1099_patr_rows",
    "is_member_business",
    "is_within_payment_period",
    "loss_charges",
    "payment_period_end",
    "policy_errors",
    "policy_from_profile",
    "pool_steps",
    "utc_day_range",
]
