"""A member's demand for a product and how an order change moves its place in the queue."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.buying.rules._checks import is_int, non_negative

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


@dataclass(frozen=True, slots=True)
class Increment:
    """Units a member added at one order change; ``at_seq`` orders changes in time."""

    at_seq: int
    quantity: int
    flex: int = 0

    def __post_init__(self) -> None:
        """Refuse negative or non-int amounts."""
        if not is_int(self.at_seq):
            msg = f"at_seq must be an int, not {type(self.at_seq).__name__}"
            raise TypeError(msg)
        non_negative(self.quantity, "increment quantity")
        non_negative(self.flex, "increment flex")


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
        non_negative(self.quantity, "quantity")
        non_negative(self.flex, "flex")
        if sum(i.quantity for i in self.increments) != self.quantity:
            msg = f"member {self.member_key}: increments do not add up to quantity {self.quantity}"
            raise ValueError(msg)
        if sum(i.flex for i in self.increments) != self.flex:
            msg = f"member {self.member_key}: increments do not add up to flex {self.flex}"
            raise ValueError(msg)
        check_time_order(self.increments)

    @classmethod
    def from_increments(cls, member_key: int, increments: Iterable[Increment]) -> Demand:
        """A demand whose totals are the sums of ``increments``."""
        incs = tuple(increments)
        return cls(member_key, sum(i.quantity for i in incs), sum(i.flex for i in incs), incs)


def check_time_order(increments: Sequence[Increment]) -> None:
    """Refuse increments that are not oldest first (strictly increasing ``at_seq``)."""
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
    non_negative(new_quantity, "new_quantity")
    non_negative(new_flex, "new_flex")
    if not is_int(seq):
        msg = f"seq must be an int, not {type(seq).__name__}"
        raise TypeError(msg)
    check_time_order(increments)
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
