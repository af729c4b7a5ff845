"""What a refusal tells the client, for tests that pin it exactly (problem+json's detail, code and fields)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from domain.errors import ConflictError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable


def invalid(call: Callable[[], object]) -> tuple[str, list[tuple[str, str]]]:
    """The detail and every (field, message) of the 400 that `call` raises."""
    with pytest.raises(InvalidInputError) as refused:
        call()
    return refused.value.detail, [(e.field, e.message) for e in refused.value.errors]


def conflict(call: Callable[[], object]) -> tuple[str, str | None]:
    """The detail and the machine-readable code of the 409 that `call` raises."""
    with pytest.raises(ConflictError) as refused:
        call()
    return refused.value.detail, refused.value.code
