"""Pure payout rules: the status machine, the books each move touches, set-off and the check register."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ConflictError, FieldError, InvalidInputError
from domain.payments.export import PayoutInstruction, check_register_csv, dollars
from domain.payments.rules import (
    BOUNCEABLE,
    Book,
    Move,
    PayoutMethod,
    PayoutStatus,
    SetOff,
    action_of,
    check_transition,
    held_in,
    is_repeat,
    journal_key,
    move_for,
    payment_method,
    set_off,
)

P, PAID, F, V, U = (
    PayoutStatus.PENDING,
    PayoutStatus.PAID,
    PayoutStatus.FAILED,
    PayoutStatus.VOID,
    PayoutStatus.UNCLAIMED,
)

# The machine, written out independently of the code's table.
ALLOWED = {(P, PAID), (P, F), (P, V), (P, U), (PAID, F), (F, P), (F, V), (U, P), (U, V)}

# What each allowed move posts for a check payment (None: only the event is recorded).
EXPECTED_MOVES = {
    (P, PAID): Move(Book.PAYABLE, Book.BANK),
    (P, F): None,
    (P, V): Move(Book.PAYABLE, Book.UNALLOCATED_EQUITY),
    (P, U): Move(Book.PAYABLE, Book.UNCLAIMED),
    (PAID, F): Move(Book.BANK, Book.PAYABLE),
    (F, P): None,
    (F, V): Move(Book.PAYABLE, Book.UNALLOCATED_EQUITY),
    (U, P): Move(Book.UNCLAIMED, Book.PAYABLE),
    (U, V): Move(Book.UNCLAIMED, Book.UNALLOCATED_EQUITY),
}


@pytest.mark.parametrize("current", list(PayoutStatus))
@pytest.mark.parametrize("target", list(PayoutStatus))
def test_every_move_is_allowed_or_refused_naming_the_allowed_ones(current, target):
    if (current, target) in ALLOWED:
        check_transition(current, target, method=PayoutMethod.CHECK)
        assert move_for(current, target, method=PayoutMethod.CHECK) == EXPECTED_MOVES[current, target]
        return
    with pytest.raises(ConflictError) as refused:
        check_transition(current, target, method=PayoutMethod.CHECK)
    detail = refused.value.detail
    assert f"a {current} payout cannot be" in detail
    for allowed_target in (t for c, t in ALLOWED if c is current):
        assert f"({allowed_target})" in detail
    if current is V:
        assert "none (final state)" in detail
    with pytest.raises(ConflictError):
        move_for(current, target, method=PayoutMethod.CHECK)


def test_refusals_read_well():
    with pytest.raises(ConflictError, match=r"a paid payout cannot be voided; allowed from paid: fail \(failed\)"):
        check_transition(PAID, V, method=PayoutMethod.ACH)
    with pytest.raises(ConflictError, match=r"a void payout cannot be reissued; allowed from void: none \(final"):
        check_transition(V, P, method=None)


@pytest.mark.parametrize("method", list(PayoutMethod))
def test_only_payments_on_a_bank_rail_can_bounce(method):
    if method in BOUNCEABLE:
        assert move_for(PAID, F, method=method) == Move(Book.BANK, Book.PAYABLE)
    else:
        with pytest.raises(ConflictError, match=f"paid by {method} cannot fail"):
            check_transition(PAID, F, method=method)


@pytest.mark.parametrize(
    ("method", "book"),
    [
        (PayoutMethod.CHECK, Book.BANK),
        (PayoutMethod.BANK_TRANSFER, Book.BANK),
        (PayoutMethod.ACH, Book.BANK),
        (PayoutMethod.CASH, Book.CASH),
        (PayoutMethod.STORE_CREDIT, Book.MEMBER_TRADE),
    ],
)
def test_paying_credits_the_rails_account(method, book):
    assert move_for(P, PAID, method=method) == Move(Book.PAYABLE, book)


def test_paying_needs_a_method():
    with pytest.raises(ValueError, match="paid by a method"):
        move_for(P, PAID, method=None)


def test_the_method_defaults_to_the_planned_one_then_a_check_and_is_never_set_off():
    assert payment_method(PayoutMethod.ACH, PayoutMethod.CHECK) is PayoutMethod.ACH
    assert payment_method(None, PayoutMethod.CASH) is PayoutMethod.CASH
    assert payment_method(None, None) is PayoutMethod.CHECK
    assert payment_method(None, PayoutMethod.SET_OFF) is PayoutMethod.CHECK
    with pytest.raises(InvalidInputError) as refused:
        payment_method(PayoutMethod.SET_OFF, None)
    assert refused.value.errors[0].field == "method"


_CHECK_MOVES = st.tuples(st.sampled_from(list(PayoutStatus)), st.sampled_from(list(PayoutMethod)))


@given(st.integers(min_value=1, max_value=10**12), st.lists(_CHECK_MOVES, max_size=25))
def test_the_books_always_hold_the_payout_where_its_status_says(amount, attempts):
    """Credit balances per book: the payable starts with the amount; money is out exactly when paid."""
    books = dict.fromkeys(Book, 0)
    books[Book.PAYABLE] = amount  # the approval that created the payout credited the payable
    status, paid_by = P, None
    for target, method in attempts:
        rail = method if target is PAID else paid_by
        try:
            move = move_for(status, target, method=rail)
        except (ConflictError, ValueError):
            continue
        if move is not None:
            books[move.debit] -= amount
            books[move.credit] += amount
        status, paid_by = target, (rail if target is PAID else paid_by)
        assert books[Book.PAYABLE] == (amount if held_in(status) is Book.PAYABLE else 0)
        assert books[Book.UNCLAIMED] == (amount if held_in(status) is Book.UNCLAIMED else 0)
        paid_out = books[Book.BANK] + books[Book.CASH] + books[Book.MEMBER_TRADE]
        assert paid_out == (amount if status is PAID else 0)
        assert books[Book.UNALLOCATED_EQUITY] == (amount if status is V else 0)
        assert sum(books.values()) == amount  # every move balanced


@given(
    owed=st.integers(min_value=1, max_value=10**12),
    payout=st.integers(min_value=1, max_value=10**12),
    requested=st.none() | st.integers(min_value=1, max_value=10**12),
)
def test_set_off_takes_the_least_of_debt_payout_and_request(owed, payout, requested):
    result = set_off(owed_cents=owed, payout_cents=payout, requested_cents=requested)
    cap = payout if requested is None else min(payout, requested)
    assert result.set_off_cents == min(owed, cap)
    assert 0 < result.set_off_cents <= min(owed, payout)
    assert result.set_off_cents + result.remaining_cents == payout
    assert result.remaining_cents >= 0
    assert result.settles == (result.remaining_cents == 0)


@pytest.mark.parametrize("owed", [0, -1, -500])
def test_nothing_to_set_off_is_a_400(owed):
    with pytest.raises(InvalidInputError, match="owes nothing") as refused:
        set_off(owed_cents=owed, payout_cents=1_000, requested_cents=None)
    assert refused.value.errors[0].field == "amount_cents"


def test_a_set_off_request_must_be_positive():
    with pytest.raises(InvalidInputError, match="not acceptable"):
        set_off(owed_cents=100, payout_cents=1_000, requested_cents=0)


def test_worked_set_offs():
    assert set_off(owed_cents=2_550, payout_cents=7_450, requested_cents=None).remaining_cents == 4_900
    assert set_off(owed_cents=2_550, payout_cents=7_450, requested_cents=1_000).set_off_cents == 1_000
    assert set_off(owed_cents=9_000, payout_cents=7_450, requested_cents=None).settles


def test_a_retry_is_the_same_move_with_the_same_details_just_made():
    same = ("check", "CHK-1", None)
    assert is_repeat(PAID, current=PAID, last_to=PAID, last_details=same, details=same)
    assert not is_repeat(PAID, current=PAID, last_to=PAID, last_details=same, details=("check", "CHK-2", None))
    assert not is_repeat(PAID, current=F, last_to=F, last_details=same, details=same)
    assert not is_repeat(P, current=P, last_to=None, last_details=(None, None, None), details=(None, None, None))


def test_journal_keys_are_unique_per_payout_and_event():
    keys = {journal_key(p, n) for p in range(1, 20) for n in range(1, 20)}
    assert len(keys) == 19 * 19
    assert journal_key(7, 3) == "payout:7:event:3"


def test_actions_name_the_route():
    assert action_of(P, PAID, set_off=False) == "mark-paid"
    assert action_of(P, PAID, set_off=True) == "set-off"
    assert action_of(P, P, set_off=True) == "set-off"
    assert action_of(F, P, set_off=False) == "reissue"
    assert action_of(P, U, set_off=False) == "mark-unclaimed"
    assert action_of(PAID, F, set_off=False) == "fail"
    assert action_of(U, V, set_off=False) == "void"


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_dollars_are_exact(cents):
    assert Decimal(dollars(cents)) == Decimal(cents) / 100
    assert len(dollars(cents).split(".")[1]) == 2


def test_the_check_register_is_csv_with_a_header_and_safe_payees():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    text = check_register_csv(
        [
            PayoutInstruction(4, 2, 17, "Corner Bakery, LLC", "share_redemption", 7_450, None, at),
            PayoutInstruction(9, 3, 18, "=HYPERLINK(1)", "patronage_cash", 5, "check", at),
        ]
    )
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:7] == ["payout_id", "member_id", "member_number", "payee", "kind", "amount_cents", "amount"]
    assert rows[1] == ["4", "2", "17", "Corner Bakery, LLC", "share_redemption", "7450", "74.50", "", at.isoformat()]
    assert rows[2][3] == "'=HYPERLINK(1)"
    assert rows[2][6] == "0.05"
    assert check_register_csv([]).count("\r\n") == 1


@pytest.mark.parametrize(
    ("target", "verb"),
    [(PAID, "marked paid"), (F, "marked failed"), (V, "voided"), (P, "reissued"), (U, "marked unclaimed")],
)
def test_a_refused_move_says_what_was_asked_in_words(target, verb):
    with pytest.raises(ConflictError) as refused:
        check_transition(V, target, method=PayoutMethod.CHECK)
    assert refused.value.detail == f"a void payout cannot be {verb}; allowed from void: none (final state)"


def test_a_refusal_lists_every_allowed_move_with_its_route():
    with pytest.raises(ConflictError) as refused:
        check_transition(P, P, method=None)
    assert refused.value.detail == (
        "a pending payout cannot be reissued; allowed from pending: "
        "fail (failed), mark-paid (paid), mark-unclaimed (unclaimed), void (void)"
    )
    with pytest.raises(ConflictError) as cash:
        check_transition(PAID, F, method=PayoutMethod.CASH)
    rails = "only payments by ach, bank_transfer, check can come back"
    assert cash.value.detail == f"a payout paid by cash cannot fail; {rails}"


def test_the_refusals_of_a_method_and_of_a_set_off_say_what_to_do():
    with pytest.raises(ValueError, match=r"^a payout is paid by a method$"):
        move_for(P, PAID, method=None)
    with pytest.raises(InvalidInputError) as set_off_as_method:
        payment_method(PayoutMethod.SET_OFF, PayoutMethod.CHECK)
    assert set_off_as_method.value.detail == "set-off is not a way to mark a payout paid"
    assert set_off_as_method.value.errors == [
        FieldError("method", "use the set-off route to apply a payout to the trade balance")
    ]
    with pytest.raises(InvalidInputError) as zero:
        set_off(owed_cents=100, payout_cents=1_000, requested_cents=0)
    assert zero.value.detail == "the set-off is not acceptable"
    assert zero.value.errors == [FieldError("amount_cents", "must be a positive number of cents")]
    with pytest.raises(InvalidInputError) as nothing_owed:
        set_off(owed_cents=0, payout_cents=1_000, requested_cents=None)
    assert nothing_owed.value.detail == "the member owes nothing on its trade account"
    assert nothing_owed.value.errors == [FieldError("amount_cents", "nothing is owed on the trade account to set off")]


def test_a_set_off_of_one_cent_is_accepted():
    one_cent = set_off(owed_cents=100, payout_cents=1_000, requested_cents=1)
    assert one_cent == SetOff(set_off_cents=1, remaining_cents=999)
