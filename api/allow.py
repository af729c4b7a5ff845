"""An OPTIONS answer names every method of its path.

Litestar 2 builds a path's OPTIONS handler when the first handlers for that path are
registered, and keeps it when more are added (litestar#4169): `OPTIONS /v1/members` said
`Allow: OPTIONS, POST` although GET is served there too. The route Litestar finally built
knows all its methods; this hook puts them in the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute

if TYPE_CHECKING:
    from litestar.types import Message, Scope


def remember_allowed_methods(app: Litestar) -> None:
    """At start-up, once the route table is final: each path template's methods."""
    app.state.allowed_methods = {
        route.path_format: ", ".join(sorted(route.methods)) for route in app.routes if isinstance(route, HTTPRoute)
    }


async def name_every_allowed_method(message: Message, scope: Scope) -> None:
    """App-level before-send hook: an OPTIONS answer's `Allow` lists all its path's methods."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = MutableScopeHeaders.from_message(message)
    if "allow" not in headers:
        return
    app = Litestar.from_scope(scope)
    if "allowed_methods" not in app.state:  # an app started without its start-up hook (a bare test app)
        remember_allowed_methods(app)
    known: dict[str, str] = app.state.allowed_methods
    allowed = known.get(scope.get("path_template", ""))
    if allowed is not None:
        headers["allow"] = allowed
