"""Role guards run on the event loop: a sync guard makes Litestar hop to a worker thread per request."""

from __future__ import annotations

from litestar.utils.predicates import is_async_callable

from api.auth import members_only, staff_only, staff_or_members
from api.route_helpers import anyone_signed_in, staff_or_suppliers


def test_every_role_guard_is_a_coroutine_function():
    for guard in (staff_only, staff_or_members, anyone_signed_in, staff_or_suppliers, members_only):
        assert is_async_callable(guard), guard
