"""The states of a group buy and of an order, and every move each may make."""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import TYPE_CHECKING

from domain.errors import ConflictError
from domain.transitions import check_move

if TYPE_CHECKING:
    from collections.abc import Mapping


class GroupBuyStatus(enum.StrEnum):
    """``scheduled -> open -> ordered -> delivered -> settled``, or ``on_hold`` or ``cancelled`` (TRANSITIONS)."""

    SCHEDULED = "scheduled"
    OPEN = "open"
    ON_HOLD = "on_hold"
    ORDERED = "ordered"
    DELIVERED = "delivered"
    SETTLED = "settled"
    CANCELLED = "cancelled"


class GroupBuyEvent(enum.StrEnum):
    """What moves a group buy: the clock, the close rules, staff, the delivery."""

    OPEN = "open"
    EXTEND = "extend"
    HOLD = "hold"
    ORDER = "order"
    PROCEED = "proceed"
    CANCEL = "cancel"
    DELIVER = "deliver"
    SETTLE = "settle"


# Every move a group buy may make. A buy held for its missed minimum is ``on_hold`` (not
# ``closing``, where clients could not tell it apart from a close in flight) until staff
# proceed or cancel: nothing else leaves it, so it cannot be forgotten in a half state.
TRANSITIONS: Mapping[tuple[GroupBuyStatus, GroupBuyEvent], GroupBuyStatus] = MappingProxyType(
    {
        (GroupBuyStatus.SCHEDULED, GroupBuyEvent.OPEN): GroupBuyStatus.OPEN,
        (GroupBuyStatus.SCHEDULED, GroupBuyEvent.CANCEL): GroupBuyStatus.CANCELLED,
        (GroupBuyStatus.OPEN, GroupBuyEvent.EXTEND): GroupBuyStatus.OPEN,
        (GroupBuyStatus.OPEN, GroupBuyEvent.HOLD): GroupBuyStatus.ON_HOLD,
        (GroupBuyStatus.OPEN, GroupBuyEvent.ORDER): GroupBuyStatus.ORDERED,
        (GroupBuyStatus.OPEN, GroupBuyEvent.CANCEL): GroupBuyStatus.CANCELLED,
        (GroupBuyStatus.ON_HOLD, GroupBuyEvent.PROCEED): GroupBuyStatus.ORDERED,
        (GroupBuyStatus.ON_HOLD, GroupBuyEvent.CANCEL): GroupBuyStatus.CANCELLED,
        (GroupBuyStatus.ORDERED, GroupBuyEvent.DELIVER): GroupBuyStatus.DELIVERED,
        (GroupBuyStatus.DELIVERED, GroupBuyEvent.SETTLE): GroupBuyStatus.SETTLED,
    }
)


def next_status(status: GroupBuyStatus, event: GroupBuyEvent) -> GroupBuyStatus | None:
    """Where ``event`` takes a buy in ``status``, or None when the table has no such move."""
    return TRANSITIONS.get((GroupBuyStatus(status), GroupBuyEvent(event)))


GROUP_BUY_TRANSITION_REFUSED = "group_buy_transition_refused"


def move_group_buy(status: str, event: GroupBuyEvent, *, group_buy_id: int | None = None) -> GroupBuyStatus:
    """Where ``event`` takes a buy in ``status``; a move the table lacks is a 409 (``group_buy_transition_refused``)."""
    current = GroupBuyStatus(status)
    target = next_status(current, event)
    if target is None:
        allowed = ", ".join(sorted(e for s, e in TRANSITIONS if s is current)) or "none (final state)"
        msg = f"group buy {group_buy_id} is {current}; it cannot {event} (allowed from {current}: {allowed})"
        raise ConflictError(msg, code=GROUP_BUY_TRANSITION_REFUSED)
    return target


class OrderStatus(enum.StrEnum):
    """A member's order: open while the buy is, then allocated at close, settled at delivery."""

    OPEN = "open"
    ALLOCATED = "allocated"
    SETTLED = "settled"
    CANCELLED = "cancelled"


# Every move an order may make. While its buy is open a member withdraws an order and
# brings it back; the close allocates the open ones (and a cancelled buy cancels them);
# the delivery settles the allocated ones. Settled is final: what was charged stays.
ORDER_TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = MappingProxyType(
    {
        OrderStatus.OPEN: frozenset({OrderStatus.ALLOCATED, OrderStatus.CANCELLED}),
        OrderStatus.CANCELLED: frozenset({OrderStatus.OPEN}),
        OrderStatus.ALLOCATED: frozenset({OrderStatus.SETTLED}),
        OrderStatus.SETTLED: frozenset(),
    }
)

ORDER_TRANSITION_REFUSED = "order_transition_refused"


def check_order_transition(current: str, target: OrderStatus, *, order_id: int | None = None) -> None:
    """Refuse a move the table does not allow (409, code ``order_transition_refused``)."""
    check_move(ORDER_TRANSITIONS, OrderStatus(current), target, what=f"order {order_id}", code=ORDER_TRANSITION_REFUSED)
