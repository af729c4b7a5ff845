"""What the served OpenAPI document says beyond what Litestar derives from the handlers.

Client generators and the docs UI read it: the bearer scheme (the Authorize button) on every
route but the public ones, the `Idempotency-Key` header on every authenticated POST, and the
PDF a written notice can also be. These are facts about the app's middleware, which Litestar
cannot see from a handler's signature, so they are added once to the built document.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute

from api.auth import PUBLIC_PATHS
from domain.idempotency.rules import MAX_KEY_LENGTH

if TYPE_CHECKING:
    from litestar import Litestar

BEARER = "BearerToken"
NOTICE_PATH = "/v1/allocation-runs/{run_id}/notices/{member_id}"

COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="The `access_token` from `POST /v1/auth/token`, as `Authorization: Bearer <token>`.",
        )
    }
)

IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    description=(
        f"Optional, not blank, at most {MAX_KEY_LENGTH} characters, unique per intended write. A retry with the "
        "same key and body gets the first answer again and writes nothing more; the same key with another body "
        "is a 422."
    ),
    schema=Schema(
        type=OpenAPIType.STRING, min_length=1, max_length=MAX_KEY_LENGTH, examples=["7c1e0a9e-order-2026-11-30"]
    ),
)

_PDF = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))


def is_public(path: str) -> bool:
    """Routes anyone may call without a token (the authentication middleware skips them)."""
    return any(re.search(pattern, path) for pattern in PUBLIC_PATHS)


def complete(operation: Operation, path: str, methods: frozenset[str]) -> None:
    """Add security, the Idempotency-Key header and the notice's PDF to one built operation."""
    if is_public(path):
        operation.security = []
        return
    operation.security = [{BEARER: []}]
    if "POST" in methods:
        operation.parameters = [*(operation.parameters or []), IDEMPOTENCY_KEY]
    ok = (operation.responses or {}).get("200")
    if path == NOTICE_PATH and isinstance(ok, OpenAPIResponse):
        ok.content = {**(ok.content or {}), "application/pdf": _PDF}


@functools.cache
def _operation_class(path: str, methods: frozenset[str]) -> type[Operation]:
    # Litestar builds each route's Operation from the handler's `operation_class`, its documented
    # hook for changing an operation; the class knows the route so one hook serves every route.
    @dataclass
    class ContractOperation(Operation):
        def __post_init__(self) -> None:
            complete(self, path, methods)

    return ContractOperation


def add_contract(app: Litestar) -> None:
    """Have every route's operation completed when Litestar builds the document (lazily, on first use)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                handler.operation_class = _operation_class(route.path_format, frozenset(handler.http_methods))
