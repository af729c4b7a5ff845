"""Pure rules of group buys (DOMAIN.md section 2), split by job.

- :mod:`.cases`: cases filled by firm quantity and flex, and what the open case needs;
- :mod:`.demand`: a member's demand and how an order change keeps or loses its place;
- :mod:`.allocation`: sharing bought and delivered units (pro rata, first come);
- :mod:`.prices`: member prices with markup, and the most an order can cost;
- :mod:`.progress`: live progress of an open buy;
- :mod:`.closing`: the close plan and what a missed minimum does;
- :mod:`.delivery`: settlement of a delivery and the delivery report;
- :mod:`.supplier_payable`: purchase orders and what the co-op owes the supplier;
- :mod:`.states`: the group buy's and the order's transition tables;
- :mod:`.orders`: who may write to an order, until when, and what a line may ask;
- :mod:`.creation`: a new buy's first status, payment mode and validation.

Units and cents are plain ints. Member demands are passed in the order of each member's
first order time; that position breaks every remaining tie. The names are re-exported here
so callers say ``domain.buying.rules``.
"""

from domain.buying.rules.allocation import (
    AllocationPolicy,
    allocate_units,
    reallocate_delivery,
)
from domain.buying.rules.cases import (
    cases_to_order,
    missing_units,
)
from domain.buying.rules.closing import (
    CloseAction,
    ClosePlan,
    Decision,
    MinimumOutcome,
    ProductDemand,
    ProductOutcome,
    ProductTotals,
    close_decision,
    plan_close,
    plan_close_totals,
)
from domain.buying.rules.creation import (
    OfferedProduct,
    PaymentMode,
    group_buy_errors,
    initial_status,
)
from domain.buying.rules.delivery import (
    Delivered,
    DeliveryLine,
    DeliveryPlan,
    SettledLine,
    delivery_errors,
    plan_delivery,
)
from domain.buying.rules.demand import (
    Demand,
    Increment,
    apply_change,
)
from domain.buying.rules.orders import (
    CANCELLING_STATUSES,
    ORDERING_STATUSES,
    LineRequest,
    OrderWrite,
    charge_limit_errors,
    deadline_refusal,
    order_line_errors,
    standing_refusal,
)
from domain.buying.rules.prices import (
    MILLIONTHS,
    closed_line,
    line_total_cents,
    max_order_total_cents,
    member_unit_price_cents,
    opening_unit_price_cents,
    unit_cost_millionths,
)
from domain.buying.rules.progress import (
    NextTier,
    Progress,
    product_progress,
)
from domain.buying.rules.states import (
    GROUP_BUY_TRANSITION_REFUSED,
    ORDER_TRANSITION_REFUSED,
    ORDER_TRANSITIONS,
    TRANSITIONS,
    GroupBuyEvent,
    GroupBuyStatus,
    OrderStatus,
    check_order_transition,
    move_group_buy,
    next_status,
)
from domain.buying.rules.supplier_payable import (
    payable_cents,
    purchase_order_number,
    supplier_outstanding_cents,
    supplier_payment_refusal,
    supplier_value_cents,
)

__all__ = [
    "CANCELLING_STATUSES",
    "GROUP_BUY_TRANSITION_REFUSED",
    "MILLIONTHS",
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
    "ProductTotals",
    "Progress",
    "SettledLine",
    "allocate_units",
    "apply_change",
    "cases_to_order",
    "charge_limit_errors",
    "check_order_transition",
    "close_decision",
    "closed_line",
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
    "opening_unit_price_cents",
    "order_line_errors",
    "payable_cents",
    "plan_close",
    "plan_close_totals",
    "plan_delivery",
    "product_progress",
    "purchase_order_number",
    "reallocate_delivery",
    "standing_refusal",
    "supplier_outstanding_cents",
    "supplier_payment_refusal",
    "supplier_value_cents",
    "unit_cost_millionths",
]
