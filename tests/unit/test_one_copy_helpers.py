"""The helpers that replaced copies: the import-row validator, the receipt memo, what is outstanding (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from domain.buying.rules import supplier_outstanding_cents, supplier_payment_refusal
from domain.equity.imports import LotRow, lot_row_errors
from domain.equity.rules import LotBalance, outstanding_cents
from domain.errors import FieldError
from domain.import_rows import EXTERNAL_REF, TWICE, UniqueKey, import_row_errors
from domain.ledger.chart import PaymentMethod
from domain.ledger.rules import receipt_memo
from domain.membership.imports import MemberRow, member_row_errors
from domain.membership.rules import Status


@dataclass(frozen=True, slots=True)
class Row:
    external_ref: str
    name: str
    size: int


def _size_errors(at: str, row: Row) -> list[FieldError]:
    return [FieldError(f"{at}.size", "must be positive")] if row.size <= 0 else []


def test_rows_are_named_by_list_and_index_with_repeated_keys_before_the_rows_own_errors() -> None:
    rows = [Row("a", "x", 1), Row("b", "x", 0), Row("a", "y", -1)]
    name: UniqueKey[Row] = UniqueKey("name", lambda row: row.name.casefold(), "name taken")
    assert import_row_errors(rows, "things", _size_errors, unique=(EXTERNAL_REF, name)) == [
        FieldError("things[1].name", "name taken"),
        FieldError("things[1].size", "must be positive"),
        FieldError("things[2].external_ref", TWICE),
        FieldError("things[2].size", "must be positive"),
    ]


def test_without_keys_only_the_rows_own_checks_count() -> None:
    rows = [Row("a", "x", 1), Row("a", "x", 1)]
    assert import_row_errors(rows, "things", _size_errors) == []
    assert import_row_errors([], "things", _size_errors, unique=(EXTERNAL_REF,)) == []


def test_the_member_register_refuses_a_repeated_ref_and_an_e_mail_repeated_in_any_case() -> None:
    joined = datetime(2020, 1, 1, tzinfo=UTC)
    rows = [
        MemberRow("r1", "One", "one@example.org", joined, Status.FULL, 0, None),
        MemberRow("r1", "Two", "ONE@example.org", joined, Status.FULL, 0, None),
    ]
    errors = member_row_errors(rows, 10_000, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert [(e.field, e.message) for e in errors] == [
        ("members[1].external_ref", TWICE),
        ("members[1].email", "appears twice in this import (e-mails compare in any case)"),
    ]


def test_the_lot_import_refuses_a_repeated_ref() -> None:
    rows = [LotRow("l1", 1, 2020, True, 100, 0), LotRow("l1", 1, 2021, True, 100, 0)]
    errors = lot_row_errors(rows, {1: date(2019, 1, 1)}, today=date(2026, 1, 1), start_month=1)
    assert errors == [FieldError("lots[1].external_ref", TWICE)]


def test_a_receipts_memo_is_the_method_and_the_payers_reference() -> None:
    assert receipt_memo(PaymentMethod.CHECK, "1042") == "check 1042"
    assert receipt_memo(PaymentMethod.BANK_TRANSFER, None) == "bank_transfer"
    assert receipt_memo(PaymentMethod.CASH, "") == "cash"


def test_a_lot_is_outstanding_by_its_face_less_what_was_redeemed() -> None:
    assert outstanding_cents(10_000, 2_500) == 7_500
    assert LotBalance("k", 1, 2020, True, 10_000, 2_500).outstanding_cents == 7_500


def test_the_supplier_is_owed_the_payable_less_what_was_paid() -> None:
    assert supplier_outstanding_cents(9_000, 4_000) == 5_000
    assert supplier_payment_refusal(5_000, 9_000, 4_000) is None
    assert supplier_payment_refusal(5_001, 9_000, 4_000) is not None
