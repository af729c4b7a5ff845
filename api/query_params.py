"""Unknown query parameters are refused on every route.

A misspelt filter (`?stauts=full`) would otherwise be ignored and the client would get
an unfiltered list it takes for a filtered one. The names a route accepts are the query
parameters Litestar itself derived from the handler's signature (its kwargs model), so a
new route is covered the day it is added, with nothing to declare twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.routes import HTTPRoute

from domain.errors import FieldError, InvalidInputError

if TYPE_CHECKING:
    from litestar import Litestar, Request


def _accepted_names(app: Litestar) -> dict[int, frozenset[str]]:
    """Per route handler (by identity): the query parameter names its signature declares."""
    names: dict[int, frozenset[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                names[id(handler)] = frozenset(p.field_alias for p in kwargs_model.expected_query_params)
    return names


def remember_query_names(app: Litestar) -> None:
    """At start-up, once the route table is final."""
    app.state.query_names = _accepted_names(app)


async def refuse_unknown_query_parameters(request: Request[Any, Any, Any]) -> None:
    """A `before_request` hook: runs after authentication and guards, before anything is parsed or written."""
    if not request.scope.get("query_string"):
        return  # nothing to refuse: no parameters parsed for the hot paths, which take none
    names: dict[int, frozenset[str]] | None = request.app.state.get("query_names")
    if names is None:  # an app started without its start-up hook (a bare test app)
        names = _accepted_names(request.app)
        request.app.state.query_names = names
    accepted = names.get(id(request.scope["route_handler"]), frozenset())
    unknown = sorted({key for key in request.query_params if key not in accepted})
    if unknown:
        known = ", ".join(sorted(accepted)) or "none"
        raise InvalidInputError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            [FieldError(name, f"not a query parameter of this route (it takes: {known})") for name in unknown],
        )
