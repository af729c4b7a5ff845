"""Provider-agnostic payout instructions and the check register staff pay them from (PAYMENTS.md 6).

The co-op pays members by check or bank transfer from its own bank, so the payment
run is a file, not an API call: a check register listing every pending payout. No
bank details are stored here, so a NACHA file is produced by the bank's own tool
from this register; Stripe is not a payout rail.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

CHECK_REGISTER_COLUMNS = (
    "payout_id",
    "member_id",
    "member_number",
    "payee",
    "kind",
    "amount_cents",
    "amount",
    "method",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class PayoutInstruction:
    """One payment to make: whom, how much, why, by which rail (None: not chosen yet)."""

    payout_id: int
    member_id: int
    member_number: int
    payee: str
    kind: str
    amount_cents: int
    method: str | None
    created_at: datetime


def dollars(cents: int) -> str:
    """Cents as a decimal amount with two places, for people and spreadsheets ("1234.05")."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def _cell(value: str) -> str:
    """Keep spreadsheet programs from running a payee name as a formula (CSV injection)."""
    return f"'{value}" if value[:1] in {"=", "+", "-", "@", "\t", "\r"} else value


def check_register_csv(instructions: Iterable[PayoutInstruction]) -> str:
    """The register as CSV (RFC 4180, CRLF line ends), one row per payout, with a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CHECK_REGISTER_COLUMNS)
    for ins in instructions:
        writer.writerow(
            (
                ins.payout_id,
                ins.member_id,
                ins.member_number,
                _cell(ins.payee),
                ins.kind,
                ins.amount_cents,
                dollars(ins.amount_cents),
                ins.method or "",
                ins.created_at.isoformat(),
            )
        )
    return out.getvalue()
