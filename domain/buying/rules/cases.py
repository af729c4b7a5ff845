"""Cases: how many a product's firm quantity and flex fill, and what the open case still needs."""

from __future__ import annotations

from domain.buying.rules._checks import non_negative


def _case_args(quantity: int, flex: int, case_size: int) -> tuple[int, int, int]:
    non_negative(quantity, "quantity")
    non_negative(flex, "flex")
    if non_negative(case_size, "case_size") < 1:
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
