"""The chart's LIKE patterns, code parts and predicates agree with the account functions they stand for."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from domain.ledger import chart

ids = st.integers(min_value=1, max_value=2**63 - 1)
fund_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
    lambda name: name != "employee_share"
)


def lot_account(member_id: int, lot_id: int) -> str:
    """The code of a lot's own account, as lots written before migration 0041 have."""
    return f"member:{member_id}:equity_lot:{lot_id}"


def like(pattern: str, code: str) -> bool:
    """SQL LIKE without an escape character: ``%`` any run, ``_`` any one character."""
    regex = "".join({"%": ".*", "_": "."}.get(ch, re.escape(ch)) for ch in pattern)
    return re.fullmatch(regex, code, re.DOTALL) is not None


@given(ids, ids, fund_names)
def test_each_pattern_matches_its_own_accounts_and_no_other(member_id: int, lot_id: int, fund: str) -> None:
    codes = {
        chart.MEMBER_SHARE_PATTERN: chart.member_share(member_id).code,
        chart.MEMBER_PREFERRED_PATTERN: chart.member_preferred(member_id).code,
        chart.EQUITY_LOT_PATTERN: lot_account(member_id, lot_id),
        chart.FUND_PATTERN: chart.fund_account(fund).code,
    }
    others = [
        chart.member_trade(member_id).code,
        chart.supplier_payable(member_id).code,
        chart.income_summary(2026).code,
        chart.EMPLOYEE_PROFIT_SHARE.code,
        *(
            spec.code
            for spec in (chart.CASH, chart.BANK, chart.PAYOUTS_PAYABLE, chart.UNALLOCATED_EQUITY, chart.RETAINED_EQUITY)
        ),
    ]
    for pattern, code in codes.items():
        assert like(pattern, code), (pattern, code)
        for other in [*others, *(c for p, c in codes.items() if p != pattern)]:
            assert not like(pattern, other), (pattern, other)


@given(ids, ids)
def test_the_code_parts_spell_the_codes_the_functions_make(member_id: int, lot_id: int) -> None:
    # Set-based SQL concatenates these parts with the ids; they must give the same codes.
    prefix = chart.MEMBER_CODE_PREFIX
    assert f"{prefix}{member_id}{chart.SHARE_SUFFIX}" == chart.member_share(member_id).code
    assert f"{prefix}{member_id}{chart.PREFERRED_SUFFIX}" == chart.member_preferred(member_id).code
    assert f"{prefix}{member_id}{chart.TRADE_SUFFIX}" == chart.member_trade(member_id).code
    assert f"{prefix}{member_id}{chart.EQUITY_LOT_INFIX}{lot_id}" == lot_account(member_id, lot_id)


@given(ids, ids, fund_names)
def test_the_predicates_tell_the_kinds_apart(member_id: int, lot_id: int, fund: str) -> None:
    share, lot = chart.member_share(member_id).code, lot_account(member_id, lot_id)
    funds = (chart.fund_account(fund).code, chart.fund_account("employee_share").code)
    assert chart.is_member_share(share)
    assert not chart.is_member_share(lot)
    assert not chart.is_member_share(chart.member_preferred(member_id).code)
    assert chart.is_retained_equity(lot)
    assert chart.is_retained_equity(chart.RETAINED_EQUITY.code)
    assert not chart.is_retained_equity(share)
    assert not chart.is_retained_equity(chart.UNALLOCATED_EQUITY.code)
    assert all(chart.is_fund(code) for code in funds)
    assert not any(chart.is_fund(code) for code in (share, lot, chart.UNALLOCATED_EQUITY.code))
    assert chart.fund_account("employee_share") == chart.EMPLOYEE_PROFIT_SHARE
