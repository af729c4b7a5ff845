"""Form 1099-PATR: what each recipient was paid in a calendar year, box by box (DOMAIN.md section 3.8)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from domain.patronage.rules._checks import bad, is_int

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date

__all__ = [
    "FORM_1099_PATR_THRESHOLD_CENTS",
    "Form1099PatrRow",
    "PatronagePayment",
    "PatronagePaymentKind",
    "form_1099_patr_rows",
]

K = TypeVar("K")

FORM_1099_PATR_THRESHOLD_CENTS = 1000
"""Form 1099-PATR is filed for a recipient paid at least $10 in the calendar year."""


class PatronagePaymentKind(enum.StrEnum):
    """What a payment or notice to a patron was, for Form 1099-PATR."""

    PATRONAGE_CASH = "patronage_cash"
    """Box 1."""
    QUALIFIED_NOTICE = "qualified_notice"
    """Box 1: the stated amount of a qualified written notice of allocation (its retained part)."""
    NONQUALIFIED_NOTICE = "nonqualified_notice"
    """Not reported when issued; reported in box 5 when redeemed."""
    QUALIFIED_REDEMPTION = "qualified_redemption"
    """Not reported: it was taxed when the qualified notice was issued."""
    NONQUALIFIED_REDEMPTION = "nonqualified_redemption"
    """Box 5."""


@dataclass(frozen=True, slots=True)
class PatronagePayment(Generic[K]):
    """One cash payment or notice, dated when it was paid or issued."""

    member_number: int
    member_key: K
    kind: PatronagePaymentKind
    amount_cents: int
    paid_on: date


@dataclass(frozen=True, slots=True)
class Form1099PatrRow(Generic[K]):
    """One recipient's Form 1099-PATR for one calendar year."""

    calendar_year: int
    member_number: int
    member_key: K
    box1_cents: int
    """Patronage dividends: cash plus qualified notices."""
    box5_cents: int
    """Redemption of non-qualified notices and retain allocations."""

    @property
    def total_cents(self) -> int:
        """What the $10 threshold is measured against."""
        return self.box1_cents + self.box5_cents


_BOX1 = frozenset({PatronagePaymentKind.PATRONAGE_CASH, PatronagePaymentKind.QUALIFIED_NOTICE})
_BOX5 = frozenset({PatronagePaymentKind.NONQUALIFIED_REDEMPTION})
_KINDS = frozenset(m.value for m in PatronagePaymentKind)


def form_1099_patr_rows(
    payments: Iterable[PatronagePayment[K]], calendar_year: int | None = None
) -> list[Form1099PatrRow[K]]:
    """Form 1099-PATR data per recipient and calendar year of payment (DOMAIN.md section 3.8).

    Only rows whose box 1 + box 5 is at least $10 are returned, ordered by year and
    member number; ``calendar_year`` keeps only that year.
    """
    boxes: dict[tuple[int, int], list[int]] = {}
    keys: dict[int, K] = {}
    for payment in payments:
        if not is_int(payment.amount_cents) or payment.amount_cents < 0:
            raise bad(f"member {payment.member_number}: amounts are integer cents, at least 0", "payments")
        if payment.kind not in _KINDS:
            raise bad(f"unknown payment kind {payment.kind!r}", "payments")
        year = payment.paid_on.year
        if calendar_year is not None and year != calendar_year:
            continue
        keys.setdefault(payment.member_number, payment.member_key)
        box = boxes.setdefault((year, payment.member_number), [0, 0])
        if payment.kind in _BOX1:
            box[0] += payment.amount_cents
        elif payment.kind in _BOX5:
            box[1] += payment.amount_cents
    return [
        Form1099PatrRow(year, number, keys[number], box1, box5)
        for (year, number), (box1, box5) in sorted(boxes.items())
        if box1 + box5 >= FORM_1099_PATR_THRESHOLD_CENTS
    ]
