"""Pure rules of Idempotency-Key handling."""

from __future__ import annotations

import hashlib

MAX_KEY_LENGTH = 255

# A request that started this long ago and never finished is taken as lost.
STALE_AFTER_SECONDS = 60


def request_digest(method: str, path: str, query: str, body: bytes) -> str:
    """Identity of a request: same key with another digest is a misuse (422)."""
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def key_error(key: str) -> str | None:
    """Why a client's key is unusable, or None."""
    if not key.strip():
        return "Idempotency-Key must not be blank"
    if len(key) > MAX_KEY_LENGTH:
        return f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters"
    return None


def should_store(status_code: int) -> bool:
    """Keep final answers; server errors and throttling may succeed on retry."""
    return status_code < 500 and status_code != 429  # noqa: PLR2004 - HTTP status classes
