"""The close: cases, tiers and allocations per product, and what a missed minimum does."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, assert_never

from domain.buying.rules._checks import non_negative
from domain.buying.rules.allocation import AllocationPolicy, allocate_units
from domain.buying.rules.cases import cases_to_order
from domain.buying.rules.supplier_payable import supplier_value_cents
from domain.catalog.rules import Tier, tier_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from domain.buying.rules.demand import Demand


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
    non_negative(supplier_value_cents, "supplier_value_cents")
    if min_value_cents is None or supplier_value_cents >= non_negative(min_value_cents, "min_value_cents"):
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
    totals = plan_close_totals(
        [
            ProductTotals(
                p.product_id,
                p.case_size,
                p.tiers,
                sum(d.quantity for d in p.demands),
                sum(d.flex for d in p.demands),
            )
            for p in products
        ],
        min_value_cents,
        outcome,
        already_extended=already_extended,
    )
    outcomes = tuple(
        replace(o, allocations=allocate_units(p.demands, o.bought, policy))
        for o, p in zip(totals.products, products, strict=True)
    )
    return replace(totals, products=outcomes)


@dataclass(frozen=True, slots=True)
class ProductTotals:
    """One product of a closing buy by its sums only: case size, tiers, firm quantity Q and flex F."""

    product_id: int
    case_size: int
    tiers: tuple[Tier, ...]
    quantity: int
    flex: int


def plan_close_totals(
    products: Sequence[ProductTotals],
    min_value_cents: int | None = None,
    outcome: MinimumOutcome = MinimumOutcome.CANCEL,
    *,
    already_extended: bool = False,
) -> ClosePlan:
    """``plan_close`` from each product's Q and F alone, every ``allocations`` left empty.

    Cases, bought units, the tier and the decision depend only on the sums; who gets which
    units is then shared by the caller (the close does pro rata set-based in SQL, the same
    ``allocate_units`` rule, which a test holds equal).
    """
    outcomes = []
    for product in products:
        cases = cases_to_order(product.quantity, product.flex, product.case_size)
        bought = cases * product.case_size
        outcomes.append(
            ProductOutcome(
                product_id=product.product_id,
                quantity=product.quantity,
                flex=product.flex,
                cases=cases,
                bought=bought,
                unit_price_cents=tier_for(product.tiers, bought).unit_price_cents,
                allocations={},
            )
        )
    value = sum(o.supplier_value_cents for o in outcomes)
    if all(o.bought == 0 for o in outcomes):
        decision, reason = Decision(CloseAction.CANCEL, minimum_met=False), "no case was filled"
    else:
        decision = close_decision(value, min_value_cents, outcome, already_extended=already_extended)
        reason = "" if decision.minimum_met else f"the minimum of {min_value_cents} cents was missed ({value} cents)"
    return ClosePlan(decision, value, tuple(outcomes), reason)
