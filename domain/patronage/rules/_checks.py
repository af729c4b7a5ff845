"""Small checks shared by the patronage rules."""

from __future__ import annotations

from domain.errors import FieldError, InvalidInputError


def is_int(value: object) -> bool:
    """An int that is not a bool (JSON true is not a number of cents)."""
    return isinstance(value, int) and not isinstance(value, bool)


def bad(detail: str, field: str) -> InvalidInputError:
    """The error for one bad input field, its detail repeated on the field."""
    return InvalidInputError(detail, [FieldError(field, detail)])
