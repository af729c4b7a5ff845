"""Unit tests for domain.ledger.rules (pure, no I/O)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ledger.rules import (
    AccountKind,
    PostingLine,
    Side,
    UnbalancedEntryError,
    check_balanced,
    reversal_of,
    signed_balance,
)

D, C = Side.DEBIT, Side.CREDIT


def line(account_id: int, side: Side, amount: Any) -> PostingLine:
    return PostingLine(account_id, side, amount)


# --- check_balanced ------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        [line(1, D, 100), line(2, C, 100)],
        [line(1, D, 70), line(1, D, 30), line(2, C, 100)],
        [line(1, D, 100), line(2, C, 60), line(3, C, 40)],
        [line(1, C, 1), line(1, D, 1)],  # same account on both sides is still balanced
        [line(1, D, 2**62), line(2, C, 2**62)],
    ],
)
def test_balanced_entries_are_accepted(lines):
    check_balanced(lines)  # no exception


@pytest.mark.parametrize("lines", [[], [line(1, D, 100)], [line(1, C, 100)]])
def test_fewer_than_two_postings_is_refused(lines):
    with pytest.raises(UnbalancedEntryError, match=r"^a journal entry needs at least two postings$"):
        check_balanced(lines)


@pytest.mark.parametrize(
    "amount",
    [0, -1, -100, True, False, 1.0, 100.0, Decimal(100), "100", None],
    ids=repr,
)
def test_amounts_must_be_positive_plain_ints(amount):
    # Each bad amount sits on an otherwise balanced-looking entry.
    lines = [line(1, D, amount), line(2, C, amount)]
    with pytest.raises(UnbalancedEntryError, match="positive integer cents"):
        check_balanced(lines)


def test_one_bad_amount_among_good_ones_is_refused():
    with pytest.raises(UnbalancedEntryError, match="positive integer cents"):
        check_balanced([line(1, D, 100), line(2, C, 100), line(3, D, 0), line(4, C, 0)])


@pytest.mark.parametrize(
    "lines",
    [
        [line(1, D, 100), line(2, C, 99)],
        [line(1, D, 100), line(2, D, 100)],  # all debits
        [line(1, C, 100), line(2, C, 100)],  # all credits
        [line(1, D, 100), line(2, C, 60), line(3, C, 39)],
    ],
)
def test_unequal_sides_are_refused(lines):
    with pytest.raises(UnbalancedEntryError, match=r"debits \d+ != credits \d+"):
        check_balanced(lines)


def test_unbalanced_error_is_a_value_error():
    assert issubclass(UnbalancedEntryError, ValueError)


# --- reversal_of ---------------------------------------------------------------


def test_reversal_swaps_sides_and_keeps_accounts_and_amounts():
    lines = [line(1, D, 100), line(2, C, 60), line(3, C, 40)]
    assert reversal_of(lines) == [line(1, C, 100), line(2, D, 60), line(3, D, 40)]


def test_reversal_of_a_reversal_is_the_original_and_input_is_untouched():
    lines = [line(1, D, 5), line(2, C, 5)]
    copy = list(lines)
    assert reversal_of(reversal_of(lines)) == lines
    assert lines == copy


def test_reversal_moves_the_same_equity_lot_back():
    redemption = [PostingLine(1, D, 500, equity_lot_id=42), PostingLine(2, C, 500)]
    assert reversal_of(redemption) == [PostingLine(1, C, 500, equity_lot_id=42), PostingLine(2, D, 500)]


def test_reversal_accepts_any_iterable():
    assert reversal_of(iter([line(7, C, 3)])) == [line(7, D, 3)]


def test_side_opposite():
    assert D.opposite() is C
    assert C.opposite() is D


# --- signed_balance ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "normal"),
    [
        (AccountKind.ASSET, D),
        (AccountKind.EXPENSE, D),
        (AccountKind.LIABILITY, C),
        (AccountKind.EQUITY, C),
        (AccountKind.INCOME, C),
    ],
)
def test_signed_balance_is_on_the_normal_side(kind, normal):
    assert kind.normal_side is normal
    if normal is D:
        assert signed_balance(kind, 300, 100) == 200
        assert signed_balance(kind, 100, 300) == -200
    else:
        assert signed_balance(kind, 300, 100) == -200
        assert signed_balance(kind, 100, 300) == 200
    assert signed_balance(kind, 0, 0) == 0
    assert signed_balance(kind, 42, 42) == 0


# --- properties ----------------------------------------------------------------

amounts = st.integers(min_value=1, max_value=10**12)
account_ids = st.integers(min_value=1, max_value=8)
sides = st.sampled_from(Side)


def _split(total: int, parts: int, cuts: list[int]) -> list[int]:
    """Split `total` into `parts` positive integers using the cut points drawn."""
    points = sorted({1 + c % (total - 1) for c in cuts[: parts - 1]}) if total > 1 else []
    bounds = [0, *points, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


@st.composite
def balanced_entries(draw: st.DrawFn) -> list[PostingLine]:
    total = draw(st.integers(min_value=1, max_value=10**12))
    n_debit = draw(st.integers(min_value=1, max_value=4))
    n_credit = draw(st.integers(min_value=1, max_value=4))
    cuts = st.lists(st.integers(min_value=0, max_value=10**12), min_size=4, max_size=4)
    debits = _split(total, n_debit, draw(cuts))
    credits = _split(total, n_credit, draw(cuts))
    lines = [PostingLine(draw(account_ids), D, a) for a in debits]
    lines += [PostingLine(draw(account_ids), C, a) for a in credits]
    return draw(st.permutations(lines))


def _net_by_account(lines: list[PostingLine]) -> dict[int, int]:
    net: dict[int, int] = defaultdict(int)
    for ln in lines:
        net[ln.account_id] += ln.amount_cents if ln.side is D else -ln.amount_cents
    return dict(net)


@given(balanced_entries())
def test_generated_entries_are_balanced(lines):
    check_balanced(lines)


@given(balanced_entries())
def test_reversal_is_balanced_and_nets_every_account_to_zero(lines):
    reversal = reversal_of(lines)
    check_balanced(reversal)
    assert len(reversal) == len(lines)
    assert all(n == 0 for n in _net_by_account(lines + reversal).values())
    for kind in AccountKind:
        for account in {ln.account_id for ln in lines}:
            both = [ln for ln in lines + reversal if ln.account_id == account]
            debits = sum(ln.amount_cents for ln in both if ln.side is D)
            credits = sum(ln.amount_cents for ln in both if ln.side is C)
            assert signed_balance(kind, debits, credits) == 0


@given(st.lists(st.builds(PostingLine, account_ids, sides, amounts), min_size=2, max_size=8))
def test_never_accepts_an_entry_whose_debits_differ_from_credits(lines):
    debits = sum(ln.amount_cents for ln in lines if ln.side is D)
    credits = sum(ln.amount_cents for ln in lines if ln.side is C)
    if debits == credits:
        check_balanced(lines)
    else:
        with pytest.raises(UnbalancedEntryError):
            check_balanced(lines)


@given(balanced_entries(), st.integers(min_value=0, max_value=10), st.integers(min_value=1, max_value=10**6))
def test_any_nudge_to_a_balanced_entry_is_refused(lines, index, delta):
    i = index % len(lines)
    nudged = list(lines)
    nudged[i] = PostingLine(lines[i].account_id, lines[i].side, lines[i].amount_cents + delta)
    with pytest.raises(UnbalancedEntryError):
        check_balanced(nudged)
