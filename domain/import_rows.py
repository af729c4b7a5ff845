"""One validator for every import of old records (members, equity lots, patronage): pure, no I/O.

Each row is checked by its import's own rule and its keys (the ``external_ref`` that
makes an import idempotent, the e-mail of a member) must not repeat within the batch.
Errors name the row and field the way the client sent them, ``members[3].email``, so
one 400 lists everything to correct; any error refuses the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from domain.errors import FieldError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Sequence

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

TWICE = "appears twice in this import"


class _Referenced(Protocol):
    @property
    def external_ref(self) -> str: ...


@dataclass(frozen=True, slots=True)
class UniqueKey(Generic[R_contra]):
    """A field that may appear once per batch: its name, how to read it from a row, and the complaint."""

    field: str
    key: Callable[[R_contra], Hashable]
    message: str = TWICE


def _external_ref(row: _Referenced) -> str:
    return row.external_ref


EXTERNAL_REF: UniqueKey[_Referenced] = UniqueKey("external_ref", _external_ref)
"""The key every import is idempotent by; a batch naming it twice is refused."""


def import_row_errors(
    rows: Sequence[R],
    field: str,
    row_errors: Callable[[str, R], Iterable[FieldError]],
    *,
    unique: Sequence[UniqueKey[R]] = (),
) -> list[FieldError]:
    """Every problem of every row, in row order: repeated keys first, then the row's own checks.

    ``field`` names the list (``members``); ``row_errors(at, row)`` gets the row's
    prefix (``members[3]``) and names its fields under it.
    """
    errors: list[FieldError] = []
    seen: list[set[Hashable]] = [set() for _ in unique]
    for i, row in enumerate(rows):
        at = f"{field}[{i}]"
        for key, keys_seen in zip(unique, seen, strict=True):
            value = key.key(row)
            if value in keys_seen:
                errors.append(FieldError(f"{at}.{key.field}", key.message))
            keys_seen.add(value)
        errors.extend(row_errors(at, row))
    return errors
