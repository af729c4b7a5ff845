"""Keys the transport makes for the domain: the domain takes the keys it is given."""

from __future__ import annotations

import uuid


def new_entry_key() -> str:
    """A fresh key for a journal entry a request posts (the request itself is deduplicated by Idempotency-Key)."""
    return uuid.uuid4().hex
