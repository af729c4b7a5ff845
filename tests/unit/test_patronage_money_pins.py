"""Patronage rules pinned at the edges a money bug hides behind: each test fails under a mutation
that kept the rest of the suite green (box 5 over several payments, the de minimis boundary,
check_balanced fed results that do not balance)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from domain.patronage.rules import (
    AllocationResult,
    AllocationTerms,
    MemberPatronage,
    PatronagePayment,
    PatronagePaymentKind,
    PoolInput,
    check_balanced,
    compute_allocation,
    form_1099_patr_rows,
)

K = PatronagePaymentKind
POOL = PoolInput("general", 1799800, 24018733, 5981267)
VOLUMES = {1: 10123456, 2: 7777777, 3: 5000000, 4: 1108766, 5: 8734}  # EX1: E's allocation is 524 cents


def _result(min_allocation_cents: int = 0) -> AllocationResult[str]:
    members = [MemberPatronage(n, f"m{n}", "general", v, True) for n, v in VOLUMES.items()]
    policy = AllocationTerms(cash_rate=Decimal("0.20"), min_allocation_cents=min_allocation_cents)
    return compute_allocation([POOL], members, policy, date(2025, 12, 31), date(2026, 3, 31), 0)


def test_box_5_adds_every_redemption_of_the_year():
    payments = [
        PatronagePayment(1, "m1", K.NONQUALIFIED_REDEMPTION, 700, date(2026, 2, 1)),
        PatronagePayment(1, "m1", K.NONQUALIFIED_REDEMPTION, 400, date(2026, 6, 1)),
        PatronagePayment(1, "m1", K.NONQUALIFIED_REDEMPTION, 300, date(2026, 11, 1)),
    ]
    [row] = form_1099_patr_rows(payments)
    assert (row.box1_cents, row.box5_cents) == (0, 1_400)


def test_the_1099_threshold_is_ten_dollars_inclusive():
    at = [
        PatronagePayment(1, "m1", K.PATRONAGE_CASH, 600, date(2026, 3, 1)),
        PatronagePayment(1, "m1", K.NONQUALIFIED_REDEMPTION, 400, date(2026, 4, 1)),
    ]
    below = [PatronagePayment(2, "m2", K.PATRONAGE_CASH, 999, date(2026, 3, 1))]
    assert [r.member_number for r in form_1099_patr_rows(at + below)] == [1]


def test_an_allocation_exactly_at_the_minimum_is_kept_and_one_cent_below_is_de_minimis():
    kept = _result(min_allocation_cents=524).lines[4]
    assert (kept.allocation_cents, kept.below_minimum) == (524, False)
    dropped = _result(min_allocation_cents=525)
    assert (dropped.lines[4].allocation_cents, dropped.lines[4].below_minimum) == (0, True)
    assert dropped.totals.de_minimis_cents == 524


def test_check_balanced_accepts_the_real_result():
    assert check_balanced(_result())


@pytest.mark.parametrize(
    "spoil",
    [
        lambda r: replace(r, totals=replace(r.totals, cash_cents=r.totals.cash_cents + 1)),
        lambda r: replace(r, totals=replace(r.totals, retained_cents=r.totals.retained_cents - 1)),
        lambda r: replace(r, totals=replace(r.totals, allocated_cents=r.totals.allocated_cents + 1)),
        lambda r: replace(r, totals=replace(r.totals, unallocated_cents=r.totals.unallocated_cents + 1)),
        lambda r: replace(r, totals=replace(r.totals, net_margin_cents=r.totals.net_margin_cents + 1)),
        lambda r: replace(r, lines=(replace(r.lines[0], cash_cents=r.lines[0].cash_cents + 1), *r.lines[1:])),
        lambda r: replace(
            r,
            lines=(
                replace(r.lines[0], cash_cents=r.lines[0].cash_cents + 1, retained_cents=r.lines[0].retained_cents - 1),
                *r.lines[1:],
            ),
            totals=replace(r.totals, cash_cents=r.totals.cash_cents + 2, retained_cents=r.totals.retained_cents - 2),
        ),
        lambda r: replace(r, pools=(replace(r.pools[0], net_margin_cents=r.pools[0].net_margin_cents + 1),)),
    ],
    ids=["cash", "retained", "allocated", "unallocated", "net margin", "line", "lines vs totals", "pools"],
)
def test_check_balanced_refuses_a_result_that_does_not_add_up(spoil):
    assert not check_balanced(spoil(_result()))
