"""Pure rules of group buys (DOMAIN.md section 2): cases, tiers, allocation, shortages, prices.

Units and cents are plain ints. Member demands are passed in the order of each
member's first order time; that position breaks every remaining tie.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeGuard, assert_never

from domain.catalog.rules import Tier, next_tier, tier_for
from domain.errors import ConflictError, FieldError
from domain.membership.rules import Status
from domain.money import Rounding, allocate, apply_rate

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping, Sequence
    from datetime import datetime

__all__ = [
    "CANCELLING_STATUSES",
    "GROUP_BUY_TRANSITION_REFUSED",
    "ORDERING_STATUSES",
    "ORDER_TRANSITIONS",
    "ORDER_TRANSITION_REFUSED",
    "TRANSITIONS",
    "AllocationPolicy",
    "CloseAction",
    "ClosePlan",
    "Decision",
    "Delivered",
    "DeliveryLine",
    "DeliveryPlan",
    "Demand",
    "GroupBuyEvent",
    "GroupBuyStatus",
    "Increment",
    "LineRequest",
    "MinimumOutcome",
    "NextTier",
    "OfferedProduct",
    "OrderStatus",
    "OrderWrite",
    "PaymentMode",
    "ProductDemand",
    "ProductOutcome",
    "Progress",
    "SettledLine",
    "allocate_units",
    "apply_change",
    "cases_to_order",
    "charge_limit_errors",
    "check_order_transition",
    "close_decision",
    "deadline_refusal",
    "delivery_errors",
    "group_buy_errors",
    "initial_status",
    "line_total_cents",
    "max_order_total_cents",
    "member_unit_price_cents",
    "missing_units",
    "move_group_buy",
    "next_status",
    "order_line_errors",
    "payable_cents",
    "plan_close",
    "plan_delivery",
    "product_progress",
    "purchase_order_number",
    "reallocate_delivery",
    "standing_refusal",
    "supplier_outstanding_cents",
    "supplier_payment_refusal",
    "supplier_value_cents",
]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _non_negative(value: object, what: str) -> int:
    """Return ``value`` if it is a non-negative int, else raise."""
    if not _is_int(value):
        msg = f"{what} must be an int, not {type(value).__name__}"
        raise TypeError(msg)
    if value < 0:
        msg = f"{what} must not be negative, got {value}"
        raise ValueError(msg)
    return value


# --- cases ---------------------------------------------------------------------------


def _case_args(quantity: int, flex: int, case_size: int) -> tuple[int, int, int]:
    _non_negative(quantity, "quantity")
    _non_negative(flex, "flex")
    if _non_negative(case_size, "case_size") < 1:
        msg = "case_size must be at least 1"
        raise ValueError(msg)
    return quantity, flex, case_size


def cases_to_order(quantity: int, flex: int, case_size: int) -> int:
    """Foodsoft's rule: full cases of firm quantity, plus one more if flex completes the open case.

    ``floor(Q/S) + (1 if r > 0 and r + F >= S else 0)`` with ``r = Q mod S``.
    """
    quantity, flex, case_size = _case_args(quantity, flex, case_size)
    full, rest = divmod(quantity, case_size)
    return full + (1 if rest > 0 and rest + flex >= case_size else 0)


def missing_units(quantity: int, flex: int, case_size: int) -> int:
    """Units (firm or flex) still needed to complete the case firm quantity has opened.

    With ``r = Q mod S``: 0 if no case is open (``r == 0``) or flex already
    completes it; otherwise ``S - r - F``. Ordering that many more units of
    quantity or flex makes the case be ordered.
    """
    quantity, flex, case_size = _case_args(quantity, flex, case_size)
    rest = quantity % case_size
    if rest == 0:
        return 0
    return max(case_size - rest - flex, 0)


# --- member demand and order changes -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Increment:
    """Units a member added at one order change; ``at_seq`` orders changes in time."""

    at_seq: int
    quantity: int
    flex: int = 0

    def __post_init__(self) -> None:
        """Refuse negative or non-int amounts."""
        if not _is_int(self.at_seq):
            msg = f"at_seq must be an int, not {type(self.at_seq).__name__}"
            raise TypeError(msg)
        _non_negative(self.quantity, "increment quantity")
        _non_negative(self.flex, "increment flex")


@dataclass(frozen=True, slots=True)
class Demand:
    """One member's line for one product: firm ``quantity``, ``flex``, and the increments behind them.

    Increments are oldest first and add up to ``quantity`` and ``flex``.
    """

    member_key: int
    quantity: int
    flex: int
    increments: tuple[Increment, ...]

    def __post_init__(self) -> None:
        """Check the totals match the increments and that the increments are in time order."""
        _non_negative(self.quantity, "quantity")
        _non_negative(self.flex, "flex")
        if sum(i.quantity for i in self.increments) != self.quantity:
            msg = f"member {self.member_key}: increments do not add up to quantity {self.quantity}"
            raise ValueError(msg)
        if sum(i.flex for i in self.increments) != self.flex:
            msg = f"member {self.member_key}: increments do not add up to flex {self.flex}"
            raise ValueError(msg)
        _check_time_order(self.increments)

    @classmethod
    def from_increments(cls, member_key: int, increments: Iterable[Increment]) -> Demand:
        """A demand whose totals are the sums of ``increments``."""
        incs = tuple(increments)
        return cls(member_key, sum(i.quantity for i in incs), sum(i.flex for i in incs), incs)


def _check_time_order(increments: Sequence[Increment]) -> None:
    for older, newer in itertools.pairwise(increments):
        if newer.at_seq <= older.at_seq:
            msg = "increments must be in strictly increasing at_seq order"
            raise ValueError(msg)


def _take_newest_first(amounts: list[int], amount: int) -> list[int]:
    """Remove ``amount`` from ``amounts`` starting at the end."""
    out = list(amounts)
    for i in reversed(range(len(out))):
        if amount == 0:
            break
        taken = min(out[i], amount)
        out[i] -= taken
        amount -= taken
    return out


def apply_change(increments: Sequence[Increment], new_quantity: int, new_flex: int, seq: int) -> tuple[Increment, ...]:
    """The increments after a member changes their line to ``new_quantity`` and ``new_flex`` at ``seq``.

    Quantity and flex move separately. An increase is a new increment at
    ``seq`` (the back of the queue); a decrease is taken from the newest
    increments first, so older units keep their place. Emptied increments are
    dropped. ``seq`` must be newer than every existing increment.
    """
    _non_negative(new_quantity, "new_quantity")
    _non_negative(new_flex, "new_flex")
    if not _is_int(seq):
        msg = f"seq must be an int, not {type(seq).__name__}"
        raise TypeError(msg)
    _check_time_order(increments)
    if increments and seq <= increments[-1].at_seq:
        msg = f"seq {seq} is not newer than the last increment ({increments[-1].at_seq})"
        raise ValueError(msg)
    quantities = [i.quantity for i in increments]
    flexes = [i.flex for i in increments]
    delta_q, delta_f = new_quantity - sum(quantities), new_flex - sum(flexes)
    if delta_q < 0:
        quantities = _take_newest_first(quantities, -delta_q)
    if delta_f < 0:
        flexes = _take_newest_first(flexes, -delta_f)
    kept = [
        Increment(inc.at_seq, q, f) for inc, q, f in zip(increments, quantities, flexes, strict=True) if q > 0 or f > 0
    ]
    if delta_q > 0 or delta_f > 0:
        kept.append(Increment(seq, max(delta_q, 0), max(delta_f, 0)))
    return tuple(kept)


# --- allocation ----------------------------------------------------------------------


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
    _non_negative(bought, "bought")
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
    _non_negative(delivered, "delivered")
    keys = list(allocated)
    amounts = [_non_negative(allocated[k], f"allocation of member {k}") for k in keys]
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
        _check_time_order(incs)
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


# --- member prices -------------------------------------------------------------------


def line_total_cents(units: int, unit_price_cents: int, markup_rate: Decimal | Fraction = Decimal(0)) -> int:
    """``HALF_UP(units * unit_price_cents * (1 + markup_rate))``, rounded once per line."""
    _non_negative(units, "units")
    _non_negative(unit_price_cents, "unit_price_cents")
    if isinstance(markup_rate, bool) or not isinstance(markup_rate, Decimal | Fraction):
        msg = f"markup_rate must be Decimal or Fraction, not {type(markup_rate).__name__}"
        raise TypeError(msg)
    if isinstance(markup_rate, Decimal) and not markup_rate.is_finite():
        msg = f"markup_rate must be finite, got {markup_rate}"
        raise ValueError(msg)
    if markup_rate < 0:
        msg = f"markup_rate must not be negative, got {markup_rate}"
        raise ValueError(msg)
    return apply_rate(units * unit_price_cents, 1 + Fraction(markup_rate), Rounding.HALF_UP)


def member_unit_price_cents(unit_price_cents: int, markup_rate: Decimal | Fraction = Decimal(0)) -> int:
    """One unit at the member's price: the tier price with markup, HALF_UP.

    Shown on order lines; a line's total is still rounded once over all its units, so it can
    differ by a cent or so from units times this.
    """
    return line_total_cents(1, unit_price_cents, markup_rate)


def max_order_total_cents(units: int, tiers: Sequence[Tier], markup_rate: Decimal | Fraction = Decimal(0)) -> int:
    """The most a line of ``units`` (quantity + flex) can cost: the first, dearest tier with markup.

    This is the card hold amount; the tier fixed at close can only be cheaper.
    """
    return line_total_cents(units, tier_for(tiers, 0).unit_price_cents, markup_rate)


# --- minimum order value at close ----------------------------------------------------


class MinimumOutcome(enum.StrEnum):
    """What a group buy does at close when its minimum order value is missed."""

    CANCEL = "cancel"
    PROCEED = "proceed"
    EXTEND = "extend"
    HOLD = "hold"


class CloseAction(enum.StrEnum):
    """What closing a group buy does now."""

    ORDER = "order"
    CANCEL = "cancel"
    EXTEND = "extend"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Decision:
    """The action at close and whether the minimum was met."""

    action: CloseAction
    minimum_met: bool


def close_decision(
    supplier_value_cents: int,
    min_value_cents: int | None,
    outcome: MinimumOutcome = MinimumOutcome.CANCEL,
    *,
    already_extended: bool = False,
) -> Decision:
    """Decide at close: order when the minimum (at supplier prices) is met, else apply ``outcome``.

    ``extend`` is allowed once: a miss after an extension cancels. ``hold``
    leaves the decision to staff. No minimum (``None``) is always met.
    """
    outcome = MinimumOutcome(outcome)
    _non_negative(supplier_value_cents, "supplier_value_cents")
    if min_value_cents is None or supplier_value_cents >= _non_negative(min_value_cents, "min_value_cents"):
        return Decision(CloseAction.ORDER, minimum_met=True)
    match outcome:
        case MinimumOutcome.CANCEL:
            action = CloseAction.CANCEL
        case MinimumOutcome.PROCEED:
            action = CloseAction.ORDER
        case MinimumOutcome.EXTEND:
            action = CloseAction.CANCEL if already_extended else CloseAction.EXTEND
        case MinimumOutcome.HOLD:
            action = CloseAction.HOLD
        case _:
            assert_never(outcome)
    return Decision(action, minimum_met=False)


# --- live progress -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NextTier:
    """The next cheaper tier and the firm units the group must still add to reach it."""

    min_quantity: int
    unit_price_cents: int
    units_needed: int


@dataclass(frozen=True, slots=True)
class Progress:
    """A product's state if the group buy closed now."""

    quantity: int
    flex_quantity: int
    cases: int
    missing_units: int
    unit_price_cents: int
    next_tier: NextTier | None


