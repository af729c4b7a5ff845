"""The one way a status table refuses a move: a 409 naming where the thing is and where it may go."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, TypeVar

from domain.errors import ConflictError

if TYPE_CHECKING:
    from collections.abc import Mapping

S = TypeVar("S", bound=enum.StrEnum)


def check_move(table: Mapping[S, frozenset[S]], current: S, target: S, *, what: str, code: str) -> None:
    """Refuse ``current -> target`` when ``table`` lacks it (409 with ``code`` and the moves allowed).

    ``what`` names the thing moving (``order 12``, ``allocation run 3``, ``the member``), so
    staff and clients read the same sentence from every context.
    """
    if target not in table[current]:
        allowed = ", ".join(sorted(table[current])) or "none (final state)"
        msg = f"{what} is {current}; it cannot become {target} (allowed from {current}: {allowed})"
        raise ConflictError(msg, code=code)
