"""Connect transfers to suppliers: the plan (the whole payable, once, never after a hand payment), key, account."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FieldError
from domain.payments.rules import (
    TransferPlan,
    TransferRefusal,
    connected_account_errors,
    transfer_key,
    transfer_plan,
    transfer_reversal_cents,
)

cents = st.integers(min_value=0, max_value=10**12)


@given(payable=cents, by_hand=cents, transferred=cents)
def test_a_transfer_pays_the_whole_payable_once_and_never_after_a_hand_payment(
    payable: int, by_hand: int, transferred: int
) -> None:
    plan = transfer_plan(payable_cents=payable, paid_by_hand_cents=by_hand, transferred_cents=transferred)
    assert 0 <= plan.amount_cents <= payable
    assert (plan.amount_cents > 0) == (plan.refusal is None)
    if plan.refusal is None:
        assert (plan.amount_cents, by_hand, transferred) == (payable, 0, 0)


def test_why_no_transfer_is_made() -> None:
    assert transfer_plan(payable_cents=500, paid_by_hand_cents=0, transferred_cents=500).refusal is (
        TransferRefusal.ALREADY_TRANSFERRED
    )
    assert transfer_plan(payable_cents=500, paid_by_hand_cents=1, transferred_cents=0) == TransferPlan(
        0, TransferRefusal.PAID_BY_HAND
    )
    assert transfer_plan(payable_cents=0, paid_by_hand_cents=0, transferred_cents=0).refusal is (
        TransferRefusal.NOTHING_OWED
    )
    assert transfer_plan(payable_cents=500, paid_by_hand_cents=0, transferred_cents=0).amount_cents == 500


def test_one_cent_transferred_or_owed_counts() -> None:
    assert transfer_plan(payable_cents=500, paid_by_hand_cents=0, transferred_cents=1) == TransferPlan(
        0, TransferRefusal.ALREADY_TRANSFERRED
    )
    assert transfer_plan(payable_cents=1, paid_by_hand_cents=0, transferred_cents=0) == TransferPlan(1, None)


def test_the_transfer_key_names_the_buy_and_the_supplier() -> None:
    assert transfer_key(12, 7) == "transfer:12:7"
    assert transfer_key(12, 7) != transfer_key(7, 12)


@pytest.mark.parametrize("account", ["acct_1Nv0FGQ9RKHgCVdK", "acct_a", "acct_" + "9" * 250])
def test_a_connected_account_id_is_acct_then_letters_and_digits(account: str) -> None:
    assert connected_account_errors(account) == []


@pytest.mark.parametrize(
    "account",
    ["", "acct_", "acct", "ACCT_123", "ba_123", "acct_12 3", "acct_12-3", "acct_é1", "acct_" + "9" * 251, " acct_123"],
)
def test_anything_else_is_refused_saying_what_an_account_id_looks_like(account: str) -> None:
    assert connected_account_errors(account) == [
        FieldError("stripe_account_id", "must be a Stripe connected account id: acct_ then letters and digits")
    ]


@given(payable=cents, by_hand=cents, transferred=cents, reversed_share=st.integers(0, 100))
def test_a_reversal_takes_back_only_the_overpayment_and_never_more_than_is_still_transferred(
    payable: int, by_hand: int, transferred: int, reversed_share: int
) -> None:
    reversed_ = transferred * reversed_share // 100
    back = transfer_reversal_cents(
        payable_cents=payable, paid_by_hand_cents=by_hand, transferred_cents=transferred, reversed_cents=reversed_
    )
    still = transferred - reversed_
    assert 0 <= back <= still
    paid_after = by_hand + still - back
    # Afterwards the supplier is paid no more than it is owed, unless the transfer is used up
    # (the rest was paid by hand: what it owes back is on its payable, not on the card).
    assert paid_after <= payable or back == still
    # Nothing is taken back from a supplier that is not overpaid.
    if by_hand + still <= payable:
        assert back == 0
    again = transfer_reversal_cents(
        payable_cents=payable,
        paid_by_hand_cents=by_hand,
        transferred_cents=transferred,
        reversed_cents=reversed_ + back,
    )
    assert again == 0  # a second run after the first takes nothing more


def test_the_reversal_of_the_worked_example() -> None:
    # 2,000 transferred for two units; a correction leaves one (1,000 owed): 1,000 comes back, once.
    assert (
        transfer_reversal_cents(payable_cents=1_000, paid_by_hand_cents=0, transferred_cents=2_000, reversed_cents=0)
        == 1_000
    )
    assert (
        transfer_reversal_cents(
            payable_cents=1_000, paid_by_hand_cents=0, transferred_cents=2_000, reversed_cents=1_000
        )
        == 0
    )
