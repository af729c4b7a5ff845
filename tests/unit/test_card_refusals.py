"""What a client reads when a card payment or the clearing report is refused.

A conflict's detail and code, and a refusal's (field, message) pairs, are the problem+json a
client shows, so they are pinned exactly. A negative amount is a bug, never a bill: its
message is for whoever reads the log.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from domain.errors import ConflictError, InvalidInputError
from domain.payments.rules import refund_status, report_period, settle_hold

PERIOD = "the period is not valid"


def test_a_charge_above_the_hold_is_a_conflict_naming_both() -> None:
    with pytest.raises(ConflictError) as refused:
        settle_hold(held_cents=4_200, charge_cents=4_201)
    assert (refused.value.detail, refused.value.code) == (
        "the charge 4201 is above the card hold 4200",
        "charge_above_hold",
    )


@pytest.mark.parametrize(("held", "charge"), [(-1, 0), (100, -1), (-1, -1)])
def test_a_negative_hold_or_charge_is_a_bug(held: int, charge: int) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape('amounts cannot be negative')}$"):
        settle_hold(held_cents=held, charge_cents=charge)


@pytest.mark.parametrize("refunded", [0, -5, 1_001])
def test_refunds_that_do_not_fit_are_a_conflict_naming_both(refunded: int) -> None:
    with pytest.raises(ConflictError) as refused:
        refund_status(captured_cents=1_000, refunded_cents=refunded)
    assert (refused.value.detail, refused.value.code) == (
        f"refunds of {refunded} do not fit the capture of 1000",
        "refund_above_capture",
    )


@pytest.mark.parametrize(
    ("period_from", "period_to", "message"),
    [
        (date(2026, 11, 2), date(2026, 11, 1), "must be on or after period_from"),
        (date(9999, 12, 30), date.max, "must be before 9999-12-31"),
        (date(2025, 1, 1), date(2026, 1, 2), "a period spans at most 366 days"),
    ],
)
def test_a_bad_report_period_names_period_to(period_from: date, period_to: date, message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        report_period(period_from, period_to)
    assert refused.value.detail == PERIOD
    assert [(e.field, e.message) for e in refused.value.errors] == [("period_to", message)]
