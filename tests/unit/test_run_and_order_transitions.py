"""Transition tables of group buys, orders, allocation runs and redemption runs (pure rules).

Every pair of states is tried: a pair in the table is allowed, any other is refused
with a 409 that carries a machine code.
"""

from __future__ import annotations

import itertools
from typing import get_args

import pytest

from api.routes.allocation import RunStatusName
from api.routes.redemption import RedemptionStatusName
from domain.allocation.rules import (
    RUN_TRANSITION_REFUSED,
    RUN_TRANSITIONS,
    AllocationRunStatus,
    check_run_transition,
)
from domain.buying.rules import (
    GROUP_BUY_TRANSITION_REFUSED,
    ORDER_TRANSITION_REFUSED,
    ORDER_TRANSITIONS,
    TRANSITIONS,
    GroupBuyEvent,
    GroupBuyStatus,
    OrderStatus,
    check_order_transition,
    move_group_buy,
)
from domain.equity import rules as equity
from domain.errors import ConflictError


@pytest.mark.parametrize(("status", "event"), list(itertools.product(GroupBuyStatus, GroupBuyEvent)))
def test_a_group_buy_moves_only_as_its_table_says(status: GroupBuyStatus, event: GroupBuyEvent) -> None:
    if (status, event) in TRANSITIONS:
        assert move_group_buy(status, event, group_buy_id=5) is TRANSITIONS[status, event]
        return
    with pytest.raises(ConflictError) as refused:
        move_group_buy(status, event, group_buy_id=5)
    assert refused.value.code == GROUP_BUY_TRANSITION_REFUSED
    assert f"group buy 5 is {status}; it cannot {event}" in refused.value.detail


@pytest.mark.parametrize(("current", "target"), list(itertools.product(OrderStatus, OrderStatus)))
def test_an_order_moves_only_as_its_table_says(current: OrderStatus, target: OrderStatus) -> None:
    if target in ORDER_TRANSITIONS[current]:
        check_order_transition(current, target, order_id=1)
        return
    with pytest.raises(ConflictError) as refused:
        check_order_transition(current, target, order_id=1)
    assert refused.value.code == ORDER_TRANSITION_REFUSED
    assert f"order 1 is {current}" in refused.value.detail


def test_the_order_table_is_the_lifecycle() -> None:
    assert {(s, t) for s, targets in ORDER_TRANSITIONS.items() for t in targets} == {
        (OrderStatus.OPEN, OrderStatus.ALLOCATED),
        (OrderStatus.OPEN, OrderStatus.CANCELLED),
        (OrderStatus.CANCELLED, OrderStatus.OPEN),
        (OrderStatus.ALLOCATED, OrderStatus.SETTLED),
    }


@pytest.mark.parametrize(("current", "target"), list(itertools.product(AllocationRunStatus, AllocationRunStatus)))
def test_an_allocation_run_moves_only_as_its_table_says(
    current: AllocationRunStatus, target: AllocationRunStatus
) -> None:
    if target in RUN_TRANSITIONS[current]:
        check_run_transition(current, target, run_id=7)
        return
    with pytest.raises(ConflictError) as refused:
        check_run_transition(current, target, run_id=7)
    assert refused.value.code == RUN_TRANSITION_REFUSED
    assert refused.value.detail.startswith(f"allocation run 7 is {current}; it cannot become {target} (allowed")


def test_the_allocation_run_table_is_the_lifecycle() -> None:
    assert {(s, t) for s, targets in RUN_TRANSITIONS.items() for t in targets} == {
        (AllocationRunStatus.COMPUTING, AllocationRunStatus.COMPUTED),
        (AllocationRunStatus.COMPUTING, AllocationRunStatus.FAILED),
        (AllocationRunStatus.COMPUTED, AllocationRunStatus.POSTED),
    }


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(equity.RedemptionRunStatus, equity.RedemptionRunStatus))
)
def test_a_redemption_run_moves_only_as_its_table_says(
    current: equity.RedemptionRunStatus, target: equity.RedemptionRunStatus
) -> None:
    if target in equity.RUN_TRANSITIONS[current]:
        equity.check_run_transition(current, target, run_id=3)
        return
    with pytest.raises(ConflictError) as refused:
        equity.check_run_transition(current, target, run_id=3)
    assert refused.value.code == equity.RUN_TRANSITION_REFUSED
    assert refused.value.detail.startswith(f"redemption run 3 is {current}; it cannot become {target} (allowed")


def test_the_redemption_run_table_is_the_lifecycle() -> None:
    assert {(s, t) for s, targets in equity.RUN_TRANSITIONS.items() for t in targets} == {
        (equity.RedemptionRunStatus.COMPUTED, equity.RedemptionRunStatus.POSTED),
    }


def test_a_status_read_from_a_row_is_checked_as_its_enum() -> None:
    check_run_transition("computed", AllocationRunStatus.POSTED)
    with pytest.raises(ConflictError):
        check_run_transition("posted", AllocationRunStatus.POSTED)
    with pytest.raises(ValueError, match="'closing' is not a valid"):
        check_order_transition("closing", OrderStatus.OPEN)


def test_the_wire_spells_every_run_status_and_no_other() -> None:
    assert set(get_args(RunStatusName)) == set(AllocationRunStatus)
    assert set(get_args(RedemptionStatusName)) == set(equity.RedemptionRunStatus)
