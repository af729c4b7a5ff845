"""What staff read when a supplier contract, a purchase report, a receipt or an expense is refused.

The detail and every (field, message) pair are the problem+json a client shows, so they are
pinned exactly; and the edges of each rule (a rate of exactly 0 or 1, a one-day term, equal
tier rates, the most tiers or lines allowed) are accepted, one step past them refused.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ConflictError, FieldError, InvalidInputError
from domain.programmes.rules import (
    MAX_EXPENSE_CENTS,
    MAX_LINES,
    MAX_TIERS,
    LineIn,
    Tier,
    check_contract,
    contract_errors,
    expense_errors,
    receipt_outcome,
    report_errors,
)

TIERS = (Tier(0, Decimal("0.01")), Tier(10_000_000, Decimal("0.02")))


def _terms(**changes: Any) -> dict[str, Any]:
    return {
        "starts_on": date(2026, 1, 1),
        "ends_on": date(2026, 12, 31),
        "pool": "direct",
        "tiers": TIERS,
        "admin_fee_rate": Decimal("0.01"),
        "pass_through_rate": Decimal("0.5"),
    } | changes


@pytest.mark.parametrize(
    "changes",
    [
        {"ends_on": date(2026, 1, 1)},  # a one-day term
        {"admin_fee_rate": Decimal(0), "pass_through_rate": Decimal(0)},
        {"admin_fee_rate": Decimal(1), "pass_through_rate": Decimal(1)},
        {"tiers": (Tier(0, Decimal(0)), Tier(100, Decimal(0)), Tier(200, Decimal(1)), Tier(300, Decimal(1)))},
        {"tiers": tuple(Tier(100 * i, Decimal("0.01")) for i in range(MAX_TIERS))},
    ],
)
def test_the_edges_of_a_contract_are_accepted(changes):
    assert contract_errors(**_terms(**changes)) == []
    check_contract(**_terms(**changes))


RATE = "must be a rate from 0 to 1"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"ends_on": date(2025, 12, 31)}, [("ends_on", "must not be before starts_on")]),
        ({"tiers": ()}, [("rebate.tiers", "at least one tier, the first at 0")]),
        (
            {"tiers": tuple(Tier(100 * i, Decimal("0.01")) for i in range(MAX_TIERS + 1))},
            [("rebate.tiers", "at most 20 tiers")],
        ),
        (
            {"tiers": (Tier(5, Decimal("1.5")), Tier(5, Decimal("0.01")))},
            [
                ("rebate.tiers[0].min_spend_cents", "the first tier starts at 0"),
                ("rebate.tiers[0].rate", RATE),
                ("rebate.tiers[1].min_spend_cents", "must be above the previous tier's"),
                ("rebate.tiers[1].rate", "must not be below the previous tier's"),
            ],
        ),
        (
            {"admin_fee_rate": Decimal("-0.01"), "pass_through_rate": Decimal("1.01")},
            [("admin_fee_rate", RATE), ("pass_through_rate", RATE)],
        ),
        ({"admin_fee_rate": Decimal("NaN")}, [("admin_fee_rate", RATE)]),
    ],
)
def test_a_refused_contract_names_each_field_and_says_why(changes, errors):
    with pytest.raises(InvalidInputError) as refused:
        check_contract(**_terms(**changes))
    assert refused.value.detail == "the contract is not valid"
    assert refused.value.errors == [FieldError(field, message) for field, message in errors]


def test_a_report_s_refusals_and_its_size_limit():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    assert report_errors([]) == [FieldError("lines", "at least one line")]
    assert report_errors([LineIn("a", 1, at, 5), LineIn("b", 1, at, 0)]) == [
        FieldError("lines[1].amount_cents", "must not be 0 (a correction is negative)")
    ]
    most = [LineIn(str(i), 1, at, 5) for i in range(MAX_LINES)]
    assert report_errors(most) == []
    assert report_errors([*most, LineIn("one too many", 1, at, 0)]) == [
        FieldError("lines", "at most 10000 lines per report")
    ]


def test_a_receipt_refusal_names_the_claim_and_what_is_still_owed():
    with pytest.raises(ConflictError) as over:
        receipt_outcome(status="short_paid", due_cents=100, received_cents=40, amount_cents=61, claim_id=7)
    assert over.value.detail == "claim 7: 61 cents is more than the 60 still owed"
    with pytest.raises(ConflictError) as paid:
        receipt_outcome(status="paid", due_cents=100, received_cents=100, amount_cents=1, claim_id=7)
    assert paid.value.detail == "claim 7 is paid; it cannot become paid"


def test_an_expense_is_at_most_the_limit_either_way_and_never_zero():
    assert expense_errors("purchases", MAX_EXPENSE_CENTS) == []
    assert expense_errors("purchases", -MAX_EXPENSE_CENTS) == []
    within = [FieldError("amount_cents", "must be within +-10000000000000")]
    assert expense_errors("purchases", MAX_EXPENSE_CENTS + 1) == within
    assert expense_errors("purchases", -MAX_EXPENSE_CENTS - 1) == within
    assert expense_errors("purchases", 0) == [
        FieldError("amount_cents", "must not be 0 (a negative amount corrects an expense)")
    ]
