"""Sharing bought or delivered units among members: pro rata or first come."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, assert_never

from domain.buying.rules._checks import non_negative
from domain.buying.rules.demand import Demand, Increment, check_time_order
from domain.money import allocate

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


class AllocationPolicy(enum.StrEnum):
    """How bought or delivered units are shared when not everyone gets what they asked."""

    PRO_RATA = "pro_rata"
    FIRST_COME = "first_come"


def _first_come(
    capacities: Sequence[Sequence[tuple[int, int]]],
    total: int,
) -> list[int]:
    """Walk ``(at_seq, units)`` slots oldest first across parties; each takes what is left.

    Slots with the same ``at_seq`` go in party order (earlier first order first).
    """
    slots = sorted(
        (at_seq, party, index, units)
        for party, party_slots in enumerate(capacities)
        for index, (at_seq, units) in enumerate(party_slots)
    )
    parts = [0] * len(capacities)
    left = total
    for _, party, _, units in slots:
        if left == 0:
            break
        taken = min(units, left)
        parts[party] += taken
        left -= taken
    if left:
        msg = f"{left} units could not be placed"
        raise ValueError(msg)
    return parts


def _share(
    total: int, weights: Sequence[int], slots: Sequence[Sequence[tuple[int, int]]], policy: AllocationPolicy
) -> list[int]:
    match policy:
        case AllocationPolicy.PRO_RATA:
            return allocate(total, weights)
        case AllocationPolicy.FIRST_COME:
            return _first_come(slots, total)
        case _:
            assert_never(policy)


def allocate_units(
    demands: Sequence[Demand],
    bought: int,
    policy: AllocationPolicy = AllocationPolicy.PRO_RATA,
) -> dict[int, int]:
    """Share ``bought`` units (A = cases * S) among members, keyed by member_key in input order.

    ``A <= Q``: firm quantity is cut, pro_rata ``LRM(A, quantity_i)`` or
    first_come over quantity increments. ``A > Q``: everyone gets their firm
    quantity and ``E = A - Q`` comes from flex, pro_rata ``LRM(E, flex_i)`` or
    first_come over flex increments. Ties go to the earlier position in
    ``demands``. Nobody gets more than quantity + flex; parts sum to ``bought``.
    """
    policy = AllocationPolicy(policy)
    non_negative(bought, "bought")
    keys = [d.member_key for d in demands]
    if len(set(keys)) != len(keys):
        msg = "each member may appear only once"
        raise ValueError(msg)
    firm = sum(d.quantity for d in demands)
    flex = sum(d.flex for d in demands)
    if bought > firm + flex:
        msg = f"bought {bought} exceeds quantity {firm} + flex {flex}"
        raise ValueError(msg)
    if bought <= firm:
        parts = _share(
            bought,
            [d.quantity for d in demands],
            [[(i.at_seq, i.quantity) for i in d.increments] for d in demands],
            policy,
        )
    else:
        extra = _share(
            bought - firm,
            [d.flex for d in demands],
            [[(i.at_seq, i.flex) for i in d.increments] for d in demands],
            policy,
        )
        parts = [d.quantity + e for d, e in zip(demands, extra, strict=True)]
    return dict(zip(keys, parts, strict=True))


def reallocate_delivery(
    allocated: Mapping[int, int],
    delivered: int,
    policy: AllocationPolicy = AllocationPolicy.PRO_RATA,
    increments_by_member: Mapping[int, Sequence[Increment]] | None = None,
) -> dict[int, int]:
    """Share ``delivered`` units (D <= A) among members, each at most their allocation.

    ``allocated`` is ordered by first order time. pro_rata: ``LRM(D,
    allocated_i)``. first_come with ``increments_by_member``: the allocation's
    own walk, firm increments oldest first and then flex increments, each
    capped by what the member was allocated, so a shortage falls first on the
    newest flex and then the newest firm units. first_come without increments:
    members in ``allocated`` order, each taking their whole allocation.
    """
    policy = AllocationPolicy(policy)
    non_negative(delivered, "delivered")
    keys = list(allocated)
    amounts = [non_negative(allocated[k], f"allocation of member {k}") for k in keys]
    if delivered > sum(amounts):
        msg = f"delivered {delivered} exceeds the {sum(amounts)} units allocated"
        raise ValueError(msg)
    if policy is AllocationPolicy.PRO_RATA:
        parts = allocate(delivered, amounts)
    elif increments_by_member is None:
        parts = _first_come([[(0, a)] for a in amounts], delivered)
    else:
        parts = _first_come_by_increments(keys, amounts, increments_by_member, delivered)
    return dict(zip(keys, parts, strict=True))


def _first_come_by_increments(
    keys: Sequence[int],
    amounts: Sequence[int],
    increments_by_member: Mapping[int, Sequence[Increment]],
    delivered: int,
) -> list[int]:
    firm_slots: list[list[tuple[int, int]]] = []
    flex_slots: list[list[tuple[int, int]]] = []
    for key, amount in zip(keys, amounts, strict=True):
        incs = increments_by_member.get(key, ())
        check_time_order(incs)
        firm_total = sum(i.quantity for i in incs)
        if amount > firm_total + sum(i.flex for i in incs):
            msg = f"member {key}: allocation {amount} exceeds the increments' quantity + flex"
            raise ValueError(msg)
        # The member's allocation, attributed to their own increments: firm oldest
        # first, then flex oldest first, the order in which allocation gave it.
        firm_left, flex_left = min(amount, firm_total), amount - min(amount, firm_total)
        firm_row: list[tuple[int, int]] = []
        flex_row: list[tuple[int, int]] = []
        for inc in incs:
            q, f = min(inc.quantity, firm_left), min(inc.flex, flex_left)
            firm_left, flex_left = firm_left - q, flex_left - f
            firm_row.append((inc.at_seq, q))
            flex_row.append((inc.at_seq, f))
        firm_slots.append(firm_row)
        flex_slots.append(flex_row)
    firm_capacity = sum(units for row in firm_slots for _, units in row)
    firm_parts = _first_come(firm_slots, min(delivered, firm_capacity))
    flex_parts = _first_come(flex_slots, delivered - sum(firm_parts))
    return [a + b for a, b in zip(firm_parts, flex_parts, strict=True)]
