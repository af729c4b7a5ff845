"""A pool's margin from the books and the entry that closes it (pure rules)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.ledger.rules import Side
from domain.programmes.rules import BookAccount, PoolBooks, closing_legs, expense_errors

cents = st.integers(min_value=-(10**12), max_value=10**12)


def test_the_net_margin_is_programme_margin_plus_markup_less_expenses():
    books = PoolBooks("purchases", 10_000, 5_000, 3_000, 8_800, 8_000, 1_500)
    assert (books.programme_margin_cents, books.group_buy_markup_cents, books.net_margin_cents) == (12_000, 800, 11_300)
    assert closing_legs(books) == [
        (BookAccount.REBATE_INCOME, Side.DEBIT, 10_000),
        (BookAccount.FEE_INCOME, Side.DEBIT, 5_000),
        (BookAccount.PASS_THROUGH, Side.CREDIT, 3_000),
        (BookAccount.SALES, Side.DEBIT, 8_800),
        (BookAccount.COST_OF_GOODS, Side.CREDIT, 8_000),
        (BookAccount.EXPENSES, Side.CREDIT, 1_500),
        (BookAccount.INCOME_SUMMARY, Side.CREDIT, 11_300),
    ]


def test_a_loss_is_debited_to_the_income_summary_and_nothing_open_closes_nothing():
    loss = PoolBooks("fuel", 0, 0, 0, 0, 0, 700)
    assert closing_legs(loss) == [
        (BookAccount.EXPENSES, Side.CREDIT, 700),
        (BookAccount.INCOME_SUMMARY, Side.DEBIT, 700),
    ]
    assert closing_legs(PoolBooks("fuel", 0, 0, 0, 0, 0, 0)) == []


@given(cents, cents, cents, cents, cents, cents)
def test_the_closing_entry_balances_and_moves_the_net_margin(rebate, fee, passed, sales, cost, expenses):
    books = PoolBooks("p", rebate, fee, passed, sales, cost, expenses)
    legs = closing_legs(books)
    assert all(amount > 0 for _, _, amount in legs)
    debits = sum(a for _, side, a in legs if side is Side.DEBIT)
    credits = sum(a for _, side, a in legs if side is Side.CREDIT)
    assert debits == credits
    summary = {side: a for account, side, a in legs if account is BookAccount.INCOME_SUMMARY}
    assert summary.get(Side.CREDIT, 0) - summary.get(Side.DEBIT, 0) == books.net_margin_cents


def test_an_expense_names_a_pool_and_an_amount():
    assert expense_errors("purchases", -1) == []
    assert [e.field for e in expense_errors("Not a pool", 0)] == ["pool", "amount_cents"]
    assert [e.field for e in expense_errors("purchases", 10**14)] == ["amount_cents"]


def test_one_cent_of_income_is_debited_and_one_cent_of_expense_credited():
    assert closing_legs(PoolBooks("p", 1, 0, 0, 0, 0, 0)) == [
        (BookAccount.REBATE_INCOME, Side.DEBIT, 1),
        (BookAccount.INCOME_SUMMARY, Side.CREDIT, 1),
    ]
    assert closing_legs(PoolBooks("p", 0, 0, 0, 0, 0, 1)) == [
        (BookAccount.EXPENSES, Side.CREDIT, 1),
        (BookAccount.INCOME_SUMMARY, Side.DEBIT, 1),
    ]