def _firm_units_to_reach(quantity: int, flex: int, case_size: int, target_units: int) -> int:
    """Fewest extra firm units so that ``cases_to_order(...) * case_size >= target_units``."""
    cases_needed = -(-target_units // case_size)
    if cases_needed == 0:
        return 0
    # The last case opens with firm units and is completed by flex: it needs at
    # least one firm unit and S - F of them, and at most a whole case.
    firm_needed = (cases_needed - 1) * case_size + min(case_size, max(1, case_size - flex))
    return max(firm_needed - quantity, 0)


def product_progress(quantity: int, flex: int, case_size: int, tiers: Sequence[Tier]) -> Progress:
    """Live progress of one product from the group's total ``quantity`` and ``flex``.

    The tier is the one the bought units ``A = cases * S`` would get if the buy
    closed now. ``next_tier.units_needed`` is the firm quantity the group must
    add for A to reach the next cheaper tier (flex can only complete a case).
    """
    cases = cases_to_order(quantity, flex, case_size)
    bought = cases * case_size
    current = tier_for(tiers, bought)
    upcoming = next_tier(tiers, bought)
    target = None
    if upcoming is not None:
        tier, _ = upcoming
        target = NextTier(
            tier.min_quantity,
            tier.unit_price_cents,
            _firm_units_to_reach(quantity, flex, case_size, tier.min_quantity),
        )
    return Progress(
        quantity=quantity,
        flex_quantity=flex,
        cases=cases,
        missing_units=missing_units(quantity, flex, case_size),
        unit_price_cents=current.unit_price_cents,
        next_tier=target,
    )


# --- states ------------------------------------------------------------------------


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
    status = OrderStatus(current)
    if target not in ORDER_TRANSITIONS[status]:
        allowed = ", ".join(sorted(ORDER_TRANSITIONS[status])) or "none (final state)"
        msg = f"order {order_id} is {status}; it cannot become {target} (allowed from {status}: {allowed})"
        raise ConflictError(msg, code=ORDER_TRANSITION_REFUSED)


class PaymentMode(enum.StrEnum):
    """How members pay: on their trade account (invoice on delivery), or by card."""

    ACCOUNT = "account"
    CARD = "card"


# Members in these states may order; applicants, former, suspended and expelled members may not.
ORDERING_STATUSES = frozenset({Status.FULL, Status.PROBATIONARY, Status.RESIGNING})
# A suspended member may still withdraw an order it placed in good standing: that can only
# lower what it will owe. Everything that adds to an order needs good standing.
CANCELLING_STATUSES = ORDERING_STATUSES | {Status.SUSPENDED}


class OrderWrite(enum.StrEnum):
    """The writes a member's users make to its orders."""

    PLACE = "place"
    CHANGE = "change"
    REOPEN = "reopen"
    CANCEL = "cancel"


def standing_refusal(status: Status, write: OrderWrite) -> str | None:
    """Why a member in ``status`` may not make ``write`` to its orders now, or None when it may."""
    allowed = CANCELLING_STATUSES if write is OrderWrite.CANCEL else ORDERING_STATUSES
    if status in allowed:
        return None
    who = ", ".join(sorted(allowed))
    return f"the member is {status}; only {who} members may {write} orders"


def deadline_refusal(closes_at: datetime, now: datetime) -> str | None:
    """Orders are taken strictly before ``closes_at``; at or after it, why not."""
    if now < closes_at:
        return None
    return f"the group buy stopped taking orders at {closes_at.isoformat()}"


def charge_limit_errors(charges: Mapping[int, int], limits: Mapping[int, int]) -> list[int]:
    """Orders whose charge exceeds the most they were shown they could cost (must be none).

    ``max_total_cents`` is the promise made to a member (and the card hold); a price
    that moved or a rounding slip must never turn into a larger charge.
    """
    return sorted(key for key, cents in charges.items() if cents > limits.get(key, 0))


# --- order requests ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineRequest:
    """One line as a member asks for it: firm quantity and flex for a product."""

    product_id: int
    quantity: int
    flex: int = 0


def order_line_errors(
    lines: Sequence[LineRequest], offered: Collection[int], *, field: str = "lines"
) -> list[FieldError]:
    """Every way ``lines`` breaks the rules, named like ``lines[1].product_id``; empty if valid.

    A product at most once, only products the buy offers, no negative amounts, and at least
    one unit in all (to withdraw, a member cancels the order instead of emptying it).
    """
    errors: list[FieldError] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        if line.product_id in seen:
            errors.append(FieldError(f"{field}[{i}].product_id", "the product appears more than once"))
        elif line.product_id not in offered:
            errors.append(FieldError(f"{field}[{i}].product_id", "the product is not offered in this group buy"))
        seen.add(line.product_id)
        if not _is_int(line.quantity) or line.quantity < 0:
            errors.append(FieldError(f"{field}[{i}].quantity", "must be a non-negative integer"))
        if not _is_int(line.flex) or line.flex < 0:
            errors.append(FieldError(f"{field}[{i}].flex_quantity", "must be a non-negative integer"))
    if not errors and sum(line.quantity + line.flex for line in lines) == 0:
        errors.append(FieldError(field, "an order needs at least one unit; to withdraw, cancel the order"))
    return errors


# --- close ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProductDemand:
    """One product of a closing buy: its case size, tiers, and every order's demand (by first order time)."""

    product_id: int
    case_size: int
    tiers: tuple[Tier, ...]
    demands: tuple[Demand, ...]


@dataclass(frozen=True, slots=True)
class ProductOutcome:
    """What closing gives one product: Q, F, cases, bought units A, the tier price, and who gets what."""

    product_id: int
    quantity: int
    flex: int
    cases: int
    bought: int
    unit_price_cents: int
    allocations: dict[int, int]

    @property
    def supplier_value_cents(self) -> int:
        """A at the tier price, before markup: what the co-op pays the supplier."""
        return supplier_value_cents(self.bought, self.unit_price_cents)


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """The whole close: the decision, the value at supplier prices, and every product's outcome."""

    decision: Decision
    supplier_value_cents: int
    products: tuple[ProductOutcome, ...]
    reason: str

    @property
    def nothing_to_order(self) -> bool:
        """No case of any product filled: the buy is cancelled whatever staff decide."""
        return all(o.bought == 0 for o in self.products)


def plan_close(
    products: Sequence[ProductDemand],
    policy: AllocationPolicy = AllocationPolicy.PRO_RATA,
    min_value_cents: int | None = None,
    outcome: MinimumOutcome = MinimumOutcome.CANCEL,
    *,
    already_extended: bool = False,
) -> ClosePlan:
    """Cases, bought units, the bulk tier and the allocation per product, and what to do with them.

    Per product (DOMAIN.md section 2): ``cases = cases_to_order(Q, F, S)``, ``A = cases * S``,
    the tier chosen by A is what every participant pays, A is allocated by ``policy``. The
    minimum is checked on the value at supplier prices. A buy in which no case filled is
    cancelled whatever its minimum: there is nothing to order.
    """
    outcomes = []
    for product in products:
        quantity = sum(d.quantity for d in product.demands)
        flex = sum(d.flex for d in product.demands)
        cases = cases_to_order(quantity, flex, product.case_size)
        bought = cases * product.case_size
        outcomes.append(
            ProductOutcome(
                product_id=product.product_id,
                quantity=quantity,
                flex=flex,
                cases=cases,
                bought=bought,
                unit_price_cents=tier_for(product.tiers, bought).unit_price_cents,
                allocations=allocate_units(product.demands, bought, policy),
            )
        )
    value = sum(o.supplier_value_cents for o in outcomes)
    if all(o.bought == 0 for o in outcomes):
        decision, reason = Decision(CloseAction.CANCEL, minimum_met=False), "no case was filled"
    else:
        decision = close_decision(value, min_value_cents, outcome, already_extended=already_extended)
        reason = "" if decision.minimum_met else f"the minimum of {min_value_cents} cents was missed ({value} cents)"
    return ClosePlan(decision, value, tuple(outcomes), reason)


# --- delivery and settlement ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """One product as delivered: frozen price and markup, its pool, units D, and the allocation.

    ``allocations`` is keyed by order and ordered by first order time; ``increments`` (for
    first_come) are each order's increments, as at close.
    """

    product_id: int
    pool: str
    unit_price_cents: int
    markup_rate: Decimal
    delivered: int
    allocations: Mapping[int, int]
    increments: Mapping[int, Sequence[Increment]] | None = None


@dataclass(frozen=True, slots=True)
class SettledLine:
    """One order line after delivery: allocated and delivered units and the line total (rounded once)."""

    order_key: int
    product_id: int
    pool: str
    allocated: int
    delivered: int
    total_cents: int


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """Settlement: every line, each order's charge, its patronage per pool, and its shortage in units."""

    lines: tuple[SettledLine, ...]
    charges: dict[int, int]
    patronage: dict[tuple[int, str], int]
    shortages: dict[int, int]


def plan_delivery(products: Sequence[Delivered], policy: AllocationPolicy = AllocationPolicy.PRO_RATA) -> DeliveryPlan:
    """Settle a delivery: re-allocate, price each line once, sum charges and patronage.

    Each product's delivered units are re-allocated by ``policy`` (nobody above their
    allocation); each line is priced once (HALF_UP with markup). Charges are sums of line
    totals, so they add up exactly to the sum of all lines.
    """
    lines: list[SettledLine] = []
    charges: dict[int, int] = {}
    patronage: dict[tuple[int, str], int] = {}
    shortages: dict[int, int] = {}
    for product in products:
        got = reallocate_delivery(product.allocations, product.delivered, policy, product.increments)
        for key, units in got.items():
            total = line_total_cents(units, product.unit_price_cents, product.markup_rate)
            allocated = product.allocations[key]
            lines.append(SettledLine(key, product.product_id, product.pool, allocated, units, total))
            charges[key] = charges.get(key, 0) + total
            if total:
                patronage[key, product.pool] = patronage.get((key, product.pool), 0) + total
            shortages[key] = shortages.get(key, 0) + allocated - units
    return DeliveryPlan(tuple(lines), charges, patronage, shortages)


# --- purchase orders and the supplier payable ---------------------------------------


def purchase_order_number(issued_year: int, group_buy_id: int) -> str:
    """``PO-<year the buy closed>-<group buy id>``: stable, and unique since a buy has one purchase order."""
    return f"PO-{issued_year}-{group_buy_id}"


def supplier_value_cents(units: int, unit_price_cents: int) -> int:
    """Units at the supplier's tier price, before the co-op's markup: what the co-op pays for them."""
    return _non_negative(units, "units") * _non_negative(unit_price_cents, "unit_price_cents")


def payable_cents(delivered: int | None, unit_price_cents: int | None) -> int:
    """What the co-op owes the supplier for a product: delivered units at the tier price fixed at close."""
    units = _non_negative(delivered or 0, "delivered")
    return supplier_value_cents(units, _non_negative(unit_price_cents or 0, "unit_price_cents"))


def supplier_outstanding_cents(payable: int, paid: int) -> int:
    """What the co-op still owes the supplier: the payable for what came less what was paid."""
    return payable - paid


def supplier_payment_refusal(amount_cents: int, payable: int, paid: int) -> str | None:
    """Why a payment of ``amount_cents`` to the supplier may not be made now, or None.

    Nothing is owed before delivery, and a payment may never take the co-op past what it owes.
    """
    outstanding = supplier_outstanding_cents(payable, paid)
    if amount_cents > outstanding:
        return f"{amount_cents} cents is more than the {outstanding} cents outstanding to the supplier"
    return None


# --- creating a group buy and recording its delivery ---------------------------------


@dataclass(frozen=True, slots=True)
class OfferedProduct:
    """What the rules need of a product a new buy would offer: whose it is, and whether it is retired."""

    supplier_id: int
    retired: bool


def initial_status(opens_at: datetime, now: datetime) -> GroupBuyStatus:
    """A buy opens at once unless it is to open later (then the clock opens it)."""
    return GroupBuyStatus.OPEN if opens_at <= now else GroupBuyStatus.SCHEDULED


def group_buy_errors(
    *,
    supplier_id: int,
    product_ids: Sequence[int],
    products: Mapping[int, OfferedProduct],
    opens_at: datetime,
    closes_at: datetime,
    now: datetime,
    payment_mode: PaymentMode,
    card_payments: bool,
) -> list[FieldError]:
    """Every way a new buy breaks the rules, named by field; empty if valid.

    It closes in the future and after it opens; card payments wait for the payment
    provider; each product once, existing, the supplier's own, not retired.
    """
    errors: list[FieldError] = []
    if closes_at <= now:
        errors.append(FieldError("closes_at", "must be in the future"))
    if opens_at >= closes_at:
        errors.append(FieldError("opens_at", "must be before closes_at"))
    if payment_mode is PaymentMode.CARD:
        detail = "card payments are not available yet" if card_payments else "card payments are not configured"
        errors.append(FieldError("payment_mode", detail))
    seen: set[int] = set()
    for i, product_id in enumerate(product_ids):
        product = products.get(product_id)
        if product_id in seen:
            errors.append(FieldError(f"product_ids[{i}]", "the product appears more than once"))
        elif product is None:
            errors.append(FieldError(f"product_ids[{i}]", f"no product {product_id}"))
        elif product.supplier_id != supplier_id:
            errors.append(FieldError(f"product_ids[{i}]", "the product belongs to another supplier"))
        elif product.retired:
            errors.append(FieldError(f"product_ids[{i}]", "the product is retired"))
        seen.add(product_id)
    return errors


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """Units of one product the supplier delivered."""

    product_id: int
    delivered_quantity: int


def delivery_errors(lines: Sequence[DeliveryLine], bought: Mapping[int, int]) -> list[FieldError]:
    """Every way a delivery report breaks the rules, named like ``lines[1].delivered_quantity``; empty if valid.

    Each product of the buy once, between 0 and the units ordered, and every product
    ordered reported (0 if none came), so no shortage goes unnoticed.
    """
    errors: list[FieldError] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        field = f"lines[{i}]"
        if line.product_id in seen:
            errors.append(FieldError(f"{field}.product_id", "the product appears more than once"))
        elif line.product_id not in bought:
            errors.append(FieldError(f"{field}.product_id", "the product is not in this group buy"))
        elif not 0 <= line.delivered_quantity <= bought[line.product_id]:
            errors.append(
                FieldError(
                    f"{field}.delivered_quantity", f"must be between 0 and the {bought[line.product_id]} units ordered"
                )
            )
        seen.add(line.product_id)
    missing = sorted(p for p, units in bought.items() if units > 0 and p not in seen)
    if missing:
        listed = ", ".join(str(p) for p in missing)
        errors.append(
            FieldError("lines", f"every ordered product must be reported (0 if none came); missing: {listed}")
        )
    return errors
