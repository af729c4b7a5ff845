"""Content negotiation by the Accept header's q-values (RFC 9110, section 12.5.1)."""

from __future__ import annotations

import math
from typing import NamedTuple


class _Range(NamedTuple):
    media: str
    q: float
    position: int


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return 0.0
            # A q outside 0..1 (or nan, inf) is not one a client meant; such a range accepts nothing.
            return q if math.isfinite(q) and 0 <= q <= 1 else 0.0
    return 1.0


def _ranges(accept: str) -> list[_Range]:
    ranges = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        if media:
            ranges.append(_Range(media.lower(), _q(params), position))
    return ranges


def _specificity(media_range: str, offered: str) -> int | None:
    """3 for an exact match, 2 for type/*, 1 for */*, None when the range does not cover it."""
    if media_range == offered:
        return 3
    kind, _, subtype = media_range.partition("/")
    if subtype == "*" and kind == offered.partition("/")[0]:
        return 2
    if media_range in {"*/*", "*"}:
        return 1
    return None


def negotiate(accept: str | None, offered: tuple[str, ...]) -> str:
    """The offered type the client prefers: highest q, then the range it named first, then our order.

    The first offered type is the default: no Accept header, `*/*`, or nothing acceptable.
    """
    ranges = _ranges(accept or "")
    best, best_key = offered[0], (0.0, 0, 0)
    for index, kind in enumerate(offered):
        matches = [(s, r) for r in ranges if (s := _specificity(r.media, kind)) is not None]
        if not matches:
            continue
        # The most specific range that covers a type decides its q ("text/*;q=0, text/csv" accepts text/csv).
        _, decisive = max(matches, key=lambda m: (m[0], -m[1].position))
        key = (decisive.q, -decisive.position, -index)
        if decisive.q > 0 and (best_key[0] == 0 or key > best_key):
            best, best_key = kind, key
    return best
