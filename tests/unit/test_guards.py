"""Role guards run on the event loop, from the app's before_request hook, with the route handler itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar, Request, get
from litestar.exceptions import PermissionDeniedException
from litestar.testing import AsyncTestClient
from litestar.utils.predicates import is_async_callable

from api.app import before_handler, check_every_guard_runs
from api.auth import members_only, staff_only, staff_or_members
from api.route_helpers import anyone_signed_in, staff_or_suppliers

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler


def test_every_role_guard_is_a_coroutine_function():
    for guard in (staff_only, staff_or_members, anyone_signed_in, staff_or_suppliers, members_only):
        assert is_async_callable(guard), guard


async def test_a_routes_guard_gets_the_route_handler_itself_and_its_refusal_is_the_answer():
    # The apps here take logging_config=None: Litestar's default configures the root logger
    # (INFO, its own handler) for every test after, in the same process.
    # Litestar's guards= hands each guard call a copy of the handler (2 % of an order change's CPU);
    # access= is run by the app's before_request hook with the handler as it is.
    seen: list[BaseRouteHandler] = []

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        seen.append(handler)
        if connection.headers.get("x-let") != "in":
            raise PermissionDeniedException("no")

    @get("/guarded", access=guard, sync_to_thread=False)
    def guarded() -> str:
        return "in"

    app = Litestar([guarded], before_request=before_handler, logging_config=None)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/guarded", headers={"x-let": "in"})).text == "in"
        assert (await client.get("/guarded")).status_code == 403
    assert len(seen) == 2
    assert all(handler is app.route_handler_method_map["/guarded"]["GET"] for handler in seen)


def test_an_app_whose_route_would_skip_or_copy_its_guard_is_refused():
    @get("/copied", guards=[staff_only], sync_to_thread=False)
    def copied() -> None:
        return None

    async def own_hook(_: Request[Any, Any, Any]) -> None:
        return None

    @get("/skipped", access=staff_only, before_request=own_hook, sync_to_thread=False)
    def skipped() -> None:
        return None

    for handler in (copied, skipped):
        with pytest.raises(RuntimeError, match="access="):
            check_every_guard_runs(Litestar([handler], before_request=before_handler, logging_config=None))
