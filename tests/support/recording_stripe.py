"""A recording HTTP client at the Stripe SDK's HTTP edge, for what localstripe cannot answer.

localstripe has no Connect (``POST /v1/transfers`` is a 404) and no ``delivery_success``
filter on List Events. This client records every request the real SDK sends (method, path,
idempotency key, form parameters) and answers the routes a test gives it with Stripe's
documented JSON; every other request goes on to localstripe (or fails when there is none).
So the tests check the exact request our adapter makes and the adapter's reading of the
answer, while the SDK itself (encoding, headers, retries, response parsing) is the real one.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from domain.payments.stripe_gateway import HTTPXClient

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the SDK sent it."""

    method: str
    path: str
    idempotency_key: str | None
    params: dict[str, str]


@dataclass
class Gate:
    """Holds a canned answer until the test lets it go (to widen a race window deterministically)."""

    asked: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class RecordingHTTPClient(HTTPXClient):
    """The SDK's httpx client, recording requests and answering ``routes`` itself."""

    def __init__(
        self,
        routes: Mapping[tuple[str, str], Callable[[dict[str, str]], dict[str, Any]]],
        gate: Gate | None = None,
    ) -> None:
        super().__init__()
        self.routes = dict(routes)
        self.gate = gate
        self.requests: list[Recorded] = []

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        parts = urlsplit(url)
        raw = post_data.decode() if isinstance(post_data, bytes) else (post_data or parts.query)
        params = dict(parse_qsl(raw or "", keep_blank_values=True))
        self.requests.append(Recorded(method.upper(), parts.path, headers.get("Idempotency-Key"), params))
        answer = self.routes.get((method.upper(), parts.path))
        if answer is None:
            return await super().request_async(method, url, headers, post_data)
        if self.gate is not None:
            self.gate.asked.set()
            await self.gate.release.wait()
        return json.dumps(answer(params)).encode(), 200, {"content-type": "application/json"}


def transfer_answer(params: dict[str, str]) -> dict[str, Any]:
    """Stripe's Transfer object for a created transfer (its id stable per request, as Stripe's is per key)."""
    return {
        "id": f"tr_{params['transfer_group']}_{params['amount']}",
        "object": "transfer",
        "amount": int(params["amount"]),
        "currency": params["currency"],
        "destination": params["destination"],
        "transfer_group": params["transfer_group"],
        "reversed": False,
    }


def reversal_answer(params: dict[str, str]) -> dict[str, Any]:
    """Stripe's Transfer Reversal object for a reversal of part of a transfer."""
    return {"id": f"trr_{params['amount']}", "object": "transfer_reversal", "amount": int(params["amount"])}
