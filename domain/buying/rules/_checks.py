"""Small checks shared by the group-buy rules."""

from __future__ import annotations

from typing import TypeGuard


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def non_negative(value: object, what: str) -> int:
    """Return ``value`` if it is a non-negative int, else raise."""
    if not is_int(value):
        msg = f"{what} must be an int, not {type(value).__name__}"
        raise TypeError(msg)
    if value < 0:
        msg = f"{what} must not be negative, got {value}"
        raise ValueError(msg)
    return value
